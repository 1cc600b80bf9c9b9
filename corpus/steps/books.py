"""Books' per-document steps (the near-dedup is a shuffle stage: `pipelines.neardedup`)."""
from __future__ import annotations

from dataclasses import dataclass

from corpus import books
from corpus.document import Document
from corpus.fileio import mib
from corpus.rules import Drop, Outcome
from corpus.step import Step, param

_UTF8 = ("utf-8", "utf-8-sig")


@dataclass(frozen=True)
class BooksParams:
    """books"""

    max_book_mb: float = param(books.MAX_BOOK_MB, "skip a book file or JSON line larger than this (MiB) as "
                                                  "error:book_too_large / error:line_too_long")
    max_control_fraction: float = param(books.MAX_CONTROL_FRACTION,
                                        "drop a book as binary_text when more of its characters are control "
                                        "characters (NULs, C0/C1): random bytes, padding, mis-decoded UTF-16")

    def max_book_bytes(self) -> int:
        return mib(self.max_book_mb)


class CheckDecoding(Step):
    """Drop what the reader could not honestly decode as text: `binary_text` or `bad_encoding`
    (the reader's `decode_problem`; a 64 KiB excerpt is the rejected sample)."""

    name = "Check decoding"

    def __call__(self, doc: Document) -> Outcome:
        problem = doc.metadata.get("decode_problem")
        return Drop(problem) if problem else doc


class StripLicence(Step):
    """`corpus.books.strip_gutenberg` (drops `empty`), counting on each kept book what was stripped
    (`info:gutenberg_header_<stripped|absent>`, `gutenberg_footer_<...>` when a header was) and how
    it was decoded when not as UTF-8 (`info:decoded_<codec>`)."""

    name = "Strip licence"

    def __call__(self, doc: Document) -> Outcome:
        out = books.strip_gutenberg(doc)
        if isinstance(out, Drop):
            return out
        meta = out.metadata
        header = meta.get("gutenberg_header", "absent")
        self.count(f"gutenberg_header_{header}")
        if header == "stripped":
            self.count(f"gutenberg_footer_{meta.get('gutenberg_footer', 'absent')}")
        encoding = meta.get("encoding")
        if encoding and encoding not in _UTF8:
            self.count(f"decoded_{encoding.replace('-', '_')}")
        return out
