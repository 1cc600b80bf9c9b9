"""The one paths layer: the same calls on a local folder and on a remote (fsspec memory://) one."""
from __future__ import annotations

import os
import uuid

import pytest

from corpus import paths


@pytest.fixture(params=["local", "remote"])
def root(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "root")
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
