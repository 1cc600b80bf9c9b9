"""The rule contract: a pure function from a document to a kept document or a named drop.

Steps (`corpus.step`) return these outcomes; the builder turns every `Drop` into a counted,
sampled rejection, so the ledger is derived from the objects the logic returns.
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
