"""C4 with the rules of the TFDS Beam builder that produced released C4 (`c4/en`, v3.0.1).

Reads Common Crawl WET files (rebuild C4 from the crawl) or published C4 JSON lines (ingest
allenai/c4; `text`, `url`, `timestamp` or `date`), sniffed per file or forced with
--input_format. Then, in TFDS's order: page length <= 190,000 chars; one page per normalised
URL (the newest); per-line cleaning (long words, citations, end marks, >= 5 words, javascript,
policy lines; pages with lorem ipsum or `{` dropped; >= 3 sentences by NLTK Punkt); global line
dedup (each line kept by the page with the smallest md5(url)), >= 3 sentences again; English by
langdetect (seed 0, p >= 0.99); LDNOOBW bad words; split (md5(url) % 1000 == 0 -> validation).
--variant paper uses the T5 paper's >= 3 words per line and >= 5 sentences per page instead.
See docs/c4.md.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Iterable, Iterator, Optional, Sequence

import apache_beam as beam

from corpus import c4
from corpus.document import Document
from corpus.fileio import mib
from corpus.ledger import Ledger
from corpus.rules import Drop
from corpus.steps.c4 import BadWords, C4Options, CleanLines, English, PageLength, RemoveDuplicateLines, Split
from corpus.wet import WetLimits
from pipelines.builder import Config, Shuffle, Source, Stage
from pipelines.transforms import KeepOnePerKey, ReadFiles, info, reject


def read(pipeline: beam.Pipeline, config: Config) -> beam.PCollection:
    options = config[C4Options]
    reader = partial(c4.read_c4_input, input_format=options.input_format, added=config.added,
                     max_line_bytes=mib(options.max_line_mb),
                     max_record_bytes=config[WetLimits].max_record_bytes())
    return pipeline | "Read C4 or WET" >> ReadFiles(config.input, reader)


def stages(config: Config) -> Sequence[Stage]:
    options = config[C4Options]
    thresholds = options.thresholds()
    return [
        PageLength(thresholds),
        Shuffle("One page per URL", KeepOnePerKey(c4.page_key, "duplicate_url", c4.pick_newest)),
        CleanLines(thresholds),
        Shuffle("Dedup lines", TfdsLineDedup(RemoveDuplicateLines(thresholds))),
        English(thresholds),
        BadWords(options),
        Split(),
    ]


SOURCE = Source("c4", __doc__, read, stages, params=(C4Options, WetLimits))


# ---------------------------------------------------------------------------------------------
# Global line dedup through the shuffle (TFDS remove_duplicate_text)
# ---------------------------------------------------------------------------------------------
def _line_claims(doc: Document) -> Iterator[tuple[str, tuple[str, str]]]:
    key = c4.page_key(doc)
    claim = (c4.md5_hex(key), key)
    for line_key in c4.page_line_hashes(doc.text):
        yield line_key, claim


class _RemoveLinesFn(beam.DoFn):
    def __init__(self, step: RemoveDuplicateLines):
        self._step = step

    def setup(self) -> None:
        self._step.setup()

    def process(self, joined: tuple[str, dict[str, Iterable]]) -> Iterator[Any]:
        _, groups = joined
        won = list(groups["lines"])
        for doc in groups["pages"]:  # one page per key after the URL dedup
            out = self._step.keep(doc, won)
            for name, n in sorted(self._step.counts.items()):
                yield info(name, n)
            self._step.counts.clear()
            yield reject(out.reason, doc) if isinstance(out, Drop) else out


class TfdsLineDedup(beam.PTransform):
    """Every distinct line key goes to the page with the smallest md5(normalised url)
    (`Top.PerKey(1, key=md5, reverse=True)` in TFDS), then each page keeps only the lines it won."""

    def __init__(self, step: RemoveDuplicateLines):
        super().__init__()
        self._step = step

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        pages = docs | "Key pages" >> beam.Map(lambda d: (c4.page_key(d), d))
        lines = (
            docs
            | "Claim lines" >> beam.FlatMap(_line_claims)
            | "Smallest md5(url)" >> beam.CombinePerKey(min)
            | "By page" >> beam.Map(lambda kv: (kv[1][1], kv[0]))
        )
        return (
            {"pages": pages, "lines": lines}
            | "Join pages and lines" >> beam.CoGroupByKey()
            | "Remove lines" >> beam.ParDo(_RemoveLinesFn(self._step))
        )


def main(argv: Optional[Sequence[str]] = None) -> Ledger:
    return SOURCE.main(argv)


if __name__ == "__main__":
    main()
