"""Finding and reading the pipelines' document shards (JSONL[.gz|.zst|...] or Parquet).

The one reader of our own outputs: the model trainers (`corpus.lm`, `corpus.quality`), the
tokenizer trainer and the encoder all take "documents directories", the output folders of
`python -m pipelines.<source>`:

    OUTPUT/documents/documents-XXXXX-of-NNNNN.{jsonl.gz,parquet}   the documents
    OUTPUT/rejected/<reason>.jsonl.gz                               dropped samples: never read here
    OUTPUT/stats.json                                               the run's ledger

A directory with a `documents/` sub-folder is read from that folder only; one without (the
layout before `documents/` existed) from its document files, skipping any `rejected/` folder.
Local, `gs://`, `s3://` and `memory://` paths are all read through `corpus.paths`. A document's
source is its `source` field; when that is empty, the name of the output directory.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, Optional, Sequence

from corpus import paths, schema
from corpus.document import SOURCES, Document
from corpus.fileio import ReadError, guarded, open_path

DOCUMENT_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.bz2", ".jsonl.xz", ".json.gz", ".parquet")
PARQUET_MAGIC = b"PAR1"
DOCUMENTS_DIR = "documents"
REJECTED_DIR = "rejected"
STATS_FILE = "stats.json"
# Written first by every job into its OUTPUT, removed last, after a balanced stats.json: a folder
# holding it is being written, was left by a killed run or failed its ledger; never read as input.
INCOMPLETE_MARKER = "_INCOMPLETE"


def default_inputs(root: str = "out") -> list[str]:
    """Every `out/<source>/` that exists, in the order of `SOURCES`."""
    found = [paths.join(root, s) for s in SOURCES if paths.is_dir(paths.join(root, s))]
    if not found:
        raise SystemExit(f"no documents found: none of {root}/<{'|'.join(SOURCES)}>/ exists; pass --input")
    return found


def is_document_file(path: str) -> bool:
    name = paths.basename(path)
    return name.endswith(DOCUMENT_SUFFIXES) and not name.endswith(".tmp")


def has_documents_dir(directory: str) -> bool:
    return paths.is_dir(paths.join(directory, DOCUMENTS_DIR))


def source_hint(path: str) -> str:
    """The output directory's name for a document file (the folder above `documents/`)."""
    folder = paths.parent(path)
    if paths.basename(folder) == DOCUMENTS_DIR:
        folder = paths.parent(folder)
    return paths.basename(folder)


def is_rejected(path: str) -> bool:
    """True for a file of a `rejected/` folder (dropped samples)."""
    return paths.basename(paths.parent(path)) == REJECTED_DIR


def _parts(path: str) -> list[str]:
    return [part for part in str(path).split("://", 1)[-1].split("/") if part]


@dataclass
class InputFiles:
    """What `--input` holds: the document files with their source hints, and the other files
    (stats.json, ...) that were not read. Rejected samples are neither: never part of the input."""

    documents: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def scan_inputs(inputs: Sequence[str], incomplete_ok: bool = False) -> InputFiles:
    """The files of `inputs` (dirs, files or globs, local or remote), sorted.

    A directory is read from its `documents/` sub-folder when it has one, else from all its
    document files; files in a `rejected/` folder are never documents. The hint is the output
    directory's name: used when a document has no `source` field. A directory still marked
    `_INCOMPLETE` stops the caller, unless `incomplete_ok` (the data card, which shows why).
    """
    found = InputFiles()
    for item in inputs:
        if paths.is_dir(item):
            _scan_directory(item, found, incomplete_ok)
        elif paths.has_glob(item):
            for f in paths.list_files(item):
                if is_rejected(f):
                    continue
                if is_document_file(f):
                    found.documents.append((source_hint(f), f))
                else:
                    found.ignored.append(f)
        elif paths.is_file(item):
            if is_rejected(item):
                raise SystemExit(f"{item} holds rejected samples (dropped documents), not documents")
            found.documents.extend((source_hint(f), f) for f in paths.list_files(item))
        else:
            raise SystemExit(f"input not found: {item}")
    found.documents = sorted(set(found.documents))
    found.ignored = sorted(set(found.ignored))
    return found


def _scan_directory(directory: str, found: InputFiles, incomplete_ok: bool) -> None:
    if not incomplete_ok and paths.exists(paths.join(directory, INCOMPLETE_MARKER)):
        raise SystemExit(f"{directory} is not a complete run ({INCOMPLETE_MARKER} is there: the job writing it is "
                         "running, was killed, or its ledger did not balance); rerun that job")
    hint = paths.basename(directory)
    documents_dir = has_documents_dir(directory)
    depth = len(_parts(directory))
    for f in paths.list_files(directory):
        folders = _parts(f)[depth:-1]  # between the directory and the file
        if REJECTED_DIR in folders:
            continue
        if is_document_file(f) and (not documents_dir or folders[:1] == [DOCUMENTS_DIR]):
            found.documents.append((hint, f))
        else:
            found.ignored.append(f)


def find_document_files(inputs: Sequence[str], incomplete_ok: bool = False) -> list[tuple[str, str]]:
    """`(source_hint, path)` for each document file under `inputs`, sorted (see `scan_inputs`)."""
    return scan_inputs(inputs, incomplete_ok).documents


def read_documents(stream: BinaryIO, path: str = "", hint: str = "") -> Iterator[Document | ReadError]:
    """Documents of one decompressed stream (Parquet by magic, or JSON lines), text made valid
    Unicode and `source` falling back to `hint` (the output directory's name).

    A malformed line is reported as a `ReadError("malformed_json")` and skipped.
    """
    for item in _parse_documents(stream, path):
        if isinstance(item, Document):
            text = valid_text(item.text)
            if (not item.source and hint) or text is not item.text:
                item = Document(item.id, text, item.source or hint, item.added, item.metadata)
        yield item


def _parse_documents(stream: BinaryIO, path: str) -> Iterator[Document | ReadError]:
    head = stream.peek(4)[:4] if hasattr(stream, "peek") else b""
    if head == PARQUET_MAGIC or path.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(stream.read()))
        for batch in table.to_batches():
            for record in batch.to_pylist():
                yield Document.from_record(record)
        return
    for number, raw in enumerate(stream, 1):
        line = raw.strip()
        if not line:
            continue
        try:
            yield Document.from_json(line.decode("utf-8"))
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            yield ReadError("malformed_json", path, f"line {number}: {exc}")


def valid_text(text: str) -> str:
    """`text` as valid Unicode: JSON lets lone surrogates (`"\\ud800"`) through, and neither UTF-8
    nor SentencePiece accepts them. Surrogate pairs are joined, lone ones become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def iter_file(path: str, hint: str = "") -> Iterator[Document | ReadError]:
    """Open, decompress and read one document file; the source falls back to `hint`."""
    with open_path(path) as stream:
        yield from guarded(read_documents(stream, path, hint), path)


def source_of(doc: Document, hint: str = "") -> str:
    return doc.source or hint or "unknown"


def read_stats_json(directory: str) -> Optional[dict]:
    """The stats.json ledger of a pipeline output, or None when it has none (or a broken one)."""
    try:
        return json.loads(paths.read_text(paths.join(directory, STATS_FILE)))
    except (OSError, ValueError):
        return None


def stats_documents(directory: str) -> Optional[int]:
    """`documents_written` of a pipeline output's stats.json, if there is one."""
    try:
        return int((read_stats_json(directory) or {})["documents_written"])
    except (KeyError, TypeError, ValueError):
        return None


def iter_directory(directory: str) -> Iterator[Document]:
    """Documents of one pipeline output directory (or one shard file), in file and line order.

    For training models: an input fault raises instead of being counted, because a model trained
    on a silently shortened input would be wrong without anyone noticing.
    """
    for hint, path in find_document_files([directory]):
        for item in iter_file(path, hint):
            if isinstance(item, ReadError):
                raise ValueError(f"{item.path}: {item.reason}: {item.detail}")
            yield item


# ---------------------------------------------------------------------------------------------
# Writing shards (the pipelines' writer and the tests' fixtures share these encoders)
# ---------------------------------------------------------------------------------------------
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
    """One Parquet shard in `corpus.schema.arrow_schema()`: the same schema for every source and
    shard, so `datasets`, `pyarrow.dataset` and DuckDB read a folder of shards as one table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = schema.arrow_table([d.to_schema_record() for d in docs])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


ENCODERS = {"jsonl.gz": encode_jsonl_gz, "parquet": encode_parquet}
