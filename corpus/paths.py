"""One layer for every path the toolkit reads or writes: local, `gs://`, `s3://`, `memory://`, ...

Built on fsspec (the file-system layer of pandas, HF `datasets`, dask and pyarrow): local paths and
`file://` need nothing more, `s3://` needs `s3fs`, `gs://` needs `gcsfs` (the `aws`/`gcp` extras).
Everything above `corpus/` opens, lists, copies and writes through these functions, so a remote
path behaves like a local one everywhere, and `corpus/` never needs Beam's FileSystems.
"""
from __future__ import annotations

import builtins
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Sequence

import fsspec
from fsspec.core import url_to_fs

GLOB_CHARS = "*?["


def is_remote(path: str) -> bool:
    """True for URLs other than `file://` (they are read through an fsspec file system)."""
    return "://" in str(path) and not str(path).startswith("file://")


def local_path(path: str) -> str:
    """A local path without its `file://` scheme."""
    path = str(path)
    return path[len("file://"):] if path.startswith("file://") else path


def _fs(path: str) -> tuple[Any, str]:
    return url_to_fs(str(path))


def _url(fs: Any, path: str) -> str:
    """The full URL of a path an fsspec file system returned (it drops the scheme)."""
    return fs.unstrip_protocol(path)


def join(directory: str, *names: str) -> str:
    directory = str(directory)
    if is_remote(directory):
        return "/".join([directory.rstrip("/"), *[n.strip("/") for n in names]])
    return os.path.join(local_path(directory), *names)


def basename(path: str) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1]


def parent(path: str) -> str:
    path = str(path).rstrip("/")
    return path.rsplit("/", 1)[0] if is_remote(path) else os.path.dirname(path)


def _ask(path: str, local: Callable[[str], Any], remote: str) -> Any:
    """`local(path)` for a local path, else the fsspec file system's method named `remote`."""
    if not is_remote(path):
        return local(local_path(path))
    fs, p = _fs(path)
    return getattr(fs, remote)(p)


def exists(path: str) -> bool:
    return bool(_ask(path, os.path.exists, "exists"))


def is_dir(path: str) -> bool:
    return bool(_ask(path, os.path.isdir, "isdir"))


def is_file(path: str) -> bool:
    return bool(_ask(path, os.path.isfile, "isfile"))


def size(path: str) -> int:
    return int(_ask(path, os.path.getsize, "size"))


def has_glob(path: str) -> bool:
    return any(ch in str(path) for ch in GLOB_CHARS)


def list_files(path: str) -> list[str]:
    """Every file under a directory (recursively), or matching a glob, or the file itself; sorted.

    Symbolic links are not followed out of a local directory tree.
    """
    path = str(path)
    if not is_remote(path):
        return _list_local(local_path(path))
    fs, p = _fs(path)
    if has_glob(p):
        found = [f for f in fs.glob(p) if fs.isfile(f)]
    elif fs.isdir(p):
        found = list(fs.find(p))
    else:
        found = [p] if fs.exists(p) else []
    return sorted(_url(fs, f) for f in found)


def _list_local(path: str) -> list[str]:
    import glob

    if has_glob(path):
        return sorted(f for f in glob.glob(path, recursive=True) if os.path.isfile(f))
    if os.path.isdir(path):
        found = []
        for dirpath, _dirs, names in os.walk(path):
            found.extend(os.path.join(dirpath, name) for name in names)
        return sorted(f for f in found if os.path.isfile(f))
    return [path] if os.path.isfile(path) else []


def expand(patterns: Sequence[str]) -> list[str]:
    """All files of several paths/directories/globs, each once, sorted."""
    return sorted({f for pattern in patterns for f in list_files(pattern)})


def open(path: str, mode: str = "rb", **kwargs: Any) -> IO[Any]:  # noqa: A001 - mirrors builtins.open
    """Open a local or remote file as-is (no decompression: `corpus.fileio` sniffs that)."""
    if not is_remote(path):
        if "w" in mode or "a" in mode:
            os.makedirs(os.path.dirname(os.path.abspath(local_path(path))), exist_ok=True)
        return builtins.open(local_path(path), mode, **kwargs)
    return fsspec.open(str(path), mode, **kwargs).open()


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def read_text(path: str, encoding: str = "utf-8") -> str:
    return read_bytes(path).decode(encoding)


def makedirs(path: str) -> None:
    if not is_remote(path):
        os.makedirs(local_path(path), exist_ok=True)
        return
    fs, p = _fs(path)
    fs.makedirs(p, exist_ok=True)


def write_atomically(path: str, payload: bytes) -> None:
    """Write to a temporary name and rename, so a crash never leaves half a file under `path`."""
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(payload)
    replace(tmp, path)


def write_text_atomically(path: str, text: str) -> None:
    write_atomically(path, text.encode("utf-8"))


def replace(src: str, dst: str) -> None:
    """Move `src` over `dst` (atomic for local paths; copy-then-delete on object stores)."""
    if not is_remote(dst):
        os.replace(local_path(src), local_path(dst))
        return
    fs, p = _fs(dst)
    _, s = _fs(src)
    if fs.exists(p):
        fs.rm(p)
    fs.mv(s, p)


def delete(path: str) -> None:
    """Remove a file or a whole directory tree; a missing path is not an error."""
    if not is_remote(path):
        p = local_path(path)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.remove(p)
        return
    fs, p = _fs(path)
    if fs.exists(p):
        fs.rm(p, recursive=True)


def copy(src: str, dst: str) -> None:
    """Copy one file between any two locations, streaming in 1 MiB chunks."""
    with open(src, "rb") as reader, open(f"{dst}.tmp", "wb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)
    replace(f"{dst}.tmp", dst)


def local_copy(path: str) -> str:
    """A local file for `path` (for libraries that only open local files: fastText, KenLM,
    SentencePiece): the path itself when local, else one cached copy per worker, keyed by URL."""
    if not is_remote(path):
        return local_path(path)
    cache = Path(tempfile.gettempdir()) / "llama_corpus_cache" / hashlib.sha1(str(path).encode()).hexdigest()[:16]
    target = cache / basename(path)
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        copy(path, str(target))
    return str(target)

