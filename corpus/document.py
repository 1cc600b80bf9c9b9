"""The document record shared by every source, reader, writer and stage.

One document is one JSONL line or one Parquet row, in the shape Dolma and RedPajama use
(`id`, `text`, `source`, `added`, `metadata`) so their readers and HF `datasets` load it as is.
On disk every source has the one schema of `corpus.schema` (typed common metadata fields plus a
JSON `extra`); in memory `metadata` is one flat dict.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from corpus import schema

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
        """The in-memory record (flat metadata), for tests and debugging; files use `to_json`."""
        return {
            "id": self.id,
            "text": self.text,
            "source": self.source,
            "added": self.added,
            "metadata": self.metadata,
        }

    def to_schema_record(self) -> dict[str, Any]:
        """The on-disk record (`corpus.schema`): common metadata typed, the rest in `extra`."""
        return schema.to_record(self.id, self.text, self.source, self.added, self.metadata)

    def to_json(self) -> str:
        """One JSONL line in the schema: strict JSON, sorted `extra`, so equal documents give
        equal bytes."""
        return schema.record_json(self.to_schema_record())

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "Document":
        """A document from a stored record of any layout this project wrote (see `corpus.schema`);
        ValueError/KeyError for a record that is not one."""
        if not isinstance(record, Mapping):
            raise ValueError(f"a record is a JSON object, not a {type(record).__name__}")
        metadata = schema.flat_metadata(record.get("metadata") or {})
        return cls(
            id=str(record["id"]),
            text=str(record["text"]),
            source=str(record.get("source", "") or ""),
            added=schema.stored_added(record, metadata),
            metadata=metadata,
        )

    @classmethod
    def from_json(cls, line: str) -> "Document":
        return cls.from_record(json.loads(line))
