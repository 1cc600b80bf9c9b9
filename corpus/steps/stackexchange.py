"""StackExchange's steps (LLaMA §2.1, RedPajama data_prep/stack_exchange) over `corpus.stackexchange`.

The language annotation is the shared `corpus.steps.lid.LanguageId` in `annotate` mode (see
`pipelines/stackexchange.py`); without it, documents keep their site flag.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from corpus import stackexchange as se
from corpus.document import Document
from corpus.rules import Outcome
from corpus.step import Step, param


@dataclass(frozen=True)
class StackExchangeParams:
    """stackexchange"""

    top_sites: int = param(se.TOP_SITES, "keep the N sites with the most posts in the input set (LLaMA: 28); "
                                         "0 keeps all")
    sites: Optional[tuple[str, ...]] = param(None, "explicit list of sites (e.g. coffee.stackexchange.com); "
                                                   "overrides --top_sites")
    no_lid: bool = param(False, "skip fastText LID; `language` is then the site flag (es./ru./pt./ja. sites, "
                                "else en). Without --no_lid, fastText lid.176 only annotates (RedPajama also "
                                "drops nothing)")
    max_row_bytes: int = param(se.MAX_ROW_BYTES, "a Posts.xml line (one <row>) longer than this is skipped unread "
                                                 "(error:row_too_large): bodies hold at most 30,000 characters, so "
                                                 "real rows stay under 1 MiB even escaped")


class CompleteThreads(Step):
    """Threads that make no document: `orphan_answers` (no question), `empty_question`."""

    name = "Complete threads"

    def __call__(self, doc: Document) -> Outcome:
        return se.complete_thread(doc)
