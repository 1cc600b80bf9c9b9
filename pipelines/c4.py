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

import argparse
import dataclasses
from functools import partial
from typing import Iterable, Iterator, Optional, Sequence

import apache_beam as beam

from corpus import c4
from corpus.document import Document
from pipelines import runner
from pipelines.transforms import (
    ApplyRule,
    CountIn,
    KeepOnePerKey,
    ReadFiles,
    WriteDocuments,
    count_drop,
    count_info,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("C4 (defaults: TFDS c4/en, RECIPE §4)")
    group.add_argument("--input_format", choices=c4.INPUT_FORMATS, default="auto",
                       help="wet (Common Crawl WET), c4json (C4 JSON lines) or auto (sniff each file)")
    group.add_argument("--variant", choices=sorted(c4.VARIANTS), default="tfds",
                       help="tfds: >= 5 words per line, >= 3 sentences (released C4); "
                            "paper: >= 3 words per line, >= 5 sentences (T5 paper's text)")
    group.add_argument("--min_words_per_line", type=int, default=None, help="override the variant's value")
    group.add_argument("--min_num_sentences", type=int, default=None, help="override the variant's value")
    group.add_argument("--max_page_length", type=int, default=c4.MAX_PAGE_LENGTH,
                       help="drop pages longer than this many characters (TFDS 1.9e5)")
    group.add_argument("--min_english_probability", type=float, default=c4.MIN_ENGLISH_PROBABILITY,
                       help="langdetect probability of `en` a page needs (TFDS 0.99)")
    group.add_argument("--badwords_file", default=None,
                       help="word list, one per line (default: the bundled LDNOOBW en list, "
                            "corpus/data/ldnoobw_en.txt)")


def params_from(args: argparse.Namespace) -> c4.C4Params:
    params = c4.VARIANTS[args.variant]
    overrides = {
        "min_words_per_line": getattr(args, "min_words_per_line", None),
        "min_num_sentences": getattr(args, "min_num_sentences", None),
        "max_page_length": getattr(args, "max_page_length", None),
        "min_english_probability": getattr(args, "min_english_probability", None),
    }
    return dataclasses.replace(params, **{k: v for k, v in overrides.items() if v is not None})


class _CleanPageFn(beam.DoFn):
    """TFDS `clean_page`; per-line outcomes are counted as `info:c4_line_<outcome>`."""

    def __init__(self, params: c4.C4Params):
        self._params = params

    def setup(self) -> None:
        c4.sentence_tokenizer()

    def process(self, doc: Document) -> Iterator[Document]:
        result = c4.clean_text(doc.text, self._params)
        _count_lines(result.lines)
        if result.drop:
            count_drop(result.drop)
        else:
            yield doc.with_text(result.text or "")


def _count_lines(lines: dict) -> None:
    for name, n in lines.items():
        count_info(f"c4_line_{name}", n)


def _line_claims(doc: Document) -> Iterator[tuple[str, tuple[str, str]]]:
    key = c4.page_key(doc)
    claim = (c4.md5_hex(key), key)
    for line_key in c4.page_line_hashes(doc.text):
        yield line_key, claim


class _RemoveLinesFn(beam.DoFn):
    def __init__(self, min_num_sentences: int):
        self._min = min_num_sentences

    def setup(self) -> None:
        c4.sentence_tokenizer()

    def process(self, joined: tuple[str, dict[str, Iterable]]) -> Iterator[Document]:
        _, groups = joined
        keep = set(groups["lines"])
        for doc in groups["pages"]:  # one page per key after the URL dedup
            result = c4.remove_duplicate_lines(doc.text, keep, self._min)
            _count_lines(result.lines)
            if result.drop:
                count_drop(result.drop)
            else:
                yield doc.with_text(result.text or "")


class DedupLines(beam.PTransform):
    """TFDS `remove_duplicate_text` through the shuffle: every distinct line key goes to the page
    with the smallest md5(normalised url) (`Top.PerKey(1, key=md5, reverse=True)`), then each page
    keeps only the lines it won."""

    def __init__(self, min_num_sentences: int):
        super().__init__()
        self._min = min_num_sentences

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
            | "Remove lines" >> beam.ParDo(_RemoveLinesFn(self._min))
        )


def build(pipeline: beam.Pipeline, args: argparse.Namespace) -> None:
    params = params_from(args)
    reader = partial(c4.read_c4_input, input_format=args.input_format, added=args.added)
    docs = (
        pipeline
        | "Read C4 or WET" >> ReadFiles(args.input, reader)
        | CountIn()
        | "Page length" >> ApplyRule(partial(c4.check_length, max_length=params.max_page_length))
        | "One page per URL" >> KeepOnePerKey(c4.page_key, "duplicate_url", c4.pick_newest)
        | "Clean lines" >> beam.ParDo(_CleanPageFn(params))
        | "Dedup lines" >> DedupLines(params.min_num_sentences)
        | "English" >> ApplyRule(make_rule=partial(c4.english_rule, params.min_english_probability))
        # The list is read here, on the driver, and travels inside the step: workers need no file.
        | "Bad words" >> ApplyRule(make_rule=partial(c4.badwords_rule, words=c4.load_badwords(args.badwords_file)))
        | "Split" >> beam.Map(c4.add_split)
    )
    docs | "Write" >> WriteDocuments(args.output, args.num_shards, args.format)


def main(argv: Optional[Sequence[str]] = None):
    return runner.run("c4", __doc__, build, argv, add_arguments)


if __name__ == "__main__":
    main()
