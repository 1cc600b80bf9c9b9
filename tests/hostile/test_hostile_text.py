"""The text readers on hostile input: one capped run each of c4, commoncrawl and books over one
folder of traps beside good files that must come through, every trap one counted reason.

Classes: random bytes behind each compression magic, empty files (0 bytes and an empty gzip), a
small bz2 that decompresses to one enormous line or page, a valid zstd file, WET records with a
Content-Length too long or too short, without WARC-Type, of another type, or too large; C4 JSON
lines that are not UTF-8, have a 5,000-digit number, deep nesting, fields of the wrong type or
NaN/Infinity; books of random bytes, UTF-16 without BOM (real and noise), NUL padding.
The limits are the defaults sized for real dumps, but for books' 64 MiB (given as 8 MiB here).
"""
from __future__ import annotations

import bz2
import gzip
import json
import lzma
import random
from pathlib import Path

import zstandard

from tests.hostile.harness import assert_completed, run_capped
from tests.wet_fixtures import english_page, warcinfo, wet_record

NOISE = random.Random(12).randbytes(64 * 1024)
MAGICS = {"bz2": b"BZh9", "zst": b"\x28\xb5\x2f\xfd", "gz": b"\x1f\x8b\x08\x00", "xz": b"\xfd7zXZ\x00"}
HUGE = 20 << 20  # one line / page of 20 MiB (the page): over the 16 MiB line and 4 MiB record defaults
BOOK_LIMIT_MB = "8"  # books' default (64 MiB) shrunk so that the bomb stays cheap to build


def _corrupt(folder: Path, stem: str) -> None:
    """Random bytes behind each magic number (`stem.<ext>`): four corrupt_compression."""
    for ext, magic in MAGICS.items():
        (folder / f"{stem}.{ext}").write_bytes(magic + NOISE)


def _empty(folder: Path, ext: str) -> None:
    """A 0-byte file and an empty gzip: two empty_file."""
    (folder / f"zero{ext}.gz").write_bytes(b"")
    (folder / f"nothing{ext}.gz").write_bytes(gzip.compress(b"", mtime=0))


def _wet_page(topic: str) -> bytes:
    return wet_record(f"http://{topic}.example/", topic.title(), english_page(topic))


def _with_length(record: bytes, delta: int) -> bytes:
    head, sep, body = record.partition(b"\r\n\r\n")
    length = int(head.rsplit(b"Content-Length: ", 1)[1])
    return head.replace(b"Content-Length: %d" % length, b"Content-Length: %d" % (length + delta)) + sep + body


def _hostile_wet(folder: Path) -> None:
    """WET traps around good pages (every named good page must be written)."""
    records = [
        _wet_page("harbour"),
        _with_length(_wet_page("liar long"), 120),  # would swallow the next page
        _wet_page("orchard"),
        _with_length(_wet_page("liar short"), -40),
        _wet_page("meadow"),
        _wet_page("untyped").replace(b"WARC-Type: conversion\r\n", b""),
        _wet_page("resp").replace(b"WARC-Type: conversion", b"WARC-Type: response"),
        _wet_page("glacier"),
    ]
    (folder / "traps.wet").write_bytes(warcinfo() + b"".join(records))
    (folder / "valid.wet.zst").write_bytes(zstandard.ZstdCompressor().compress(warcinfo() + _wet_page("canyon")))
    big = wet_record("http://big.example/", "Big", ["x" * HUGE])
    with bz2.open(folder / "bigpage.wet.bz2", "wb", compresslevel=1) as fh:
        fh.write(warcinfo() + big + _wet_page("estuary"))


WET_GOOD = ("harbour", "orchard", "meadow", "glacier", "canyon", "estuary")


def test_commoncrawl_on_hostile_wet(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _hostile_wet(folder)
    _corrupt(folder, "random.wet")
    _empty(folder, ".wet")
    outcome = run_capped("pipelines.commoncrawl", ["--input", str(folder), "--no_perplexity", "--no_quality",
                                                   "--added", "2026-01-01"],
                         output=tmp_path / "out", case="commoncrawl hostile WET")
    assert_completed(outcome)
    assert outcome.errors == {"corrupt_compression": 4, "empty_file": 2, "bad_content_length": 2,
                              "wet_missing_type": 1, "record_too_large": 1}
    assert outcome.info["wet_record_warcinfo"] == 3 and outcome.info["wet_record_response"] == 1
    titles = {doc["metadata"].get("title") or "" for doc in outcome.documents()}
    assert {t.title() for t in WET_GOOD} <= titles
    assert all("WARC-" not in doc["text"] for doc in outcome.documents())
    assert outcome.stats["documents_in"] == len(WET_GOOD)


def _c4_line(topic: str, **fields) -> bytes:
    record = {"text": "\n".join(english_page(topic)), "url": f"https://{topic}.example/",
              "timestamp": "2019-04-22T00:00:00Z", **fields}
    return (json.dumps(record) + "\n").encode("utf-8")


C4_GOOD = ("lantern", "harvest", "compass", "granite", "ferry", "violin", "pepper")


def _hostile_c4(folder: Path) -> None:
    lines = [
        _c4_line("lantern"),
        b'{"text": "caf\xe9 not utf-8", "url": "https://latin.example/"}\n',
        _c4_line("harvest"),
        b'{"text": "n", "url": "https://digits.example/", "n": ' + b"7" * 5000 + b"}\n",
        b"[" * 200_000 + b"]" * 200_000 + b"\n",
        _c4_line("dict", text={"nested": True}),
        _c4_line("number", text=3.5),
        _c4_line("url", url={"host": "x"}),
        _c4_line("compass", **{"content-length": float("nan")}),
        b'{"text": "t", "url": "https://inf.example/", "content-length": Infinity, "timestamp": 5}\n',
        _c4_line("granite"),
    ]
    (folder / "mixed.json").write_bytes(b"".join(lines))
    (folder / "valid.json.zst").write_bytes(zstandard.ZstdCompressor().compress(_c4_line("ferry")))
    with bz2.open(folder / "hugeline.json.bz2", "wb", compresslevel=1) as fh:
        fh.write(b'{"text": "' + b"word " * (HUGE // 5) + b'", "url": "https://huge.example/"}\n')
        fh.write(_c4_line("violin"))
    (folder / "ok.json.xz").write_bytes(lzma.compress(_c4_line("pepper")))


def test_c4_on_hostile_json_and_wet(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _hostile_c4(folder)
    _corrupt(folder, "random.json")
    _empty(folder, ".json")
    (folder / "traps.wet").write_bytes(warcinfo() + _wet_page("harbour")
                                       + _with_length(_wet_page("liar long"), 120) + _wet_page("orchard"))
    outcome = run_capped("pipelines.c4", ["--input", str(folder), "--added", "2026-01-01"],
                         output=tmp_path / "out", case="c4 hostile JSON/WET")
    assert_completed(outcome)
    assert outcome.errors == {"corrupt_compression": 4, "empty_file": 2, "bad_encoding": 1, "malformed_json": 2,
                              "bad_record": 4, "line_too_long": 1, "bad_content_length": 1}
    assert outcome.info["nonfinite_values_removed"] == 1 and outcome.info["wet_record_warcinfo"] == 1
    assert outcome.stats["documents_in"] == len(C4_GOOD) + 2  # + the two good WET pages
    written = "\n".join(doc["text"] for doc in outcome.documents())
    for topic in C4_GOOD + ("harbour", "orchard"):
        assert f"about {topic} number" in written, topic
    for doc in outcome.documents():
        json.dumps(doc, allow_nan=False)


BOOK = ("It was a bright cold day in April, and the {0} clocks were striking thirteen. "
        "The {0} keeper walked along the shore and counted the boats that came back before dark.\n\n")


def _book(topic: str, paragraphs: int = 60) -> str:
    words = [f"{topic}{i}" for i in range(paragraphs)]
    return "".join(BOOK.format(word) for word in words)


def _hostile_books(folder: Path) -> None:
    (folder / "good.txt").write_text(_book("lighthouse"), encoding="utf-8")
    (folder / "utf16-nobom.txt").write_bytes(_book("windmill").encode("utf-16-le"))
    (folder / "random.txt").write_bytes(NOISE * 4)
    (folder / "utf16-noise.txt").write_bytes(bytes(b for pair in zip(NOISE, bytes(len(NOISE))) for b in pair))
    (folder / "nul-laden.txt").write_bytes(_book("quarry").encode().replace(b" ", b" \x00\x00\x00"))
    (folder / "bad-bom.txt").write_bytes(b"\xff\xfe" + "odd".encode("utf-16-le") + b"!")
    with bz2.open(folder / "bomb.txt.bz2", "wb", compresslevel=1) as fh:
        fh.write(b"a" * HUGE)
    lines = [json.dumps({"title": "Kept", "text": _book("orchard")}).encode(),
             b"[" * 200_000 + b"]" * 200_000,
             b'{"title": "digits", "text": "x", "n": ' + b"1" * 5000 + b"}",
             b'{"title": "latin", "text": "caf\xe9"}',
             json.dumps({"title": "NaN meta", "text": _book("harbour"), "meta": {"score": float("nan")}}).encode()]
    (folder / "part.jsonl").write_bytes(b"\n".join(lines) + b"\n")


def test_books_on_hostile_text(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _hostile_books(folder)
    _corrupt(folder, "random.txt")
    _empty(folder, ".txt")
    outcome = run_capped("pipelines.books", ["--input", str(folder), "--added", "2026-01-01",
                                             "--max_book_mb", BOOK_LIMIT_MB],
                         output=tmp_path / "out", case="books hostile text")
    assert_completed(outcome)
    assert outcome.errors == {"corrupt_compression": 4, "empty_file": 2, "book_too_large": 1,
                              "malformed_json": 2, "bad_encoding": 1}
    assert outcome.dropped == {"binary_text": 3, "bad_encoding": 1}
    assert outcome.info["nonfinite_values_removed"] == 1
    texts = {doc["text"].split(" keeper")[0].rsplit(" ", 1)[-1] for doc in outcome.documents()}
    assert texts == {"lighthouse0", "windmill0", "orchard0", "harbour0"}
    for doc in outcome.documents():
        assert "\x00" not in doc["text"]
        json.dumps(doc, allow_nan=False)
