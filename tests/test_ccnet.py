"""cc_net line dedup logic, its shuffle helpers, the perplexity and bucket steps on hand-made cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

from corpus.ccnet import (
    MIN_PARTITIONS,
    DedupScope,
    countable_hashes,
    dedup_in_memory,
    dedup_partitions,
    doc_line_hashes,
    doc_ref,
    duplicate_hashes,
    duplicated_pairs,
    merge_counts,
    salt_count,
    parse_buckets,
    parse_scope,
    partition_hashes,
    perplexity_and_bucket,
    remove_duplicate_lines,
)
from corpus.ccnet_text import line_hash
from corpus.document import Document
from corpus.rules import Drop
from corpus.steps.commoncrawl import CommonCrawlParams, KeepBuckets, Perplexity


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
    step = KeepBuckets(CommonCrawlParams(keep_buckets="head,middle"))
    base = Document("i", "t", "commoncrawl")
    assert step(base.with_metadata(bucket="head")).metadata["bucket"] == "head"
    assert step(base.with_metadata(bucket="tail")) == Drop("bucket_tail")
    assert step(base.with_metadata(bucket="all")) == Drop("no_language_model")
    keep_all = KeepBuckets(CommonCrawlParams(keep_buckets="head,all"))
    assert keep_all(base.with_metadata(bucket="all")).metadata["bucket"] == "all"


class _FakeLM:
    """A stand-in for `corpus.lm.PerplexityModel`: a fixed perplexity and cutoffs (10, 20)."""

    def __init__(self, value: float):
        self.value = value

    def perplexity(self, text: str) -> float:
        return self.value

    def bucket(self, perplexity: float) -> str:
        return "head" if perplexity < 10 else "middle" if perplexity < 20 else "tail"


def test_perplexity_is_rounded_before_bucketing():
    assert perplexity_and_bucket(_FakeLM(9.96), "x") == (10.0, "middle")  # 9.96 rounds to 10.0: not head
    assert perplexity_and_bucket(_FakeLM(9.94), "x") == (9.9, "head")
    assert perplexity_and_bucket(_FakeLM(math.inf), "x") == (None, "tail")  # no word left to score


def test_perplexity_step_without_a_model_for_the_language():
    step = Perplexity("unused-directory", ["en"])
    out = step(Document("i", "Le texte.", "commoncrawl", metadata={"language": "fr"}))
    assert out.metadata["perplexity"] is None and out.metadata["bucket"] == "all"


# ---------------------------------------------------------------------------------------------
# The shuffle's helpers agree with the in-memory reference
# ---------------------------------------------------------------------------------------------
def test_doc_ref_is_a_stable_non_negative_int64():
    refs = {doc_ref(f"commoncrawl/{i}") for i in range(1000)}
    assert len(refs) == 1000 and all(0 <= r < 2**63 for r in refs)
    assert doc_ref("commoncrawl/a") == doc_ref("commoncrawl/a")


def test_partition_hashes_splits_by_modulo_and_keeps_order():
    parts = partition_hashes([9, 4, 7, 2, 12], 3)
    assert parts == {0: [9, 12], 1: [4, 7], 2: [2]}


def test_counts_and_pairs_find_hashes_of_two_or_more_documents():
    docs = {1: ["shared", "one"], 2: ["shared", "two", "both"], 3: ["three", "both", "three"]}
    hashes, refs = [], []
    for ref, lines in docs.items():
        own = countable_hashes([line_hash(x) for x in lines])
        hashes += own
        refs += [ref] * len(own)
    hashes_arr, refs_arr = np.array(hashes, dtype=np.uint64), np.array(refs, dtype=np.int64)
    # counted in two halves, then merged: as a combiner sees two bundles
    halves = (hashes_arr[:3], hashes_arr[3:])
    parts = [merge_counts(half, np.ones(half.size, dtype=np.int64)) for half in halves]
    unique, counts = merge_counts(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    assert unique.size == 5 and counts.sum() == len(hashes) and list(unique) == sorted(unique)
    duplicated = unique[counts >= 2]
    dup_refs, dup_hashes = duplicated_pairs(hashes_arr, refs_arr, duplicated)
    assert sorted(zip(dup_refs.tolist(), dup_hashes.tolist())) == sorted(
        [(1, line_hash("shared")), (2, line_hash("shared")), (2, line_hash("both")), (3, line_hash("both"))])
    expected = duplicate_hashes([doc_line_hashes("\n".join(lines)) for lines in docs.values()])
    assert set(duplicated.tolist()) == expected


def test_merge_counts_of_nothing_is_empty():
    unique, counts = merge_counts(np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64))
    assert unique.size == counts.size == 0


def test_salt_count_splits_a_partition_into_groups_of_at_most_max_pairs_on_average():
    assert salt_count(0, 100) == salt_count(100, 100) == 1
    assert salt_count(101, 100) == 2 and salt_count(10_000, 100) == 100
    with pytest.raises(ValueError):
        salt_count(5, 0)


def test_dedup_partitions_follow_the_input_size():
    mb = 1 << 20
    assert dedup_partitions(0, 64) == MIN_PARTITIONS == dedup_partitions(64 * mb, 64)  # small runs still spread
    assert dedup_partitions(64 * mb * 1000, 64) == 1000
    assert dedup_partitions(64 * mb * 1000 + 1, 64) == 1001  # rounded up: no partition above the bound
    for input_bytes in (10**12, 4 * 10**12, 6 * 10**12):  # input per partition stays <= partition_mb
        assert input_bytes / dedup_partitions(input_bytes, 64.0) <= 64 * mb
    with pytest.raises(ValueError):
        dedup_partitions(1, 0)
