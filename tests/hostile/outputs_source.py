"""A JSON-lines source for the output hostile tests: what a real reader may let through.

Each line is `{"text": ..., "meta": {...}}` parsed by the standard `json` module, so JSON escapes
give lone surrogates and `NaN`/`Infinity` reach the documents as they would from a C4 or
StackExchange dump. One step raises on a text that contains `RAISE` (a bug on one document), and
sleeps `$HOSTILE_SLOW_S` seconds on the text `SLOW` (to kill a run mid-way).
"""
from __future__ import annotations

import json
import os
import time
from functools import partial
from typing import BinaryIO, Iterator, Optional, Sequence

import apache_beam as beam

from corpus.document import Document, make_id
from corpus.fileio import ReadError
from corpus.ledger import Ledger
from corpus.rules import Outcome
from corpus.step import Step
from pipelines.builder import Config, Source, Stage
from pipelines.transforms import ReadFiles


def read_json_lines(stream: BinaryIO, path: str, added: str = "") -> Iterator[Document | ReadError]:
    for number, raw in enumerate(stream):
        try:
            record = json.loads(raw)
        except ValueError as exc:
            yield ReadError("malformed_json", path, f"line {number}: {exc}")
            continue
        yield Document(make_id("lines", path, str(number)), record["text"], "lines", added, record.get("meta", {}))


class Fragile(Step):
    """Raises on one kind of document, as a step with a bug would."""

    name = "Fragile"

    def __call__(self, doc: Document) -> Outcome:
        if doc.text == "SLOW":
            time.sleep(float(os.environ.get("HOSTILE_SLOW_S", "0")))
        if "RAISE" in doc.text:
            raise KeyError("a bug that only this document shows")
        return doc


def read(pipeline: beam.Pipeline, config: Config) -> beam.PCollection:
    return pipeline | "Read json lines" >> ReadFiles(config.input, partial(read_json_lines, added=config.added))


def stages(config: Config) -> Sequence[Stage]:
    return [Fragile()]


SOURCE = Source("lines", __doc__, read, stages)


def main(argv: Optional[Sequence[str]] = None) -> Ledger:
    return SOURCE.main(argv)


if __name__ == "__main__":
    main()
