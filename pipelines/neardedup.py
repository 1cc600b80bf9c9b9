"""`NearDedup`: MinHash-LSH near-duplicate removal as one Beam composite (books, cross-source).

The logic lives in `corpus/minhash.py`; this module only wires it through Beam's shuffle:

    docs ──signatures──> (band key, id) ──GroupByKey──> buckets ──> candidate pairs ──Distinct──┐
      │                                                                                         │
      ├──(only ids in some pair, side input)──> (id, shingle hashes) ──CoGroupByKey(id)── pairs ┘
      │                                                  │
      │                                (pair, (id, shingles)) ──GroupByKey(pair)──> exact verify
      │                                                                              │
      │                                     verified edges ──ToList──> union-find ──> {removed: kept}
      │                                                                              │ side input
      └──────────────────────────────────> kept documents + Rejected(`near_duplicate`) + counts

Memory stays bounded: no step holds the corpus. A bucket holds ids only (with a linear fallback
for huge buckets); the verification join moves the shingle sets of candidate documents only, one
pair (two sets) per element; the side inputs are the candidate ids and the removal map, whose
sizes follow the number of near duplicates, not the corpus size. Union-find runs on one worker
over the verified edges (as datatrove's stage 3 does). Document ids must be unique.

The output is a stream: the kept documents, a `Rejected` per removed one, and the `info:near_dedup_*`
tallies that the signature, bucket and verification stages yield beside their data (split off with
two Filters, never as tagged outputs), so the ledger is the same on every runner.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
import numpy as np

from corpus import minhash
from corpus.document import Document
from corpus.minhash import MinHashParams
from pipelines.transforms import info, reject, split

REASON = "near_duplicate"


class _SignatureFn(beam.DoFn):
    def __init__(self, params: MinHashParams):
        self._params = params

    def process(self, doc: Document) -> Iterator[Any]:
        p = self._params
        sh = minhash.shingles(doc.text, p.ngram)
        if sh.size == 0:
            yield info("near_dedup_no_shingles")
            return
        sig = minhash.signature(sh, p.num_hashes, p.minhash_seed)
        for key in minhash.band_keys(sig, p.bands, p.rows):
            yield key, doc.id


def _bucket_pairs(keyed: tuple[bytes, Iterable[str]], max_bucket: int) -> Iterator[Any]:
    ids = sorted(set(keyed[1]))
    if len(ids) > max_bucket:
        yield info("near_dedup_capped_buckets")
    yield from minhash.bucket_pairs(ids, max_bucket)


class _CandidateShinglesFn(beam.DoFn):
    """(id, shingle hashes as bytes) for documents that are in at least one candidate pair."""

    def __init__(self, params: MinHashParams):
        self._params = params
        self._source: Optional[object] = None
        self._ids: frozenset[str] = frozenset()

    def process(self, doc: Document, candidate_ids: list[str]) -> Iterator[tuple[str, bytes]]:
        if candidate_ids is not self._source:  # build the set once per materialised side input
            self._source, self._ids = candidate_ids, frozenset(candidate_ids)
        if doc.id in self._ids:
            yield doc.id, minhash.shingles(doc.text, self._params.ngram).tobytes()


def _fan_out(keyed: tuple[str, dict[str, list]]) -> Iterator[tuple[tuple[str, str], tuple[str, bytes]]]:
    doc_id, groups = keyed
    sets = groups["shingles"]
    if not sets:
        return
    shingle_bytes = sets[0]
    for pair in groups["pairs"]:
        yield pair, (doc_id, shingle_bytes)


class _VerifyFn(beam.DoFn):
    def __init__(self, params: MinHashParams):
        self._params = params

    def process(self, keyed: tuple[tuple[str, str], Iterable[tuple[str, bytes]]]) -> Iterator[Any]:
        pair, members = keyed
        sets = {doc_id: np.frombuffer(raw, dtype=np.uint64) for doc_id, raw in members}
        if len(sets) != 2:
            return
        yield info("near_dedup_candidate_pairs")
        p = self._params
        ok, _ = minhash.verify(sets[pair[0]], sets[pair[1]], p.near_dup_threshold, p.near_dup_measure)
        if ok:
            yield info("near_dedup_verified_pairs")
            yield pair
        else:
            yield info("near_dedup_rejected_pairs")


def _removal_map(edges: list[tuple[str, str]]) -> dict[str, str]:
    return minhash.removals(sorted(edges))


class _DropRemovedFn(beam.DoFn):
    def __init__(self, reason: str):
        self._reason = reason

    def process(self, doc: Document, removed: dict[str, str]) -> Iterator[Any]:
        yield reject(self._reason, doc) if doc.id in removed else doc


class NearDedup(beam.PTransform):
    """Remove near-duplicate documents: keep the smallest id of each cluster of documents whose
    verified similarity (exact Jaccard, or containment, of word n-gram shingle sets) is at least
    `params.near_dup_threshold`; the others become `Rejected(reason)`. Input: documents; output: a
    stream (documents + ledger items).

    Candidates come from MinHash-LSH with `params.bands` x `params.rows` hashes (choose them with
    `corpus.minhash.choose_bands`; the defaults give recall >= 0.995 at Jaccard 0.9).
    """

    def __init__(self, params: MinHashParams = MinHashParams(), reason: str = REASON):
        super().__init__()
        self._params = params
        self._reason = reason

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        p = self._params
        # The two side-input consumers below must not be fused into the stage that feeds their own
        # side inputs: Beam 2.77's FnApiRunner then stalls ("watermark-pending bundles did not
        # execute"). A Reshuffle breaks that fusion; on distributed runners it also spreads books.
        shuffled = docs | "Break fusion" >> beam.Reshuffle()
        bands, band_counts = split(docs | "MinHash bands" >> beam.ParDo(_SignatureFn(p)), "Bands")
        bucket_pairs, bucket_counts = split(
            bands
            | "Group bands" >> beam.GroupByKey()
            | "Bucket pairs" >> beam.FlatMap(_bucket_pairs, p.max_bucket),
            "Buckets",
        )
        pairs = bucket_pairs | "Distinct pairs" >> beam.Distinct()
        candidate_ids = (
            pairs
            | "Pair members" >> beam.FlatMap(lambda pair: pair)
            | "Distinct members" >> beam.Distinct()
        )
        shingle_sets = shuffled | "Candidate shingles" >> beam.ParDo(
            _CandidateShinglesFn(p), beam.pvalue.AsList(candidate_ids)
        )
        by_member = pairs | "Key pairs by member" >> beam.FlatMap(lambda pair: [(pair[0], pair), (pair[1], pair)])
        edges, pair_counts = split(
            {"shingles": shingle_sets, "pairs": by_member}
            | "Join shingles" >> beam.CoGroupByKey()
            | "Fan out" >> beam.FlatMap(_fan_out)
            | "Group pair" >> beam.GroupByKey()
            | "Verify" >> beam.ParDo(_VerifyFn(p)),
            "Verified",
        )
        removed = edges | "Edges" >> beam.combiners.ToList() | "Cluster" >> beam.Map(_removal_map)
        kept = shuffled | "Drop near duplicates" >> beam.ParDo(
            _DropRemovedFn(self._reason), beam.pvalue.AsSingleton(removed)
        )
        return (kept, band_counts, bucket_counts, pair_counts) | "With counts" >> beam.Flatten()
