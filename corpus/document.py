"""The document record shared by every source, reader, writer and stage.

One document is one JSONL line or one Parquet row, in the shape Dolma and RedPajama use
(`id`, `text`, `source`, `added`, `metadata`) so their readers and HF `datasets` load it as is.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

SOURCES: tuple[str, ...] = (
    "commoncrawl",
    "c4",
    "github",
    "wikipedia",
    "books",
    "arxiv",
    "stackexchange",
)


def make_id(source: str, *origin: str) -> str:
    """A stable id: the source name plus a digest of what identifies the document at its origin.

    Use origin fields (URL + WARC record id, dump + page id, ...) rather than the text when the
    text is rewritten by later rules, so the id survives rule changes.
    """
    digest = hashlib.sha1("\x1f".join(origin).encode("utf-8")).hexdigest()[:24]
    return f"{source}/{digest}"


@dataclass(frozen=True)
class Document:
    """A text with its provenance. Rules return a new Document rather than mutating one."""

    id: str
    text: str
    source: str
    added: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def with_text(self, text: str) -> "Document":
        return dataclasses.replace(self, text=text)

    def with_metadata(self, **updates: Any) -> "Document":
        return dataclasses.replace(self, metadata={**self.metadata, **updates})

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "source": self.source,
            "added": self.added,
            "metadata": self.metadata,
        }

    def to_json(self) -> str:
        """One JSONL line; metadata keys sorted so equal documents serialise to equal bytes."""
        record = self.to_record()
        record["metadata"] = _sorted(self.metadata)
        return json.dumps(record, ensure_ascii=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "Document":
        metadata = record.get("metadata") or {}
        if isinstance(metadata, str):  # Parquet stores metadata as a JSON string
            metadata = json.loads(metadata)
        return cls(
            id=str(record["id"]),
            text=str(record["text"]),
            source=str(record.get("source", "")),
            added=str(record.get("added", "") or ""),
            metadata=dict(metadata),
        )

    @classmethod
    def from_json(cls, line: str) -> "Document":
        return cls.from_record(json.loads(line))


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_sorted(v) if isinstance(v, (dict, list, tuple)) else v for v in value]
    return value
