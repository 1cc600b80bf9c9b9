"""Finding and reading the pipelines' document shards (JSONL[.gz|.zst|...] or Parquet).

The one reader of our own outputs: the model trainers (`corpus.lm`, `corpus.quality`), the
tokenizer trainer and the encoder all take "documents directories", the output folders of
`python -m pipelines.<source>` (`documents-XXXXX-of-NNNNN.{jsonl.gz,parquet}` + `stats.json`).
A document's source is its `source` field; when that is empty, the directory's name.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Sequence

from corpus.document import SOURCES, Document
from corpus.fileio import ReadError, open_decompressed, open_path

DOCUMENT_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.bz2", ".jsonl.xz", ".json.gz", ".parquet")
PARQUET_MAGIC = b"PAR1"


def default_inputs(root: str = "out") -> list[str]:
    """Every `out/<source>/` that exists, in the order of `SOURCES`."""
    found = [str(Path(root) / s) for s in SOURCES if (Path(root) / s).is_dir()]
    if not found:
        raise SystemExit(f"no documents found: none of {root}/<{'|'.join(SOURCES)}>/ exists; pass --input")
    return found


def is_document_file(path: str) -> bool:
    name = os.path.basename(path)
    return name.endswith(DOCUMENT_SUFFIXES) and not name.endswith(".tmp")


def find_document_files(inputs: Sequence[str]) -> list[tuple[str, str]]:
    """`(source_hint, path)` for each document file under `inputs` (dirs, files or globs), sorted.

    The hint is the name of the directory given (or of the file's parent): used when a document
    has no `source` field.
    """
    import glob

    files: list[tuple[str, str]] = []
    for item in inputs:
        if os.path.isdir(item):
            hint = os.path.basename(os.path.normpath(item))
            for dirpath, _dirs, names in os.walk(item):
                for name in names:
                    if is_document_file(name):
                        files.append((hint, os.path.join(dirpath, name)))
        else:
            for path in sorted(glob.glob(item)) if any(c in item for c in "*?[") else [item]:
                if os.path.isfile(path):
                    files.append((os.path.basename(os.path.dirname(os.path.abspath(path))), path))
                else:
                    raise SystemExit(f"input not found: {path}")
    return sorted(set(files), key=lambda hp: (hp[0], hp[1]))


def read_documents(stream: BinaryIO, path: str = "") -> Iterator[Document | ReadError]:
    """Documents of one decompressed stream: Parquet (by magic) or JSON lines.

    A malformed line is reported as a `ReadError("malformed_json")` and skipped.
    """
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
    from corpus.fileio import guarded

    with _open(path) as stream:
        for item in guarded(read_documents(stream, path), path):
            if isinstance(item, Document):
                text = valid_text(item.text)
                if (not item.source and hint) or text is not item.text:
                    item = Document(item.id, text, item.source or hint, item.added, item.metadata)
            yield item


def _open(path: str) -> BinaryIO:
    if "://" in path:
        return open_path(path)
    return open_decompressed(open(path, "rb"))


def source_of(doc: Document, hint: str = "") -> str:
    return doc.source or hint or "unknown"


def stats_documents(directory: str) -> Optional[int]:
    """`documents_written` of a pipeline output's stats.json, if there is one."""
    path = Path(directory) / "stats.json"
    try:
        return int(json.loads(path.read_text())["documents_written"])
    except (OSError, ValueError, KeyError):
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
