"""MinHash near-duplicate detection, pure logic: shingles, signatures, LSH bands, verification, clusters.

Used by `pipelines/neardedup.py` (the Beam composite) for book-level dedup ("remove books with more
than 90% content overlap", LLaMA §2.1) and later for cross-source near-dedup.

The math (see docs/books.md for the table):

- A document is the set S of its hashed word n-grams ("shingles", `shingles()`).
- A MinHash permutation h gives P[min h(S_a) == min h(S_b)] = J(S_a, S_b), the Jaccard similarity.
- LSH with b bands of r rows: two documents become a *candidate pair* when all r values of at least
  one band agree, so P(candidate | J) = 1 - (1 - J^r)^b (`candidate_probability`, the S-curve).
- `choose_bands` picks the cheapest b·r whose S-curve reaches the wanted recall at the threshold
  while keeping the false-candidate rate at a low similarity small. With the defaults
  (threshold 0.9, recall 0.995, at most 2.5% candidates at J = 0.5) it gives b = 11, r = 9
  (99 hashes): P(cand | 0.9) = 0.9954, 0.95 -> 0.99997, 0.8 -> 0.795, 0.7 -> 0.364, 0.5 -> 0.021.
- Every candidate is then *verified* on the exact shingle sets (`verify`), so precision is exact
  (up to 64-bit hash collisions among shingles, ~n²/2^65 per pair) and the LSH only costs recall.
- Candidates are a star from each bucket's smallest id (`bucket_pairs`): linear in the bucket size.
- Verified pairs are clustered into connected components; each component keeps its best-ranked
  document (smallest `(rank(id), id)`, by default the smallest id) and drops the others
  (`removals` here, distributed label propagation in `pipelines/neardedup.py`), so the result does
  not depend on the order pairs arrive in.

Shingle hashing is vectorised: each distinct word is hashed once with BLAKE2b (stable across
processes, unlike `hash()`), n-gram hashes are an order-sensitive linear combination of the word
hashes finished with the murmur3 64-bit mixer, and permutations are h_k(x) = a_k·x + b_k mod 2^64
(a_k odd, so each is a bijection on 64-bit values; the minimum is decided by the well-mixed high bits).
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Optional, Sequence

import numpy as np

from corpus.step import param

_WORD = re.compile(r"\w+")
_U64 = np.uint64


# --------------------------------------------------------------------------------------------
# Parameters and the S-curve
# --------------------------------------------------------------------------------------------
def candidate_probability(j: float, bands: int, rows: int) -> float:
    """P(two documents with Jaccard j share at least one of `bands` bands of `rows` rows)."""
    return 1.0 - (1.0 - j**rows) ** bands


def choose_bands(
    threshold: float = 0.9,
    recall: float = 0.995,
    low: float = 0.5,
    max_low_rate: float = 0.025,
    max_hashes: int = 512,
) -> tuple[int, int]:
    """The (bands, rows) with the fewest hashes such that P(cand | threshold) >= recall and
    P(cand | low) <= max_low_rate. Ties go to the smaller false-candidate rate."""
    best: tuple[int, float, int, int] | None = None
    for rows in range(1, max_hashes + 1):
        # Smallest b reaching the recall at this r: (1 - t^r)^b <= 1 - recall.
        p = threshold**rows
        if p >= 1.0:
            bands = 1
        elif p * max_hashes < 1.0 - recall or math.log1p(-p) == 0.0:
            break  # even max_hashes bands of this width cannot reach the recall
        else:
            bands = max(1, math.ceil(math.log(1.0 - recall) / math.log1p(-p)))
        if bands * rows > max_hashes:
            continue
        low_rate = candidate_probability(low, bands, rows)
        if low_rate > max_low_rate:
            continue
        key = (bands * rows, low_rate, bands, rows)
        if best is None or key < best:
            best = key
    if best is None:
        raise ValueError("no (bands, rows) meets these constraints within max_hashes")
    return best[2], best[3]


def s_curve(bands: int, rows: int, points: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)) -> dict[float, float]:
    return {j: candidate_probability(j, bands, rows) for j in points}


MEASURES = ("jaccard", "containment")  # containment: |A∩B| / min(|A|, |B|)


@dataclass(frozen=True)
class MinHashParams:
    """near-dedup (MinHash-LSH, exact verification)

    The flags of a near-dedup run; the signature fields (ngram, bands, rows, minhash_seed) must be
    equal on every worker for signatures to be comparable.
    """

    near_dup_threshold: float = param(0.9, "drop a document whose verified similarity to a smaller-id one is "
                                           ">= this (LLaMA books: 'more than 90%% content overlap')")
    near_dup_measure: str = param("jaccard", "verification measure on the exact shingle sets; LSH recall is "
                                             "tuned for jaccard", choices=MEASURES)
    ngram: int = param(5, "words per shingle")
    bands: int = param(11, "LSH bands b (P(cand|J)=1-(1-J^r)^b)")
    rows: int = param(9, "LSH rows per band r (11x9: recall 0.9954 at J=0.9)")
    minhash_seed: int = param(1, "seed of the MinHash permutations")
    max_cc_rounds: int = param(8, "label-propagation rounds of the distributed connected components; a cluster "
                                  "whose diameter needs more is counted as error:near_dedup_unconverged")

    def __post_init__(self) -> None:
        if self.near_dup_measure not in MEASURES:
            raise ValueError(f"near_dup_measure must be one of {MEASURES}, got {self.near_dup_measure!r}")
        if self.ngram < 1 or self.bands < 1 or self.rows < 1 or self.max_cc_rounds < 1:
            raise ValueError("ngram, bands, rows and max_cc_rounds must be >= 1")

    @property
    def num_hashes(self) -> int:
        return self.bands * self.rows


# --------------------------------------------------------------------------------------------
# Shingles
# --------------------------------------------------------------------------------------------
def words(text: str) -> list[str]:
    """Lowercased word tokens (Unicode \\w runs): punctuation and whitespace differences vanish."""
    return _WORD.findall(text.lower())


_word_cache: dict[str, int] = {}
_CACHE_LIMIT = 500_000  # ~50 MB of words per worker


def _word_hash(word: str) -> int:
    value = _word_cache.get(word)
    if value is None:
        if len(_word_cache) >= _CACHE_LIMIT:
            _word_cache.clear()
        value = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
        _word_cache[word] = value
    return value


def _fmix64(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> _U64(33))
    x = x * _U64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> _U64(33))
    x = x * _U64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> _U64(33))


# Odd 64-bit multipliers, one per position in the n-gram (order-sensitive combination).
_POSITION = np.random.default_rng(0x5EED).integers(1, 2**63, size=64, dtype=np.uint64) * _U64(2) + _U64(1)


def shingles(text: str, ngram: int = 5) -> np.ndarray:
    """The sorted, distinct 64-bit hashes of the word n-grams of `text` (uint64 array).

    A text shorter than `ngram` words is one shingle of all its words; an empty text has none.
    """
    tokens = words(text)
    if not tokens:
        return np.empty(0, dtype=np.uint64)
    if ngram > len(_POSITION):
        raise ValueError(f"ngram must be <= {len(_POSITION)}")
    hashes = np.fromiter((_word_hash(w) for w in tokens), dtype=np.uint64, count=len(tokens))
    n = min(ngram, len(tokens))
    count = len(tokens) - n + 1
    with np.errstate(over="ignore"):
        acc = hashes[:count] * _POSITION[0]
        for k in range(1, n):
            acc = acc + hashes[k:k + count] * _POSITION[k]
        return np.unique(_fmix64(acc + _U64(n)))


# --------------------------------------------------------------------------------------------
# Signatures and bands
# --------------------------------------------------------------------------------------------
_perm_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def permutations(num_hashes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of the hash family h_k(x) = a_k·x + b_k mod 2^64, a_k odd; same on every worker."""
    key = (num_hashes, seed)
    if key not in _perm_cache:
        rng = np.random.Generator(np.random.PCG64(seed))
        a = rng.integers(0, 2**63, size=num_hashes, dtype=np.uint64) * _U64(2) + _U64(1)
        b = rng.integers(0, 2**63, size=num_hashes, dtype=np.uint64) * _U64(2) + rng.integers(0, 2, size=num_hashes, dtype=np.uint64)
        _perm_cache[key] = (a, b)
    return _perm_cache[key]


def signature(shingle_hashes: np.ndarray, num_hashes: int, seed: int = 1, chunk: int = 2048) -> np.ndarray:
    """The MinHash signature (uint64 array of `num_hashes`) of a non-empty shingle set."""
    if shingle_hashes.size == 0:
        raise ValueError("an empty shingle set has no signature")
    a, b = permutations(num_hashes, seed)
    out = np.full(num_hashes, np.iinfo(np.uint64).max, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, shingle_hashes.size, chunk):
            block = shingle_hashes[start:start + chunk, None] * a[None, :]
            block += b[None, :]
            np.minimum(out, block.min(axis=0), out=out)
    return out


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One shuffle key per band: the band index and a 96-bit digest of its r values."""
    if sig.size < bands * rows:
        raise ValueError("signature shorter than bands * rows")
    keys = []
    raw = sig[: bands * rows].astype("<u8").tobytes()
    width = rows * 8
    for i in range(bands):
        digest = hashlib.blake2b(raw[i * width:(i + 1) * width], digest_size=12).digest()
        keys.append(i.to_bytes(2, "big") + digest)
    return keys


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float(np.mean(sig_a == sig_b))


# --------------------------------------------------------------------------------------------
# Candidates, verification, clustering
# --------------------------------------------------------------------------------------------
def bucket_pairs(ids: Iterable[str]) -> list[tuple[str, str]]:
    """Candidate pairs from the ids sharing one band: a star from the smallest id, (centre, other).

    Linear in the bucket size (n - 1 pairs, never all n(n-1)/2); a pair of documents that both miss
    the centre is still found through any other band they share without it (see docs/books.md).
    """
    members = sorted(set(ids))
    return [(members[0], other) for other in members[1:]]


def overlap(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    """(|A∩B|, |A|, |B|) of two sorted distinct uint64 shingle arrays."""
    inter = int(np.intersect1d(a, b, assume_unique=True).size)
    return inter, int(a.size), int(b.size)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    inter, na, nb = overlap(a, b)
    union = na + nb - inter
    return inter / union if union else 1.0


def containment(a: np.ndarray, b: np.ndarray) -> float:
    inter, na, nb = overlap(a, b)
    smaller = min(na, nb)
    return inter / smaller if smaller else 1.0


def similarity(a: np.ndarray, b: np.ndarray, measure: str = "jaccard") -> float:
    return jaccard(a, b) if measure == "jaccard" else containment(a, b)


def verify(a: np.ndarray, b: np.ndarray, threshold: float = 0.9, measure: str = "jaccard") -> tuple[bool, float]:
    """Is this candidate pair a near duplicate on the exact shingle sets? (decision, similarity)."""
    value = similarity(a, b, measure)
    return value >= threshold, value


RankFn = Callable[[str], Any]


def order_key(rank: Optional[RankFn] = None) -> Callable[[str], Any]:
    """The keep-order of near-dedup: `(rank(id), id)`, or the id itself without a rank; the smallest
    key of a cluster is kept. The id breaks ties, so the order is total and deterministic."""
    if rank is None:
        return lambda doc_id: doc_id
    return lambda doc_id: (rank(doc_id), doc_id)


class UnionFind:
    """Disjoint sets (the in-memory reference; the pipeline labels components in Beam)."""

    def __init__(self) -> None:
        self._parent: dict[Hashable, Hashable] = {}

    def find(self, x: Hashable) -> Hashable:
        parent = self._parent.setdefault(x, x)
        root = x
        while parent != root:
            root = parent
            parent = self._parent[root]
        while self._parent[x] != root:  # path compression
            self._parent[x], x = root, self._parent[x]
        return root

    def union(self, x: Hashable, y: Hashable) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx != ry:
            self._parent[ry] = rx

    def members(self) -> list[Hashable]:
        return list(self._parent)


def removals(edges: Iterable[tuple[str, str]], rank: Optional[RankFn] = None) -> dict[str, str]:
    """{removed id: kept id} from verified near-duplicate pairs: one survivor per connected
    component, the smallest by `order_key(rank)`, whatever the order of `edges`."""
    uf = UnionFind()
    for x, y in edges:
        if x != y:
            uf.union(x, y)
    key = order_key(rank)
    components: dict[Hashable, list[str]] = {}
    for member in uf.members():
        components.setdefault(uf.find(member), []).append(member)  # type: ignore[arg-type]
    out = {}
    for members in components.values():
        kept = min(members, key=key)
        out.update({m: kept for m in members if m != kept})
    return dict(sorted(out.items()))


def near_duplicates_local(
    docs: Sequence[tuple[str, str]], params: MinHashParams = MinHashParams(), rank: Optional[RankFn] = None
) -> tuple[dict[str, str], dict[str, int]]:
    """The whole method in memory (reference for tests and benchmarks; the pipeline shuffles):
    returns ({removed id: kept id}, counts of candidates / verified pairs)."""
    sets = {doc_id: shingles(text, params.ngram) for doc_id, text in docs}
    buckets: dict[bytes, list[str]] = {}
    for doc_id, sh in sets.items():
        if sh.size == 0:
            continue
        for key in band_keys(signature(sh, params.num_hashes, params.minhash_seed), params.bands, params.rows):
            buckets.setdefault(key, []).append(doc_id)
    candidates = sorted({pair for ids in buckets.values() for pair in bucket_pairs(ids)})
    edges = [(x, y) for x, y in candidates
             if verify(sets[x], sets[y], params.near_dup_threshold, params.near_dup_measure)[0]]
    return removals(edges, rank), {"candidates": len(candidates), "verified": len(edges)}


# --------------------------------------------------------------------------------------------
# Evaluation against exact Jaccard (tests and bench/bench_books.py)
# --------------------------------------------------------------------------------------------
def perturbed_pairs(
    n_pairs: int,
    seed: int = 0,
    words_from: Sequence[str] | None = None,
    length: tuple[int, int] = (800, 2000),
    ngram: int = 5,
) -> list[tuple[str, str]]:
    """Pairs of texts whose exact shingle Jaccard spans ~0.5-1.0.

    The first text is a window of `words_from` (random pseudo-words when None), the second a copy
    with a share f of its words replaced. A replaced word changes up to `ngram` shingles, so about
    u = (1-f)^n of them survive and J ~ u / (2 - u); f is drawn from a target J, half the pairs
    uniform on [0.5, 1.0] and half on [0.85, 0.95] to load the threshold's neighbourhood.
    """
    import random

    rng = random.Random(seed)
    pool = list(words_from) if words_from else [f"w{i}" for i in range(5000)]
    pairs = []
    for i in range(n_pairs):
        size = min(rng.randint(*length), len(pool)) if words_from else rng.randint(*length)
        if words_from:
            start = rng.randrange(0, len(pool) - size + 1)
            base = pool[start:start + size]
        else:
            base = rng.choices(pool, k=size)
        target = rng.uniform(0.5, 1.0) if i % 2 else rng.uniform(0.85, 0.95)
        rate = 1.0 - (2 * target / (1 + target)) ** (1 / ngram)
        variant = [rng.choice(pool) if rng.random() < rate else w for w in base]
        pairs.append((" ".join(base), " ".join(variant)))
    return pairs


def evaluate(pairs: Sequence[tuple[str, str]], params: MinHashParams = MinHashParams()) -> dict:
    """Recall and precision of LSH + exact verification against the truth (exact J >= threshold),
    plus the LSH-only candidate recall and the share of candidates below the threshold."""
    tp = fp = fn = candidates = candidate_true = 0
    js = []
    for text_a, text_b in pairs:
        sa, sb = shingles(text_a, params.ngram), shingles(text_b, params.ngram)
        if sa.size == 0 or sb.size == 0:
            continue
        j = jaccard(sa, sb)
        js.append(j)
        keys_a = band_keys(signature(sa, params.num_hashes, params.minhash_seed), params.bands, params.rows)
        keys_b = band_keys(signature(sb, params.num_hashes, params.minhash_seed), params.bands, params.rows)
        candidate = bool(set(keys_a) & set(keys_b))
        truth = j >= params.near_dup_threshold
        candidates += candidate
        candidate_true += candidate and truth
        found = candidate and verify(sa, sb, params.near_dup_threshold, params.near_dup_measure)[0]
        tp += found and truth
        fp += found and not truth
        fn += truth and not found
    positives = tp + fn
    return {
        "pairs": len(js),
        "true_pairs": positives,
        "candidates": candidates,
        "recall": tp / positives if positives else 1.0,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "candidate_recall": candidate_true / positives if positives else 1.0,
        "candidate_precision": candidate_true / candidates if candidates else 1.0,
        "min_jaccard": min(js) if js else None,
        "max_jaccard": max(js) if js else None,
    }


def near_copy_families(families: int, variants: int, seed: int = 0, words_from: Sequence[str] | None = None,
                       length: tuple[int, int] = (800, 2000), ngram: int = 5) -> list[tuple[str, str]]:
    """(id, text) of `families` base texts, each with `variants` independent edits of itself at
    Jaccard ~0.8-1.0 to the base: variants are often near one another but not near the base (or
    the reverse), the case a star of candidates from each bucket's smallest id must still join."""
    import random

    rng = random.Random(seed)
    docs = []
    for f, (base, _) in enumerate(perturbed_pairs(families, seed, words_from, length, ngram)):
        words_ = base.split(" ")
        docs.append((f"f{f:04d}/0", base))
        for v in range(1, variants + 1):
            target = rng.uniform(0.8, 1.0)
            rate = 1.0 - (2 * target / (1 + target)) ** (1 / ngram)
            docs.append((f"f{f:04d}/{v}", " ".join(f"x{rng.randrange(10**6)}" if rng.random() < rate else w
                                                   for w in words_)))
    return docs


def evaluate_clusters(docs: Sequence[tuple[str, str]], params: MinHashParams = MinHashParams()) -> dict:
    """The whole method (star candidates, verification, components) against the truth on a corpus:
    the components of the exact-Jaccard >= threshold graph over all pairs. Recall and precision of
    the removed documents, and the share of true pairs that end up in one predicted cluster."""
    sets = {doc_id: shingles(text, params.ngram) for doc_id, text in docs}
    ids = sorted(sets)
    true_edges = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]
                  if similarity(sets[a], sets[b], params.near_dup_measure) >= params.near_dup_threshold]
    truth = removals(true_edges)
    found, counts = near_duplicates_local(docs, params)
    hit = len(set(found) & set(truth))

    def cluster(removed: dict[str, str], doc_id: str) -> str:
        return removed.get(doc_id, doc_id)

    joined = sum(cluster(found, a) == cluster(found, b) for a, b in true_edges)
    return {
        "documents": len(ids), "true_pairs": len(true_edges), "true_removed": len(truth),
        "removed": len(found), "candidates": counts["candidates"],
        "removal_recall": hit / len(truth) if truth else 1.0,
        "removal_precision": hit / len(found) if found else 1.0,
        "pair_recall": joined / len(true_edges) if true_edges else 1.0,
    }
