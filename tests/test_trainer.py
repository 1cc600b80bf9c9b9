"""Reference trainer: model shapes (7B on the meta device), loss falls, resume == uninterrupted."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from corpus import shards as shardlib
from trainer import train as trainer
from trainer.data import TokenStream, Windows
from trainer.model import CONFIGS, LLaMA, apply_rope, get_config, param_groups, rope_frequencies

VOCAB = 64


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A learnable mixture-like series: documents that count up modulo small periods."""
    root = tmp_path_factory.mktemp("mixture")
    rng = np.random.default_rng(0)
    docs = []
    for _ in range(400):
        period, start = int(rng.integers(3, 9)), int(rng.integers(0, VOCAB))
        docs.append((start + np.arange(int(rng.integers(30, 120))) * period) % VOCAB)
    shards = shardlib.write_documents(root, "mixture", docs, vocab_size=VOCAB, max_tokens_per_shard=10_000)
    shardlib.write_manifest(root, shardlib.Manifest.build("mixture", shards, VOCAB, "0" * 64))
    return root


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["--input", str(data), "--output", str(out), "--config", "tiny", "--seq_len", "32", "--batch_size", "8",
            "--threads", "1", "--ckpt_every", "1000", *extra]


def losses(out: Path) -> list[float]:
    return [json.loads(l)["loss"] for l in (out / "log.jsonl").read_text().splitlines()]


def test_7b_shape_on_meta_device():
    cfg = get_config("7b")
    assert (cfg.dim, cfg.n_heads, cfg.n_layers, cfg.hidden_dim, cfg.vocab_size) == (4096, 32, 32, 11008, 32000)
    with torch.device("meta"):
        model = LLaMA(cfg)
    n = model.num_parameters()
    assert n == 6_738_415_616  # Meta's LLaMA-7B checkpoint: 6.74B ("6.7B" in Table 2)
    assert all(p.device.type == "meta" for p in model.parameters())
    for name, params in (("13b", 13.0e9), ("33b", 32.5e9), ("65b", 65.2e9)):
        with torch.device("meta"):
            assert LLaMA(get_config(name)).num_parameters() == pytest.approx(params, rel=0.003)
    # No biases anywhere; norms are RMSNorm scales only.
    assert not any(name.endswith("bias") for name, _ in model.named_parameters())


def test_tiny_forward_shapes_tied_and_groups():
    cfg = get_config("tiny", vocab_size=VOCAB)
    model = LLaMA(cfg)
    x, y = torch.randint(0, VOCAB, (2, 16)), torch.randint(0, VOCAB, (2, 16))
    logits, loss = model(x, y)
    assert logits.shape == (2, 16, VOCAB) and loss.item() == pytest.approx(math.log(VOCAB), rel=0.1)
    assert model.output.weight is model.tok_embeddings.weight
    decay, no_decay = param_groups(model, 0.1)
    assert all(p.dim() == 2 for p in decay["params"]) and decay["weight_decay"] == 0.1
    assert any(p is model.tok_embeddings.weight for p in no_decay["params"])
    untied = LLaMA(get_config("tiny", vocab_size=VOCAB, tie_embeddings=False))
    assert untied.num_parameters() == model.num_parameters() + VOCAB * cfg.dim
    assert sorted(CONFIGS)[:1] and "7b" in CONFIGS and "1b" in CONFIGS


def test_rope_preserves_norm_and_is_relative():
    cos, sin = rope_frequencies(8, 16)
    q = torch.randn(1, 1, 16, 8)
    rotated = apply_rope(q, cos, sin)
    assert torch.allclose(rotated.norm(dim=-1), q.norm(dim=-1), atol=1e-5)
    # <R(m) q, R(n) k> depends on m - n only.
    k = torch.randn(8)
    same_q = q[0, 0, 0].expand(1, 1, 16, 8)
    same_k = k.expand(1, 1, 16, 8)
    rq, rk = apply_rope(same_q, cos, sin)[0, 0], apply_rope(same_k, cos, sin)[0, 0]
    assert torch.allclose(rq[5] @ rk[3], rq[9] @ rk[7], atol=1e-5)


def test_schedule():
    peak, warmup, steps = 1e-3, 10, 100
    lrs = [trainer.lr_at(s, peak, warmup, steps) for s in range(steps + 1)]
    assert lrs[0] == pytest.approx(peak / warmup) and lrs[warmup - 1] == pytest.approx(peak)
    assert max(lrs) == pytest.approx(peak) and lrs[-1] == pytest.approx(0.1 * peak)
    assert all(a >= b for a, b in zip(lrs[warmup:], lrs[warmup + 1:]))
    assert trainer.default_warmup(250_000) == 2000 and trainer.default_warmup(100) == 2


def test_windows_deterministic_and_cover_stream(data):
    stream = TokenStream(data)
    windows = Windows(stream, 32, seed=3)
    x, y = windows.batch(0, 4)
    assert x.shape == (4, 32) and np.array_equal(x[:, 1:], y[:, :-1])
    assert np.array_equal(Windows(stream, 32, seed=3).batch(0, 4)[0], x)
    assert not np.array_equal(Windows(stream, 32, seed=4).batch(0, 4)[0], x)
    # One epoch visits every window once.
    assert sorted(windows.window_of(s) for s in range(windows.count)) == list(range(windows.count))
    # Reads across shard boundaries agree with the concatenated stream.
    flat = np.concatenate([ds.tokens for ds in shardlib.open_series(data)]).astype(np.int64)
    assert np.array_equal(stream.read(9_990, 50), flat[9_990:10_040])


def test_tiny_training_loss_falls(data, tmp_path):
    out = tmp_path / "run"
    assert trainer.main(train_args(data, out, "--steps", "40")) == 0
    curve = losses(out)
    assert len(curve) == 40
    assert np.mean(curve[-5:]) < 0.7 * np.mean(curve[:3])
    record = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert {"step", "loss", "lr", "tokens", "tokens_per_s", "mfu", "grad_norm"} <= set(record)
    assert record["tokens"] == 40 * 8 * 32 and record["mfu"] is None  # no peak known for a CPU


def test_resume_matches_uninterrupted_run(data, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert trainer.main(train_args(data, whole, "--steps", "12")) == 0
    assert trainer.main(train_args(data, parts, "--steps", "12", "--stop_after", "5")) == 0
    assert len(losses(parts)) == 5
    # Simulate a crash after step 7's log line but before its checkpoint: the log is cut back.
    assert trainer.main(train_args(data, parts, "--steps", "12", "--stop_after", "7")) == 0
    ckpt = torch.load(parts / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 7 and ckpt["sample"] == 7 * 8
    assert trainer.main(train_args(data, parts, "--steps", "12")) == 0
    assert losses(parts) == losses(whole)
    a = torch.load(whole / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(parts / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_different_run(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert trainer.main(train_args(data, out, "--steps", "3")) == 0
    assert trainer.main(train_args(data, out, "--steps", "3", "--lr", "1e-2")) == 2
    assert "differs in lr" in capsys.readouterr().err


def test_trainer_and_sampler_never_import_beam():
    import subprocess
    import sys

    code = ("import sys, trainer.train, trainer.export_hf, mixture.sample, mixture.report; "
            "sys.exit(any(m.startswith('apache_beam') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_activation_checkpointing_keeps_the_curve(data, tmp_path):
    plain, recomputed = tmp_path / "plain", tmp_path / "ac"
    assert trainer.main(train_args(data, plain, "--steps", "4")) == 0
    assert trainer.main(train_args(data, recomputed, "--steps", "4", "--activation_checkpointing")) == 0
    assert losses(recomputed) == losses(plain)


def test_help_shows_defaults():
    text = " ".join(trainer.build_parser().format_help().split())
    for shown in ("(default: 8)", "(default: fsdp)", "(default: 0.95)", "(default: auto)", "(default: 100)"):
        assert shown in text
    assert "(default: None)" not in text and "(default: False)" not in text


def test_log_lines_record_world_size(data, tmp_path):
    out = tmp_path / "run"
    assert trainer.main(train_args(data, out, "--steps", "2")) == 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["world_size"] for r in rows] == [1, 1]
    assert rows[-1]["tokens_per_s_per_rank"] == rows[-1]["tokens_per_s"]


def test_old_flag_spellings_and_missing_input(data, tmp_path, capsys):
    out = tmp_path / "run"
    old = ["--data", str(data), "--out", str(out), "--config", "tiny", "--seq_len", "32", "--threads", "1"]
    assert trainer.main(old + ["--steps", "1"]) == 0 and (out / "checkpoint.pt").exists()
    capsys.readouterr()
    assert trainer.main(train_args(tmp_path / "nothing", tmp_path / "x", "--steps", "1")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "manifest.json not found" in err and not (tmp_path / "x").exists()


class _Pickled:
    """An object `torch.load(weights_only=True)` must refuse."""


def test_checkpoint_holds_only_tensors_and_plain_types(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert trainer.main(train_args(data, out, "--steps", "2")) == 0
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)  # no pickled code allowed
    assert isinstance(ckpt["config"], dict) and ckpt["config"]["dim"] == 64
    assert isinstance(ckpt["rng"]["numpy"]["keys"], torch.Tensor)
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    # A checkpoint that pickles other objects is refused, not executed (a class of our own: libraries
    # such as megatron-core allowlist numpy arrays process-wide, so older checkpoints' numpy RNG
    # state would load in this test process).
    torch.save({**ckpt, "rng": {**ckpt["rng"], "numpy": _Pickled()}}, out / "checkpoint.pt")
    capsys.readouterr()
    assert trainer.main(train_args(data, out, "--steps", "2")) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "refusing to run its code" in err


def test_disk_full_while_checkpointing_is_one_line_and_leaves_no_tmp(data, tmp_path, monkeypatch, capsys):
    """The write itself fails with ENOSPC after some bytes (an injected fault; the real disk-full
    case on a small tmpfs is the next test): exit 1, one line, the earlier checkpoint intact."""
    import errno

    from trainer import checkpoint

    out = tmp_path / "run"
    assert trainer.main(train_args(data, out, "--steps", "4", "--stop_after", "2")) == 0
    before = (out / "checkpoint.pt").read_bytes()
    real_save = torch.save

    def full_disk(obj, handle, *args, **kwargs):
        handle.write(b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    capsys.readouterr()
    assert trainer.main(train_args(data, out, "--steps", "4")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("trainer: cannot write ") and err[-1].endswith("no space left on device")
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "log.jsonl"]
    assert (out / "checkpoint.pt").read_bytes() == before
    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    assert trainer.main(train_args(data, out, "--steps", "4")) == 0  # resumes from step 2
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 4


def test_disk_full_on_a_small_tmpfs(data, tmp_path):
    """A real ENOSPC: OUTPUT is a 1.6 MB tmpfs mounted in a user namespace (the first checkpoint,
    ~1.35 MB, fits; the second does not while the first exists)."""
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    out = tmp_path / "small"
    out.mkdir()
    probe = subprocess.run(["unshare", "-r", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {out}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {probe.stderr.strip()}")
    cmd = " ".join([sys.executable, "-m", "trainer.train", *train_args(data, out, "--steps", "4", "--ckpt_every", "2")])
    script = (f"mount -t tmpfs -o size=1600k tmpfs {out} && cd {Path(__file__).resolve().parents[1]} && "
              f"{cmd}; echo rc=$?; ls -a {out}")
    result = subprocess.run(["unshare", "-r", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    lines = result.stdout.splitlines()
    rc_line = next(line for line in lines if line.startswith("rc="))
    listed = sorted(lines[lines.index(rc_line) + 1:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("trainer:")]
    assert rc_line == "rc=1", result.stderr[-2000:]
    assert errors == [f"trainer: cannot write {out / 'checkpoint.pt'}: no space left on device"]
    assert "Traceback" not in result.stderr
    assert listed == [".", "..", "checkpoint.pt", "log.jsonl"]  # the step-2 checkpoint, no temporary
