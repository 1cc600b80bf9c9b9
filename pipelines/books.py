"""Books: Project Gutenberg plain text (+ PG-19 / Books3 JSON lines), licence stripped, book-level
near-dedup ("remove books with more than 90% content overlap", LLaMA §2.1).

Recipe order: read and decode each book (bounded by --max_book_mb) -> count in -> drop what is not
text (binary_text, bad_encoding) -> strip the Gutenberg licence header/footer
and lift its fields into metadata (drop empty books) -> MinHash-LSH near-dedup with exact
verification (keep the smallest id per cluster) -> write. See docs/books.md.
"""
from __future__ import annotations

from functools import partial
from typing import Optional, Sequence

import apache_beam as beam

from corpus import books
from corpus.ledger import Ledger
from corpus.minhash import MinHashParams
from corpus.steps.books import BooksParams, CheckDecoding, StripLicence
from pipelines.builder import Config, Shuffle, Source, Stage
from pipelines.neardedup import NearDedup
from pipelines.transforms import ReadFiles


def read(pipeline: beam.Pipeline, config: Config) -> beam.PCollection:
    limits = config[BooksParams]
    reader = partial(books.read_books, added=config.added, max_book_bytes=limits.max_book_bytes(),
                     max_control_fraction=limits.max_control_fraction)
    return pipeline | "Read books" >> ReadFiles(config.input, reader, accept=books.is_book_file)


def stages(config: Config) -> Sequence[Stage]:
    return [
        CheckDecoding(),
        StripLicence(),
        Shuffle("Near dedup", NearDedup(config[MinHashParams])),
    ]


SOURCE = Source("books", __doc__, read, stages, params=(BooksParams, MinHashParams))


def main(argv: Optional[Sequence[str]] = None) -> Ledger:
    return SOURCE.main(argv)


if __name__ == "__main__":
    main()
