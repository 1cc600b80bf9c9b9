"""CCNet's line dedup and perplexity buckets as pure functions (RECIPE §2.4, §2.6–2.7); the steps
are `corpus/steps/commoncrawl.py`, the Beam wiring of the dedup shuffle `pipelines/commoncrawl.py`.

Semantics (cc_net `dedup.py`, "what is done in the paper"):
- A line's key is `line_hash(line)` (SHA-1[:8] of `normalize_for_dedup`, little-endian uint64).
- Within a dedup *scope* each document contributes each of its distinct hashes once (cc_net
  adds a document's hashes in one batch, so a line repeated inside one document alone does not
  make it a duplicate). A hash contributed by two or more documents is a duplicate and **every
  occurrence is removed, the first included**.
- Within a document, repeats of a kept line are removed too (first occurrence kept), as is
  every blank line (a blank line hashes to SHA-1("") — ubiquitous, so cc_net always removes it;
  we remove it unconditionally so a one-document scope agrees with every larger one).
- A document with no surviving line is dropped (`all_lines_duplicated`). Survivors get
  `original_nlines`, `original_length`, `nlines`, `length` and `line_ids` (indices of kept lines).

Scopes (`parse_scope`): `global` (the whole run, through Beam's shuffle), `shard` (one input
file, like RedPajama's `--hash_in_mem 1`), `group:N` (input files sorted by name and grouped N at
a time, like cc_net's `hash_in_mem`, default 50 of 1600 shards).
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Collection, Iterable, Mapping, Optional, Sequence

import numpy as np

from corpus.ccnet_text import EMPTY_LINE_HASH, text_line_hashes
from corpus.document import Document
from corpus.rules import Drop, Outcome

if TYPE_CHECKING:
    from corpus import lm

DROP_ALL_DUPLICATED = "all_lines_duplicated"


@dataclass(frozen=True)
class DedupScope:
    kind: str  # "global" | "shard" | "group"
    group_size: int = 0

    def __str__(self) -> str:
        return f"group:{self.group_size}" if self.kind == "group" else self.kind


def parse_scope(value: str) -> DedupScope:
    """`global`, `shard` or `group:N` (N >= 1)."""
    value = value.strip()
    if value in ("global", "shard"):
        return DedupScope(value)
    if value.startswith("group:"):
        try:
            size = int(value.split(":", 1)[1])
        except ValueError:
            size = 0
        if size >= 1:
            return DedupScope("group", size)
    raise ValueError(f"dedup scope must be global, shard or group:N (N >= 1), got {value!r}")


def scope_key(scope: DedupScope, segment: str, segment_rank: Mapping[str, int] | None = None) -> str:
    """The key under which a document's hashes are counted, given its input file (`cc_segment`)."""
    if scope.kind == "global":
        return ""
    if scope.kind == "shard":
        return segment
    if segment_rank is None:
        raise ValueError("group scope needs the rank of every input file")
    return str(segment_rank[segment] // scope.group_size)


def segment_ranks(segments: Iterable[str]) -> dict[str, int]:
    """Rank of each input file among all of them, sorted by name (cc_net's contiguous shards)."""
    return {segment: rank for rank, segment in enumerate(sorted(set(segments)))}


def text_lines(text: str) -> list[str]:
    return text.split("\n")


def doc_line_hashes(text: str) -> list[int]:
    """One hash per line of `text` (lines split on `\\n` as cc_net): `line_hash` of each line."""
    return text_line_hashes(text)


def countable_hashes(hashes: Sequence[int]) -> list[int]:
    """A document's contribution to the scope's counts: its distinct non-blank hashes, sorted."""
    return sorted(set(hashes) - {EMPTY_LINE_HASH})


def remove_duplicate_lines(doc: Document, hashes: Sequence[int], duplicates: Collection[int]) -> Outcome:
    """Keep the lines whose hash is not in `duplicates`, each once; record what was kept."""
    lines = text_lines(doc.text)
    if len(lines) != len(hashes):
        raise ValueError(f"{doc.id}: {len(lines)} lines but {len(hashes)} hashes")
    seen: set[int] = set()
    kept: list[str] = []
    line_ids: list[int] = []
    for index, (line, value) in enumerate(zip(lines, hashes)):
        if value == EMPTY_LINE_HASH or value in duplicates or value in seen:
            continue
        seen.add(value)
        kept.append(line)
        line_ids.append(index)
    if not kept:
        return Drop(DROP_ALL_DUPLICATED)
    text = "\n".join(kept)
    return doc.with_text(text).with_metadata(
        original_nlines=len(lines),
        original_length=len(doc.text),
        nlines=len(kept),
        length=len(text),
        line_ids=line_ids,
    )


def duplicate_hashes(per_doc_hashes: Iterable[Sequence[int]]) -> set[int]:
    """Hashes contributed by two or more documents (one scope, in memory: tests and small runs)."""
    counts: Counter[int] = Counter()
    for hashes in per_doc_hashes:
        counts.update(countable_hashes(hashes))
    return {value for value, n in counts.items() if n >= 2}


def dedup_in_memory(docs: Sequence[Document], scope: DedupScope) -> list[Outcome]:
    """Reference implementation of the whole dedup step over a small list of documents.

    The Beam pipeline must agree with it; it is also what `corpus.quality` uses on its small
    training samples.
    """
    segments = [d.metadata.get("cc_segment", "") for d in docs]
    ranks = segment_ranks(segments) if scope.kind == "group" else None
    keys = [scope_key(scope, s, ranks) for s in segments]
    hashes = [doc_line_hashes(d.text) for d in docs]
    dups: dict[str, set[int]] = {}
    for key in set(keys):
        dups[key] = duplicate_hashes(h for h, k in zip(hashes, keys) if k == key)
    return [remove_duplicate_lines(d, h, dups[k]) for d, h, k in zip(docs, hashes, keys)]


# ---------------------------------------------------------------------------------------------
# The shuffle's view of the dedup (`pipelines/commoncrawl.py` CcnetLineDedup): bounded numpy slices
# ---------------------------------------------------------------------------------------------
# Sizing by the data (issue 10): one hash partition and one document bucket per
# `partition_mb` of WET input (as listed: compressed bytes for .gz files), so what one reducer
# concatenates (16 bytes per (document, distinct line) pair: 0.15 byte per compressed WET byte on
# the bench input, 95k lines in 10 MB) and what one bucket joins (its pages: 2x their compressed
# bytes there) are bounded by that figure, not by the run's size. Never fewer than MIN_PARTITIONS,
# so a small run still spreads over every worker. A line that k documents share adds k pairs to
# its partition: the partition's counting combiner holds it once, and the pairs' join is split by
# page into `salt_count` groups (DEFAULT_GROUP_MB of pairs each), so k never lands on one key.
DEFAULT_PARTITION_MB = 64.0
DEFAULT_GROUP_MB = 32.0
PAIR_BYTES = 16  # one (uint64 hash, int64 page ref) pair
MIN_PARTITIONS = 64


def dedup_partitions(input_bytes: int, partition_mb: float) -> int:
    """Hash partitions (= document buckets) for `input_bytes` of WET input: one per `partition_mb`."""
    if partition_mb <= 0:
        raise ValueError(f"partition_mb must be > 0, got {partition_mb}")
    return max(MIN_PARTITIONS, math.ceil(input_bytes / (partition_mb * (1 << 20))))


def doc_ref(doc_id: str) -> int:
    """A 63-bit number naming a document inside the dedup shuffle."""
    return int.from_bytes(hashlib.sha1(doc_id.encode("utf-8")).digest()[:8], "little") >> 1


def partition_hashes(hashes: Sequence[int], partitions: int) -> dict[int, list[int]]:
    """`hashes` split by hash partition (`hash % partitions`), each part in the order given."""
    parts: dict[int, list[int]] = {}
    for value in hashes:
        parts.setdefault(value % partitions, []).append(value)
    return parts


def merge_counts(hashes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parallel (hash, count) arrays merged: the distinct hashes, sorted, with their summed counts
    (what a partition's counting combiner holds: one entry per distinct hash, however many
    documents share it)."""
    order = np.argsort(hashes, kind="stable")
    hashes, counts = hashes[order], counts[order]
    if hashes.size == 0:
        return hashes, counts
    starts = np.flatnonzero(np.r_[True, hashes[1:] != hashes[:-1]])
    return hashes[starts], np.add.reduceat(counts, starts)


def salt_count(pairs: int, max_pairs: int) -> int:
    """How many page-salted groups a hash partition of `pairs` (hash, page) pairs is split into so
    that each receives about `max_pairs` (a page's pairs all go to the group `ref % salts`)."""
    if max_pairs <= 0:
        raise ValueError(f"max_pairs must be > 0, got {max_pairs}")
    return max(1, math.ceil(pairs / max_pairs))


def duplicated_pairs(hashes: np.ndarray, refs: np.ndarray, duplicated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (refs, hashes) of the pairs whose hash is in `duplicated` (parallel arrays in, the
    matching ones out, in input order)."""
    mask = np.isin(hashes, duplicated)
    return refs[mask], hashes[mask]


# ---------------------------------------------------------------------------------------------
# Perplexity and buckets (RECIPE §2.6–2.7), on `corpus.lm`'s per-language models
# ---------------------------------------------------------------------------------------------
BUCKETS = ("head", "middle", "tail")
NO_LM_BUCKET = "all"  # cc_net's bucket for a language without a model
DEFAULT_KEEP_BUCKETS = ("head", "middle")  # RedPajama keeps head + middle; LLaMA does not say


def parse_buckets(value: str) -> tuple[str, ...]:
    buckets = tuple(b.strip() for b in value.split(",") if b.strip())
    unknown = [b for b in buckets if b not in (*BUCKETS, NO_LM_BUCKET)]
    if unknown or not buckets:
        raise ValueError(f"buckets must be among head,middle,tail,all; got {value!r}")
    return buckets


def perplexity_and_bucket(model: "lm.PerplexityModel", text: str) -> tuple[Optional[float], str]:
    """cc_net's perplexity of `text`, rounded to 1 decimal (cc_net buckets the rounded value), and
    its bucket; a text with no word left after normalisation has nothing to score: (None, tail)."""
    ppl = float(model.perplexity(text))
    if not math.isfinite(ppl):
        return None, "tail"
    ppl = round(ppl, 1)
    return ppl, model.bucket(ppl)


def bucket_outcome(doc: Document, keep: Collection[str]) -> Outcome:
    """Keep the listed buckets; drop `bucket_tail`, `bucket_head`, ... and `no_language_model` for
    a page of a language without an LM (bucket `all`)."""
    bucket = doc.metadata.get("bucket", NO_LM_BUCKET)
    if bucket in keep:
        return doc
    return Drop("no_language_model" if bucket == NO_LM_BUCKET else f"bucket_{bucket}")
