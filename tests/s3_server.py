"""An S3-compatible server on 127.0.0.1 for tests: moto's standalone server in a subprocess.

    from tests.s3_server import s3_bucket, s3_server  # noqa: F401  (pytest fixtures)

    def test_x(s3_bucket):          # "s3://bucket-<hex>" with AWS_ENDPOINT_URL etc. set
        paths.write_atomically(f"{s3_bucket}/a", b"x")

`s3_server` (one per session) starts `moto_server -H 127.0.0.1 -p <free port>`; `s3_bucket` creates
a fresh bucket and sets the standard variables (`AWS_ENDPOINT_URL`, dummy `AWS_ACCESS_KEY_ID`/
`AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`) for this process and its children, as a user would
for MinIO. Tests skip when moto's server is not installed.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.test_engines import free_port, stop_process

REGION = "us-east-1"


def _moto_server() -> list[str]:
    beside = Path(sys.executable).with_name("moto_server")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("moto_server")
    if not found:
        pytest.skip("moto[server] is not installed (requirements-dev.txt)")
    return [found]


def _wait_for(port: int, proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"moto_server did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server that lives for the test session."""
    port = free_port()
    proc = subprocess.Popen([*_moto_server(), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def _clear_clients() -> None:
    """s3fs caches clients per argument set, not per environment: a new endpoint needs new ones."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`s3://<new bucket>` on the test server, with the AWS variables pointing at it."""
    pytest.importorskip("s3fs")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    _clear_clients()
    import s3fs

    name = f"bucket-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem().mkdir(name)
    yield f"s3://{name}"
    _clear_clients()
