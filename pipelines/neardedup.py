"""`NearDedup`: MinHash-LSH near-duplicate removal as one Beam composite (books, cross-source).

The logic lives in `corpus/minhash.py`; this module wires it through Beam's shuffle so that no
worker holds more than one bucket, one document, one pair or one node's neighbourhood:

    docs ─signatures─> (band key, id) ─GroupByKey─> bucket ─star from its min id─> pairs ─Distinct─┐
      │                                                                                            │
      ├─(id, doc)──────────────────────── CoGroupByKey(id) <── (member id, pair) ─────────────────┘
      │                                        │ the document's shingles, once, to each of its pairs
      │                                        └─> (pair, (id, shingles)) ─GroupByKey(pair)─> verify
      │                                                                                     │ edges
      │        connected components: `max_cc_rounds` unrolled rounds of min-label propagation,
      │        one CoGroupByKey(node) of (messages, neighbours) per round ─> (id, kept id)
      │                                                                                     │
      └─(id, doc)──────────────────── CoGroupByKey(id) <── (removed id, kept id) ───────────┘
                                           └─> kept documents + Rejected(reason_of(kept id))

Groups: a bucket holds ids only (iterated twice, never copied); the fetch join holds one document
and the ids of its pairs; a verification group holds two shingle sets; a round's group holds one
node's messages and neighbours (its degree); the removal join one document and at most one label.
Beam has no loops, so the components are `max_cc_rounds` rounds unrolled in the graph; the last
round counts the labels that still changed (`error:near_dedup_unconverged`): see `ConnectedComponents`.

The output is a stream: the kept documents, a `Rejected` per removed one, and the `info:near_dedup_*`
tallies that the stages yield beside their data (split off with two Filters, never as tagged
outputs), so the ledger is the same on every runner. Document ids must be unique.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Optional

import apache_beam as beam
import numpy as np

from corpus import minhash
from corpus.document import Document
from corpus.ledger import ERROR, Tally
from corpus.minhash import MinHashParams, RankFn, order_key
from pipelines.transforms import info, live, observe_group, reject, split

REASON = "near_duplicate"
UNCONVERGED = "near_dedup_unconverged"
ReasonFn = Callable[[str], str]


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


def _star_pairs(keyed: tuple[bytes, Iterable[str]]) -> Iterator[tuple[str, str]]:
    """`minhash.bucket_pairs` over a bucket that is iterated (twice), never copied or sorted."""
    _, ids = keyed
    centre: Optional[str] = None
    size = nbytes = 0
    for doc_id in ids:
        size += 1
        nbytes += len(doc_id)
        if centre is None or doc_id < centre:
            centre = doc_id
    observe_group("near_dedup_bucket", size, nbytes)
    for doc_id in ids:
        if doc_id != centre:
            yield centre, doc_id  # type: ignore[misc]


def _fetch(keyed: tuple[str, dict[str, Iterable[Any]]], ngram: int) -> Iterator[tuple[tuple[str, str], tuple[str, bytes]]]:
    """One document and the pairs it is in: its shingle set, computed once, goes to each pair."""
    doc_id, groups = keyed
    doc = next(iter(groups["doc"]), None)
    if doc is None:
        return
    shingle_bytes: Optional[bytes] = None
    pairs = 0
    for pair in groups["pairs"]:
        if shingle_bytes is None:
            shingle_bytes = minhash.shingles(doc.text, ngram).tobytes()
        pairs += 1
        yield pair, (doc_id, shingle_bytes)
    observe_group("near_dedup_fetch", 1 + pairs, len(doc.text) + 64 * pairs)


class _VerifyFn(beam.DoFn):
    def __init__(self, params: MinHashParams):
        self._params = params

    def process(self, keyed: tuple[tuple[str, str], Iterable[tuple[str, bytes]]]) -> Iterator[Any]:
        pair, members = keyed
        sets = {doc_id: np.frombuffer(raw, dtype=np.uint64) for doc_id, raw in members}
        observe_group("near_dedup_verify", len(sets), sum(s.nbytes for s in sets.values()))
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


Message = tuple[str, bool]  # (a label, whether it is the receiving node's own current label)


def _both_ways(edge: tuple[str, str]) -> list[tuple[str, str]]:
    return [(edge[0], edge[1]), (edge[1], edge[0])]


def _first_messages(edge: tuple[str, str]) -> list[tuple[str, Message]]:
    """Round 1's input: each node's own id (its label so far) and each neighbour's id."""
    u, v = edge
    return [(u, (u, True)), (v, (v, True)), (u, (v, False)), (v, (u, False))]


class _RoundFn(beam.DoFn):
    """One round of min-label propagation at one node: its new label is the best of its own and
    its neighbours' labels. Not the last round: send it to itself and its neighbours. The last:
    emit (node, label, whether the label changed in this round)."""

    def __init__(self, rank: Optional[RankFn], last: bool):
        self._rank = rank
        self._last = last

    def process(self, keyed: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        node, groups = keyed
        key = order_key(self._rank)
        best: Optional[str] = None
        own: Optional[str] = None
        messages = 0
        for label, is_own in groups["messages"]:
            messages += 1
            own = label if is_own else own
            if best is None or key(label) < key(best):
                best = label
        neighbours = 0
        if self._last:
            yield node, best, best != own
        else:
            yield node, (best, True)
            for neighbour in groups["neighbours"]:
                neighbours += 1
                yield neighbour, (best, False)
        observe_group("near_dedup_components", messages + neighbours, 64 * (messages + neighbours))


def _unconverged(changed: int) -> Iterator[Tally]:
    if changed:
        live(ERROR + UNCONVERGED, changed)
        yield Tally({ERROR + UNCONVERGED: changed})


class ConnectedComponents(beam.PTransform):
    """Connected components of the verified edges, distributed: (id, kept id) for every node
    that is not the best-ranked one of its component, plus the convergence tally.

    Min-label propagation (a node takes the best label among its own and its neighbours'),
    `rounds` rounds unrolled (Beam has no loops). After k rounds a label is the best id within k
    hops, so a component converges in (diameter + 1) rounds; a group never holds more than one
    node's messages and neighbours. If labels still changed in the last round, those nodes are
    counted as `error:near_dedup_unconverged` and the labels are used as they are: each is a
    better-ranked member of the node's component (verified path), the component's best id always
    keeps itself, so an unconverged component removes fewer documents, never a wrong one.
    """

    def __init__(self, rounds: int, rank: Optional[RankFn]):
        super().__init__()
        self._rounds = rounds
        self._rank = rank

    def expand(self, edges: beam.PCollection) -> beam.PCollection:
        neighbours = edges | "Neighbours" >> beam.FlatMap(_both_ways)
        messages = edges | "First messages" >> beam.FlatMap(_first_messages)
        for round_no in range(1, self._rounds + 1):
            last = round_no == self._rounds
            messages = (
                {"messages": messages, "neighbours": neighbours}
                | f"Round {round_no}: group" >> beam.CoGroupByKey()
                | f"Round {round_no}: labels" >> beam.ParDo(_RoundFn(self._rank, last))
            )
        labels = messages
        removed = (labels
                   | "Not kept" >> beam.Filter(lambda nlc: nlc[0] != nlc[1])
                   | "Removed -> kept" >> beam.Map(lambda nlc: (nlc[0], nlc[1])))
        unconverged = (labels
                       | "Changed last" >> beam.Filter(lambda nlc: nlc[2])
                       | "Count changed" >> beam.combiners.Count.Globally()
                       | "Unconverged" >> beam.FlatMap(_unconverged))
        return removed, unconverged


def _drop_removed(keyed: tuple[str, dict[str, Iterable[Any]]], reason_of: ReasonFn) -> Iterator[Any]:
    _, groups = keyed
    kept = next(iter(groups["kept"]), None)
    docs = nbytes = 0
    for doc in groups["doc"]:
        docs += 1
        nbytes += len(doc.text)
        yield doc if kept is None else reject(reason_of(kept), doc)
    observe_group("near_dedup_remove", docs + (kept is not None), nbytes)


def _same_reason(reason: str) -> ReasonFn:
    return lambda kept_id: reason


class NearDedup(beam.PTransform):
    """Remove near-duplicate documents: within each connected component of documents whose
    verified similarity (exact Jaccard, or containment, of word n-gram shingle sets) is at least
    `params.near_dup_threshold`, keep the best-ranked one (smallest `(rank(id), id)`; by default
    the smallest id) and drop the others as `Rejected(reason_of(kept id))` (by default
    `near_duplicate`). Input: documents; output: a stream (documents + ledger items).

    Candidates come from MinHash-LSH with `params.bands` x `params.rows` hashes (choose them with
    `corpus.minhash.choose_bands`; the defaults give recall >= 0.995 at Jaccard 0.9).
    """

    def __init__(self, params: MinHashParams = MinHashParams(), reason: str = REASON,
                 rank: Optional[RankFn] = None, reason_of: Optional[ReasonFn] = None):
        super().__init__()
        self._params = params
        self._rank = rank
        self._reason_of = reason_of or _same_reason(reason)

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        p = self._params
        bands, band_counts = split(docs | "MinHash bands" >> beam.ParDo(_SignatureFn(p)), "Bands")
        pairs = (bands
                 | "Group bands" >> beam.GroupByKey()
                 | "Star pairs" >> beam.FlatMap(_star_pairs)
                 | "Distinct pairs" >> beam.Distinct())
        by_id = docs | "Key by id" >> beam.Map(lambda d: (d.id, d))
        by_member = pairs | "Key pairs by member" >> beam.FlatMap(lambda pair: [(pair[0], pair), (pair[1], pair)])
        edges, pair_counts = split(
            {"doc": by_id, "pairs": by_member}
            | "Fetch documents" >> beam.CoGroupByKey()
            | "Shingles to pairs" >> beam.FlatMap(_fetch, p.ngram)
            | "Group pair" >> beam.GroupByKey()
            | "Verify" >> beam.ParDo(_VerifyFn(p)),
            "Verified",
        )
        removed, unconverged = edges | "Components" >> ConnectedComponents(p.max_cc_rounds, self._rank)
        kept = ({"doc": by_id, "kept": removed}
                | "Join removals" >> beam.CoGroupByKey()
                | "Drop near duplicates" >> beam.FlatMap(_drop_removed, self._reason_of))
        return (kept, band_counts, pair_counts, unconverged) | "With counts" >> beam.Flatten()
