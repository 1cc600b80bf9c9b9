"""The one on-disk schema of every source's documents, in JSONL and Parquet alike.

    id        string
    text      string
    source    string
    added     timestamp[s] (UTC; JSONL: "YYYY-MM-DDTHH:MM:SSZ"), null when unknown
    metadata  struct:
      url                   string, "" when absent
      language              string: natural language, ISO 639 code (639-1 where one exists, as
                            fastText and Wikipedia use: "en", "uk"), "" for code or when unknown
      timestamp             timestamp[s] (UTC): when the document was crawled, edited or posted
      title                 string, ""
      programming_language  string (GitHub), ""
      license               string, SPDX-like (GitHub), ""
      extra                 string: a JSON object (sorted keys) of every source-specific field

Why "" and not null for absent strings: `datasets` fixes its schema from the first block of the
first file, and a column that is null all over that block becomes type `null`, which no later
string casts to. Timestamps stay null when absent, because "" would break the timestamp type
that pyarrow, `datasets` and DuckDB infer from the JSON text. A common field whose value does not
fit its type (a language name, a number as title, an unparseable date) is kept in `extra` under
its own key, and the typed field is empty: nothing is lost, and the typed column stays clean.

In memory, `Document.metadata` stays one flat dict (common and source-specific keys side by side,
as the steps set them); `to_record`/`from_record` here convert between the two shapes, and
`from_record` also reads the older files (flat metadata, or Parquet metadata as a JSON string).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any, Mapping, Optional

STRING_FIELDS = ("url", "language", "title", "programming_language", "license")
TIME_FIELDS = ("timestamp",)
COMMON_FIELDS = ("url", "language", "timestamp", "title", "programming_language", "license")
EXTRA = "extra"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
_UTC = dt.timezone.utc


def parse_time(value: Any) -> Optional[dt.datetime]:
    """A naive UTC datetime (second precision) for an ISO 8601 string or a datetime, else None.

    Naive values are taken as UTC: every source's dates (WARC-Date, dump timestamps, Stack
    Exchange's CreationDate) are UTC.
    """
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and 8 <= len(value) <= 40:
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(_UTC).replace(tzinfo=None)
        except OverflowError:  # year 1 or 9999 shifted out of range
            return None
    return moment.replace(microsecond=0)


def canonical_time(value: Any) -> Optional[str]:
    """`value` as "YYYY-MM-DDTHH:MM:SSZ" (UTC), or None when it is not a date or time."""
    moment = parse_time(value)
    return None if moment is None else moment.strftime(TIME_FORMAT)


def is_language_code(value: Any) -> bool:
    return isinstance(value, str) and _LANGUAGE_CODE.fullmatch(value) is not None


_NAMES: dict[str, str] = {}


def language_code(value: Any) -> Optional[str]:
    """The ISO 639 code of a language code or English language name ("English" -> "en"; the
    shortest code when there are several), from Babel's CLDR tables; None when unknown."""
    if is_language_code(value):
        return value
    if not isinstance(value, str) or len(value) > 60:
        return None
    if not _NAMES:
        from babel import Locale

        for code, name in sorted(Locale("en").languages.items(), key=lambda kv: (len(kv[0]), kv[0])):
            if is_language_code(code):
                _NAMES.setdefault(name.lower(), code)
    return _NAMES.get(value.strip().lower())


def _fits(key: str, value: Any) -> bool:
    if key == "language":
        return is_language_code(value)
    return isinstance(value, str)


def strict(value: Any) -> Any:
    """`value` with every non-finite float spelled as a string ("NaN", "Infinity", "-Infinity"),
    so `json.dumps(allow_nan=False)` holds and the value is still there to see."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON (RFC 8259: no NaN/Infinity), UTF-8 text, sorted keys: equal values, equal bytes."""
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except ValueError:
        return json.dumps(strict(value), ensure_ascii=False, sort_keys=True, allow_nan=False)


def split_metadata(metadata: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(typed common fields, the rest) of a flat metadata dict; times canonical text or None."""
    common: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in metadata.items():
        if key in TIME_FIELDS:
            text = canonical_time(value)
            if text is None and value not in (None, ""):
                rest[key] = value
            common[key] = text
        elif key in STRING_FIELDS:
            if _fits(key, value):
                common[key] = value
            elif value not in (None, ""):
                rest[key] = value
        else:
            rest[key] = value
    return common, rest


def to_record(doc_id: str, text: str, source: str, added: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The schema's record, keys in schema order (JSON readers infer struct order from it);
    timestamps as canonical text (the JSONL form; `arrow_table` turns them into timestamps)."""
    common, rest = split_metadata(metadata)
    added_text = canonical_time(added)
    if added_text is None and added:
        rest["added"] = added
    meta: dict[str, Any] = {}
    for key in COMMON_FIELDS:
        meta[key] = common.get(key) if key in TIME_FIELDS else common.get(key, "")
    meta[EXTRA] = dumps(rest)
    return {"id": doc_id, "text": text, "source": source, "added": added_text, "metadata": meta}


def record_json(record: Mapping[str, Any]) -> str:
    """One JSONL line of a `to_record` record (schema key order, strict JSON: every number is in
    `extra`, already made strict)."""
    return json.dumps(record, ensure_ascii=False, allow_nan=False)


def is_schema_metadata(metadata: Mapping[str, Any]) -> bool:
    return isinstance(metadata.get(EXTRA), str) and set(metadata) <= {*COMMON_FIELDS, EXTRA}


def _loads(text: str) -> Any:
    """json.loads whose every failure on hostile text is a ValueError (the readers count those)."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("metadata nested too deeply") from exc


def flat_metadata(metadata: Any) -> dict[str, Any]:
    """The flat in-memory metadata of a stored record: the schema struct, a JSON string (Parquet
    before the schema) or a flat dict (JSONL before the schema)."""
    if isinstance(metadata, str):
        metadata = _loads(metadata) if metadata else {}
    if not isinstance(metadata, Mapping):
        raise ValueError(f"metadata is a {type(metadata).__name__}, not an object")
    if not is_schema_metadata(metadata):
        return dict(metadata)
    extra = _loads(metadata[EXTRA]) if metadata[EXTRA] else {}
    if not isinstance(extra, dict):
        raise ValueError("metadata.extra is not a JSON object")
    flat: dict[str, Any] = {}
    for key in COMMON_FIELDS:
        value = metadata.get(key)
        if key in TIME_FIELDS:
            value = canonical_time(value)
        if value not in (None, ""):
            flat[key] = value
    for key, value in extra.items():
        flat.setdefault(key, value)
    return flat


def stored_added(record: Mapping[str, Any], metadata: dict[str, Any]) -> str:
    """`added` of a stored record as text; an unparseable one was kept in metadata `extra`."""
    added = record.get("added")
    if added in (None, ""):
        return str(metadata.pop("added", "") or "")
    return canonical_time(added) or str(added)


def arrow_schema():
    """The Parquet schema (pyarrow), the same for every source and shard."""
    import pyarrow as pa

    metadata = pa.struct([
        ("url", pa.string()), ("language", pa.string()), ("timestamp", pa.timestamp("ms")),
        ("title", pa.string()), ("programming_language", pa.string()), ("license", pa.string()),
        (EXTRA, pa.string()),
    ])
    return pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()),
                      ("added", pa.timestamp("ms")), ("metadata", metadata)])


def arrow_table(records: list[dict[str, Any]]):
    """A pyarrow table of `to_record` records in `arrow_schema()`."""
    import pyarrow as pa

    def moment(text: Optional[str]) -> Optional[dt.datetime]:
        return None if text is None else dt.datetime.strptime(text, TIME_FORMAT)

    rows = []
    for record in records:
        meta = dict(record["metadata"])
        for key in TIME_FIELDS:
            meta[key] = moment(meta[key])
        rows.append({**record, "added": moment(record["added"]), "metadata": meta})
    return pa.Table.from_pylist(rows, schema=arrow_schema())
