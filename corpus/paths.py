"""One layer for every path the toolkit reads or writes: local, `gs://`, `s3://`, `memory://`, ...

Built on fsspec (the file-system layer of pandas, HF `datasets`, dask and pyarrow): local paths and
`file://` need nothing more, `s3://` needs `s3fs`, `gs://` needs `gcsfs` (the `aws`/`gcp` extras).
Everything above `corpus/` opens, lists, copies and writes through these functions, so a remote
path behaves like a local one everywhere, and `corpus/` never needs Beam's FileSystems.

An S3-compatible endpoint other than AWS (MinIO, Ceph, a test server) is named by the standard
`AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`) environment variable, which botocore (under s3fs)
reads itself. A remote failure is raised as one line that says what failed: the endpoint could not
be reached, credentials are missing or refused, or the key or bucket does not exist.
"""
from __future__ import annotations

import builtins
import hashlib
import os
import secrets
import shutil
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Sequence

from fsspec.core import url_to_fs

GLOB_CHARS = "*?["


def is_remote(path: str) -> bool:
    """True for URLs other than `file://` (they are read through an fsspec file system)."""
    return "://" in str(path) and not str(path).startswith("file://")


def local_path(path: str) -> str:
    """A local path without its `file://` scheme."""
    path = str(path)
    return path[len("file://"):] if path.startswith("file://") else path


class StorageError(OSError):
    """A remote storage operation failed for a reason other than a missing file."""


def _fs(path: str) -> tuple[Any, str]:
    return url_to_fs(str(path))


def endpoint(path: str) -> str:
    """The endpoint a remote path is served from, for messages."""
    if str(path).startswith(("s3://", "s3a://")):
        return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3 (default endpoint)"
    return str(path).split("://", 1)[0] + " default endpoint"


@contextmanager
def _remote_errors(path: str, action: str) -> Iterator[None]:
    """Turn a file system client's exception into one line naming the path, the action and the
    cause (unreachable endpoint, missing or refused credentials, missing key or bucket)."""
    try:
        yield
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{action} {path}: no such key or bucket ({exc})") from None
    except PermissionError as exc:
        raise StorageError(f"{action} {path}: access denied at {endpoint(path)}; check the credentials "
                           f"(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the cloud's login) ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - client libraries raise their own classes; name them
        kind = type(exc).__name__
        if isinstance(exc, StorageError):
            raise
        if "Credentials" in kind:
            cause = ("no usable credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile) "
                     "for s3://, or log in to the cloud's SDK")
        elif "Endpoint" in kind or "Connect" in kind or isinstance(exc, (ConnectionError, TimeoutError)):
            cause = f"cannot reach the endpoint {endpoint(path)} (set AWS_ENDPOINT_URL for an S3-compatible server)"
        else:
            raise
        raise StorageError(f"{action} {path}: {cause} [{kind}: {exc}]") from None


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
    with _remote_errors(path, remote):
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
    with _remote_errors(path, "list"):
        fs, p = _fs(path)
        if has_glob(p):
            found = [f for f, info in fs.glob(p, detail=True).items() if info.get("type") == "file"]
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
    with _remote_errors(path, "open"):
        fs, p = _fs(path)
        return fs.open(p, mode, **kwargs)


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def read_text(path: str, encoding: str = "utf-8") -> str:
    return read_bytes(path).decode(encoding)


def makedirs(path: str) -> None:
    if not is_remote(path):
        os.makedirs(local_path(path), exist_ok=True)
        return
    with _remote_errors(path, "make directory"):
        fs, p = _fs(path)
        fs.makedirs(p, exist_ok=True)


def temp_name(path: str) -> str:
    """A temporary name beside `path`, unique per writer (pid + random), ending in `.tmp` so that
    listings of finished files skip it: two writers of one path never share a temporary file."""
    return f"{path}.{os.getpid()}-{secrets.token_hex(4)}.tmp"


@contextmanager
def atomic_writer(path: str) -> Iterator[IO[bytes]]:
    """A binary handle whose bytes appear under `path` only when the block completes.

    Local: written to a `temp_name`, flushed, fsynced, closed (each checked: ENOSPC raises here),
    renamed over `path`; on any failure the temporary file is removed and nothing is renamed.
    Remote: spooled to a local temporary file and uploaded to the final key only once complete
    (object stores are atomic per PUT, a multipart upload per completion); a failure uploads nothing.
    """
    if is_remote(path):
        with tempfile.TemporaryFile() as spool:
            yield spool
            spool.flush()
            spool.seek(0)
            with _remote_errors(path, "write"):
                fs, p = _fs(path)
                handle = fs.open(p, "wb")
                try:
                    shutil.copyfileobj(spool, handle, 1 << 20)
                except BaseException:
                    _discard(handle)
                    raise
                handle.close()
        return
    final = local_path(path)
    os.makedirs(os.path.dirname(os.path.abspath(final)), exist_ok=True)
    tmp = temp_name(final)
    handle = builtins.open(tmp, "wb")
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(tmp, final)
    except BaseException:
        with suppress(OSError):
            handle.close()
        with suppress(OSError):
            os.remove(tmp)
        raise


def _discard(handle: Any) -> None:
    """Abandon a remote upload without committing it: fsspec's buffered files commit on close, so
    a half-sent object is aborted (`discard`) instead; a file without `discard` is left unclosed."""
    discard = getattr(handle, "discard", None)
    if discard is not None:
        with suppress(Exception):
            discard()


def write_atomically(path: str, payload: bytes) -> None:
    """Write `payload` so that `path` holds either its old content or all of `payload`, never part."""
    with atomic_writer(path) as handle:
        handle.write(payload)


def write_text_atomically(path: str, text: str) -> None:
    write_atomically(path, text.encode("utf-8"))


def replace(src: str, dst: str) -> None:
    """Move `src` over `dst` (atomic for local paths; copy-then-delete on object stores)."""
    if not is_remote(dst) and not is_remote(src):
        os.replace(local_path(src), local_path(dst))
        return
    if not is_remote(dst) or not is_remote(src):
        copy(src, dst)
        delete(src)
        return
    with _remote_errors(dst, "move to"):
        fs, p = _fs(dst)
        _, s = _fs(src)
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
    with _remote_errors(path, "delete"):
        fs, p = _fs(path)
        if fs.exists(p):
            fs.rm(p, recursive=True)


def copy(src: str, dst: str) -> None:
    """Copy one file between any two locations, streaming in 1 MiB chunks, atomically (see
    `atomic_writer`: `dst` is never seen half written)."""
    with open(src, "rb") as reader, atomic_writer(dst) as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)


_copies: dict[int, str] = {}  # process id -> that process's folder of local copies


def _copies_dir() -> Path:
    """This process's folder of local copies, removed when the process exits (atexit): a worker
    never leaves model copies behind, and two processes never share (or delete) one copy."""
    pid = os.getpid()
    if pid not in _copies:
        import atexit

        _copies[pid] = tempfile.mkdtemp(prefix="llama_corpus_copies_")
        atexit.register(shutil.rmtree, _copies[pid], True)
    return Path(_copies[pid])


def local_copy(path: str) -> str:
    """A local file for `path` (for libraries that only open local files: fastText, KenLM,
    SentencePiece): the path itself when local, else one copy per worker process, keyed by URL,
    removed when the process exits. A failed copy raises its own error (endpoint, key...)."""
    if not is_remote(path):
        return local_path(path)
    cache = _copies_dir() / hashlib.sha1(str(path).encode()).hexdigest()[:16]
    target = cache / basename(path)
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        copy(path, str(target))
    return str(target)

