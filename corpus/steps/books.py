"""Books' per-document step (the near-dedup is a shuffle stage: `pipelines.neardedup`)."""
from __future__ import annotations

from corpus import books
from corpus.document import Document
from corpus.rules import Drop, Outcome
from corpus.step import Step

_UTF8 = ("utf-8", "utf-8-sig")


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
