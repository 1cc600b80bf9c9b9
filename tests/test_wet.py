"""WET reader: headers by name, compression variants, truncation, bad records, cc_net fields."""
from __future__ import annotations

import gzip
import io

import pytest

from corpus.document import Document
from corpus.fileio import ReadError, guarded, open_decompressed, open_path
from corpus.ledger import Tally
from corpus.rules import Drop
from corpus.steps.commoncrawl import CommonCrawlParams, MinLength
from corpus.wet import cc_segment, is_wet_file, iter_wet_records, read_wet
from tests.wet_fixtures import english_page, warcinfo, wet_record, write_wet


def _read(data: bytes, path: str = "x.wet", counts: bool = False) -> list:
    """Documents and ReadErrors of one WET file (and the info counts when `counts`)."""
    stream = open_decompressed(io.BytesIO(data))
    return [i for i in guarded(read_wet(stream, path), path) if counts or not isinstance(i, Tally)]


def test_fields_title_and_lines():
    record = wet_record("https://www.example.com/a/b?q=1", "The Title", ["  first line  ", "second line"])
    [doc] = _read(warcinfo() + record, "crawl-data/CC-MAIN-2019-09/segments/1/wet/x.warc.wet.gz")
    assert isinstance(doc, Document)
    assert doc.text == "first line\nsecond line"  # lines stripped, title removed
    md = doc.metadata
    assert md["title"] == "The Title"
    assert md["url"] == "https://www.example.com/a/b?q=1"
    assert md["source_domain"] == "www.example.com"
    assert md["timestamp"] == "2019-02-15T19:15:59Z"
    assert md["digest"].startswith("sha1:")
    assert md["length"] == len("The Title\n  first line  \nsecond line".encode())
    assert md["nlines"] == 2
    assert md["cc_segment"] == "crawl-data/CC-MAIN-2019-09/segments/1/wet/x.warc.wet.gz"
    assert doc.source == "commoncrawl" and doc.id.startswith("commoncrawl/")


def test_headers_by_name_with_identified_language_and_unknown_headers():
    plain = wet_record("http://a.example/", "T", ["x" * 10])
    shifted = wet_record("http://b.example/", "T", ["y" * 10], language="eng,fra",
                         extra_headers=["X-Future-Header: 1", "WARC-Something-New: yes"])
    docs = _read(plain + shifted)
    assert [d.metadata["url"] for d in docs] == ["http://a.example/", "http://b.example/"]
    assert docs[1].metadata["warc_identified_language"] == "eng,fra"
    assert docs[1].metadata["length"] == len("T\n" + "y" * 10)


@pytest.mark.parametrize("compression", ["plain", "gzip", "gzip-multi"])
def test_compressions(tmp_path, compression):
    records = [wet_record(f"http://e.example/{t}", t, english_page(t)) for t in ("apples", "pears", "plums")]
    path = write_wet(tmp_path / f"f.{compression}.wet.gz", records, compression)
    with open_path(str(path)) as stream:
        items = list(guarded(read_wet(stream, str(path)), str(path)))
    assert [d.metadata["title"] for d in items if isinstance(d, Document)] == ["apples", "pears", "plums"]
    assert [i for i in items if not isinstance(i, Document)] == [Tally({"info:wet_record_warcinfo": 1})]


def test_truncated_gzip_keeps_records_before_the_break(tmp_path):
    records = [wet_record(f"http://e.example/{t}", t, english_page(t)) for t in ("one", "two", "three", "four")]
    path = write_wet(tmp_path / "t.wet.gz", records, "gzip")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.8)])
    with open_path(str(path)) as stream:
        items = list(guarded(read_wet(stream, str(path)), str(path)))
    docs = [i for i in items if isinstance(i, Document)]
    errors = [i for i in items if isinstance(i, ReadError)]
    assert 1 <= len(docs) < 4
    assert [d.metadata["title"] for d in docs] == ["one", "two", "three", "four"][: len(docs)]
    assert len(errors) == 1 and errors[0].reason in ("truncated_input", "truncated_record")


def test_truncated_plain_file_counts_a_truncated_record():
    data = warcinfo() + wet_record("http://a.example/", "A", ["a" * 50]) + wet_record("http://b.example/", "B", ["b" * 50])
    items = _read(data[:-20])
    assert isinstance(items[0], Document)
    assert isinstance(items[-1], ReadError) and items[-1].reason == "truncated_record"


def test_bad_records_are_errors_not_crashes():
    good = wet_record("http://good.example/", "G", ["g" * 40])
    no_length = wet_record("http://nolen.example/", "N", ["n" * 40]).replace(b"Content-Length", b"X-Length")
    bad_length = wet_record("http://badlen.example/", "N", ["n" * 40]).replace(b"Content-Length: ", b"Content-Length: abc")
    no_url = wet_record("http://nourl.example/", "U", ["u" * 40]).replace(b"WARC-Target-URI", b"WARC-Other")
    huge_header = b"WARC/1.0\r\nWARC-Type: conversion\r\nX-Huge: " + b"h" * 200_000 + b"\r\n\r\nbody\r\n\r\n"
    garbage = b"this is not a warc record\r\n" + b"z" * 300_000 + b"\r\n"
    data = warcinfo() + good + no_length + good.replace(b"good", b"okay") + bad_length + huge_header + garbage \
        + no_url + good.replace(b"good", b"last")
    items = _read(data)
    urls = [i.metadata["url"] for i in items if isinstance(i, Document)]
    reasons = sorted(i.reason for i in items if isinstance(i, ReadError))
    assert "http://good.example/" in urls and "http://last.example/" in urls
    assert "bad_content_length" in reasons
    assert "wet_header_too_long" in reasons
    assert "wet_missing_url" in reasons
    assert len(reasons) >= 4


def test_record_too_large_is_skipped():
    big = wet_record("http://big.example/", "B", ["b" * 5000])
    small = wet_record("http://small.example/", "S", ["s" * 50])
    stream = io.BytesIO(warcinfo() + big + small)
    items = list(iter_wet_records(stream, "p", max_record_bytes=1000))
    reasons = [i.reason for i in items if isinstance(i, ReadError)]
    assert reasons == ["record_too_large"]
    assert [i.header("WARC-Target-URI") for i in items if not isinstance(i, ReadError)][-1] == "http://small.example/"


def test_body_line_reading_warc_does_not_split_a_record():
    doc_lines = ["before", "WARC/1.0", "WARC-Type: conversion", "after"]
    [doc] = _read(warcinfo() + wet_record("http://w.example/", "T", doc_lines))
    assert doc.text.split("\n") == doc_lines


def test_min_length_step():
    step = MinLength(CommonCrawlParams(min_len=300))
    short = Document("i", "x" * 299, "commoncrawl")
    assert step(short) == Drop("too_short")
    assert step(Document("i", "x" * 300, "commoncrawl")).text == "x" * 300


def test_only_wet_files_are_read():
    assert is_wet_file("s3://commoncrawl/crawl-data/CC-MAIN-2019-09/segments/1/wet/x.warc.wet.gz")
    assert is_wet_file("/data/filter_test_1.WET.gz")
    assert not is_wet_file("/data/wet/README.md") and not is_wet_file("/data/x.warc.gz")


def test_cc_segment():
    assert cc_segment("s3://commoncrawl/crawl-data/CC-MAIN-2017-51/segments/a/wet/b.warc.wet.gz") == \
        "crawl-data/CC-MAIN-2017-51/segments/a/wet/b.warc.wet.gz"
    assert cc_segment("/data/x/file.wet.gz") == "file.wet.gz"


def test_whirlwind_2024_sample_with_identified_language(samples):
    path = samples / "commoncrawl" / "wet" / "whirlwind.warc.wet.gz"
    if not path.exists():
        pytest.skip("whirlwind sample absent")
    with open_path(str(path)) as stream:
        items = list(guarded(read_wet(stream, str(path)), str(path)))
    docs = [i for i in items if isinstance(i, Document)]
    assert not [i for i in items if isinstance(i, ReadError)]
    assert len(docs) == 1
    md = docs[0].metadata
    assert md["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert md["length"] == 4456  # Content-Length found by name despite the language header
    assert md["warc_identified_language"] == "spa"
    assert md["title"].startswith("Escopete")


def test_real_wet_sample_reads_every_conversion_record(samples):
    path = samples / "commoncrawl" / "wet" / "filter_test_1.wet.gz"
    if not path.exists():
        pytest.skip("filter_test_1 sample absent")
    raw = gzip.decompress(path.read_bytes())
    expected = raw.count(b"WARC-Type: conversion")
    with open_path(str(path)) as stream:
        docs = [i for i in guarded(read_wet(stream, str(path)), str(path)) if isinstance(i, Document)]
    assert len(docs) == expected
    assert all(d.metadata["nlines"] == len(d.text.split("\n")) for d in docs)


# ---------------------------------------------------------------------------------------------
# Fidelity on hostile records: a wrong length never swallows a page, every record is counted
# ---------------------------------------------------------------------------------------------
def _page(name: str) -> bytes:
    return wet_record(f"http://{name}.example/", name, english_page(name))


def _with_length(record: bytes, delta: int) -> bytes:
    head, sep, body = record.partition(b"\r\n\r\n")
    length = int(head.rsplit(b"Content-Length: ", 1)[1])
    return head.replace(b"Content-Length: %d" % length, b"Content-Length: %d" % (length + delta)) + sep + body


@pytest.mark.parametrize("delta", [150, 40, -30])
def test_a_wrong_content_length_costs_only_its_own_record(delta):
    data = warcinfo() + _page("first") + _with_length(_page("liar"), delta) + _page("next") + _page("last")
    items = _read(data)
    docs = [i for i in items if isinstance(i, Document)]
    assert [d.metadata["url"] for d in docs] == ["http://first.example/", "http://next.example/",
                                                 "http://last.example/"]
    assert [i.reason for i in items if isinstance(i, ReadError)] == ["bad_content_length"]
    assert all("WARC" not in d.text for d in docs)  # no header swallowed into a page


def test_record_types_are_counted_and_a_missing_type_is_an_error():
    untyped = _page("untyped").replace(b"WARC-Type: conversion\r\n", b"")
    response = _page("resp").replace(b"WARC-Type: conversion", b"WARC-Type: response")
    strange = _page("odd").replace(b"WARC-Type: conversion", b"WARC-Type: Zz!")
    items = _read(warcinfo() + untyped + response + strange + _page("kept"), counts=True)
    counts = Tally()
    for item in items:
        if isinstance(item, Tally):
            counts.update(item)
    assert counts == {"info:wet_record_warcinfo": 1, "info:wet_record_response": 1, "info:wet_record_other": 1}
    assert [i.reason for i in items if isinstance(i, ReadError)] == ["wet_missing_type"]
    assert [i.metadata["url"] for i in items if isinstance(i, Document)] == ["http://kept.example/"]


@pytest.mark.parametrize("data", [b"", gzip.compress(b"", mtime=0)])
def test_an_empty_file_is_flagged(data):
    assert [i.reason for i in _read(data)] == ["empty_file"]


def test_zstd_wet_is_read_like_gzip():
    import zstandard

    plain = warcinfo() + _page("alpha") + _page("beta")
    frames = b"".join(zstandard.ZstdCompressor().compress(part) for part in (plain[:500], plain[500:]))
    assert [d.metadata["url"] for d in _read(frames)] == [d.metadata["url"] for d in _read(plain)]
    assert len(_read(frames)) == 2


@pytest.mark.parametrize("magic", [b"BZh9", b"\x28\xb5\x2f\xfd", b"\x1f\x8b\x08\x00", b"\xfd7zXZ\x00"])
def test_random_bytes_behind_a_magic_number_are_corrupt_compression(magic):
    import random

    noise = random.Random(7).randbytes(5000)
    assert [i.reason for i in _read(magic + noise)] == ["corrupt_compression"]
