"""The per-run stats ledger written as `OUTPUT/stats.json` beside every pipeline output.

Counter names are shared with the Beam metrics: `documents_in`, `documents_written`,
`dropped:<reason>` and `error:<reason>` (input faults such as a truncated file, not documents).
The counts travel through a pipeline as data (`Tally` and `Rejected` elements beside the
documents) and are summed at the end, so the ledger is exact on every runner, retries included.
"""
from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from collections import Counter
from typing import Any, Mapping

from corpus.document import Document

DOCUMENTS_IN = "documents_in"
DOCUMENTS_WRITTEN = "documents_written"
DROPPED = "dropped:"
ERROR = "error:"
INFO = "info:"

_VERSIONED = ("apache-beam", "fasttext-numpy2-wheel", "kenlm", "sentencepiece", "datasketch", "pyarrow")


class Tally(Counter):
    """A partial ledger: counter name -> count, summed over bundles and workers by the pipeline."""

    def __reduce__(self):  # a plain dict on the wire, whatever the pickler
        return (Tally, (dict(self),))


@dataclass(frozen=True)
class Rejected:
    """A dropped document and its reason, on its way to the ledger and to the rejected samples."""

    reason: str
    doc: Document


def merge_tallies(parts: Any) -> Tally:
    total = Tally()
    for part in parts:
        total.update(part)
    return total


@dataclass
class Ledger:
    source: str
    documents_in: int = 0
    documents_written: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    info: dict[str, int] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    started: str = ""
    finished: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_counters(cls, source: str, counters: Mapping[str, int], **extra: Any) -> "Ledger":
        ledger = cls(source=source, **extra)
        for name, value in sorted(counters.items()):
            if name == DOCUMENTS_IN:
                ledger.documents_in = int(value)
            elif name == DOCUMENTS_WRITTEN:
                ledger.documents_written = int(value)
            elif name.startswith(DROPPED):
                ledger.dropped[name[len(DROPPED):]] = int(value)
            elif name.startswith(ERROR):
                ledger.errors[name[len(ERROR):]] = int(value)
            elif name.startswith(INFO):
                ledger.info[name[len(INFO):]] = int(value)
        if not ledger.versions:
            ledger.versions = package_versions()
        return ledger

    @property
    def balanced(self) -> bool:
        """Every document that entered was either written or dropped with a reason."""
        return self.documents_in == self.documents_written + sum(self.dropped.values())

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "balanced": self.balanced}, indent=2, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> "Ledger":
        data = json.loads(text)
        data.pop("balanced", None)
        return cls(**data)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    return versions
