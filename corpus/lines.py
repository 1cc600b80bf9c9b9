"""A file-like view of a stream that holds no line longer than a limit (pure Python, no Beam).

A small compressed file can decompress to one enormous line; `corpus.fileio.read_lines` reads
past such a line without holding it, and `BoundedLines` puts that in front of a parser that
wants a file (expat), counting what it skipped.
"""
from __future__ import annotations

from typing import BinaryIO

from corpus.fileio import ReadError, read_lines


class BoundedLines:
    """A file-like view of a stream that hands its reader whole lines and skips any line longer
    than `limit` (counted in `skipped`) without holding it.

    For XML written one record per line (StackExchange's `<row .../>`s; newlines inside values
    are `&#xA;`). Whole lines also keep expat linear: fed a huge attribute in 16 KB pieces, expat
    2.5 rescans the unfinished token on every piece (a 16 MB attribute took 24 s).
    """

    def __init__(self, stream: BinaryIO, limit: int):
        self._lines = read_lines(stream, limit)
        self.skipped = 0

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        total = 0
        for item in self._lines:
            if isinstance(item, ReadError):
                self.skipped += 1
                continue
            line = item[1]
            parts.append(line)
            total += len(line)
            if size is not None and 0 <= size <= total:
                break
        return b"".join(parts)
