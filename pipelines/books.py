"""Books: Project Gutenberg plain text (+ PG-19 / Books3 JSON lines), licence stripped, book-level
near-dedup ("remove books with more than 90% content overlap", LLaMA §2.1).

Recipe order: read and decode each book -> count in -> strip the Gutenberg licence header/footer
and lift its fields into metadata -> drop empty books -> MinHash-LSH near-dedup with exact
verification (keep the smallest id per cluster) -> write. See docs/books.md.
"""
from __future__ import annotations

import argparse

import apache_beam as beam

from corpus import books
from corpus.document import Document
from corpus.minhash import MinHashParams
from pipelines import runner
from pipelines.neardedup import NearDedup
from pipelines.transforms import ApplyRule, CountIn, ReadFiles, WriteDocuments, count_info


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("book-level near-dedup (MinHash-LSH, exact verification)")
    group.add_argument("--near_dup_threshold", type=float, default=0.9,
                       help="drop a book whose verified similarity to a smaller-id book is >= this "
                            "(paper: 'more than 90%% content overlap')")
    group.add_argument("--near_dup_measure", choices=("jaccard", "containment"), default="jaccard",
                       help="verification measure on the exact shingle sets; LSH recall is tuned for jaccard")
    group.add_argument("--ngram", type=int, default=5, help="words per shingle")
    group.add_argument("--bands", type=int, default=11, help="LSH bands b (P(cand|J)=1-(1-J^r)^b)")
    group.add_argument("--rows", type=int, default=9, help="LSH rows per band r (11x9: recall 0.9954 at J=0.9)")
    group.add_argument("--minhash_seed", type=int, default=1, help="seed of the MinHash permutations")
    group.add_argument("--max_bucket", type=int, default=50,
                       help="LSH buckets with more ids emit a star+chain of pairs instead of all pairs")


def _stamp(added: str):
    def stamp(doc: Document) -> Document:
        return Document(doc.id, doc.text, doc.source, added, doc.metadata)

    return stamp


def _count_licence(doc: Document) -> Document:
    count_info(f"gutenberg_header_{doc.metadata.get('gutenberg_header', 'absent')}")
    if doc.metadata.get("gutenberg_header") == "stripped":
        count_info(f"gutenberg_footer_{doc.metadata.get('gutenberg_footer', 'absent')}")
    encoding = doc.metadata.get("encoding")
    if encoding and encoding not in ("utf-8", "utf-8-sig"):
        count_info(f"decoded_{encoding.replace('-', '_')}")
    return doc


def build(pipeline: beam.Pipeline, args: argparse.Namespace) -> None:
    params = MinHashParams(ngram=args.ngram, bands=args.bands, rows=args.rows, seed=args.minhash_seed,
                           threshold=args.near_dup_threshold, measure=args.near_dup_measure)
    docs = (
        pipeline
        | "Read books" >> ReadFiles(args.input, books.read_books, accept=books.is_book_file)
        | "Stamp added" >> beam.Map(_stamp(args.added))
        | CountIn()
        | "Strip licence" >> ApplyRule(books.strip_gutenberg)
        | "Count licence" >> beam.Map(_count_licence)
    )
    (
        docs
        | "Near dedup" >> NearDedup(params, max_bucket=args.max_bucket)
        | "Write" >> WriteDocuments(args.output, args.num_shards, args.format)
    )


def main(argv=None):
    return runner.run("books", __doc__, build, argv, add_arguments)


if __name__ == "__main__":
    main()
