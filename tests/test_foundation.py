"""The shared contracts: documents, drops, the ledger, input faults, reading and writing shards."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma

import pytest

from corpus.document import Document, make_id
from corpus.fileio import ReadError, guarded, open_decompressed
from corpus.ledger import Ledger
from corpus.rules import Drop


def test_document_json_round_trip_is_stable():
    doc = Document(make_id("c4", "http://x"), "héllo", "c4", "2026-01-01", {"b": 1, "a": {"z": 2, "y": 3}})
    line = doc.to_json()
    extra = json.loads(line)["metadata"]["extra"]  # source-specific keys (corpus.schema)
    assert extra.index('"a"') < extra.index('"b"')  # metadata keys sorted -> stable bytes
    back = Document.from_json(line)
    assert back.metadata == doc.metadata and back.added == "2026-01-01T00:00:00Z"  # canonical UTC time
    assert back.to_json() == line
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


# ---- the pre-write check (corpus/validate.py) and the step guard (corpus/step.py) ----
def test_lone_surrogates_are_repaired_and_pairs_joined():
    from corpus.validate import repair_text

    assert repair_text("plain") == "plain"
    assert repair_text("a\ud800b") == "a\ufffdb"
    assert repair_text("\ud83d\ude00") == "\U0001F600"  # a pair spelled as two code points
    assert repair_text("x\udc80").encode("utf-8") == "x\ufffd".encode("utf-8")


def test_metadata_becomes_strict_json_and_is_counted():
    import json as jsonlib

    from corpus.validate import writable

    doc = Document("c4/x", "text", "c4", "", {"a": float("nan"), "b": [float("inf"), 1.5, True], "c": 10 ** 20,
                                               "d": {"e": "\udfff", "f": -(2 ** 63)}})
    fixed, counts = writable(doc)
    assert counts == {"metadata_nulled": 3, "repaired_surrogates": 1}
    assert fixed.metadata == {"a": None, "b": [None, 1.5, True], "c": None, "d": {"e": "\ufffd", "f": -(2 ** 63)}}
    jsonlib.loads(fixed.to_json(), parse_constant=lambda name: pytest.fail(name))
    clean = Document("c4/y", "text", "c4", "", {"a": 1})
    assert writable(clean) == (clean, {})
    deep: dict = {}
    node = deep
    for _ in range(200):
        node["k"] = {}
        node = node["k"]
    assert writable(Document("c4/z", "t", "c4", "", deep))[1] == {"metadata_nulled": 1}


@pytest.mark.parametrize("text,binary", [
    ("An ordinary paragraph.\n\tIndented, with a form feed \f.", False),
    ("one NUL \x00 in it", True),
    ("caf\ufffd " * 3 + "mostly fine text, one replacement in forty characters" * 2, False),
    ("\ufffd\ufffd\ufffd abc", True),
    ("t\x00e\x00x\x00t\x00", True),  # UTF-16 without a BOM
    ("", False),
])
def test_binary_or_mis_decoded_text_is_detected(text, binary):
    from corpus.validate import ValidateParams, is_binary

    assert is_binary(text, ValidateParams()) is binary


def test_the_pre_write_check_drops_binary_text_with_a_reason():
    from corpus.validate import Validate, ValidateParams

    step = Validate(ValidateParams(max_nul_chars=2))
    text = "a\x00b\x00" + "long enough text " * 10
    assert step(Document("c4/x", text, "c4")).text == text  # at the limit: kept
    assert step(Document("c4/x", "\x00" + text, "c4")) == Drop("binary_text")


def test_a_step_that_raises_is_reported_with_the_step_and_document_under_guard():
    from corpus.step import RuleStep, StepFailed, run_steps

    def stamp(doc):
        return doc.with_metadata(seen=True)

    def broken(doc):
        raise ZeroDivisionError("a bug")

    doc = Document("c4/x", "text", "c4")
    with pytest.raises(ZeroDivisionError):
        run_steps([RuleStep("Stamp", stamp), RuleStep("Broken step", broken)], doc)
    with pytest.raises(StepFailed) as failed:
        run_steps([RuleStep("Stamp", stamp), RuleStep("Broken step", broken)], doc, guard=True)
    assert failed.value.step == "broken_step" and failed.value.kind == "ZeroDivisionError"
    assert failed.value.doc.metadata == {"seen": True}  # the document the failing step saw
