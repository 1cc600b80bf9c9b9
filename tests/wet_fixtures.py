"""Hand-made WET files for the CommonCrawl tests (written by the tests, never copied from samples)."""
from __future__ import annotations

import gzip
import hashlib
import uuid
from pathlib import Path
from typing import Optional, Sequence

WARCINFO = (
    "WARC/1.0\r\n"
    "WARC-Type: warcinfo\r\n"
    "WARC-Date: 2019-01-01T00:00:00Z\r\n"
    "WARC-Filename: test.warc.wet.gz\r\n"
    "WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000000>\r\n"
    "Content-Type: application/warc-fields\r\n"
    "Content-Length: {length}\r\n"
    "\r\n"
    "{body}\r\n\r\n"
)


def wet_record(url: str, title: str, lines: Sequence[str], date: str = "2019-02-15T19:15:59Z",
               language: Optional[str] = None, extra_headers: Sequence[str] = ()) -> bytes:
    """One `conversion` record; `language` adds the 2020+ WARC-Identified-Content-Language header."""
    body = "\n".join([title, *lines]).encode("utf-8")
    record_id = uuid.UUID(bytes=hashlib.md5(url.encode()).digest())
    digest = hashlib.sha1(body).hexdigest()[:32].upper()
    headers = [
        "WARC/1.0",
        "WARC-Type: conversion",
        f"WARC-Target-URI: {url}",
        f"WARC-Date: {date}",
        f"WARC-Record-ID: <urn:uuid:{record_id}>",
        "WARC-Refers-To: <urn:uuid:11111111-1111-1111-1111-111111111111>",
        f"WARC-Block-Digest: sha1:{digest}",
    ]
    if language:
        headers.append(f"WARC-Identified-Content-Language: {language}")
    headers += ["Content-Type: text/plain", *extra_headers, f"Content-Length: {len(body)}"]
    return ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8") + body + b"\r\n\r\n"


def warcinfo() -> bytes:
    body = "isPartOf: CC-MAIN-2019-09\r\npublisher: test"
    return WARCINFO.format(length=len(body.encode()), body=body).encode("utf-8")


def write_wet(path: Path, records: Sequence[bytes], compression: str = "gzip-multi") -> Path:
    """`compression`: plain, gzip (one member), gzip-multi (one member per record, like CC)."""
    payload = [warcinfo(), *records]
    path.parent.mkdir(parents=True, exist_ok=True)
    if compression == "plain":
        path.write_bytes(b"".join(payload))
    elif compression == "gzip":
        path.write_bytes(gzip.compress(b"".join(payload), mtime=0))
    elif compression == "gzip-multi":
        path.write_bytes(b"".join(gzip.compress(r, mtime=0) for r in payload))
    else:
        raise ValueError(compression)
    return path


ENGLISH = [
    "The committee met on Tuesday to review the annual budget and discuss the new library project.",
    "Several members argued that the town should invest more in public transport before anything else.",
    "After a long debate the proposal was approved with a narrow majority of seven votes to five.",
    "Residents will be able to comment on the plans at a public meeting next month in the town hall.",
    "The mayor said she was pleased with the result and thanked everyone who had taken part in it.",
    "Construction is expected to begin in the spring and should be finished within two years time.",
]


def english_page(topic: str, n: int = 6) -> list[str]:
    """Distinct English lines about `topic` (unique to the page), long enough for min_len."""
    return [f"{line[:-1]} about {topic} number {i}." for i, line in enumerate(ENGLISH[:n])]
