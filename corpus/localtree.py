"""Reading a local input tree without ever leaving it: containment, special files, odd names.

The GitHub source reads folders written by strangers (checkouts, site-packages). Their contents
name paths (RECORD entries, symbolic links) that may point anywhere, and the tree may hold FIFOs,
sockets or devices, whose `open()` blocks forever or never ends. Everything here checks with
`lstat`, resolves a path before trusting it, refuses any path whose real location is outside the
tree's root, and opens files with `O_NOFOLLOW | O_NONBLOCK`, checking `fstat` again on the open
descriptor, so a file swapped for a link or a FIFO between the check and the read is refused too.
Pure Python, local only (`corpus.paths` has no notion of "the same tree", so these use `os`).
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Optional

OUTSIDE_INPUT = "outside_input"
SPECIAL_FILE = "special_file"
UNREADABLE_DIR = "unreadable_dir"


def real_root(root: str) -> str:
    """The resolved root that containment is checked against."""
    return os.path.realpath(root)


def is_inside(root_real: str, path: str) -> bool:
    """Whether `path`, every link resolved, is `root_real` or below it (a path with a NUL is not)."""
    try:
        resolved = os.path.realpath(path)
    except (OSError, ValueError):
        return False
    return resolved == root_real or resolved.startswith(root_real.rstrip(os.sep) + os.sep)


def entry_problem(root_real: str, rel: str) -> Optional[str]:
    """Why a relative path named by the input (a RECORD entry) may not be read, or None.

    Absolute paths, `..` that climbs out and links that resolve out are `outside_input`; a FIFO,
    socket or device is `special_file`; a missing entry is `missing` (not an input fault: a
    RECORD lists files a later install removed).
    """
    if not rel or os.path.isabs(rel) or rel.startswith("\\") or (len(rel) > 1 and rel[1] == ":"):
        return OUTSIDE_INPUT
    full = os.path.join(root_real, rel)
    if not is_inside(root_real, os.path.normpath(full)) or not is_inside(root_real, full):
        return OUTSIDE_INPUT
    try:
        mode = os.stat(full).st_mode  # links inside the tree are resolved (and were checked above)
    except (OSError, ValueError):
        return "missing"
    if stat.S_ISDIR(mode):
        return "missing"
    return None if stat.S_ISREG(mode) else SPECIAL_FILE


@dataclass(frozen=True)
class Walk:
    """What a walk found: regular files (relative, `/`-separated, sorted) and what it skipped."""

    files: tuple[str, ...]
    faults: tuple[tuple[str, str], ...]  # (reason, relative path): outside_input, special_file, unreadable_dir
    symlinks_inside: int  # links that stay inside the tree: their target is read under its own name


def walk(root: str, skip_dirs: frozenset[str]) -> Walk:
    """Every regular file under `root`, iteratively (no recursion limit on deep trees), never
    following a link and never listing a special file."""
    root_real = real_root(root)
    files: list[str] = []
    faults: list[tuple[str, str]] = []
    inside_links = 0
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel_dir) if rel_dir else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            faults.append((UNREADABLE_DIR, rel_dir))
            continue
        subdirs = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                if entry.is_symlink():
                    if is_inside(root_real, entry.path):
                        inside_links += 1
                    else:
                        faults.append((OUTSIDE_INPUT, rel))
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name not in skip_dirs:
                        subdirs.append(rel)
                elif entry.is_file(follow_symlinks=False):
                    files.append(rel)
                else:
                    faults.append((SPECIAL_FILE, rel))
            except OSError:
                faults.append((SPECIAL_FILE, rel))
        stack.extend(reversed(subdirs))
    return Walk(tuple(sorted(files)), tuple(sorted(faults)), inside_links)


class NotRegular(OSError):
    """The path is a link, FIFO, socket or device (at open time), or lies outside the tree."""


def read_regular(root_real: str, path: str, limit: int) -> bytes:
    """At most `limit` bytes of a regular file inside the tree (NotRegular otherwise).

    `O_NOFOLLOW` refuses a final link, `O_NONBLOCK` keeps a FIFO from blocking the open, and the
    descriptor's own `fstat` decides, so a swap after the checks cannot lead elsewhere.
    """
    if not is_inside(root_real, path):
        raise NotRegular(f"{path}: outside the input")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno is not None and os.path.islink(path):
            raise NotRegular(f"{path}: a symbolic link") from exc
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegular(f"{path}: not a regular file")
        chunks = []
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def display_name(name: str) -> str:
    """A file or folder name as text that can be written: bytes that were not UTF-8 (held as
    surrogate escapes by `os`) shown as `\\xNN`, so names stay distinct and deterministic."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte: not from the file system
        return name.encode("utf-8", "backslashreplace").decode("ascii")
    return raw.decode("utf-8", "backslashreplace")
