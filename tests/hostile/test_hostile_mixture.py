"""Faults around token shards: corrupt or out-of-vocabulary inputs, a full disk, two samplers into
one OUTPUT, kill -9 of the sampler. Each must be named or survived, never consumed silently."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from corpus import shards as shardlib
from tests.hostile.harness import ROOT, run_capped
from tests.test_mixture import SIZES, digests, make_series
from trainer.data import TokenStream

psutil = pytest.importorskip("psutil")


@pytest.fixture()
def tokens(tmp_path) -> Path:
    root = tmp_path / "tokens"
    for seed, (source, n) in enumerate(SIZES.items()):
        make_series(root, source, n, seed)
    return root


def sample_args(tokens: Path, out: Path, *extra: str, total: str = "20K") -> list[str]:
    return ["--tokens", total, "--input", str(tokens), "--output", str(out), "--shard_tokens", "4K", *extra]


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.timeout(120)
def test_corrupt_inputs_are_named(tokens, tmp_path):
    """One flipped byte in a `.bin` is refused by the sampler naming the file (exit 2, nothing
    written), accepted with --no_verify; a flipped `.idx` pointer is refused even then."""
    c4 = tokens / "c4" / "c4_00000.bin"
    flip(c4, 10)
    outcome = run_capped("mixture.sample", sample_args(tokens, tmp_path / "a", "--workers", "1"), case="flipped_bin",
                         timeout_s=60)
    assert outcome.returncode == 2 and f"{c4}: sha256 differs" in outcome.stderr, outcome.stderr
    assert not (tmp_path / "a" / "manifest.json").exists() and not list((tmp_path / "a").glob("*.bin"))
    with pytest.raises(shardlib.ShardError, match="c4_00000.bin: sha256 differs"):
        shardlib.verify_series(tokens / "c4")
    ok = run_capped("mixture.sample", sample_args(tokens, tmp_path / "b", "--workers", "1", "--no_verify"),
                    case="flipped_bin_no_verify", timeout_s=60)
    assert ok.returncode == 0 and (tmp_path / "b" / "manifest.json").exists(), ok.stderr
    flip(c4, 10)  # restored
    idx = tokens / "books" / "books_00000.idx"
    flip(idx, 34 + 4 * 6 + 8 * 2)  # the low byte of the third byte pointer
    for extra in ((), ("--no_verify",)):
        bad = run_capped("mixture.sample", sample_args(tokens, tmp_path / "c", "--workers", "1", *extra),
                         case="flipped_idx_pointer", timeout_s=60)
        assert bad.returncode == 2 and f"{idx}: byte pointers do not follow" in bad.stderr, bad.stderr


@pytest.mark.timeout(60)
def test_trainer_names_corrupt_and_out_of_vocabulary_shards(tmp_path):
    """The trainer's data: a changed `.bin` is named by its checksum; a token id beyond the
    vocabulary (an honest manifest that lies about vocab_size) is named with the shard, whether
    found by the verification pass or, with verify off, by the window read."""
    data = tmp_path / "mix"
    docs = [np.arange(50) % 90, np.full(40, 95)]
    shards = shardlib.write_documents(data, "mixture", docs, vocab_size=100, max_tokens_per_shard=60)
    shardlib.write_manifest(data, shardlib.Manifest.build("mixture", shards, 90, "f" * 64, dtype="uint16"))
    with pytest.raises(shardlib.ShardError, match=r"mixture_00001\.bin: token id 95 is out of the vocabulary"):
        TokenStream(data)
    stream = TokenStream(data, verify=False)
    assert stream.read(0, 50).max() == 49
    with pytest.raises(shardlib.ShardError, match=r"mixture_00001\.bin: token id 95 at token 0"):
        stream.read(45, 10)
    flip(data / "mixture_00000.bin", 3)
    with pytest.raises(shardlib.ShardError, match=r"mixture_00000\.bin: sha256 differs"):
        TokenStream(data)


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return done.returncode == 0


@pytest.mark.timeout(180)
def test_disk_full_exits_nonzero_and_leaves_nothing_finished_looking(tokens, tmp_path, monkeypatch):
    """ENOSPC mid-run (a 64 KiB tmpfs; the plan needs ~150 KB, the free-space check is told there is
    room): exit 1 with one line, no manifest, no temporary file, and every shard left under a final
    name is complete and verified by its sidecar, so a rerun on a larger disk resumes from it."""
    disk = tmp_path / "small"
    if not _mount_tmpfs(disk, "64k"):
        pytest.skip("needs root to mount a small tmpfs (a real ENOSPC)")
    try:
        out = disk / "mix"
        # The free-space check would refuse up front: it is asked to believe in 1 TB.
        shim = ("import sys; from mixture import sample; sample.disk_free = lambda path: 10**12; "
                "sys.exit(sample.main(sys.argv[1:]))")
        argv = [sys.executable, "-c", shim, *sample_args(tokens, out, "--workers", "2", total="60K")]
        done = subprocess.run(argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 1, done.stderr
        assert "No space left on device" in done.stderr and "no manifest written" in done.stderr
        assert not (out / "manifest.json").exists()
        assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
        for shard in out.glob("mixture_*.bin"):
            sidecar = Path(str(shard)[:-4] + ".json")
            assert sidecar.exists(), f"{shard.name} has no sidecar"
            info = json.loads(sidecar.read_text())
            assert shardlib.sha256_file(shard) == info["sha256"]
        resumed = tmp_path / "big"
        shutil.copytree(out, resumed)
        ok = subprocess.run([sys.executable, "-m", "mixture.sample", *sample_args(tokens, resumed, total="60K")],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                            timeout=120)
        assert ok.returncode == 0 and shardlib.verify_series(resumed).documents > 0, ok.stderr
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


@pytest.mark.timeout(180)
def test_two_samplers_into_one_output_both_finish(tokens, tmp_path):
    """Unique temporary names per writer: two runs at once into one OUTPUT both succeed and leave
    the same bytes as one run alone."""
    ref = tmp_path / "ref"
    assert run_capped("mixture.sample", sample_args(tokens, ref, "--workers", "1"), timeout_s=60).returncode == 0
    shared = tmp_path / "shared"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "mixture.sample", *sample_args(tokens, shared, "--workers", "2")]
    procs = [subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]
    assert [rc for rc, _ in results] == [0, 0], results
    assert digests(shared) == digests(ref)


@pytest.mark.timeout(120)
def test_kill_9_of_the_sampler_takes_its_workers(tokens, tmp_path):
    """kill -9 of `mixture.sample` mid-run: its worker processes are gone within 5 s."""
    out = tmp_path / f"mix-{uuid.uuid4().hex[:6]}"
    argv = [sys.executable, "-m", "mixture.sample", *sample_args(tokens, out, "--workers", "2", total="40M")]
    proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        workers: list = []
        while time.monotonic() < deadline and proc.poll() is None:
            workers = [c for c in parent.children() if "spawn_main" in " ".join(c.cmdline())]
            if len(workers) == 2 and list(out.glob("mixture_*.json")):
                break
            time.sleep(0.1)
        assert len(workers) == 2 and proc.poll() is None, "the run ended before its workers could be seen"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        gone, alive = psutil.wait_procs(workers, timeout=5)
        assert not alive, f"workers still alive 5 s after kill -9 of the sampler: {[p.pid for p in alive]}"
    finally:
        for worker in workers:  # only if the test failed: leave no orphan behind
            if worker.is_running():
                worker.kill()
        if proc.poll() is None:
            proc.kill()
