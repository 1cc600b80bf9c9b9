"""cc_net line dedup logic, LID decisions and bucket filter on hand-made cases."""
from __future__ import annotations

import pytest

from corpus.ccnet import (
    dedup_in_memory,
    duplicate_hashes,
    doc_line_hashes,
    keep_buckets_rule,
    parse_buckets,
    parse_scope,
    remove_duplicate_lines,
    DedupScope,
)
from corpus.ccnet_text import line_hash
from corpus.document import Document
from corpus.rules import Drop


def doc(i: str, lines: list[str], segment: str = "s0") -> Document:
    return Document(f"cc/{i}", "\n".join(lines), "commoncrawl", metadata={"cc_segment": segment})


def test_parse_scope():
    assert parse_scope("global") == DedupScope("global")
    assert parse_scope("shard") == DedupScope("shard")
    assert parse_scope("group:50") == DedupScope("group", 50)
    for bad in ("group:0", "group:x", "file", ""):
        with pytest.raises(ValueError):
            parse_scope(bad)


def test_every_copy_of_a_repeated_line_is_removed():
    a = doc("a", ["Shared menu", "alpha unique line", "Footer 2019"])
    b = doc("b", ["beta unique line", "shared MENU", "Footer 1984"])  # case and digits fold
    c = doc("c", ["gamma unique line"])
    out = dedup_in_memory([a, b, c], parse_scope("global"))
    assert [o.text for o in out] == ["alpha unique line", "beta unique line", "gamma unique line"]
    assert out[0].metadata["line_ids"] == [1]
    assert out[1].metadata["line_ids"] == [0]
    assert out[0].metadata["original_nlines"] == 3
    assert out[0].metadata["original_length"] == len(a.text)
    assert out[0].metadata["nlines"] == 1 and out[0].metadata["length"] == len("alpha unique line")


def test_within_doc_repeats_keep_the_first_and_do_not_count_as_duplicates():
    a = doc("a", ["same line", "other", "same line", "", "same line"])
    [out] = dedup_in_memory([a], parse_scope("global"))
    assert out.text == "same line\nother"
    assert out.metadata["line_ids"] == [0, 1]
    assert duplicate_hashes([doc_line_hashes(a.text)]) == set()


def test_blank_lines_always_removed_and_doc_dropped_when_nothing_survives():
    a = doc("a", ["", "   ", "dup"])
    b = doc("b", ["dup", "kept"])
    out = dedup_in_memory([a, b], parse_scope("global"))
    assert out[0] == Drop("all_lines_duplicated")
    assert out[1].text == "kept"


def test_identical_documents_lose_every_line():
    a = doc("a", ["one line", "two line"])
    b = doc("b", ["one line", "two line"])
    assert dedup_in_memory([a, b], parse_scope("global")) == [Drop("all_lines_duplicated")] * 2


def test_scopes():
    # s0 and s1 share "x"; s2 repeats "y" from s0. Groups of 2 sorted files: {s0, s1}, {s2}.
    docs = [
        doc("a", ["x", "y", "a-only"], "s0"),
        doc("b", ["x", "b-only"], "s1"),
        doc("c", ["y", "c-only"], "s2"),
    ]

    def texts(scope):
        return [o.text if isinstance(o, Document) else o.reason for o in dedup_in_memory(docs, parse_scope(scope))]

    assert texts("global") == ["a-only", "b-only", "c-only"]
    assert texts("shard") == ["x\ny\na-only", "x\nb-only", "y\nc-only"]
    assert texts("group:2") == ["y\na-only", "b-only", "y\nc-only"]
    assert texts("group:3") == texts("global")
    assert texts("group:1") == texts("shard")


def test_remove_duplicate_lines_checks_hash_count():
    with pytest.raises(ValueError):
        remove_duplicate_lines(doc("a", ["x", "y"]), [line_hash("x")], set())


def test_buckets():
    assert parse_buckets("head,middle") == ("head", "middle")
    with pytest.raises(ValueError):
        parse_buckets("top")
    rule = keep_buckets_rule(("head", "middle"))
    base = Document("i", "t", "commoncrawl")
    assert rule(base.with_metadata(bucket="head")).metadata["bucket"] == "head"
    assert rule(base.with_metadata(bucket="tail")) == Drop("bucket_tail")
    assert rule(base.with_metadata(bucket="all")) == Drop("no_language_model")
    assert keep_buckets_rule(("head", "all"))(base.with_metadata(bucket="all")).metadata["bucket"] == "all"
