"""Where the default sample inputs live, and fetching them once when they are nowhere local.

Resolution order: `$LLAMA_CORPUS_SAMPLES`, then `../shared/data` beside the checkout (or the
current directory), then a user cache filled from the public URLs in `samples/manifest.json`.

The cache is trusted only as far as it verifies: every manifest entry must carry its `size` and
`sha256` (a manifest without them is refused), each path must stay inside the cache (no `..`, no
absolute path, no symlink out), and before the cache is used every file's size is checked and its
digest recomputed whenever its size or mtime changed since the last check (recorded in
`.verified.json` in the cache). A file that fails is fetched again; a download that does not match
is refused and nothing is left in its place.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
# In a checkout samples/manifest.json; in an installed package the copy setup.py puts beside it.
MANIFEST = next((p for p in (REPO_ROOT / "samples" / "manifest.json",
                             Path(__file__).resolve().parent / "data" / "samples_manifest.json") if p.is_file()),
                REPO_ROOT / "samples" / "manifest.json")
ENV_VAR = "LLAMA_CORPUS_SAMPLES"
STATE_FILE = ".verified.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20

# Sample sub-folder per source (GitHub's sample is the venv's own installed packages).
SAMPLE_FOLDERS = {
    "commoncrawl": "commoncrawl/wet",
    "c4": "c4",
    "wikipedia": "wikipedia",
    "books": "gutenberg",
    "arxiv": "arxiv",
    "stackexchange": "stackexchange",
}

Opener = Callable[[str], Any]  # url -> a readable response usable as a context manager


class ManifestError(ValueError):
    """A manifest entry the downloader refuses (no digest, a path outside the cache, ...)."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "llama-corpus" / "samples"


def load_manifest(manifest: Path, prefix: str = "") -> list[dict]:
    """The entries of `manifest` (those under `prefix` when given), each checked: a relative
    path without `..`, an integer size and a sha256. Raises ManifestError naming every fault."""
    entries = json.loads(manifest.read_text())["files"]
    faults = []
    for entry in entries:
        path = entry.get("path")
        try:
            confined(Path("/cache"), path)
        except ManifestError as exc:
            faults.append(str(exc))
        size, digest = entry.get("size"), entry.get("sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            faults.append(f"{path}: no size")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            faults.append(f"{path}: no sha256")
    if faults:
        raise ManifestError(f"{manifest}: " + "; ".join(faults))
    return [e for e in entries if not prefix or e["path"] == prefix or e["path"].startswith(prefix.rstrip("/") + "/")]


def confined(root: Path, path: object) -> Path:
    """`root / path`, refused unless `path` is a plain relative path that stays under `root`
    (also through symlinks already in `root`)."""
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        raise ManifestError(f"{path!r}: not a relative path")
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part in ("..", "") for part in path.split("/")):
        raise ManifestError(f"{path!r}: escapes the cache (absolute or '..')")
    dest = root / pure
    real_root = root.resolve()
    if not dest.resolve().is_relative_to(real_root):
        raise ManifestError(f"{path!r}: escapes the cache through a link")
    return dest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _load_state(target: Path) -> dict:
    try:
        state = json.loads((target / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _save_state(target: Path, state: dict) -> None:
    tmp = target / f"{STATE_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, target / STATE_FILE)


def _verified(dest: Path, entry: dict, state: dict) -> bool:
    """Whether `dest` is the entry's file: its size always; its digest unless the state says it
    was checked at this size and mtime (then updated in `state`)."""
    try:
        stat = dest.stat()
    except OSError:
        return False
    if not dest.is_file() or stat.st_size != entry["size"]:
        return False
    seen = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": entry["sha256"]}
    if state.get(entry["path"]) == seen:
        return True
    if _sha256(dest) != entry["sha256"]:
        return False
    state[entry["path"]] = seen
    return True


def verify_cache(manifest: Path, target: Path, prefix: str = "") -> list[str]:
    """The manifest paths (under `prefix`) whose cached file is missing or differs; [] = usable."""
    entries = load_manifest(manifest, prefix)
    state = _load_state(target)
    before = dict(state)
    bad = [e["path"] for e in entries if not _verified(confined(target, e["path"]), e, state)]
    if state != before and target.is_dir():
        _save_state(target, state)
    return bad


def fetch_manifest(manifest: Path, target: Path, base_url: Optional[str] = None, prefix: str = "",
                   opener: Opener = lambda url: urllib.request.urlopen(url, timeout=60)) -> Path:
    """Download every file of `manifest` (under `prefix`) that the cache lacks or that fails
    verification, refusing any whose size or sha256 differs. Returns `target`.

    `base_url` replaces each URL by `base_url/<path>` (tests serve a local folder; mirrors).
    """
    entries = load_manifest(manifest, prefix)
    target.mkdir(parents=True, exist_ok=True)
    state = _load_state(target)
    for entry in entries:
        dest = confined(target, entry["path"])
        if _verified(dest, entry, state):
            continue
        url = f"{base_url.rstrip('/')}/{entry['path']}" if base_url else entry["url"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        print(f"fetching {url}", file=sys.stderr)
        _download(opener, url, dest, entry, manifest.name)
        state[entry["path"]] = {"size": entry["size"], "mtime_ns": dest.stat().st_mtime_ns,
                                "sha256": entry["sha256"]}
    _save_state(target, state)
    return target


def _download(opener: Opener, url: str, dest: Path, entry: dict, manifest_name: str) -> None:
    """Stream `url` into a temporary file beside `dest`, hashing as it goes; stop as soon as it
    is larger than the entry says; move it into place only when size and digest match."""
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with opener(url) as response, os.fdopen(fd, "wb") as out:
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > entry["size"]:
                    break
                digest.update(chunk)
                out.write(chunk)
        if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
            raise ManifestError(f"{url}: size or sha256 differs from {manifest_name} (got {size} bytes)")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def local_samples(folder: str = "") -> Optional[Path]:
    """The sample root if one exists without downloading, else None. The user cache counts only
    when every manifest file (under `folder`) in it verifies."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env) if Path(env).is_dir() else None
    for candidate in (REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    cached = cache_dir()
    if cached.is_dir() and not verify_cache(MANIFEST, cached, folder):
        return cached
    return None


def resolve_samples(download: bool = True, folder: str = "") -> Optional[Path]:
    """The sample root, downloading the manifest's files (under `folder`) into the cache if needed
    and allowed."""
    found = local_samples(folder)
    if found is not None or not download:
        return found
    return fetch_manifest(MANIFEST, cache_dir(), prefix=folder)


def default_input(source: str) -> str:
    """The default `--input` of a source pipeline."""
    if source == "github":
        return site_packages()
    root = resolve_samples(folder=SAMPLE_FOLDERS[source])
    if root is None:
        raise SystemExit(f"no samples found: set ${ENV_VAR} or pass --input")
    return str(root / SAMPLE_FOLDERS[source])


def site_packages() -> str:
    """The running environment's site-packages: real, licensed source code for the GitHub sample."""
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def require_samples(source: str) -> Path:
    """For tests: the sample folder of `source`, or skip the test with a reason."""
    import pytest

    root = local_samples(SAMPLE_FOLDERS[source])
    if root is None or not (root / SAMPLE_FOLDERS[source]).exists():
        pytest.skip(f"no {source} samples: set ${ENV_VAR} or provide ../shared/data")
    return root / SAMPLE_FOLDERS[source]
