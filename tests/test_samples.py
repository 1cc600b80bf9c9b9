"""Sample resolution and the one-time download: pinned digests, a cache re-verified before use,
paths confined to the cache. Served from a loopback HTTP server, file:// URLs or a fake opener."""
from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import os
import threading
from pathlib import Path

import pytest

from corpus import samples


def _serve(root: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "served"
    (root / "c4").mkdir(parents=True)
    (root / "c4" / "a.json").write_bytes(b'{"text": "hello", "url": "http://a"}\n')
    (root / "wikipedia").mkdir()
    (root / "wikipedia" / "b.xml").write_bytes(b"<mediawiki/>\n")
    return root


@pytest.fixture
def http_root(served):
    server = _serve(served)
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _entries(root: Path, tamper: bool = False) -> list[dict]:
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        digest = hashlib.sha256(data + (b"x" if tamper else b"")).hexdigest()
        files.append({"path": path.relative_to(root).as_posix(), "url": "https://example.invalid/x",
                      "size": len(data), "sha256": digest})
    return files


def _manifest(tmp_path: Path, files: list[dict]) -> Path:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": files}))
    return manifest


def test_fetch_manifest_downloads_and_verifies(tmp_path, http_root):
    root, base = http_root
    target = tmp_path / "cache"
    manifest = _manifest(tmp_path, _entries(root))
    got = samples.fetch_manifest(manifest, target, base_url=base)
    assert (got / "c4" / "a.json").read_bytes() == (root / "c4" / "a.json").read_bytes()
    assert samples.verify_cache(manifest, target) == []
    # A second fetch finds everything in place and downloads nothing (the server is gone).
    samples.fetch_manifest(manifest, target, base_url="http://127.0.0.1:9")


def test_file_urls_and_a_prefix_fetch_only_that_folder(tmp_path, served):
    target = tmp_path / "cache"
    samples.fetch_manifest(_manifest(tmp_path, _entries(served)), target, base_url=served.as_uri(),
                           prefix="wikipedia")
    assert (target / "wikipedia" / "b.xml").is_file() and not (target / "c4").exists()


def test_fetch_manifest_rejects_a_wrong_digest_and_leaves_nothing(tmp_path, http_root):
    root, base = http_root
    with pytest.raises(samples.ManifestError, match="sha256"):
        samples.fetch_manifest(_manifest(tmp_path, _entries(root, tamper=True)), tmp_path / "cache", base_url=base)
    assert not (tmp_path / "cache" / "c4" / "a.json").exists()
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.name != samples.STATE_FILE]


def test_a_download_larger_than_pinned_is_cut_and_refused(tmp_path):
    entry = {"path": "c4/x.json", "url": "https://example.invalid/x", "size": 3,
             "sha256": hashlib.sha256(b"abc").hexdigest()}
    read = []

    class Endless(io.RawIOBase):
        def readinto(self, buffer):
            read.append(len(buffer))
            buffer[:] = b"z" * len(buffer)
            return len(buffer)

    with pytest.raises(samples.ManifestError, match="size or sha256"):
        samples.fetch_manifest(_manifest(tmp_path, [entry]), tmp_path / "cache", opener=lambda url: Endless())
    assert len(read) == 1  # stopped at the first chunk past the pinned size


@pytest.mark.parametrize("field, value", [("size", None), ("sha256", None), ("sha256", "abc"), ("size", -1)])
def test_a_manifest_without_size_or_digest_is_refused(tmp_path, served, field, value):
    files = _entries(served)
    files[0][field] = value
    with pytest.raises(samples.ManifestError, match=f"no {field}"):
        samples.fetch_manifest(_manifest(tmp_path, files), tmp_path / "cache", base_url=served.as_uri())
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "c4/../../x", "c4//a", "a\\..\\b", ""])
def test_paths_are_confined_to_the_cache(tmp_path, served, path):
    files = _entries(served)
    files[0]["path"] = path
    with pytest.raises(samples.ManifestError, match="escapes the cache|not a relative path"):
        samples.fetch_manifest(_manifest(tmp_path, files), tmp_path / "cache", base_url=served.as_uri())
    assert not (tmp_path / "outside.txt").exists()


def test_a_symlink_in_the_cache_does_not_lead_out(tmp_path, served):
    target = tmp_path / "cache"
    target.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", target / "c4")
    with pytest.raises(samples.ManifestError, match="through a link"):
        samples.fetch_manifest(_manifest(tmp_path, _entries(served)), target, base_url=served.as_uri())
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_the_cache_is_reverified_before_use(tmp_path, served, monkeypatch):
    target = tmp_path / "cache"
    manifest = _manifest(tmp_path, _entries(served))
    samples.fetch_manifest(manifest, target, base_url=served.as_uri())
    cached = target / "c4" / "a.json"
    hashed = []
    real = samples._sha256
    monkeypatch.setattr(samples, "_sha256", lambda p: hashed.append(p.name) or real(p))
    assert samples.verify_cache(manifest, target) == [] and hashed == []  # unchanged: size only
    data = cached.read_bytes()
    cached.write_bytes(data[:-2] + b"X\n")  # same size, new content and mtime
    os.utime(cached, ns=(1, 1))
    assert samples.verify_cache(manifest, target) == ["c4/a.json"] and hashed == ["a.json"]
    cached.write_bytes(data[:-1])  # another size: refused without hashing
    hashed.clear()
    assert samples.verify_cache(manifest, target) == ["c4/a.json"] and hashed == []
    # The next fetch replaces exactly the bad file.
    samples.fetch_manifest(manifest, target, base_url=served.as_uri())
    assert cached.read_bytes() == data and samples.verify_cache(manifest, target) == []


def test_a_corrupt_cache_is_not_used(tmp_path, served, monkeypatch):
    monkeypatch.delenv(samples.ENV_VAR, raising=False)
    monkeypatch.setattr(samples, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(samples, "cache_dir", lambda: tmp_path / "cache")
    manifest = _manifest(tmp_path, _entries(served))
    monkeypatch.setattr(samples, "MANIFEST", manifest)
    samples.fetch_manifest(manifest, tmp_path / "cache", base_url=served.as_uri())
    assert samples.local_samples() == tmp_path / "cache"
    (tmp_path / "cache" / "c4" / "a.json").write_bytes(b"{}\n")
    assert samples.local_samples() is None
    assert samples.local_samples("wikipedia") == tmp_path / "cache"  # only the folder asked for


def test_environment_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(samples.ENV_VAR, str(tmp_path))
    assert samples.local_samples() == tmp_path
    monkeypatch.setenv(samples.ENV_VAR, str(tmp_path / "missing"))
    assert samples.local_samples() is None


def test_shipped_manifest_pins_every_file_and_names_every_sample_folder():
    entries = samples.load_manifest(samples.MANIFEST)  # refuses any entry without size or sha256
    folders = {entry["path"].split("/")[0] for entry in entries}
    for source, folder in samples.SAMPLE_FOLDERS.items():
        assert folder.split("/")[0] in folders, source


def test_shipped_manifest_matches_the_local_copies(request):
    """Where ../shared/data holds a file, its size and digest are the manifest's."""
    root = request.getfixturevalue("samples")  # the sample root, or skip
    checked = 0
    for entry in samples.load_manifest(samples.MANIFEST):
        path = root / entry["path"]
        if path.is_file():
            assert path.stat().st_size == entry["size"], entry["path"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], entry["path"]
            checked += 1
    assert checked > 0
