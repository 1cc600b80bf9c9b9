"""Opening inputs and naming what goes wrong with them.

Readers in `corpus/` take an already-open binary stream, so the same reader serves local files,
remote ones opened through `corpus.paths` (gs://, s3://, memory://) and tests. Compression is
detected from the leading bytes rather than the file name, because dumps are often renamed.

Every decompressor (gzip, bz2, xz, zstd) sits behind one buffered reader, so each supports
`readline(limit)` and `peek` (zstandard's own reader has neither) and each fails the same way: a
stream the decompressor refuses raises `CorruptCompression`, a stream that stops early `EOFError`.
`classify_error` turns those into `error:corrupt_compression` / `error:truncated_input`.

Readers bound what they hold: `read_lines` yields lines of at most `max_bytes` and skips the rest
of a longer one (counted as `line_too_long`), so one enormous line inside a small bz2 costs its
decompression time, never its size in memory. `loads_strict` parses one JSON value with the
faults of hostile input (5,000-digit integers, deep nesting, NaN/Infinity) as `BadJson` or as
removed values, never as a crash or non-strict JSON in the output.
"""
from __future__ import annotations

import bz2
import codecs
import gzip
import io
import json
import lzma
import math
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterable, Iterator, TypeVar, Union
from xml.etree.ElementTree import ParseError

from corpus import paths

T = TypeVar("T")

MIB = 1 << 20
_BUFFER = 1 << 16

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


class CorruptCompression(Exception):
    """The decompressor refused the stream (random bytes behind a magic number, a flipped bit)."""


class BadJson(ValueError):
    """A JSON value this reader refuses: malformed, too deeply nested or a number too long."""


def sniff_compression(head: bytes) -> str | None:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def _decompressor_errors() -> tuple[type[BaseException], ...]:
    import zstandard

    return (zlib.error, lzma.LZMAError, gzip.BadGzipFile, zstandard.ZstdError)


class _Decompressing(io.RawIOBase):
    """A decompressing reader as a raw stream whose only faults are `CorruptCompression` and
    `EOFError`. bz2 signals bad data with a bare `OSError` (no errno), unlike a real I/O error."""

    def __init__(self, inner: Any, source: BinaryIO, kind: str):
        super().__init__()
        self._inner, self._source, self._kind = inner, source, kind
        self._errors = _decompressor_errors()
        # read1: what one step of decompression gives, so bytes before a break still come out.
        self._read = getattr(inner, "read1", inner.read)

    def readable(self) -> bool:
        return True

    @property
    def mtime(self) -> Any:
        """The gzip header's mtime once read (the arXiv reader dates a gzipped .tex by it), else None."""
        return getattr(self._inner, "mtime", None)

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._read(len(buffer))
        except self._errors as exc:
            raise CorruptCompression(f"{self._kind}: {type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            if exc.errno is not None:
                raise
            raise CorruptCompression(f"{self._kind}: {exc}") from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                self._source.close()
        super().close()


def open_decompressed(raw: BinaryIO) -> BinaryIO:
    """Wrap a raw stream in the right decompressor (gzip incl. multi-member, bz2, xz, zstd incl.
    multi-frame); the result is buffered (`peek`, `readline(limit)`) whatever the format."""
    buffered = buffered_stream(raw)
    kind = sniff_compression(buffered.peek(8)[:8])  # type: ignore[union-attr]
    if kind is None:
        return buffered
    if kind == "gzip":
        inner: Any = gzip.GzipFile(fileobj=buffered, mode="rb")
    elif kind == "bz2":
        inner = bz2.BZ2File(buffered, mode="rb")
    elif kind == "xz":
        inner = lzma.LZMAFile(buffered, mode="rb")
    else:
        import zstandard

        inner = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
    return io.BufferedReader(_Decompressing(inner, buffered, kind), buffer_size=_BUFFER)  # type: ignore[return-value]


def buffered_stream(stream: BinaryIO) -> BinaryIO:
    """`stream` itself when it can `peek`, else a buffered view of it (BytesIO in tests)."""
    if hasattr(stream, "peek"):
        return stream
    return io.BufferedReader(stream, buffer_size=_BUFFER)  # type: ignore[arg-type,return-value]


def is_empty(stream: BinaryIO) -> bool:
    """Whether a buffered, decompressed stream holds no byte at all (0 bytes, or an empty gzip)."""
    return not stream.peek(1)  # type: ignore[attr-defined]


def open_path(path: str) -> BinaryIO:
    """Open a local or remote path (through `corpus.paths`) and decompress it."""
    return open_decompressed(paths.open(path, "rb"))


def classify_error(exc: BaseException) -> str | None:
    """Map an exception raised while reading input to an error reason, or None if it is a bug."""
    if isinstance(exc, EOFError):
        return "truncated_input"
    if isinstance(exc, CorruptCompression) or isinstance(exc, (zlib.error, lzma.LZMAError, gzip.BadGzipFile)):
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


# --------------------------------------------------------------------------------------------
# Bounded lines and strict JSON
# --------------------------------------------------------------------------------------------
def mib(value: float) -> int:
    """A `--max_*_mb` flag value in bytes (at least 1)."""
    return max(1, int(value * MIB))


def skip_line(stream: BinaryIO) -> None:
    """Read on, in bounded pieces, past the end of the current line."""
    while True:
        piece = stream.readline(MIB)
        if not piece or piece.endswith(b"\n"):
            return


def read_lines(stream: BinaryIO, max_bytes: int, path: str = "") -> Iterator[tuple[int, bytes] | ReadError]:
    """(line number, line bytes) for every line of at most `max_bytes` (newline included); a
    longer line is skipped without being held and comes out as a `line_too_long` ReadError."""
    number = 0
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        number += 1
        if len(line) > max_bytes:
            if not line.endswith(b"\n"):
                skip_line(stream)
            yield ReadError("line_too_long", path, f"line {number}: over {max_bytes} bytes")
            continue
        yield number, line


def json_lines(stream: BinaryIO, max_bytes: int, path: str = "") -> Iterator[tuple[int, Any, int] | ReadError]:
    """(line number, JSON value, NaN/Infinity values removed) for every non-blank line of a JSON
    lines file, each bounded by `read_lines` and parsed on its own by `loads_strict` (a UTF-8 BOM
    on the first line is dropped); a faulty line is a ReadError (`line_too_long`, `bad_encoding`,
    `malformed_json`) and the rest of the file goes on."""
    for item in read_lines(stream, max_bytes, path):
        if isinstance(item, ReadError):
            yield item
            continue
        number, raw = item
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        if not raw.strip():
            continue
        try:
            value, removed = loads_strict(raw)
        except UnicodeDecodeError as exc:
            yield ReadError("bad_encoding", path, f"line {number}: {exc}")
            continue
        except BadJson as exc:
            yield ReadError("malformed_json", path, f"line {number}: {exc}")
            continue
        yield number, value, removed


class _NonFinite:
    """Stands for a NaN/Infinity while parsing; removed before the value leaves `loads_strict`."""


_NONFINITE = _NonFinite()


def _parse_float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NONFINITE  # 1e999 parses to inf


def loads_strict(text: Union[str, bytes]) -> tuple[Any, int]:
    """(the JSON value of `text`, how many NaN/Infinity values were removed from it).

    Bytes must be UTF-8 (else UnicodeDecodeError). Raises `BadJson` for malformed JSON, nesting
    deeper than the interpreter's recursion limit and integers over Python's 4,300 digits. A
    non-finite number is removed with its key (objects) or its slot (arrays): strict JSON out.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        value = json.loads(text, parse_constant=lambda _: _NONFINITE, parse_float=_parse_float)
    except RecursionError as exc:
        raise BadJson("nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, or "Exceeds the limit (4300 digits)"
        raise BadJson(str(exc)[:200]) from exc
    return _drop_nonfinite(value)


def _drop_nonfinite(value: Any) -> tuple[Any, int]:
    """Remove every `_NONFINITE` from a parsed value, iteratively (the value may be deep)."""
    if value is _NONFINITE:
        return None, 1
    removed = 0
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            bad = [k for k, v in node.items() if v is _NONFINITE]
            for key in bad:
                del node[key]
            removed += len(bad)
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            kept = [v for v in node if v is not _NONFINITE]
            removed += len(node) - len(kept)
            node[:] = kept
            stack.extend(v for v in kept if isinstance(v, (dict, list)))
    return value, removed
