"""Where the default sample inputs live, and fetching them once when they are nowhere local.

Resolution order: `$LLAMA_CORPUS_SAMPLES`, then `../shared/data` beside the checkout (or the
current directory), then a user cache filled from the public URLs in `samples/manifest.json`.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST = REPO_ROOT / "samples" / "manifest.json"
ENV_VAR = "LLAMA_CORPUS_SAMPLES"

# Sample sub-folder per source (GitHub's sample is the venv's own installed packages).
SAMPLE_FOLDERS = {
    "commoncrawl": "commoncrawl/wet",
    "c4": "c4",
    "wikipedia": "wikipedia",
    "books": "gutenberg",
    "arxiv": "arxiv",
    "stackexchange": "stackexchange",
}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "llama-corpus" / "samples"


def local_samples() -> Optional[Path]:
    """The sample root if one exists without downloading, else None."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env) if Path(env).is_dir() else None
    for candidate in (REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    cached = cache_dir()
    if (cached / ".complete").exists():
        return cached
    return None


def resolve_samples(download: bool = True) -> Optional[Path]:
    """The sample root, downloading the manifest's files into the cache if needed and allowed."""
    found = local_samples()
    if found is not None or not download:
        return found
    return fetch_manifest(MANIFEST, cache_dir())


def fetch_manifest(manifest: Path, target: Path, base_url: Optional[str] = None) -> Path:
    """Download every file of `manifest` into `target`, checking size and sha256 when given.

    `base_url` replaces each URL's scheme+host+path prefix by `base_url/<path>` (used by tests to
    serve a local folder over loopback HTTP, and by mirrors).
    """
    spec = json.loads(manifest.read_text())
    target.mkdir(parents=True, exist_ok=True)
    for entry in spec["files"]:
        dest = target / entry["path"]
        if dest.exists() and _matches(dest, entry):
            continue
        url = f"{base_url.rstrip('/')}/{entry['path']}" if base_url else entry["url"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        print(f"fetching {url}", file=sys.stderr)
        with urllib.request.urlopen(url, timeout=60) as response, tempfile.NamedTemporaryFile(
            dir=dest.parent, delete=False
        ) as tmp:
            while chunk := response.read(1 << 20):
                tmp.write(chunk)
        if not _matches(Path(tmp.name), entry):
            os.unlink(tmp.name)
            raise ValueError(f"{url}: size or sha256 differs from {manifest.name}")
        os.replace(tmp.name, dest)
    (target / ".complete").write_text("ok\n")
    return target


def _matches(path: Path, entry: dict) -> bool:
    if entry.get("size") is not None and path.stat().st_size != entry["size"]:
        return False
    if entry.get("sha256"):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return digest == entry["sha256"]
    return True


def default_input(source: str) -> str:
    """The default `--input` of a source pipeline."""
    if source == "github":
        return site_packages()
    root = resolve_samples()
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

    root = local_samples()
    if root is None or not (root / SAMPLE_FOLDERS[source]).exists():
        pytest.skip(f"no {source} samples: set ${ENV_VAR} or provide ../shared/data")
    return root / SAMPLE_FOLDERS[source]
