"""The rule contract: a pure function from a document to a kept document or a named drop.

Pipelines apply every rule through one shared transform that counts `dropped:<reason>`, so the
stats ledger is derived from the same objects the logic returns and cannot drift from it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Union

from corpus.document import Document

_REASON = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Drop:
    """Why a document left the pipeline: a short snake_case reason such as `too_short`."""

    reason: str

    def __post_init__(self) -> None:
        if not _REASON.match(self.reason):
            raise ValueError(f"drop reason must be snake_case, got {self.reason!r}")


Outcome = Union[Document, Drop]
Rule = Callable[[Document], Outcome]
TextRule = Callable[[str], Union[str, Drop]]


def on_text(text_rule: TextRule) -> Rule:
    """Lift a rule over text into a rule over documents (the rewritten text replaces the old)."""

    def rule(doc: Document) -> Outcome:
        result = text_rule(doc.text)
        return result if isinstance(result, Drop) else doc.with_text(result)

    rule.__name__ = getattr(text_rule, "__name__", "text_rule")
    return rule


def chain(*rules: Rule) -> Rule:
    """Apply rules in order, stopping at the first drop."""

    def rule(doc: Document) -> Outcome:
        out: Outcome = doc
        for step in rules:
            out = step(out)  # type: ignore[arg-type]
            if isinstance(out, Drop):
                return out
        return out

    return rule
