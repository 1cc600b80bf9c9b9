"""The whole chain with every input and output on object storage, byte for byte against local disk.

The samples are uploaded to a moto S3 server on 127.0.0.1 (`tests/s3_server.py`); then the chain
of scripts/demo.sh (wikipedia -> models -> commoncrawl -> c4 -> crossdedup -> tokenizer -> tokens
-> mixture -> report) runs twice at once, once with every path `s3://` and once on local disk, each
stage as a user would run it (`python -m ...`, the endpoint only in `AWS_ENDPOINT_URL`). Compared:
every document and rejected shard, the tokenizer, every token shard and manifest, every mixture
shard, sidecar and manifest (byte for byte; manifests that name their input directories with those
names masked), the ledgers' counts (stats.json without times, options and versions), the model
files, and that the report was written from the same numbers.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from corpus import paths
from tests.s3_server import s3_bucket, s3_server  # noqa: F401 - pytest fixtures

ROOT = Path(__file__).resolve().parents[1]
ADDED = "2026-01-01"
RAW = ("wikipedia", "commoncrawl/wet", "c4")
DOCUMENT_OUTPUTS = ("wikipedia", "commoncrawl", "c4", "dedup/commoncrawl", "dedup/c4", "dedup/wikipedia")


def stages(out: str, raw: str) -> list[tuple[str, list[str]]]:
    """The chain's commands (scripts/demo.sh, sized for the samples) for one root."""
    sources = [f"{out}/commoncrawl", f"{out}/c4", f"{out}/wikipedia"]
    return [
        ("wikipedia", ["pipelines.wikipedia", "--input", f"{raw}/wikipedia", "--output", f"{out}/wikipedia",
                       "--added", ADDED, "--verify_language"]),
        ("models", ["pipelines.models", "build", "--output", f"{out}/models", "--wikipedia", f"{out}/wikipedia",
                    "--commoncrawl", f"{raw}/commoncrawl/wet", "--allow_fallback", "--lm_max_documents", "100"]),
        ("commoncrawl", ["pipelines.commoncrawl", "--input", f"{raw}/commoncrawl/wet", "--output",
                         f"{out}/commoncrawl", "--models", f"{out}/models", "--added", ADDED]),
        ("c4", ["pipelines.c4", "--input", f"{raw}/c4/", "--output", f"{out}/c4", "--added", ADDED]),
        ("crossdedup", ["pipelines.crossdedup", "--input", *sources, "--output", f"{out}/dedup"]),
        ("tokenizer", ["tokenizer.train", "--input", *sources, "--output", f"{out}/tokenizer", "--vocab_size", "2000"]),
        ("tokens", ["tokenizer.encode", "--input", *sources, "--tokenizer", f"{out}/tokenizer/tokenizer.model",
                    "--output", f"{out}/tokens"]),
        ("mixture", ["mixture.sample", "--tokens", "200K", "--input", f"{out}/tokens", "--output", f"{out}/mixture",
                     "--renormalise", "--shard_tokens", "64K", "--workers", "2"]),
        ("report", ["mixture.report", "--root", out, "--models", f"{out}/models", "--out", f"{out}/report"]),
    ]


def run_chain(out: str, raw: str, env: dict) -> dict[str, float]:
    """Every stage in order; the first failure stops the chain naming the stage and its last lines."""
    times: dict[str, float] = {}
    for name, argv in stages(out, raw):
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=900)
        times[name] = round(time.monotonic() - start, 1)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-12:])
            raise AssertionError(f"stage {name} failed on {out} (exit {done.returncode}):\n{tail}")
    return times


def tree(root: str) -> dict[str, bytes]:
    """Every file under `root` (local or remote) by its relative path."""
    base = root.rstrip("/") + "/"
    return {path[len(base):]: paths.read_bytes(path) for path in paths.list_files(root)}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:\+00:00|Z| UTC)?")
DURATION = re.compile(rb"(seconds|elapsed|_s)(&quot;|\")(: ?)[0-9.]+")
# Digests of manifests that name their inputs' paths (a token manifest names its tokenizer file):
# they differ with the paths, and the bytes they identify are compared themselves.
PATH_DIGESTS = ("plan_digest", "manifest_sha256")


def masked(text: bytes, *roots: str) -> bytes:
    """A card, manifest or page with the chain's roots replaced by placeholders and its times and
    durations blanked: what must be equal between the local and the remote chain."""
    for i, root in enumerate(roots):
        text = text.replace(root.rstrip("/").encode(), b"<ROOT%d>" % i)
    return DURATION.sub(rb"\1\2\3<S>", TIMESTAMP.sub(b"<TIME>", text))


def _drop_digests(value):
    if isinstance(value, dict):
        return {k: _drop_digests(v) for k, v in value.items() if k not in PATH_DIGESTS}
    if isinstance(value, list):
        return [_drop_digests(v) for v in value]
    return value


def same_card(a: bytes, b: bytes) -> bool:
    """Equal once masked (`masked`); JSON also without the digests of path-naming manifests."""
    if a == b:
        return True
    try:
        return _drop_digests(json.loads(a)) == _drop_digests(json.loads(b))
    except ValueError:
        return False


def first_difference(a: bytes, b: bytes) -> str:
    """Where two text files part, for the failure message (nothing for binary files)."""
    if not a.isascii() and b"\0" in a[:4096]:
        return ""
    for line_a, line_b in zip(a.splitlines(), b.splitlines()):
        if line_a != line_b:
            return f"\n    local: {line_a[:160]!r}\n    s3:    {line_b[:160]!r}"
    return ""


def ledger(data: bytes) -> dict:
    stats = json.loads(data)
    return {k: stats.get(k) for k in ("source", "documents_in", "documents_written", "dropped", "errors", "info",
                                      "balanced")}


@pytest.mark.timeout(1800)
def test_chain_on_s3_matches_local_byte_for_byte(samples, s3_bucket, tmp_path):
    raw = f"{s3_bucket}/raw"
    for part in RAW:
        for f in sorted((samples / part).rglob("*")):
            if f.is_file():
                paths.copy(str(f), f"{raw}/{f.relative_to(samples).as_posix()}")
    local, remote = str(tmp_path / "local"), f"{s3_bucket}/chain"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    local_env = {k: v for k, v in env.items() if not k.startswith("AWS_ENDPOINT_URL")}
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(run_chain, local, str(samples), local_env), pool.submit(run_chain, remote, raw, env)]
        times = [r.result() for r in runs]
    print(f"stage seconds: local {times[0]}, s3 {times[1]}")
    left, right = tree(local), tree(remote)
    assert sorted(left) == sorted(right), set(left) ^ set(right)
    differing = []
    for name in sorted(left):
        a, b = left[name], right[name]
        if name.endswith("stats.json"):
            same = ledger(a) == ledger(b)
        elif name.endswith((".json", ".html")):
            # Cards, manifests, sidecars and the report name their inputs and times.
            same = same_card(masked(a, local, str(samples)), masked(b, remote, raw))
        else:
            same = a == b
        if not same:
            differing.append(f"{name}: {digest(a)} != {digest(b)}{first_difference(a, b)}")
    assert not differing, "\n".join(differing)
    for output in DOCUMENT_OUTPUTS:
        assert any(n.startswith(f"{output}/documents/") for n in left), f"{output} wrote no documents"
    assert json.loads(left["mixture/manifest.json"])["tokens"] > 0
