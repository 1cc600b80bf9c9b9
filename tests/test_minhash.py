"""MinHash-LSH near-dedup: S-curve, shingles, signatures, verification, clustering, recall/precision."""
from __future__ import annotations

import random

import numpy as np
import pytest

from corpus import minhash
from corpus.minhash import MinHashParams


# ---- the S-curve and the choice of (b, r) -----------------------------------------------------
def test_default_bands_meet_recall_at_threshold():
    assert minhash.choose_bands() == (11, 9)
    params = MinHashParams()
    assert (params.bands, params.rows) == (11, 9)
    assert minhash.candidate_probability(0.9, 11, 9) >= 0.995
    assert minhash.candidate_probability(0.5, 11, 9) <= 0.025
    curve = minhash.s_curve(11, 9)
    assert list(curve.values()) == sorted(curve.values())


def test_choose_bands_honours_constraints():
    b, r = minhash.choose_bands(threshold=0.8, recall=0.99, low=0.4, max_low_rate=0.01)
    assert minhash.candidate_probability(0.8, b, r) >= 0.99
    assert minhash.candidate_probability(0.4, b, r) <= 0.01
    with pytest.raises(ValueError):
        minhash.choose_bands(threshold=0.9, recall=0.999, low=0.85, max_low_rate=0.001, max_hashes=64)


# ---- shingles ----------------------------------------------------------------------------------
def test_shingles_ignore_case_punctuation_and_spacing():
    a = minhash.shingles("The cat sat on the mat, and then it slept.")
    b = minhash.shingles("the  CAT sat on\nthe mat and then -- it slept")
    assert a.dtype == np.uint64 and a.size == 6
    assert np.array_equal(a, b)
    assert np.all(a[:-1] < a[1:])  # sorted, distinct


def test_shingles_are_order_sensitive_and_stable():
    assert not np.array_equal(minhash.shingles("a b c d e"), minhash.shingles("e d c b a"))
    # Fixed value: hashes must be equal on every worker and across Python processes.
    assert minhash.shingles("one two three four five").tolist() == minhash.shingles("One two three four five!").tolist()
    assert minhash.shingles("one two three four five").size == 1


def test_short_and_empty_texts():
    assert minhash.shingles("").size == 0
    assert minhash.shingles("  ... !!").size == 0
    assert minhash.shingles("just three words").size == 1
    with pytest.raises(ValueError):
        minhash.signature(np.empty(0, dtype=np.uint64), 10)


# ---- signatures and bands ----------------------------------------------------------------------
def _sets_with_jaccard(rng: np.random.Generator, n: int, j: float) -> tuple[np.ndarray, np.ndarray]:
    inter = int(round(2 * n * j / (1 + j)))
    pool = np.unique(rng.integers(0, 2**63, size=3 * n, dtype=np.uint64))[: 2 * n - inter]
    rng.shuffle(pool)
    return np.unique(pool[:n]), np.unique(pool[n - inter:2 * n - inter])


def test_signature_estimates_jaccard_without_bias():
    rng = np.random.default_rng(7)
    for j in (0.5, 0.9):
        errors = []
        for _ in range(60):
            a, b = _sets_with_jaccard(rng, 1500, j)
            est = minhash.estimate_jaccard(minhash.signature(a, 99), minhash.signature(b, 99))
            errors.append(est - minhash.jaccard(a, b))
        assert abs(np.mean(errors)) < 0.02
        assert np.std(errors) < 1.5 * (j * (1 - j) / 99) ** 0.5 + 0.01


def test_signature_and_band_keys_are_deterministic():
    sh = minhash.shingles("a b c d e f g h i j k l m n o p " * 3)
    sig1, sig2 = minhash.signature(sh, 99, seed=1), minhash.signature(sh.copy(), 99, seed=1)
    assert np.array_equal(sig1, sig2)
    assert not np.array_equal(sig1, minhash.signature(sh, 99, seed=2))
    keys = minhash.band_keys(sig1, 11, 9)
    assert len(keys) == 11 and len(set(keys)) == 11 and keys == minhash.band_keys(sig2, 11, 9)
    # Chunking does not change the signature.
    big = np.unique(np.random.default_rng(1).integers(0, 2**63, size=10000, dtype=np.uint64))
    assert np.array_equal(minhash.signature(big, 20, chunk=333), minhash.signature(big, 20, chunk=100000))


# ---- candidates, verification, clusters --------------------------------------------------------
def test_bucket_pairs_are_a_star_from_the_smallest_id():
    assert minhash.bucket_pairs(["b", "a", "c"]) == [("a", "b"), ("a", "c")]
    assert minhash.bucket_pairs(["a"]) == [] and minhash.bucket_pairs(["a", "a"]) == []
    star = minhash.bucket_pairs([f"d{i:02d}" for i in range(10)])
    assert len(star) == 9 and {x for x, _ in star} == {"d00"}  # linear: n - 1 pairs


def test_verify_jaccard_and_containment():
    a = np.arange(100, dtype=np.uint64)
    b = np.arange(10, 100, dtype=np.uint64)  # b inside a
    assert minhash.jaccard(a, b) == pytest.approx(0.9)
    assert minhash.containment(a, b) == 1.0
    assert minhash.verify(a, b, 0.9)[0]
    assert not minhash.verify(a, np.arange(11, 100, dtype=np.uint64), 0.9)[0]
    assert minhash.verify(a, np.arange(50, 100, dtype=np.uint64), 0.9, "containment")[0]
    with pytest.raises(ValueError):
        MinHashParams(near_dup_measure="cosine")


def test_removals_keep_smallest_id_per_cluster_in_any_order():
    edges = [("c", "d"), ("b", "c"), ("x", "y"), ("e", "e")]
    expected = {"c": "b", "d": "b", "y": "x"}
    assert minhash.removals(edges) == expected
    for seed in range(5):
        shuffled = [tuple(random.Random(seed).sample(e, 2)) for e in edges]
        random.Random(seed).shuffle(shuffled)
        assert minhash.removals(shuffled) == expected


def test_removals_keep_the_best_ranked_member():
    rank = {"web/1": 1, "wiki/9": 0}.get
    assert minhash.removals([("web/1", "wiki/9")], rank=lambda i: rank(i, 2)) == {"web/1": "wiki/9"}
    assert minhash.removals([("web/1", "wiki/9")]) == {"wiki/9": "web/1"}


# ---- recall / precision against exact Jaccard -------------------------------------------------
def test_recall_and_precision_at_jaccard_0_9():
    # Generated pairs whose exact shingle Jaccard spans 0.5-1.0, half of them near 0.9.
    result = minhash.evaluate(minhash.perturbed_pairs(600, seed=11))
    assert result["min_jaccard"] < 0.55 and result["max_jaccard"] > 0.99
    assert result["true_pairs"] >= 150
    assert result["recall"] >= 0.99, result
    assert result["precision"] >= 0.99, result


def test_local_reference_removes_planted_duplicates():
    rng = random.Random(3)
    vocab = [f"v{i}" for i in range(3000)]
    a = " ".join(rng.choices(vocab, k=1500))
    b = " ".join(rng.choices(vocab, k=1500))
    a2 = a.replace(" v1 ", " changed ", 3)
    removed, counts = minhash.near_duplicates_local([("doc/2", a2), ("doc/1", a), ("doc/3", b), ("doc/4", "")])
    assert removed == {"doc/2": "doc/1"}
    assert counts["verified"] == 1


@pytest.mark.samples
def test_recall_and_precision_on_real_book_text():
    from corpus.samples import require_samples

    folder = require_samples("books")
    words = []
    for path in sorted(folder.glob("*.txt")):
        words += path.read_bytes().decode("utf-8-sig", errors="replace").split()
    result = minhash.evaluate(minhash.perturbed_pairs(300, seed=5, words_from=words))
    assert result["true_pairs"] >= 80
    assert result["recall"] >= 0.99 and result["precision"] >= 0.99, result


# ---- the flags ---------------------------------------------------------------------------------
def test_params_are_the_near_dedup_flags():
    import argparse

    from corpus.step import add_params, params_from

    parser = argparse.ArgumentParser()
    add_params(parser, MinHashParams)
    args = parser.parse_args(["--near_dup_threshold", "0.8", "--near_dup_measure", "containment", "--ngram", "3",
                              "--bands", "4", "--rows", "2", "--minhash_seed", "7", "--max_cc_rounds", "9"])
    assert params_from(args, MinHashParams) == MinHashParams(0.8, "containment", 3, 4, 2, 7, 9)
    assert params_from(parser.parse_args([]), MinHashParams) == MinHashParams()
    with pytest.raises(SystemExit):
        parser.parse_args(["--near_dup_measure", "cosine"])


# ---- the Beam composite: a stream of kept documents, Rejected and info tallies -----------------
def _summary(items: list) -> tuple[list[str], list[tuple[str, str]], dict[str, int]]:
    """(kept ids, (reason, id) of the rejected, info counts) of a near-dedup stream."""
    from corpus.ledger import Rejected, Tally

    kept = sorted(i.id for i in items if not isinstance(i, (Tally, Rejected)))
    rejected = sorted((i.reason, i.doc.id) for i in items if isinstance(i, Rejected))
    counts = Tally()
    for item in items:
        if isinstance(item, Tally):
            counts.update(item)
    return kept, rejected, {name.removeprefix("info:"): n for name, n in sorted(counts.items())}


def _check_near_dedup(docs, params: MinHashParams, kept, rejected, counts) -> None:
    """`NearDedup` on the local runner gives exactly this `_summary`."""
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from pipelines.neardedup import NearDedup
    from pipelines.runner import LOCAL_RUNNER

    with beam.Pipeline(runner=LOCAL_RUNNER) as pipeline:
        stream = pipeline | beam.Create(docs) | NearDedup(params)
        assert_that(stream | beam.combiners.ToList() | beam.Map(_summary), equal_to([(kept, rejected, counts)]))


def test_near_dedup_transform_clusters_and_counts():
    from corpus.document import Document

    rng = random.Random(5)
    vocab = [f"t{i}" for i in range(4000)]
    base = rng.choices(vocab, k=1200)
    other = rng.choices(vocab, k=1200)

    def edit(words, k):
        words = list(words)
        for i in rng.sample(range(len(words)), k):
            words[i] = "edited"
        return " ".join(words)

    docs = [
        Document("books/a", " ".join(base), "books"),
        Document("books/b", edit(base, 3), "books"),     # near dup of a
        Document("books/c", edit(base, 5), "books"),     # near dup of a and b
        Document("books/d", " ".join(other), "books"),   # different
        Document("books/e", "", "books"),                # no shingles: kept
    ]
    removed, local = minhash.near_duplicates_local([(d.id, d.text) for d in docs])
    assert removed == {"books/b": "books/a", "books/c": "books/a"} and local == {"candidates": 2, "verified": 2}
    _check_near_dedup(docs, MinHashParams(), ["books/a", "books/d", "books/e"],
                      [("near_duplicate", "books/b"), ("near_duplicate", "books/c")],
                      {"near_dedup_candidate_pairs": 2, "near_dedup_no_shingles": 1, "near_dedup_verified_pairs": 2})


def test_near_dedup_transform_many_exact_copies_through_one_star():
    from corpus.document import Document

    text = " ".join(random.Random(9).choices([f"c{i}" for i in range(3000)], k=600))
    docs = [Document(f"books/{i:02d}", text, "books") for i in range(12)]
    # Every one of the 11 bands holds all 12 copies: one star from books/00, 11 distinct pairs.
    _check_near_dedup(docs, MinHashParams(), ["books/00"],
                      [("near_duplicate", d.id) for d in docs[1:]],
                      {"near_dedup_candidate_pairs": 11, "near_dedup_verified_pairs": 11})


def test_near_dedup_transform_counts_rejected_candidates():
    from corpus.document import Document

    rng = random.Random(2)
    words = rng.choices([f"r{i}" for i in range(3000)], k=800)
    half = list(words)
    for i in rng.sample(range(len(half)), 60):
        half[i] = "x"
    docs = [Document("books/a", " ".join(words), "books"), Document("books/b", " ".join(half), "books")]
    loose = MinHashParams(near_dup_threshold=0.99, bands=40, rows=1)  # every pair a candidate, none kept
    _check_near_dedup(docs, loose, ["books/a", "books/b"], [],
                      {"near_dedup_candidate_pairs": 1, "near_dedup_rejected_pairs": 1})


# ---- distributed components: a chain, the round bound, the keep-order ----------------------
def _chain_texts() -> tuple[str, str, str]:
    """A ~ B ~ C with J(A, B) = J(B, C) = 0.93 and J(A, C) = 0.86: C is only near B."""
    rng = random.Random(0)
    a = rng.choices([f"k{i}" for i in range(5000)], k=2000)

    def edit(words, positions):
        words = list(words)
        for i in positions:
            words[i] = f"e{rng.randrange(10**6)}"
        return words

    b = edit(a, range(0, 2000, 130))
    c = edit(b, range(65, 2000, 130))
    return " ".join(a), " ".join(b), " ".join(c)


def test_chain_is_one_cluster_the_best_id_kept():
    """Cluster semantics: A~B and B~C verified, A~C not (J = 0.86 < 0.9); B and C are in A's
    connected component, so both are dropped and only A is kept, C included although it is not
    a near duplicate of A (it is of B, which is dropped)."""
    from corpus.document import Document

    a, b, c = _chain_texts()
    sets = [minhash.shingles(t) for t in (a, b, c)]
    assert minhash.jaccard(sets[0], sets[1]) >= 0.9 and minhash.jaccard(sets[1], sets[2]) >= 0.9
    assert minhash.jaccard(sets[0], sets[2]) < 0.9
    docs = [Document("x/a", a, "x"), Document("x/b", b, "x"), Document("x/c", c, "x")]
    removed, counts = minhash.near_duplicates_local([(d.id, d.text) for d in docs])
    assert removed == {"x/b": "x/a", "x/c": "x/a"} and counts == {"candidates": 3, "verified": 2}
    _check_near_dedup(docs, MinHashParams(), ["x/a"], [("near_duplicate", "x/b"), ("near_duplicate", "x/c")],
                      {"near_dedup_candidate_pairs": 3, "near_dedup_verified_pairs": 2,
                       "near_dedup_rejected_pairs": 1})


_PATH = [("p0", "p1"), ("p1", "p2"), ("p2", "p3"), ("p3", "p4")]
_LOCAL_MIN = [("a", "d"), ("d", "b"), ("b", "e")]  # b: smaller than its neighbours, far from a


@pytest.mark.parametrize("edges,rounds,removed,unconverged", [
    # diameter 4: converged after 5 rounds, every node labelled p0
    (_PATH, 5, [(f"p{i}", "p0") for i in range(1, 5)], []),
    # 2 rounds: each label is the best id within 2 hops; 3 of them still changed in round 2
    (_PATH, 2, [("p1", "p0"), ("p2", "p0"), ("p3", "p1"), ("p4", "p2")], [3]),
    # 1 round keeps the local minimum b: an unconverged run removes less, never a wrong document
    (_LOCAL_MIN, 1, [("d", "a"), ("e", "b")], [2]),
    (_LOCAL_MIN, 4, [("b", "a"), ("d", "a"), ("e", "a")], []),
])
def test_distributed_components_and_the_round_bound(edges, rounds, removed, unconverged):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from pipelines.neardedup import ConnectedComponents
    from pipelines.runner import LOCAL_RUNNER

    with beam.Pipeline(runner=LOCAL_RUNNER) as pipeline:
        pairs, tally = pipeline | beam.Create(edges) | ConnectedComponents(rounds, rank=None)
        assert_that(pairs | beam.combiners.ToList() | beam.Map(sorted), equal_to([removed]), label="removed")
        assert_that(tally | beam.Map(lambda t: t["error:near_dedup_unconverged"]), equal_to(unconverged),
                    label="unconverged")


def test_rank_and_reason_choose_the_survivor():
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from corpus.document import Document
    from pipelines.neardedup import NearDedup
    from pipelines.runner import LOCAL_RUNNER

    text = " ".join(random.Random(4).choices([f"q{i}" for i in range(3000)], k=500))
    docs = [Document("web/1", text, "web"), Document("wiki/9", text, "wiki")]
    rank = {"wiki": 0, "web": 1}
    with beam.Pipeline(runner=LOCAL_RUNNER) as pipeline:
        stream = pipeline | beam.Create(docs) | NearDedup(
            MinHashParams(), rank=lambda i: rank[i.split("/")[0]], reason_of=lambda kept: f"dup_of_{kept}")
        assert_that(stream | beam.combiners.ToList() | beam.Map(_summary),
                    equal_to([(["wiki/9"], [("dup_of_wiki/9", "web/1")],
                               {"near_dedup_candidate_pairs": 1, "near_dedup_verified_pairs": 1})]))
