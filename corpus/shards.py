"""Token shards in Megatron-LM's indexed-dataset format (`.bin` + `.idx`) and their manifest.

Layout (Megatron-LM `megatron/core/datasets/indexed_dataset.py`, RECIPE §5.4):

* `{prefix}.bin` - every document's token ids back to back, little-endian, one dtype.
* `{prefix}.idx` - `MMIDIDX\\x00\\x00` (9 bytes), `<Q` version 1, `<B` dtype code, `<Q` sequence
  count N, `<Q` document count N+1, `int32[N]` sequence lengths (tokens), `int64[N]` byte
  pointers into `.bin`, `int64[N+1]` document indices (`0, 1, ..., N`: one sequence per document).

Megatron's `IndexedDataset(prefix)`, GPT-NeoX and NeMo read these files as they are. Token dtype
follows Megatron's `DType.optimal_dtype`: uint16 when the vocabulary has fewer than 65,500 ids,
else int32.

A series of shards (`{prefix}_00000`, `{prefix}_00001`, ...) is described by `manifest.json` in
its directory: source, documents, tokens, bytes, dtype, vocab size, tokenizer digest, and per
shard its documents, tokens, bytes and sha256. Pure Python + numpy: no Beam here.

Manifests and digests go through `corpus.paths` (local or remote); the shards themselves are
written and memory-mapped locally (a remote series is written locally and copied up, and staged
to local disk by `stage_series` to be read). Readers check a series against its manifest
(`verify_series`: structure, counts, sha256 of every file, token ids below the vocabulary).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from array import array
from dataclasses import asdict, dataclass, field
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from corpus import paths

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
MANIFEST_NAME = "manifest.json"

# Megatron's DType codes.
DTYPE_CODES: dict[int, type] = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    6: np.float64,
    7: np.float32,
    8: np.uint16,
}
CODE_OF: dict[str, int] = {np.dtype(t).name: code for code, t in DTYPE_CODES.items()}

# A new .bin/.idx pair beyond this many tokens: 2 GiB of uint16.
DEFAULT_MAX_TOKENS_PER_SHARD = 1 << 30

# Megatron: `np.uint16 if vocab_size < 65500 else np.int32`.
UINT16_VOCAB_LIMIT = 65500

PathLike = Union[str, os.PathLike]


def optimal_dtype(vocab_size: int) -> np.dtype:
    """The token dtype Megatron picks for a vocabulary of `vocab_size` ids."""
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    return np.dtype(np.uint16 if vocab_size < UINT16_VOCAB_LIMIT else np.int32)


def sha256_file(path: PathLike, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with paths.open(str(path), "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# The .idx file
# --------------------------------------------------------------------------------------------
def encode_index(dtype: np.dtype, lengths: Sequence[int] | np.ndarray) -> bytes:
    """The bytes of a `.idx` file for sequences of `lengths` tokens, one document each."""
    dtype = np.dtype(dtype)
    lens = np.asarray(lengths, dtype=np.int64)
    if lens.size and (lens.min() < 0 or lens.max() > np.iinfo(np.int32).max):
        raise ValueError("sequence lengths must fit int32")
    pointers = np.zeros(lens.size, dtype=np.int64)
    if lens.size > 1:
        np.cumsum(lens[:-1] * dtype.itemsize, out=pointers[1:])
    n = int(lens.size)
    header = MAGIC + struct.pack("<Q", VERSION) + struct.pack("<B", CODE_OF[dtype.name])
    header += struct.pack("<Q", n) + struct.pack("<Q", n + 1)
    return b"".join(
        (
            header,
            lens.astype("<i4").tobytes(),
            pointers.astype("<i8").tobytes(),
            np.arange(n + 1, dtype="<i8").tobytes(),
        )
    )


@dataclass(frozen=True)
class IndexHeader:
    dtype: np.dtype
    sequence_count: int
    document_count: int
    offset: int  # where the int32 lengths start


def read_index_header(buffer: bytes | memoryview | np.ndarray, path: str = "") -> IndexHeader:
    head = bytes(buffer[:34])
    if len(head) < 34 or head[:9] != MAGIC:
        raise ValueError(f"{path or 'index'}: not a Megatron .idx file (bad magic)")
    (version,) = struct.unpack("<Q", head[9:17])
    if version != VERSION:
        raise ValueError(f"{path or 'index'}: unsupported .idx version {version}")
    (code,) = struct.unpack("<B", head[17:18])
    if code not in DTYPE_CODES:
        raise ValueError(f"{path or 'index'}: unknown dtype code {code}")
    sequence_count, document_count = struct.unpack("<QQ", head[18:34])
    return IndexHeader(np.dtype(DTYPE_CODES[code]), sequence_count, document_count, 34)


def _check_index(path: str, dtype: np.dtype, lengths: np.ndarray, pointers: np.ndarray,
                 documents: np.ndarray) -> None:
    """A `.idx` whose pointers or document indices are not what its lengths imply (one flipped
    byte) would make readers take the wrong tokens silently: refuse it, naming the file."""
    if lengths.size and int(lengths.min()) < 0:
        raise ValueError(f"{path}: negative sequence length")
    expected = np.zeros(lengths.size, dtype=np.int64)
    if lengths.size > 1:
        np.cumsum(lengths[:-1].astype(np.int64) * dtype.itemsize, out=expected[1:])
    if not np.array_equal(pointers, expected):
        raise ValueError(f"{path}: byte pointers do not follow the sequence lengths (corrupt index)")
    if documents.size and (documents[0] != 0 or documents[-1] != lengths.size or np.any(np.diff(documents) < 0)):
        raise ValueError(f"{path}: document indices are not 0..{lengths.size} in order (corrupt index)")


# --------------------------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------------------------
class IndexedDataset:
    """Memory-mapped read access to one `{prefix}.bin`/`{prefix}.idx` pair.

    `ds[i]` is document i's tokens (a read-only view into the memory map), `len(ds)` the number of
    documents, `ds.document_lengths` their lengths, `ds.total_tokens` their sum.
    """

    def __init__(self, prefix: PathLike):
        self.prefix = str(prefix)
        idx_path, bin_path = self.prefix + ".idx", self.prefix + ".bin"
        self._idx = np.memmap(idx_path, dtype=np.uint8, mode="r")
        header = read_index_header(self._idx, idx_path)
        self.dtype = header.dtype
        n, offset = header.sequence_count, header.offset
        expected = offset + n * 4 + n * 8 + header.document_count * 8
        if self._idx.size < expected:
            raise ValueError(f"{idx_path}: truncated ({self._idx.size} bytes, header says {expected})")
        buffer = self._idx
        self.document_lengths = np.frombuffer(buffer, dtype="<i4", count=n, offset=offset)
        self.pointers = np.frombuffer(buffer, dtype="<i8", count=n, offset=offset + n * 4)
        self.document_indices = np.frombuffer(
            buffer, dtype="<i8", count=header.document_count, offset=offset + n * 12
        )
        _check_index(idx_path, self.dtype, self.document_lengths, self.pointers, self.document_indices)
        bin_size = os.path.getsize(bin_path)
        self.total_tokens = int(self.document_lengths.sum(dtype=np.int64))
        if bin_size != self.total_tokens * self.dtype.itemsize:
            raise ValueError(
                f"{bin_path}: {bin_size} bytes, index says {self.total_tokens} tokens of {self.dtype.name}"
            )
        # np.memmap refuses empty files; an empty shard has no tokens to map.
        self._bin = (
            np.memmap(bin_path, dtype=self.dtype.newbyteorder("<"), mode="r")
            if bin_size
            else np.zeros(0, dtype=self.dtype)
        )

    def __len__(self) -> int:
        return int(self.document_lengths.size)

    def __getitem__(self, index: int) -> np.ndarray:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]  # type: ignore[return-value]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"document {index} out of range ({n} documents)")
        start = int(self.pointers[index]) // self.dtype.itemsize
        return self._bin[start : start + int(self.document_lengths[index])]

    def get(self, index: int, offset: int = 0, length: Optional[int] = None) -> np.ndarray:
        """Part of document `index`, like Megatron's `IndexedDataset.get`."""
        doc = self[index]
        end = len(doc) if length is None else offset + length
        return doc[offset:end]

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    @property
    def tokens(self) -> np.ndarray:
        """All tokens of the shard as one flat memory-mapped array."""
        return self._bin


# --------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShardInfo:
    """One written shard: `prefix` is its file name without `.bin`/`.idx`."""

    prefix: str
    documents: int
    tokens: int
    bytes: int
    sha256: str  # of the .bin file
    idx_sha256: str
    continues_document: bool = False  # its first sequence is the tail of an oversized document

    @property
    def bin_name(self) -> str:
        return self.prefix + ".bin"

    @property
    def idx_name(self) -> str:
        return self.prefix + ".idx"


def shard_prefix(prefix: str, index: int) -> str:
    return f"{prefix}_{index:05d}"


class ShardWriter:
    """Append documents (token arrays) to a series of Megatron shards in `directory`.

    Shards are named `{prefix}_00000.bin/.idx`, `{prefix}_00001...`. A shard is closed and a new
    one started when the next document would take it past `max_tokens_per_shard`; documents are
    never split, except one that alone is longer than a shard: it is cut into shard-sized
    sequences in consecutive shards (`ShardInfo.continues_document` marks the continuation).
    Each file is written under a `.tmp` name and renamed when complete, so a crash leaves no
    half shard under a final name.

        with ShardWriter("out/tokens/c4", "c4", vocab_size=32000) as writer:
            writer.add(ids)
        writer.shards  # list[ShardInfo]
    """

    def __init__(
        self,
        directory: PathLike,
        prefix: str,
        vocab_size: int,
        max_tokens_per_shard: int = DEFAULT_MAX_TOKENS_PER_SHARD,
        dtype: Optional[Union[str, np.dtype]] = None,
    ):
        if max_tokens_per_shard <= 0:
            raise ValueError("max_tokens_per_shard must be positive")
        if os.sep in prefix or (os.altsep and os.altsep in prefix):
            raise ValueError(f"prefix must be a file name, got {prefix!r}")
        self.directory = Path(directory)
        self.prefix = prefix
        self.vocab_size = int(vocab_size)
        self.dtype = np.dtype(dtype) if dtype is not None else optimal_dtype(self.vocab_size)
        if self.dtype.name not in CODE_OF:
            raise ValueError(f"dtype {self.dtype} has no Megatron code")
        self.max_tokens_per_shard = int(max_tokens_per_shard)
        self.shards: list[ShardInfo] = []
        self.documents = 0  # documents added (an oversized one counts once)
        self.tokens = 0
        self._handle: Optional[BinaryIO] = None
        self._tmp: dict[str, str] = {}  # suffix -> this writer's temporary name of the open shard
        self._digest: Any = None
        self._lengths = array("q")
        self._shard_tokens = 0
        self._continues = False
        self._closed = False
        self.directory.mkdir(parents=True, exist_ok=True)

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- writing ---------------------------------------------------------------------------
    def add(self, tokens: Union[Sequence[int], np.ndarray]) -> None:
        """Append one document's token ids."""
        if self._closed:
            raise ValueError("writer is closed")
        ids = np.asarray(tokens)
        if ids.ndim != 1:
            raise ValueError("a document is a 1-D sequence of token ids")
        if ids.size:
            if not np.issubdtype(ids.dtype, np.integer):
                raise ValueError(f"token ids must be integers, got {ids.dtype}")
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= self.vocab_size:
                raise ValueError(f"token id out of range [0, {self.vocab_size}): {low if low < 0 else high}")
        data = ids.astype(self.dtype.newbyteorder("<"), copy=False)
        self.documents += 1
        self.tokens += int(data.size)
        if self._shard_tokens and self._shard_tokens + data.size > self.max_tokens_per_shard:
            self._finish_shard()
        if data.size <= self.max_tokens_per_shard:
            self._append(data)
            return
        # One document longer than a whole shard: cut it into shard-sized sequences.
        limit = self.max_tokens_per_shard
        for start in range(0, data.size, limit):
            if self._shard_tokens:
                self._finish_shard()
                self._continues = start > 0
            self._append(data[start : start + limit])

    def _append(self, data: np.ndarray) -> None:
        if self._handle is None:
            index = len(self.shards)
            self._tmp = {suffix: paths.temp_name(str(self._path(index, suffix))) for suffix in (".bin", ".idx")}
            self._handle = open(self._tmp[".bin"], "wb")
            self._digest = hashlib.sha256()
        payload = data.tobytes()
        self._handle.write(payload)
        self._digest.update(payload)
        self._lengths.append(int(data.size))
        self._shard_tokens += int(data.size)

    def _path(self, index: int, suffix: str) -> Path:
        return self.directory / (shard_prefix(self.prefix, index) + suffix)

    def _finish_shard(self) -> None:
        if self._handle is None:
            return
        index = len(self.shards)
        handle, self._handle = self._handle, None
        try:
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            handle.close()  # a failed write-back (ENOSPC) raises here, before anything is renamed
        index_bytes = encode_index(self.dtype, np.frombuffer(self._lengths, dtype=np.int64))
        with open(self._tmp[".idx"], "wb") as idx:
            idx.write(index_bytes)
            idx.flush()
            os.fsync(idx.fileno())
        os.replace(self._tmp[".bin"], self._path(index, ".bin"))
        os.replace(self._tmp[".idx"], self._path(index, ".idx"))
        self._tmp = {}
        self.shards.append(
            ShardInfo(
                prefix=shard_prefix(self.prefix, index),
                documents=len(self._lengths),
                tokens=self._shard_tokens,
                bytes=self._shard_tokens * self.dtype.itemsize,
                sha256=self._digest.hexdigest(),
                idx_sha256=hashlib.sha256(index_bytes).hexdigest(),
                continues_document=self._continues,
            )
        )
        self._lengths = array("q")
        self._shard_tokens = 0
        self._continues = False

    def close(self) -> list[ShardInfo]:
        """Finish the open shard; returns every shard of the series."""
        if not self._closed:
            self._finish_shard()
            self._closed = True
        return list(self.shards)

    def abort(self) -> None:
        """Drop the shard being written (its temporary files); finished shards stay."""
        if self._handle is not None:
            try:
                self._handle.close()
            except OSError:
                pass  # the write that failed is why we abort
            self._handle = None
        for tmp in self._tmp.values():
            Path(tmp).unlink(missing_ok=True)
        self._tmp = {}
        self._closed = True


def write_documents(
    directory: PathLike,
    prefix: str,
    documents: Iterable[Union[Sequence[int], np.ndarray]],
    vocab_size: int,
    max_tokens_per_shard: int = DEFAULT_MAX_TOKENS_PER_SHARD,
) -> list[ShardInfo]:
    """Write an iterable of token arrays as one shard series (convenience for tests/tools)."""
    with ShardWriter(directory, prefix, vocab_size, max_tokens_per_shard) as writer:
        for doc in documents:
            writer.add(doc)
    return writer.shards


# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------
@dataclass
class Manifest:
    """`manifest.json` of one shard series (one source)."""

    source: str
    documents: int
    tokens: int
    bytes: int
    dtype: str
    vocab_size: int
    tokenizer_sha256: str
    shards: list[dict[str, Any]] = field(default_factory=list)
    format: str = "megatron-indexed-dataset-v1"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        source: str,
        shards: Sequence[ShardInfo],
        vocab_size: int,
        tokenizer_sha256: str,
        documents: Optional[int] = None,
        dtype: Optional[Union[str, np.dtype]] = None,
        **extra: Any,
    ) -> "Manifest":
        token_dtype = np.dtype(dtype) if dtype is not None else optimal_dtype(vocab_size)
        return cls(
            source=source,
            documents=sum(s.documents for s in shards) if documents is None else int(documents),
            tokens=sum(s.tokens for s in shards),
            bytes=sum(s.bytes for s in shards),
            dtype=token_dtype.name,
            vocab_size=int(vocab_size),
            tokenizer_sha256=tokenizer_sha256,
            shards=[asdict(s) for s in shards],
            extra=dict(extra),
        )

    def prefixes(self, directory: PathLike) -> list[str]:
        """Full shard prefixes (what Megatron's `--data-path` and `IndexedDataset` take)."""
        return [paths.join(str(directory), s["prefix"]) for s in self.shards]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        return cls(**json.loads(text))


def write_manifest(directory: PathLike, manifest: Manifest) -> str:
    """Write `directory/manifest.json` atomically (local or remote)."""
    path = paths.join(str(directory), MANIFEST_NAME)
    paths.write_text_atomically(path, manifest.to_json())
    return path


def read_manifest(directory: PathLike) -> Manifest:
    """The manifest of a series directory, or the manifest file itself (local or remote)."""
    path = str(directory)
    if paths.is_dir(path):
        path = paths.join(path, MANIFEST_NAME)
    return Manifest.from_json(paths.read_text(path))


class ShardError(ValueError):
    """A token shard that does not match its manifest (corrupt, changed or out of vocabulary)."""


def _scan_bin(path: str, dtype: np.dtype, chunk: int = 1 << 22) -> tuple[str, int, int]:
    """sha256, smallest and largest token id of a `.bin`, in one streaming pass (memory: one chunk)."""
    digest, smallest, largest = hashlib.sha256(), 0, -1
    chunk -= chunk % dtype.itemsize
    with paths.open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
            ids = np.frombuffer(block[: len(block) - len(block) % dtype.itemsize], dtype=dtype.newbyteorder("<"))
            if ids.size:
                smallest, largest = min(smallest, int(ids.min())), max(largest, int(ids.max()))
    return digest.hexdigest(), smallest, largest


def check_shard(directory: PathLike, shard: dict[str, Any], manifest: Manifest, check_digests: bool = True) -> None:
    """One shard against its manifest entry: structure and counts always; with `check_digests`
    the sha256 of its `.idx` and `.bin` and that every token id is below the vocabulary size.
    Raises ShardError naming the file."""
    prefix = paths.join(str(directory), shard["prefix"])
    try:
        ds = IndexedDataset(prefix)
    except (OSError, ValueError) as exc:
        raise ShardError(f"{prefix}: {exc}") from None
    if len(ds) != shard["documents"] or ds.total_tokens != shard["tokens"]:
        raise ShardError(f"{prefix}: {len(ds)} documents, {ds.total_tokens} tokens; {MANIFEST_NAME} says "
                         f"{shard['documents']} and {shard['tokens']}")
    if ds.dtype.name != manifest.dtype:
        raise ShardError(f"{prefix}: dtype {ds.dtype} differs from {MANIFEST_NAME} ({manifest.dtype})")
    if not check_digests:
        return
    if shard.get("idx_sha256") and sha256_file(prefix + ".idx") != shard["idx_sha256"]:
        raise ShardError(f"{prefix}.idx: sha256 differs from {MANIFEST_NAME} (corrupt or changed file)")
    digest, smallest, largest = _scan_bin(prefix + ".bin", ds.dtype)
    if digest != shard["sha256"]:
        raise ShardError(f"{prefix}.bin: sha256 differs from {MANIFEST_NAME} (corrupt or changed file)")
    if smallest < 0 or largest >= int(manifest.vocab_size):
        raise ShardError(f"{prefix}.bin: token id {smallest if smallest < 0 else largest} is out of the "
                         f"vocabulary (vocab_size {manifest.vocab_size} in {MANIFEST_NAME})")


def verify_series(directory: PathLike, check_digests: bool = True, workers: int = 1) -> Manifest:
    """Check every shard of a series against its manifest (`check_shard`), `workers` at a time
    (hashing releases the GIL); returns the manifest."""
    manifest = read_manifest(directory)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(lambda shard: check_shard(directory, shard, manifest, check_digests), manifest.shards))
    return manifest


def stage_series(directory: str, local_dir: PathLike, check_digests: bool = True, workers: int = 1) -> Path:
    """A local copy of a (remote) series for readers that memory-map or `pread` its shards:
    every file copied into `local_dir` through `corpus.paths`, then verified (`verify_series`)."""
    local = Path(local_dir)
    local.mkdir(parents=True, exist_ok=True)
    manifest_path = paths.join(directory, MANIFEST_NAME)
    if not paths.is_file(manifest_path):
        raise FileNotFoundError(f"{manifest_path} not found")
    paths.copy(manifest_path, str(local / MANIFEST_NAME))
    manifest = read_manifest(local)
    names = [shard["prefix"] + suffix for shard in manifest.shards for suffix in (".bin", ".idx")]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(lambda name: paths.copy(paths.join(directory, name), str(local / name)), names))
    verify_series(local, check_digests, workers)
    return local


def open_series(directory: PathLike) -> list[IndexedDataset]:
    """Every shard of a series, in order, as readers."""
    manifest = read_manifest(directory)
    return [IndexedDataset(p) for p in manifest.prefixes(directory)]
