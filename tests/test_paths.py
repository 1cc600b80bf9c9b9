"""The one paths layer: the same calls on a local folder, a remote (fsspec memory://) one and an
S3-compatible server on 127.0.0.1 (moto); atomic writes; one-line remote errors."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
import uuid

import pytest

from corpus import docfiles, paths
from tests.s3_server import s3_bucket, s3_server  # noqa: F401 - pytest fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(params=["local", "memory", "s3"])
def root(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "root")
    if request.param == "s3":
        return request.getfixturevalue("s3_bucket") + "/root"
    return f"memory://test-{uuid.uuid4().hex}/root"


def test_write_list_read_delete(root):
    paths.write_atomically(paths.join(root, "a.txt"), b"alpha")
    paths.write_text_atomically(paths.join(root, "sub", "b.jsonl"), "beta")
    assert paths.is_dir(root) and paths.exists(paths.join(root, "a.txt"))
    assert paths.is_file(paths.join(root, "sub", "b.jsonl")) and not paths.is_file(root)
    listed = paths.list_files(root)
    assert [paths.basename(p) for p in listed] == ["a.txt", "b.jsonl"]
    assert [paths.basename(p) for p in paths.list_files(paths.join(root, "*.txt"))] == ["a.txt"]
    assert paths.read_text(listed[1]) == "beta" and paths.size(listed[0]) == 5
    assert not any(p.endswith(".tmp") for p in listed)  # the temporary name was renamed away
    assert paths.expand([root, listed[0]]) == listed  # each file once
    paths.delete(root)
    assert not paths.exists(paths.join(root, "a.txt"))
    paths.delete(root)  # a missing path is not an error


def test_replace_and_copy(root):
    paths.write_atomically(paths.join(root, "x"), b"old")
    paths.write_atomically(paths.join(root, "y"), b"new")
    paths.replace(paths.join(root, "y"), paths.join(root, "x"))
    assert paths.read_bytes(paths.join(root, "x")) == b"new" and not paths.exists(paths.join(root, "y"))
    paths.copy(paths.join(root, "x"), paths.join(root, "copy", "z"))
    assert paths.read_bytes(paths.join(root, "copy", "z")) == b"new"


def test_local_copy_is_a_local_file_cached_per_url(root):
    source = paths.join(root, "model.bin")
    paths.write_atomically(source, b"weights")
    local = paths.local_copy(source)
    assert os.path.isfile(local) and open(local, "rb").read() == b"weights"
    assert paths.local_copy(source) == local
    assert paths.is_remote(source) == (local != source)


def test_local_paths_and_file_urls():
    assert not paths.is_remote("/tmp/x") and not paths.is_remote("file:///tmp/x")
    assert paths.is_remote("s3://bucket/key") and paths.is_remote("gs://bucket/key")
    assert paths.local_path("file:///tmp/x") == "/tmp/x"
    assert paths.join("s3://b/dir/", "f.txt") == "s3://b/dir/f.txt"
    assert paths.parent("gs://b/dir/f.txt") == "gs://b/dir"


def test_atomic_writer_leaves_nothing_on_failure(root):
    """A failed write leaves neither the final name nor a temporary file (local) or object (remote)."""
    target = paths.join(root, "dir", "shard.bin")
    paths.write_atomically(paths.join(root, "dir", "keep"), b"k")
    with pytest.raises(RuntimeError):
        with paths.atomic_writer(target) as handle:
            handle.write(b"half a shard")
            raise RuntimeError("disk full")
    assert not paths.exists(target)
    assert [paths.basename(p) for p in paths.list_files(paths.join(root, "dir"))] == ["keep"]


def test_temp_names_are_unique_per_writer(tmp_path):
    """Two writers of one path never share a temporary file, so both finish and one wins whole."""
    assert paths.temp_name("x") != paths.temp_name("x") and paths.temp_name("x").endswith(".tmp")
    target = str(tmp_path / "same.bin")
    payloads = [bytes([i]) * 300_000 for i in range(8)]
    errors: list[BaseException] = []

    def write(payload: bytes) -> None:
        try:
            for _ in range(5):
                paths.write_atomically(target, payload)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and open(target, "rb").read() in payloads
    assert os.listdir(tmp_path) == ["same.bin"]


def test_s3_folder_inputs_and_document_scan(s3_bucket):
    """`--input s3://bucket/raw/` (a folder, with or without the slash) lists every object under it;
    the documents scan of a remote pipeline output reads `documents/` only."""
    out = f"{s3_bucket}/out/c4"
    line = b'{"id": "c4/1", "text": "t", "source": "c4", "added": "", "metadata": {}}\n'
    paths.write_atomically(f"{out}/documents/documents-00000-of-00001.jsonl.gz", gzip.compress(line, mtime=0))
    paths.write_atomically(f"{out}/rejected/short.jsonl.gz", gzip.compress(line, mtime=0))
    paths.write_text_atomically(f"{out}/stats.json", "{}")
    paths.write_atomically(f"{s3_bucket}/raw/a/x.json", b"{}")
    for folder in (f"{s3_bucket}/raw/", f"{s3_bucket}/raw"):
        assert paths.list_files(folder) == [f"{s3_bucket}/raw/a/x.json"]
    assert paths.list_files(f"{s3_bucket}/raw/*/*.json") == [f"{s3_bucket}/raw/a/x.json"]
    found = docfiles.scan_inputs([out + "/"])
    assert found.documents == [("c4", f"{out}/documents/documents-00000-of-00001.jsonl.gz")]
    assert found.ignored == [f"{out}/stats.json"]
    assert [d.id for d in docfiles.iter_directory(out)] == ["c4/1"]
    assert docfiles.default_inputs(f"{s3_bucket}/out") == [out]


def test_remote_errors_say_what_failed(s3_bucket, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no such key or bucket"):
        paths.read_bytes(f"{s3_bucket}/missing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    script = ("import sys; from corpus import paths\n"
              "try:\n    paths.list_files(sys.argv[1])\n"
              "except paths.StorageError as exc:\n    print(exc); sys.exit(3)\n")
    unreachable = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "PYTHONPATH": ROOT}
    no_credentials = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ACCESS_KEY_ID")
                      and not k.startswith("AWS_SECRET")}
    no_credentials.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, PYTHONPATH=ROOT)
    for env, expected in ((unreachable, "cannot reach the endpoint http://127.0.0.1:9"),
                          (no_credentials, "no usable credentials")):
        done = subprocess.run([sys.executable, "-c", script, f"{s3_bucket}/raw/"], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 3, done.stderr
        assert expected in done.stdout and done.stdout.count("\n") == 1
