"""Opening inputs and naming what goes wrong with them.

Readers in `corpus/` take an already-open binary stream, so the same reader serves local files,
remote ones opened through `corpus.paths` (gs://, s3://, memory://) and tests. Compression is
detected from the leading bytes rather than the file name, because dumps are often renamed.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator, TypeVar, Union
from xml.etree.ElementTree import ParseError

from corpus import paths

T = TypeVar("T")

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


@dataclass(frozen=True)
class ReadError:
    """An input fault (not a document): counted as `error:<reason>` and never written."""

    reason: str
    path: str = ""
    detail: str = ""


def sniff_compression(head: bytes) -> str | None:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def open_decompressed(raw: BinaryIO) -> BinaryIO:
    """Wrap a raw stream in the right decompressor (gzip incl. multi-member, bz2, xz, zstd)."""
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    kind = sniff_compression(buffered.peek(8)[:8])  # type: ignore[union-attr]
    if kind == "gzip":
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    if kind == "bz2":
        return bz2.BZ2File(buffered, mode="rb")  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(buffered, mode="rb")  # type: ignore[return-value]
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)  # type: ignore[return-value]
    return buffered  # type: ignore[return-value]


def open_path(path: str) -> BinaryIO:
    """Open a local or remote path (through `corpus.paths`) and decompress it."""
    return open_decompressed(paths.open(path, "rb"))


def classify_error(exc: BaseException) -> str | None:
    """Map an exception raised while reading input to an error reason, or None if it is a bug."""
    if isinstance(exc, EOFError):
        return "truncated_input"
    if isinstance(exc, (zlib.error, lzma.LZMAError, gzip.BadGzipFile)):
        return "corrupt_compression"
    if isinstance(exc, UnicodeError):
        return "bad_encoding"
    if isinstance(exc, ParseError) or type(exc).__name__ in ("XMLSyntaxError", "ExpatError"):
        return "malformed_xml"
    if type(exc).__name__ in ("ZstdError",):
        return "corrupt_compression"
    if isinstance(exc, OSError) and "compressed" in str(exc).lower():
        return "corrupt_compression"
    return None


def guarded(items: Iterable[T], path: str = "") -> Iterator[Union[T, ReadError]]:
    """Yield items until the input breaks, then yield one ReadError naming why and stop.

    Whatever was read before the fault is kept: a truncated dump still yields its complete pages.
    Exceptions that are not input faults propagate, because they are bugs to fix, not data to skip.
    """
    try:
        yield from items
    except Exception as exc:  # noqa: BLE001 - classified below, re-raised if unknown
        reason = classify_error(exc)
        if reason is None:
            raise
        yield ReadError(reason, path, f"{type(exc).__name__}: {exc}")
