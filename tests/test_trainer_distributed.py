"""Reference trainer under torchrun: 2 CPU processes (gloo on 127.0.0.1) against one process.

Parity tolerance: the 2-rank loss curves must equal the single-process curve at the same global
batch within PARITY_ATOL = 2e-5 per step (the log keeps 6 decimals; on this tiny model the curves
agree to that rounding: FSDP2 and DDP reduce the same float32 gradients in a different order), and
the final weights within WEIGHTS_ATOL = 1e-5.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.test_trainer import data, losses, train_args  # noqa: F401 (the `data` fixture)
from trainer import checkpoint
from trainer import train as trainer
from trainer.model import LLaMA, ModelConfig, param_groups

pytestmark = pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="torch without gloo")

ROOT = Path(__file__).resolve().parents[1]
PARITY_ATOL = 2e-5
WEIGHTS_ATOL = 1e-5
STEPS = ["--steps", "12", "--grad_accum", "2"]  # 12 steps of 2 micro-batches of 8 windows of 32 tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args: list[str], nproc: int = 2, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    if "GLOO_SOCKET_IFNAME" not in environment and Path("/sys/class/net/lo").exists():
        environment["GLOO_SOCKET_IFNAME"] = "lo"  # loopback: no dependence on the host name resolving
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", "trainer.train", *args]
    return subprocess.run(cmd, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=180)


def log_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def assert_same_curve(got: list[float], want: list[float]) -> None:
    assert len(got) == len(want)
    assert max(abs(a - b) for a, b in zip(got, want)) <= PARITY_ATOL, (got, want)


def final_weights(out: Path) -> dict[str, torch.Tensor]:
    """The latest checkpoint of either kind, loaded into one plain model."""
    found = checkpoint.find(out)
    meta = checkpoint.read_meta(found)
    model = LLaMA(ModelConfig(**meta["config"]))
    checkpoint.load(found, model, torch.optim.AdamW(param_groups(model, 0.1)), torch.device("cpu"))
    return model.state_dict()


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory) -> tuple[list[float], dict[str, torch.Tensor]]:
    """The single-process curve and final weights."""
    out = tmp_path_factory.mktemp("one_process")
    assert trainer.main(train_args(data, out, *STEPS)) == 0
    return losses(out), final_weights(out)


@pytest.mark.parametrize("parallel", ["fsdp", "ddp"])
def test_two_ranks_match_one_process(data, tmp_path, reference, parallel):
    out = tmp_path / parallel
    done = torchrun(train_args(data, out, *STEPS, "--parallel", parallel))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = log_rows(out)
    assert_same_curve([r["loss"] for r in rows], reference[0])
    assert [r["step"] for r in rows] == list(range(1, 13)) and {r["world_size"] for r in rows} == {2}
    assert rows[-1]["tokens"] == 12 * 2 * 8 * 32
    assert rows[-1]["tokens_per_s_per_rank"] == pytest.approx(rows[-1]["tokens_per_s"] / 2, abs=0.1)
    # Rank 0 alone prints and logs: each step's line once.
    assert sum(line.startswith("step ") for line in done.stdout.splitlines()) == 12
    # A sharded checkpoint (no single file), and it holds the single process's weights.
    assert (out / "checkpoint" / "latest").read_text().strip() == "step_00000012"
    assert not (out / "checkpoint.pt").exists()
    weights, want = final_weights(out), reference[1]
    assert max((weights[k] - want[k]).abs().max().item() for k in want) <= WEIGHTS_ATOL


def test_file_to_two_ranks_killed_then_one_rank_continues(data, tmp_path, reference):
    """1 process (single file, step 2) -> 2 ranks FSDP (sharded at step 4, SIGKILLed after step 6)
    -> 1 process resumes from the sharded step 4 and finishes: one curve, the uninterrupted one."""
    out = tmp_path / "run"
    assert trainer.main(train_args(data, out, *STEPS, "--stop_after", "2")) == 0
    killed = torchrun(train_args(data, out, *STEPS, "--ckpt_every", "4"), **{trainer.KILL_AT_STEP: "6"})
    assert killed.returncode != 0
    assert "resumed from" in killed.stderr and "checkpoint.pt at step 2" in killed.stderr
    assert [r["step"] for r in log_rows(out)] == list(range(1, 7))  # logged past the last checkpoint
    assert (out / "checkpoint" / "latest").read_text().strip() == "step_00000004"
    assert not (out / "checkpoint.pt").exists()  # the older kind goes once a newer one is written

    assert trainer.main(train_args(data, out, *STEPS)) == 0  # picks the later (sharded) checkpoint
    rows = log_rows(out)
    assert [r["step"] for r in rows] == list(range(1, 13))
    assert [r["world_size"] for r in rows] == [1, 1, 2, 2] + [1] * 8
    assert_same_curve([r["loss"] for r in rows], reference[0])
    assert (out / "checkpoint.pt").exists() and not (out / "checkpoint").exists()
    weights, want = final_weights(out), reference[1]
    assert max((weights[k] - want[k]).abs().max().item() for k in want) <= WEIGHTS_ATOL
