"""Beam transforms shared by every source pipeline: read, count, apply rules, dedup, write.

Every document that enters is counted once (`documents_in`) and leaves either through
`WriteDocuments` (`documents_written`) or through a rule's or dedup's `Drop` (`dropped:<reason>`).
Input faults are counted as `error:<reason>`. These counters are Beam metrics; the runner turns
them into `stats.json` after the job.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Optional, Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from corpus.document import Document
from corpus.fileio import ReadError, guarded, open_decompressed
from corpus.ledger import DOCUMENTS_IN, DOCUMENTS_WRITTEN, DROPPED, ERROR, INFO
from corpus.rules import Drop, Outcome, Rule

NAMESPACE = "llama_corpus"

_counters: dict[str, Any] = {}


def count(name: str, n: int = 1) -> None:
    """Increment a pipeline counter (Beam metric in the shared namespace)."""
    counter = _counters.get(name)
    if counter is None:
        counter = _counters[name] = Metrics.counter(NAMESPACE, name)
    counter.inc(n)


def count_drop(reason: str) -> None:
    count(DROPPED + reason)


def count_error(reason: str) -> None:
    count(ERROR + reason)


def count_info(name: str, n: int = 1) -> None:
    """Counters that are neither documents nor faults (files read, lines removed, ...)."""
    count(INFO + name, n)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
Reader = Callable[[BinaryIO, str], Iterable[Any]]


class _ReadFileFn(beam.DoFn):
    def __init__(self, reader: Reader, accept: Optional[Callable[[str], bool]]):
        self._reader = reader
        self._accept = accept

    def process(self, readable: fileio.ReadableFile) -> Iterator[Any]:
        path = readable.metadata.path
        if self._accept is not None and not self._accept(path):
            count_info("files_ignored")
            return
        count_info("files_read")
        try:
            raw = readable.open(compression_type=CompressionTypes.UNCOMPRESSED)
            stream = open_decompressed(raw)
        except OSError as exc:
            count_error("unreadable_file")
            _log_error(ReadError("unreadable_file", path, str(exc)))
            return
        with stream:
            for item in guarded(self._reader(stream, path), path):
                if isinstance(item, ReadError):
                    count_error(item.reason)
                    _log_error(item)
                else:
                    yield item


def _log_error(error: ReadError) -> None:
    logging.getLogger("llama_corpus").warning("input fault %s in %s: %s", error.reason, error.path, error.detail)


class ReadFiles(beam.PTransform):
    """Match file patterns (local or remote), open each file, and stream it through `reader`.

    `reader(stream, path)` is a pure `corpus/` generator over one decompressed file; it may
    yield `ReadError`s for faults it detects itself. A file that breaks mid-way keeps what was
    read before the break.
    """

    def __init__(self, patterns: Sequence[str], reader: Reader, accept: Optional[Callable[[str], bool]] = None):
        super().__init__()
        self._patterns = list(patterns)
        self._reader = reader
        self._accept = accept

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> fileio.MatchAll()
            | "Reshuffle files" >> beam.Reshuffle()
            | "Open" >> fileio.ReadMatches()
            | "Read" >> beam.ParDo(_ReadFileFn(self._reader, self._accept))
        )


def _count_in(doc: Document) -> Document:
    count(DOCUMENTS_IN)
    return doc


class CountIn(beam.PTransform):
    """Mark the point where raw records have become documents: each is counted once here."""

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        return docs | "Count in" >> beam.Map(_count_in)


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------
class _RuleFn(beam.DoFn):
    def __init__(self, make_rule: Callable[[], Rule]):
        self._make_rule = make_rule
        self._rule: Optional[Rule] = None

    def setup(self) -> None:
        # Model-backed rules load their model files here, once per worker.
        self._rule = self._make_rule()

    def process(self, doc: Document) -> Iterator[Document]:
        out: Outcome = self._rule(doc)  # type: ignore[misc]
        if isinstance(out, Drop):
            count_drop(out.reason)
        else:
            yield out


class ApplyRule(beam.PTransform):
    """Apply one `corpus.rules.Rule`, counting each drop under its reason.

    Pass `make_rule`, a picklable zero-argument factory (e.g. `functools.partial(load, path)`),
    when the rule needs a model: the factory runs once per worker in `DoFn.setup`.
    """

    def __init__(self, rule: Optional[Rule] = None, *, make_rule: Optional[Callable[[], Rule]] = None):
        super().__init__()
        if (rule is None) == (make_rule is None):
            raise ValueError("pass exactly one of rule or make_rule")
        self._make_rule = make_rule if make_rule is not None else _Const(rule)

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        return docs | beam.ParDo(_RuleFn(self._make_rule))


class _Const:
    def __init__(self, rule: Rule):
        self._rule = rule

    def __call__(self) -> Rule:
        return self._rule


# --------------------------------------------------------------------------------------------
# Exact dedup through the shuffle
# --------------------------------------------------------------------------------------------
def _pick_first(docs: list[Document]) -> Document:
    return min(docs, key=lambda d: d.id)


class _KeepOneFn(beam.DoFn):
    def __init__(self, reason: str, pick: Callable[[list[Document]], Document]):
        self._reason = reason
        self._pick = pick

    def process(self, keyed: tuple[str, Iterable[Document]]) -> Iterator[Document]:
        docs = list(keyed[1])
        keep = self._pick(docs)
        for _ in range(len(docs) - 1):
            count_drop(self._reason)
        yield keep


class KeepOnePerKey(beam.PTransform):
    """Global exact dedup: group documents by `key(doc)` and keep one per key.

    The choice is deterministic (`pick`, by default the smallest id), so reruns agree. Runs
    through Beam's shuffle, so no driver-side set has to hold every key.
    """

    def __init__(self, key: Callable[[Document], str], reason: str,
                 pick: Callable[[list[Document]], Document] = _pick_first):
        super().__init__()
        self._key = key
        self._reason = reason
        self._pick = pick

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        return (
            docs
            | "Key" >> beam.Map(lambda d, key=self._key: (key(d), d))
            | "Group" >> beam.GroupByKey()
            | "Keep one" >> beam.ParDo(_KeepOneFn(self._reason, self._pick))
        )


# --------------------------------------------------------------------------------------------
# Writing: deterministic shards through Beam's FileSystems (local, gs://, s3://, hdfs://)
# --------------------------------------------------------------------------------------------
FORMATS = ("jsonl.gz", "parquet")


def shard_name(index: int, num_shards: int, fmt: str) -> str:
    return f"documents-{index:05d}-of-{num_shards:05d}.{fmt}"


def shard_of(doc_id: str, num_shards: int) -> int:
    return int.from_bytes(hashlib.md5(doc_id.encode("utf-8")).digest()[:8], "little") % num_shards


# Deflate level 6: zlib's and the gzip tool's default (Python's gzip module defaults to 9, which
# costs ~25% more time for ~0.25% smaller shards on web text).
GZIP_LEVEL = 6


def encode_jsonl_gz(docs: Sequence[Document]) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 and no file name: identical documents give identical bytes on every run.
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="", compresslevel=GZIP_LEVEL) as gz:
        for doc in docs:
            gz.write(doc.to_json().encode("utf-8") + b"\n")
    return buffer.getvalue()


def encode_parquet(docs: Sequence[Document]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": [d.id for d in docs],
            "text": [d.text for d in docs],
            "source": [d.source for d in docs],
            "added": [d.added for d in docs],
            # Metadata differs per source and per document; a JSON string keeps one schema
            # across every shard so `datasets` can load a folder of shards.
            "metadata": [json.dumps(d.metadata, ensure_ascii=False, sort_keys=True) for d in docs],
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


_ENCODERS = {"jsonl.gz": encode_jsonl_gz, "parquet": encode_parquet}


class _WriteShardFn(beam.DoFn):
    def __init__(self, directory: str, num_shards: int, fmt: str):
        self._directory = directory
        self._num_shards = num_shards
        self._fmt = fmt

    def process(self, keyed: tuple[int, dict[str, Iterable[Any]]]) -> Iterator[str]:
        index, groups = keyed
        ordered = sorted(groups["docs"], key=lambda d: d.id)
        payload = _ENCODERS[self._fmt](ordered)
        path = FileSystems.join(self._directory, shard_name(index, self._num_shards, self._fmt))
        write_atomically(path, payload)
        count(DOCUMENTS_WRITTEN, len(ordered))
        yield path


def write_atomically(path: str, payload: bytes) -> None:
    """Write to a temporary name and rename, so a crashed worker never leaves half a shard."""
    tmp = path + ".tmp"
    with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(payload)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


class WriteDocuments(beam.PTransform):
    """Write documents as `documents-XXXXX-of-NNNNN.{jsonl.gz,parquet}` under `directory`.

    Documents go to shard `md5(id) % num_shards` and are sorted by id inside it, so the same
    documents always give byte-identical files whatever the runner's bundle order was.
    """

    def __init__(self, directory: str, num_shards: int = 1, fmt: str = "jsonl.gz"):
        super().__init__()
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        self._directory = directory
        self._num_shards = num_shards
        self._fmt = fmt

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        n = self._num_shards
        keyed = docs | "Shard" >> beam.Map(lambda d: (shard_of(d.id, n), d))
        # Every shard index takes part in the group, so empty shards are written too and the
        # `-of-NNNNN` series is always complete.
        slots = docs.pipeline | "Shard slots" >> beam.Create([(i, None) for i in range(n)])
        return (
            {"docs": keyed, "slots": slots}
            | "Group shards" >> beam.CoGroupByKey()
            | "Write shards" >> beam.ParDo(_WriteShardFn(self._directory, n, self._fmt))
        )
