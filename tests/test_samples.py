"""Sample resolution, and the one-time download path exercised against a loopback HTTP server."""
from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest

from corpus import samples


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "served"
    (root / "c4").mkdir(parents=True)
    (root / "c4" / "a.json").write_bytes(b'{"text": "hello", "url": "http://a"}\n')
    (root / "wikipedia").mkdir()
    (root / "wikipedia" / "b.xml").write_bytes(b"<mediawiki/>\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _manifest(tmp_path: Path, root: Path, tamper: bool = False) -> Path:
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            digest = hashlib.sha256(data + (b"x" if tamper else b"")).hexdigest()
            files.append({"path": str(path.relative_to(root)), "url": "https://example.invalid/x",
                          "size": len(data), "sha256": digest})
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": files}))
    return manifest


def test_fetch_manifest_downloads_and_verifies(tmp_path, http_root):
    root, base = http_root
    target = tmp_path / "cache"
    got = samples.fetch_manifest(_manifest(tmp_path, root), target, base_url=base)
    assert (got / "c4" / "a.json").read_bytes() == (root / "c4" / "a.json").read_bytes()
    assert (got / ".complete").exists()
    # A second fetch finds everything in place and downloads nothing (the server is gone).
    samples.fetch_manifest(_manifest(tmp_path, root), target, base_url="http://127.0.0.1:9")


def test_fetch_manifest_rejects_a_wrong_digest(tmp_path, http_root):
    root, base = http_root
    with pytest.raises(ValueError, match="sha256"):
        samples.fetch_manifest(_manifest(tmp_path, root, tamper=True), tmp_path / "cache", base_url=base)
    assert not (tmp_path / "cache" / "c4" / "a.json").exists()


def test_environment_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(samples.ENV_VAR, str(tmp_path))
    assert samples.local_samples() == tmp_path
    monkeypatch.setenv(samples.ENV_VAR, str(tmp_path / "missing"))
    assert samples.local_samples() is None


def test_shipped_manifest_names_every_sample_folder():
    spec = json.loads(samples.MANIFEST.read_text())
    folders = {entry["path"].split("/")[0] for entry in spec["files"]}
    for source, folder in samples.SAMPLE_FOLDERS.items():
        assert folder.split("/")[0] in folders, source
