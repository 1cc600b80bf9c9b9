"""An eighth source in one file, as docs/CONTRIBUTING.md describes: plain-text files, one document
per line; drop short lines; one document per lower-cased text; stamp the line length.

It lives beside the tests so that the test suite runs it on every engine, and so that it shows the
whole contract in 40 lines.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import BinaryIO, Iterator, Optional, Sequence

import apache_beam as beam

from corpus.document import Document, make_id
from corpus.ledger import Ledger
from corpus.rules import Drop, Outcome
from corpus.step import Step, param
from pipelines.builder import Config, Shuffle, Source, Stage
from pipelines.transforms import KeepOnePerKey, ReadFiles


@dataclass(frozen=True)
class LinesParams:
    """lines (the example source)"""

    min_chars: int = param(3, "drop lines shorter than this (too_short)")


def read_lines(stream: BinaryIO, path: str, added: str = "") -> Iterator[Document]:
    for raw in stream:
        text = raw.decode("utf-8").rstrip("\n")
        yield Document(make_id("lines", text), text, "lines", added, {})


class MinChars(Step):
    name = "Min chars"
    Params = LinesParams

    def __call__(self, doc: Document) -> Outcome:
        return doc if len(doc.text) >= self.params.min_chars else Drop("too_short")


class Stamp(Step):
    name = "Stamp length"

    def __call__(self, doc: Document) -> Outcome:
        self.count("chars", len(doc.text))
        return doc.with_metadata(n=len(doc.text))


def read(pipeline: beam.Pipeline, config: Config) -> beam.PCollection:
    return pipeline | "Read lines" >> ReadFiles(config.input, partial(read_lines, added=config.added))


def stages(config: Config) -> Sequence[Stage]:
    return [
        MinChars(config[LinesParams]),
        Shuffle("One per text", KeepOnePerKey(lambda d: d.text.lower(), "duplicate")),
        Stamp(),
    ]


SOURCE = Source("lines", __doc__, read, stages, params=(LinesParams,))


def main(argv: Optional[Sequence[str]] = None) -> Ledger:
    return SOURCE.main(argv)


if __name__ == "__main__":
    main()
