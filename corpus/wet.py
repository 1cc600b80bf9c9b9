"""CommonCrawl WET reader: one `Document` per `conversion` record, with CCNet's fields.

Differences from `cc_net/process_wet_file.py` (RECIPE §2.2), all on the robust side:
- Headers are parsed **by name**, so `WARC-Identified-Content-Language` (2020+) or any future
  header does not shift `Content-Length` (cc_net issue #16).
- The body is read by `Content-Length` bytes, so a body line that happens to read `WARC/1.0`
  cannot split a record; a record whose length is missing or wrong is re-synchronised on the
  next `WARC/` line and reported as a `ReadError`.
- A record that breaks these limits (header line > 64 KiB, body > `max_record_bytes`) is
  skipped as a `ReadError`, never a crash.

As in cc_net every body line is `.strip()`ed, the first body line becomes `title` and is removed
from the text, and `nlines` counts the remaining lines. `min_len` is *not* applied here: the
pipeline counts every document in first and then drops the short ones with a reason
(`too_short`), see the `min_len` step (`corpus/steps/commoncrawl.py`).

`read_wet(stream, path)` is the reader ReadFiles streams each (already decompressed) file
through; the C4 pipeline reuses it with `source="c4"`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, Optional, Union
from urllib.parse import urlparse

from corpus import paths
from corpus.document import Document, make_id
from corpus.fileio import ReadError

MIN_LEN = 300  # cc_net Config.min_len (characters of raw_content, title excluded)
MAX_HEADER_LINE = 64 * 1024
MAX_HEADERS = 256
MAX_RECORD_BYTES = 64 * 1024 * 1024

_WARC_PREFIX = b"WARC/"


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


def iter_wet_records(
    stream: BinaryIO,
    path: str = "",
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Iterator[Union[WetRecord, ReadError]]:
    """Split a decompressed WET/WARC stream into records; faults come out as `ReadError`s.

    Decompression errors (a truncated gzip) propagate as exceptions: `guarded()` in ReadFiles
    turns them into one `ReadError` after the good records.
    """
    pending: Optional[bytes] = None  # a `WARC/...` line already read while re-synchronising
    while True:
        line = pending if pending is not None else stream.readline(MAX_HEADER_LINE + 1)
        pending = None
        if not line:
            return
        if not line.startswith(_WARC_PREFIX):
            if line.strip():
                # Junk between records (or after a record whose length was wrong): skip to the
                # next record start. Oversized lines are read in bounded pieces.
                resync = _skip_to_record(stream)
                yield ReadError("wet_garbage_between_records", path, line[:80].decode("utf-8", "replace"))
                if resync is None:
                    return
                pending = resync
            continue
        version = line.strip().decode("ascii", "replace")
        headers, bad, pending = _read_headers(stream)
        if bad == _END_OF_INPUT:
            yield ReadError("truncated_record", path, f"end of input inside the headers of a {version} record")
            return
        if bad is not None:
            yield ReadError(bad, path, f"record {headers.get('WARC-Record-ID', '?')}")
            if pending is None:
                pending = _skip_to_record(stream)
                if pending is None:
                    return
            continue
        record = WetRecord(version, headers)
        length = _content_length(record)
        if length is None:
            yield ReadError("wet_bad_content_length", path, f"Content-Length {record.header('Content-Length')!r}")
            pending = _skip_to_record(stream)
            if pending is None:
                return
            continue
        if length > max_record_bytes:
            yield ReadError("wet_record_too_large", path, f"Content-Length {length}")
            if not _skip_bytes(stream, length):
                return
            continue
        body = _read_exactly(stream, length)
        if len(body) < length:
            yield ReadError("truncated_record", path, f"body of {len(body)} of {length} bytes")
            return
        record.body = body
        yield record


_END_OF_INPUT = "end_of_input"


def _read_headers(stream: BinaryIO) -> tuple[dict[str, str], Optional[str], Optional[bytes]]:
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
    try:
        length = int(record.header("Content-Length"))
    except ValueError:
        return None
    return length if length >= 0 else None


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    chunks = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _skip_bytes(stream: BinaryIO, n: int) -> bool:
    remaining = n
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 20))
        if not chunk:
            return False
        remaining -= len(chunk)
    return True


def _skip_to_record(stream: BinaryIO) -> Optional[bytes]:
    """Read on until a line that starts a record; return that line, or None at end of input."""
    at_line_start = True
    while True:
        line = stream.readline(MAX_HEADER_LINE + 1)
        if not line:
            return None
        if at_line_start and line.startswith(_WARC_PREFIX) and len(line) < 64:
            return line
        at_line_start = line.endswith(b"\n")


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
        "date_download": date,
        "digest": digest,
        "length": int(record.header("Content-Length", "0")),
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


def read_wet(stream: BinaryIO, path: str = "", source: str = "commoncrawl",
             added: str = "") -> Iterator[Union[Document, ReadError]]:
    """Every `conversion` record of one decompressed WET file as a Document (no length filter)."""
    for item in iter_wet_records(stream, path):
        if isinstance(item, ReadError):
            yield item
            continue
        doc = wet_document(item, path, source, added)
        if doc is not None:
            yield doc


def is_wet_file(path: str) -> bool:
    """Whether a listed input file is a WET file (its name contains `.wet`): others are ignored."""
    return ".wet" in paths.basename(path).lower()


def cc_segment(path: str) -> str:
    """CommonCrawl's segment path (`crawl-data/CC-MAIN-.../...wet.gz`) or, for other files, the name."""
    marker = path.find("crawl-data/")
    if marker >= 0:
        return path[marker:]
    return path.replace("\\", "/").rsplit("/", 1)[-1]
