"""CommonCrawl WET reader: one `Document` per `conversion` record, with CCNet's fields.

Differences from `cc_net/process_wet_file.py` (RECIPE §2.2), all on the robust side:
- Headers are parsed **by name**, so `WARC-Identified-Content-Language` (2020+) or any future
  header does not shift `Content-Length` (cc_net issue #16).
- The body is read by `Content-Length` bytes, so a body line that happens to read `WARC/1.0`
  cannot split a record. The length is then checked: the body must be followed by blank lines and
  the next `WARC/` line (or the end). A length that is too long would swallow the next page, so
  the next record's start is looked for inside the body and parsing resumes there; a length that
  is too short resumes at the next `WARC/` line. Either way the record with the wrong length is
  `error:bad_content_length` and the pages around it are kept.
- Bounded: a header line over 64 KiB, more than 256 headers, or a body over `--max_record_mb`
  (default 4 MiB, four times the 1 MiB CommonCrawl truncates every fetched payload to, so a
  real WET text never reaches it) is skipped as a `ReadError` without being held, never a crash.
- Every record is accounted for: a `conversion` becomes a Document, a record without
  `WARC-Type` is `error:wet_missing_type`, any other type (`warcinfo`, ...) is counted as
  `info:wet_record_<type>`, and a file with no byte at all is `error:empty_file`.

As in cc_net every body line is `.strip()`ed, the first body line becomes `title` and is removed
from the text, and `nlines` counts the remaining lines. `min_len` is *not* applied here: the
pipeline counts every document in first and then drops the short ones with a reason
(`too_short`), see the `min_len` step (`corpus/steps/commoncrawl.py`).

`read_wet(stream, path)` is the reader ReadFiles streams each (already decompressed) file
through; the C4 pipeline shares `iter_wet_records`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, Optional, Union
from urllib.parse import urlparse

from corpus import paths
from corpus.document import Document, make_id
from corpus.fileio import ReadError, buffered_stream, is_empty, mib
from corpus.ledger import INFO, Tally
from corpus.step import param

MIN_LEN = 300  # cc_net Config.min_len (characters of raw_content, title excluded)
MAX_HEADER_LINE = 64 * 1024
MAX_HEADERS = 256
MAX_RECORD_MB = 4.0
MAX_RECORD_BYTES = mib(MAX_RECORD_MB)
WARC_TYPES = ("warcinfo", "response", "resource", "request", "metadata", "revisit", "conversion", "continuation")

_WARC_PREFIX = b"WARC/"
# A record start inside a body: a `WARC/1.x` line right after a line end, followed by a header.
_EMBEDDED_START = re.compile(rb"\n(WARC/1\.\d\r?\n[A-Za-z][A-Za-z0-9-]{0,63}:)")


@dataclass(frozen=True)
class WetLimits:
    """WET records"""

    max_record_mb: float = param(MAX_RECORD_MB, "skip (error:record_too_large) a WET record whose body is larger "
                                                "(MiB); CommonCrawl truncates payloads at 1 MiB")

    def max_record_bytes(self) -> int:
        return mib(self.max_record_mb)


@dataclass
class WetRecord:
    """One WARC record of a WET file: headers by name (as written) and the raw body bytes."""

    version: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        """Header value by case-insensitive name."""
        value = self.headers.get(name)
        if value is not None:
            return value
        lowered = name.lower()
        for key, val in self.headers.items():
            if key.lower() == lowered:
                return val
        return default


class _Rewindable:
    """A stream that can be handed back bytes already read (the part of a body that turned out
    to belong to the next record), read first by `readline` and `read`."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._back = b""

    def unread(self, data: bytes) -> None:
        self._back = data + self._back

    def readline(self, limit: int) -> bytes:
        if not self._back:
            return self._stream.readline(limit)
        end = self._back.find(b"\n", 0, limit)
        cut = min(limit, len(self._back)) if end < 0 else end + 1
        line, self._back = self._back[:cut], self._back[cut:]
        if not line.endswith(b"\n") and len(line) < limit and not self._back:
            line += self._stream.readline(limit - len(line))
        return line

    def read(self, n: int) -> bytes:
        if not self._back:
            return self._stream.read(n)
        data, self._back = self._back[:n], self._back[n:]
        return data


def iter_wet_records(
    stream: BinaryIO,
    path: str = "",
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Iterator[Union[WetRecord, ReadError]]:
    """Split a decompressed WET/WARC stream into records; faults come out as `ReadError`s.

    Decompression errors (a truncated gzip) propagate as exceptions: `guarded()` in ReadFiles
    turns them into one `ReadError` after the good records.
    """
    stream = buffered_stream(stream)
    if is_empty(stream):
        yield ReadError("empty_file", path, "no byte after decompression")
        return
    source = _Rewindable(stream)
    pending: Optional[bytes] = None  # a `WARC/...` line already read while re-synchronising
    while True:
        line = pending if pending is not None else source.readline(MAX_HEADER_LINE + 1)
        pending = None
        if not line:
            return
        if not line.startswith(_WARC_PREFIX):
            if line.strip():
                # Junk between records: skip to the next record start (oversized lines are read
                # in bounded pieces).
                pending = _skip_to_record(source)
                yield ReadError("wet_garbage_between_records", path, line[:80].decode("utf-8", "replace"))
                if pending is None:
                    return
            continue
        version = line.strip().decode("ascii", "replace")
        headers, bad, pending = _read_headers(source)
        if bad == _END_OF_INPUT:
            yield ReadError("truncated_record", path, f"end of input inside the headers of a {version} record")
            return
        if bad is not None:
            yield ReadError(bad, path, f"record {headers.get('WARC-Record-ID', '?')}")
            if pending is None:
                pending = _skip_to_record(source)
                if pending is None:
                    return
            continue
        record = WetRecord(version, headers)
        length = _content_length(record)
        if length is None:
            yield ReadError("bad_content_length", path, f"Content-Length {record.header('Content-Length')!r}")
            pending = _skip_to_record(source)
            if pending is None:
                return
            continue
        if length > max_record_bytes:
            yield ReadError("record_too_large", path, f"Content-Length {length} > {max_record_bytes}")
            if not _skip_bytes(source, length):
                return
            pending = _next_record_line(source)
            if pending and not pending.startswith(_WARC_PREFIX):
                pending = _skip_to_record(source, at_line_start=pending.endswith(b"\n"))
                if pending is None:
                    return
            continue
        body = _read_exactly(source, length)
        if len(body) < length:
            yield ReadError("truncated_record", path, f"body of {len(body)} of {length} bytes")
            return
        after = _next_record_line(source)
        if after and not after.startswith(_WARC_PREFIX):
            # The body does not end where the length says: this record's length is wrong.
            yield ReadError("bad_content_length", path,
                            f"record {record.header('WARC-Record-ID', '?')}: Content-Length {length} "
                            "does not end the record")
            pending = _resume_after_bad_length(source, body, after)
            if pending is None:
                return
            continue
        pending = after
        record.body = body
        yield record


_END_OF_INPUT = "end_of_input"


def _read_headers(stream: _Rewindable) -> tuple[dict[str, str], Optional[str], Optional[bytes]]:
    """The header block after a `WARC/` line: (headers by name, the fault that ended it or None,
    a `WARC/` line read too far, which starts the next record)."""
    headers: dict[str, str] = {}
    while True:
        hline = stream.readline(MAX_HEADER_LINE + 1)
        if not hline:
            return headers, _END_OF_INPUT, None
        if len(hline) > MAX_HEADER_LINE:
            return headers, "wet_header_too_long", None
        text = hline.strip()
        if not text:
            return headers, None, None
        if text.startswith(_WARC_PREFIX) and b":" not in text:
            return headers, "wet_missing_body", hline
        name, sep, value = text.decode("utf-8", "replace").partition(":")
        if not sep:
            return headers, "wet_bad_header", None
        if len(headers) >= MAX_HEADERS:
            return headers, "wet_too_many_headers", None
        headers[name.strip()] = value.strip()


def _content_length(record: WetRecord) -> Optional[int]:
    """The record's `Content-Length`, or None when it is missing, not a number or negative."""
    text = record.header("Content-Length")
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    return int(text)


def _next_record_line(stream: _Rewindable) -> bytes:
    """After a body: skip the blank lines that end a record and return the next line (b"" at the
    end of input). A well-formed record is followed by a `WARC/` line or nothing."""
    while True:
        line = stream.readline(MAX_HEADER_LINE + 1)
        if not line or line.strip():
            return line


def _resume_after_bad_length(stream: _Rewindable, body: bytes, after: bytes) -> Optional[bytes]:
    """Where to go on after a record whose body did not end at its Content-Length: the next
    record's start found inside the body (a length too long), else the next `WARC/` line."""
    found = _EMBEDDED_START.search(body)
    if found is not None:
        stream.unread(body[found.start(1):] + after)
        return stream.readline(MAX_HEADER_LINE + 1)
    return _skip_to_record(stream, at_line_start=after.endswith(b"\n"))


def _read_exactly(stream: _Rewindable, n: int) -> bytes:
    chunks = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _skip_bytes(stream: _Rewindable, n: int) -> bool:
    remaining = n
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 20))
        if not chunk:
            return False
        remaining -= len(chunk)
    return True


def _skip_to_record(stream: _Rewindable, at_line_start: bool = True) -> Optional[bytes]:
    """Read on until a line that starts a record; return that line, or None at end of input."""
    while True:
        line = stream.readline(MAX_HEADER_LINE + 1)
        if not line:
            return None
        if at_line_start and line.startswith(_WARC_PREFIX) and len(line) < 64:
            return line
        at_line_start = line.endswith(b"\n")


def record_kind(record: WetRecord) -> str:
    """The record's `WARC-Type` as a counter name: a known type, `other`, or `` when missing."""
    kind = record.header("WARC-Type").strip().lower()
    if not kind:
        return ""
    return kind if kind in WARC_TYPES else "other"


def wet_document(record: WetRecord, path: str = "", source: str = "commoncrawl",
                 added: str = "") -> Union[Document, ReadError, None]:
    """A `conversion` record as a Document with cc_net's fields; None for other record types."""
    if record.header("WARC-Type") != "conversion":
        return None
    url = record.header("WARC-Target-URI")
    if not url:
        return ReadError("wet_missing_url", path, f"record {record.header('WARC-Record-ID', '?')}")
    text = record.body.decode("utf-8", "replace")
    lines = [line.strip() for line in text.split("\n")]
    if len(lines) > 1 and lines[-1] == "" and text.endswith("\n"):
        lines.pop()  # the newline that ends the last line is not an extra empty line
    title, content = (lines[0], lines[1:]) if lines else ("", [])
    record_id = record.header("WARC-Record-ID")
    date = record.header("WARC-Date")
    digest = record.header("WARC-Block-Digest")
    metadata = {
        "url": url,
        "timestamp": date,  # cc_net: date_download
        "digest": digest,
        "length": len(record.body),
        "nlines": len(content),
        "source_domain": urlparse(url).netloc,
        "title": title,
        "cc_segment": cc_segment(path),
    }
    language = record.header("WARC-Identified-Content-Language")
    if language:
        metadata["warc_identified_language"] = language
    doc_id = make_id(source, url, record_id or f"{date}|{digest}")
    return Document(id=doc_id, text="\n".join(content), source=source, added=added, metadata=metadata)


def not_a_page(record: WetRecord, path: str) -> Union[Tally, ReadError]:
    """What a record that is not a `conversion` counts as: `info:wet_record_<type>`, or
    `error:wet_missing_type` when it names no type at all."""
    kind = record_kind(record)
    if not kind:
        return ReadError("wet_missing_type", path, f"record {record.header('WARC-Record-ID', '?')}")
    return Tally({f"{INFO}wet_record_{kind}": 1})


def read_wet(stream: BinaryIO, path: str = "", source: str = "commoncrawl", added: str = "",
             max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[Union[Document, ReadError, Tally]]:
    """Every `conversion` record of one decompressed WET file as a Document (no length filter);
    every other record as a count (`not_a_page`)."""
    for item in iter_wet_records(stream, path, max_record_bytes):
        if isinstance(item, ReadError):
            yield item
            continue
        doc = wet_document(item, path, source, added)
        yield doc if doc is not None else not_a_page(item, path)


def is_wet_file(path: str) -> bool:
    """Whether a listed input file is a WET file (its name contains `.wet`): others are ignored."""
    return ".wet" in paths.basename(path).lower()


def cc_segment(path: str) -> str:
    """CommonCrawl's segment path (`crawl-data/CC-MAIN-.../...wet.gz`) or, for other files, the name."""
    marker = path.find("crawl-data/")
    if marker >= 0:
        return path[marker:]
    return path.replace("\\", "/").rsplit("/", 1)[-1]
