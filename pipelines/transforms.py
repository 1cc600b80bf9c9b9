"""Beam transforms shared by every source: read, apply steps, keep one per key, write.

The ledger travels as data. Between stages a PCollection is a *stream*: documents (or records)
mixed with `Tally` elements (counts) and `Rejected` elements (a dropped document and its reason).
`split` separates the documents from the ledger items; the builder sums the items into
`stats.json`. Nothing here uses tagged outputs or emits from `finish_bundle`, and Beam metrics are
only the live view: every runner (Dask's included) gives the same ledger. See docs/CONTRIBUTING.md.
"""
from __future__ import annotations

import hashlib
import logging
import math
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics

from corpus import paths, progress
from corpus.docfiles import ENCODERS, FORMATS, shard_name, shard_of
from corpus.document import Document
from corpus.fileio import ReadError, guarded, open_decompressed
from corpus.ledger import DOCUMENTS_WRITTEN, DROPPED, ERROR, INFO, Rejected, Tally
from corpus.rules import Drop
from corpus.step import Step, StepFailed, run_steps

NAMESPACE = "llama_corpus"
log = logging.getLogger("llama_corpus")

_counters: dict[str, Any] = {}


def live(name: str, n: int = 1) -> None:
    """The live view: a Beam metric in the shared namespace (the ledger itself is data)."""
    counter = _counters.get(name)
    if counter is None:
        counter = _counters[name] = Metrics.counter(NAMESPACE, name)
    counter.inc(n)


_distributions: dict[str, Any] = {}


def observe_group(stage: str, elements: int, nbytes: int) -> None:
    """Record the size of one group a shuffle delivered (live view only: Beam distributions, whose
    max is what `make bench`'s scale probe reads to check that no key grows with the input)."""
    for kind, value in (("elements", elements), ("bytes", nbytes)):
        name = f"group_{kind}:{stage}"
        dist = _distributions.get(name)
        if dist is None:
            dist = _distributions[name] = Metrics.distribution(NAMESPACE, name)
        dist.update(int(value))


def tally(name: str, n: int = 1) -> Tally:
    """A ledger element counting `n` under `name` (also shown live)."""
    live(name, n)
    return Tally({name: n})


def info(name: str, n: int = 1) -> Tally:
    return tally(INFO + name, n)


def error(reason: str) -> Tally:
    return tally(ERROR + reason)


def reject(reason: str, doc: Document) -> Rejected:
    """A dropped document: counted under `dropped:<reason>` and kept as a rejected sample."""
    live(DROPPED + reason)
    return Rejected(reason, doc)


def is_ledger_item(item: Any) -> bool:
    return isinstance(item, (Tally, Rejected))


def is_payload(item: Any) -> bool:
    return not isinstance(item, (Tally, Rejected))


def split(stream: beam.PCollection, label: str) -> tuple[beam.PCollection, beam.PCollection]:
    """(documents or records, ledger items) of a stream; two plain consumers, no tagged outputs."""
    return (stream | f"{label}: documents" >> beam.Filter(is_payload),
            stream | f"{label}: ledger" >> beam.Filter(is_ledger_item))


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
Reader = Callable[[BinaryIO, str], Iterable[Any]]


class _ReadFileFn(beam.DoFn):
    def __init__(self, reader: Reader, accept: Optional[Callable[[str], bool]]):
        self._reader = reader
        self._accept = accept

    def process(self, path: str) -> Iterator[Any]:
        if self._accept is not None and not self._accept(path):
            yield info("files_ignored")
            return
        yield info("files_read")
        try:
            stream = open_decompressed(paths.open(path, "rb"))
        except OSError as exc:
            yield _fault(ReadError("unreadable_file", path, str(exc)))
            return
        with stream:
            for item in guarded(self._reader(stream, path), path):
                if isinstance(item, ReadError):
                    yield _fault(item)
                else:
                    progress.tick("read")
                    yield item


def _fault(fault: ReadError) -> Tally:
    log.warning("input fault %s in %s: %s", fault.reason, fault.path, fault.detail)
    return error(fault.reason)


class ReadFiles(beam.PTransform):
    """List the files of `patterns` (files, directories, globs; local or remote, through
    `corpus.paths`) and stream each through `reader(stream, path)`, a pure `corpus/` generator
    over one decompressed file that may yield `ReadError`s. A file that breaks mid-way keeps what
    was read before the break. Output: a stream (records + ledger items)."""

    def __init__(self, patterns: Sequence[str], reader: Reader, accept: Optional[Callable[[str], bool]] = None):
        super().__init__()
        self._files = paths.expand(patterns)
        self._reader = reader
        self._accept = accept

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Files" >> beam.Create(self._files)
            | "Spread files" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(_ReadFileFn(self._reader, self._accept))
        )


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------
STEP_FAILED = "step_failed:"


class _StepsFn(beam.DoFn):
    """Consecutive steps fused into one DoFn; ledger items of earlier stages pass through.

    An exception of a step on one document drops that document (`dropped:step_failed:<step>`,
    kept under rejected/, and `error:step_failed:<step>:<ExceptionClass>`) instead of failing the
    bundle on every retry; `fail_fast` lets it propagate (`--fail_on_step_error`).
    """

    def __init__(self, steps: Sequence[Step], fail_fast: bool = False):
        self._steps = list(steps)
        self._fail_fast = fail_fast

    def setup(self) -> None:
        for step in self._steps:
            step.setup()

    def process(self, item: Any) -> Iterator[Any]:
        if is_ledger_item(item):
            yield item
            return
        try:
            out, seen, counts = run_steps(self._steps, item, guard=not self._fail_fast)
        except StepFailed as failure:
            log.warning("%s", failure, exc_info=failure.__cause__)
            yield error(f"{STEP_FAILED}{failure.step}:{failure.kind}")
            yield reject(STEP_FAILED + failure.step, failure.doc)
            return
        if counts:
            yield Tally({INFO + name: n for name, n in counts.items()})
            for name, n in counts.items():
                live(INFO + name, n)
        if isinstance(out, Drop):
            yield reject(out.reason, seen)  # type: ignore[arg-type]
        else:
            yield out


class ApplySteps(beam.PTransform):
    """Apply `corpus.step.Step`s in order; each drop becomes a `Rejected`, each count a `Tally`,
    each unexpected exception a counted drop unless `fail_fast`."""

    def __init__(self, steps: Sequence[Step], fail_fast: bool = False):
        super().__init__()
        self._steps = list(steps)
        self._fail_fast = fail_fast

    def expand(self, stream: beam.PCollection) -> beam.PCollection:
        return stream | beam.ParDo(_StepsFn(self._steps, self._fail_fast))


# --------------------------------------------------------------------------------------------
# Exact dedup through the shuffle
# --------------------------------------------------------------------------------------------
def pick_smallest_id(docs: list[Document]) -> Document:
    return min(docs, key=lambda d: d.id)


class _PickOne(beam.CombineFn):
    """Keeps one document per key, the best by `pick` (which must choose by a total order, so the
    result does not depend on how the runner splits the combine): one document per accumulator."""

    def __init__(self, pick: Callable[[list[Document]], Document]):
        self._pick = pick

    def create_accumulator(self) -> Optional[Document]:
        return None

    def add_input(self, best: Optional[Document], doc: Document) -> Document:
        return doc if best is None else self._pick([best, doc])

    def merge_accumulators(self, accumulators: Iterable[Optional[Document]]) -> Optional[Document]:
        present = [a for a in accumulators if a is not None]
        return self._pick(present) if present else None

    def extract_output(self, best: Optional[Document]) -> Optional[Document]:
        return best


def fingerprint(doc: Document) -> str:
    """Names one exact document (same id, text, metadata...)."""
    return hashlib.sha1(doc.to_json().encode("utf-8", "surrogatepass")).hexdigest()


def _keep_winner(keyed: tuple[Any, dict[str, Iterable[Any]]], reason: str) -> Iterator[Any]:
    """One (key, fingerprint) group: exact copies of one document, and a mark if it won its key.
    The group is iterated, never materialised: runners page large groups from disk."""
    _, groups = keyed
    won = any(True for _ in groups["won"])
    elements = nbytes = 0
    for i, doc in enumerate(groups["docs"]):
        elements += 1
        nbytes += len(doc.text)
        yield doc if won and i == 0 else reject(reason, doc)
    observe_group("keep_one_per_key", elements, nbytes)


class KeepOnePerKey(beam.PTransform):
    """Global exact dedup: keep one document per `key(doc)` (deterministically, by `pick`: the
    smallest id unless told otherwise); the others are `Rejected(reason)`.

    Bounded per key however many copies there are: the winner is chosen by a combine that holds
    one document per accumulator, then each document is joined with the winner's fingerprint on
    (key, fingerprint), so a group holds only exact copies of one document.
    """

    def __init__(self, key: Callable[[Document], str], reason: str,
                 pick: Callable[[list[Document]], Document] = pick_smallest_id):
        super().__init__()
        self._key = key
        self._reason = reason
        self._pick = pick

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        key = self._key
        winners = (
            docs
            | "Key" >> beam.Map(lambda d: (key(d), d))
            | "Pick one" >> beam.CombinePerKey(_PickOne(self._pick))
            | "Winner" >> beam.Map(lambda kv: ((kv[0], fingerprint(kv[1])), True))
        )
        copies = docs | "Key copies" >> beam.Map(lambda d: ((key(d), fingerprint(d)), d))
        return (
            {"docs": copies, "won": winners}
            | "Join winners" >> beam.CoGroupByKey()
            | "Keep winners" >> beam.FlatMap(_keep_winner, self._reason)
        )


# --------------------------------------------------------------------------------------------
# Writing: deterministic shards through corpus.paths (local, gs://, s3://, ...)
# --------------------------------------------------------------------------------------------
class _WriteShardFn(beam.DoFn):
    def __init__(self, directory: str, fmt: str):
        self._directory = directory
        self._fmt = fmt

    def process(self, keyed: tuple[int, dict[str, Iterable[Any]]], num_shards: int) -> Iterator[Tally]:
        index, groups = keyed
        ordered = sorted(groups["docs"], key=lambda d: d.id)
        payload = ENCODERS[self._fmt](ordered)
        observe_group("write_shard", len(ordered), len(payload))
        paths.write_atomically(paths.join(self._directory, shard_name(index, num_shards, self._fmt)), payload)
        progress.tick("written", len(ordered))
        yield tally(DOCUMENTS_WRITTEN, len(ordered))


# Compressed bytes per byte of document text, the upper end of what the seven samples give
# (jsonl.gz: github 0.23 ... books 0.40): shards sized with it land at or below --shard_mb.
COMPRESSED_PER_TEXT_BYTE = 0.4
METADATA_BYTES = 256  # a document's id, source, added and metadata, roughly, before compression
DEFAULT_SHARD_MB = 256.0


def shards_for(text_bytes: int, shard_mb: float) -> int:
    """How many shards keep each one near `shard_mb` MB of compressed output."""
    return max(1, math.ceil(text_bytes * COMPRESSED_PER_TEXT_BYTE / (shard_mb * (1 << 20))))


def text_bytes(doc: Document) -> int:
    """What a document adds to a shard before compression, roughly (the shard-count estimate)."""
    return len(doc.text.encode("utf-8", "surrogatepass")) + METADATA_BYTES


class WriteDocuments(beam.PTransform):
    """Write documents as `documents-XXXXX-of-NNNNN.{jsonl.gz,parquet}` under `directory`;
    output: one `Tally(documents_written=n)` per shard.

    The shard count is `num_shards` when given, else derived from the data so that each shard is
    about `shard_mb` MB compressed: no writer holds more than one bounded shard. Documents go to
    shard `md5(id) % n` and are sorted by id inside it, so the same documents always give
    byte-identical files whatever the runner's bundle order was.
    """

    def __init__(self, directory: str, num_shards: Optional[int] = None, fmt: str = "jsonl.gz",
                 shard_mb: float = DEFAULT_SHARD_MB):
        super().__init__()
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        self._directory = directory
        self._num_shards = num_shards
        self._fmt = fmt
        self._shard_mb = shard_mb

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        if self._num_shards:
            count = docs.pipeline | "Shard count" >> beam.Create([self._num_shards])
        else:
            count = (docs
                     | "Text bytes" >> beam.Map(text_bytes)
                     | "Sum bytes" >> beam.CombineGlobally(sum)
                     | "Shard count" >> beam.Map(shards_for, self._shard_mb))
        n = beam.pvalue.AsSingleton(count)
        keyed = docs | "Shard" >> beam.Map(lambda d, n: (shard_of(d.id, n), d), n)
        # Every shard index takes part in the group, so empty shards are written too and the
        # `-of-NNNNN` series is always complete.
        slots = count | "Shard slots" >> beam.FlatMap(lambda n: [(i, None) for i in range(n)])
        return (
            {"docs": keyed, "slots": slots}
            | "Group shards" >> beam.CoGroupByKey()
            | "Write shards" >> beam.ParDo(_WriteShardFn(self._directory, self._fmt), n)
        )
