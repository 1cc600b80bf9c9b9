"""The shared contracts: documents, drops, the ledger, input faults, reading and writing shards."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma

import pytest

from corpus.document import Document, make_id
from corpus.fileio import ReadError, guarded, open_decompressed
from corpus.ledger import Ledger
from corpus.rules import Drop


def test_document_json_round_trip_is_stable():
    doc = Document(make_id("c4", "http://x"), "héllo", "c4", "2026-01-01", {"b": 1, "a": {"z": 2, "y": 3}})
    line = doc.to_json()
    assert line.index('"a"') < line.index('"b"')  # metadata keys sorted -> stable bytes
    assert Document.from_json(line) == doc
    assert "héllo" in line  # UTF-8, not \u escapes


def test_make_id_is_stable_and_source_scoped():
    assert make_id("c4", "u") == make_id("c4", "u")
    assert make_id("c4", "u") != make_id("c4", "v")
    assert make_id("c4", "a", "b") != make_id("c4", "ab")
    assert make_id("books", "u").startswith("books/")


def test_drop_reason_must_be_snake_case():
    assert Drop("too_short").reason == "too_short"
    with pytest.raises(ValueError):
        Drop("Too Short")


def test_ledger_balance_and_counter_names():
    ledger = Ledger.from_counters("c4", {"documents_in": 5, "documents_written": 3, "dropped:a": 1,
                                        "dropped:b": 1, "error:truncated_input": 2, "info:files_read": 1})
    assert ledger.balanced
    assert ledger.errors == {"truncated_input": 2}
    assert Ledger.from_json(ledger.to_json()).dropped == {"a": 1, "b": 1}
    assert not Ledger.from_counters("c4", {"documents_in": 5}).balanced


PAYLOAD = b"".join(b"line %d\n" % i for i in range(2000))


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress, lambda b: b])
def test_open_decompressed_sniffs_format(compress):
    assert open_decompressed(io.BytesIO(compress(PAYLOAD))).read() == PAYLOAD


def test_multi_member_gzip_reads_every_member():
    data = gzip.compress(b"a\n") + gzip.compress(b"b\n")
    assert open_decompressed(io.BytesIO(data)).read() == b"a\nb\n"


@pytest.mark.parametrize("compress,reason", [(gzip.compress, "truncated_input"), (bz2.compress, "truncated_input"),
                                             (lzma.compress, "truncated_input")])
def test_truncated_input_keeps_what_was_read(compress, reason):
    # 2.5 MB spans several bz2 blocks (900 kB each), so each format has complete data to yield.
    payload = b"".join(b"line %d\n" % i for i in range(250_000))
    blob = compress(payload)
    stream = open_decompressed(io.BytesIO(blob[: len(blob) * 2 // 3]))
    items = list(guarded(iter(stream), "f"))
    assert isinstance(items[-1], ReadError) and items[-1].reason == reason
    assert 0 < len(items) - 1 < 250_000


def test_corrupt_gzip_is_an_input_fault():
    blob = bytearray(gzip.compress(PAYLOAD))
    blob[20:40] = b"\x00" * 20
    items = list(guarded(iter(open_decompressed(io.BytesIO(bytes(blob)))), "f"))
    assert isinstance(items[-1], ReadError) and items[-1].reason == "corrupt_compression"


def test_bugs_are_not_swallowed():
    def broken():
        yield 1
        raise KeyError("bug")

    with pytest.raises(KeyError):
        list(guarded(broken()))
