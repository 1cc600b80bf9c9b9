"""Train the reference LLaMA decoder on the mixture's token shards, on one device or many.

    python -m trainer.train --input out/mixture --output out/train --config tiny --steps 200
    torchrun --nproc_per_node 8 -m trainer.train --input out/mixture --output out/train --config 7b ...

Optimizer and schedule follow LLaMA §2.3: AdamW (beta1 0.9, beta2 0.95, weight decay 0.1 on
matrices only), gradient clipping at 1.0, linear warmup then cosine decay to 10% of the peak LR.
Warmup is 2,000 steps at full scale; for shorter runs it is 2% of the steps (at least 1, at most
2,000) unless `--warmup` is given. Data: fixed-length windows in a seeded order (trainer/data.py).

Batch: `--batch_size` windows per micro-batch and `--grad_accum` micro-batches per step, for the
whole job: under torchrun each of the N ranks reads its own contiguous 1/N of every micro-batch
(`--batch_size` must divide by N), so the global batch and the loss curve are those of one process.
Data parallel: FSDP2 (`fully_shard`, default) or DDP (`--parallel ddp`), see trainer/distributed.py.

Checkpoints, written atomically every `--ckpt_every` steps and at the end, hold the model,
optimizer, schedule, next sample index and RNG states: one file `OUT/checkpoint.pt` from one
process, a sharded `torch.distributed.checkpoint` directory `OUT/checkpoint/` from several
(trainer/checkpoint.py). Rerunning the same command resumes from the later of the two, on any
number of ranks, and reproduces the loss curve of an uninterrupted run. A checkpoint that cannot be
written (disk full) is one line on stderr and exit status 1; the previous checkpoint stays intact.
`python -m trainer.export_hf` turns a checkpoint into a Hugging Face `LlamaForCausalLM` directory.
Logs (rank 0 only): one JSON line per step in `OUT/log.jsonl` (step, loss, lr, grad_norm, tokens,
tokens_per_s, tokens_per_s_per_rank, mfu, world_size) and stdout.

On CUDA: bf16 (autocast; FSDP2: bf16 parameters, fp32 gradient reduction), fused AdamW, SDPA
(FlashAttention) and torch.compile (`--compile auto`); MFU = 6 N tokens/s per GPU over the GPU's
dense bf16 peak (A100 312, H100 SXM 989, H100 PCIe 756, H200 989 TFLOP/s; `--peak_tflops`
overrides). See docs/trainer.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from corpus import paths
from corpus.clihelp import DefaultsHelpFormatter
from corpus.shards import ShardError
from trainer import checkpoint, distributed
from trainer.checkpoint import CheckpointError, rng_state, set_rng_state
from trainer.data import TokenStream, Windows
from trainer.distributed import World
from trainer.model import CONFIGS, LLaMA, ModelConfig, get_config, param_groups

# Dense bf16 tensor-core peaks (vendor datasheets), TFLOP/s. Matched by substring of the name.
PEAK_TFLOPS: list[tuple[str, float]] = [
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("A100", 312.0),
    ("A10G", 70.0),
    ("L4", 121.0),
]

CHECKPOINT = checkpoint.FILE
LOG = "log.jsonl"
# Test hook: SIGKILL every rank right after this step's log line (a crash before its checkpoint).
KILL_AT_STEP = "TRAINER_KILL_AT_STEP"


def peak_flops(device: torch.device, override: Optional[float] = None) -> Optional[float]:
    if override:
        return override * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_TFLOPS:
        if key in name:
            return tflops * 1e12
    return None


def default_warmup(steps: int) -> int:
    return max(1, min(2000, round(0.02 * steps)))


def lr_at(step: int, peak: float, warmup: int, steps: int, min_ratio: float = 0.1) -> float:
    """Linear warmup over `warmup` steps, then cosine from `peak` to `min_ratio * peak` at `steps`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trainer.train", description=__doc__,
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("--input", "--data", default="out/mixture",
                   help="mixture directory (manifest.json + shards), local or remote (staged); "
                        "--data is the old spelling")
    p.add_argument("--no_verify", action="store_true", help="skip checking the shards' sha256 and token ids against the manifest")
    p.add_argument("--output", "--out", default="out/train",
                   help="checkpoint and log directory; --out is the old spelling")
    p.add_argument("--config", default="tiny", choices=sorted(CONFIGS), help="model shape (trainer/model.py)")
    p.add_argument("--vocab_size", type=int, help="default: the data manifest's vocab_size")
    p.add_argument("--tie_embeddings", choices=("auto", "yes", "no"), default="auto",
                   help="share input embedding and output head (auto: the config's choice)")
    p.add_argument("--seq_len", type=int, help="tokens per window (default: config max_seq_len)")
    p.add_argument("--batch_size", type=int, default=8,
                   help="windows per micro-batch over all ranks (each rank reads batch_size / world_size)")
    p.add_argument("--grad_accum", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--steps", type=int, default=200, help="optimizer steps of the whole schedule")
    p.add_argument("--stop_after", type=int, help="stop (with a checkpoint) after this step; rerun to resume")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the config's)")
    p.add_argument("--min_lr_ratio", type=float, default=0.1, help="final LR as a fraction of the peak (LLaMA: 0.1)")
    p.add_argument("--warmup", type=int, help="warmup steps (default: 2%% of --steps, 1..2000)")
    p.add_argument("--weight_decay", type=float, default=0.1, help="AdamW weight decay on matrices")
    p.add_argument("--beta1", type=float, default=0.9, help="AdamW beta1")
    p.add_argument("--beta2", type=float, default=0.95, help="AdamW beta2")
    p.add_argument("--grad_clip", type=float, default=1.0, help="clip the global gradient norm to this")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the window order")
    p.add_argument("--device", default="auto",
                   help="auto, cpu, cuda, cuda:1 ... (under torchrun: cuda means cuda:LOCAL_RANK)")
    p.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="autocast dtype (auto: bfloat16 on CUDA, float32 on CPU)")
    p.add_argument("--compile", choices=("auto", "yes", "no"), default="auto",
                   help="torch.compile (auto: on CUDA; per transformer block under torchrun)")
    p.add_argument("--parallel", choices=("fsdp", "ddp"), default="fsdp",
                   help="data parallel strategy under torchrun: FSDP2 fully_shard or DDP")
    p.add_argument("--activation_checkpointing", action="store_true",
                   help="recompute each block's activations in the backward pass (saves memory)")
    p.add_argument("--ckpt_every", type=int, default=100, help="checkpoint every N steps (and at the end)")
    p.add_argument("--ckpt_format", choices=("auto", "file", "sharded"), default="auto",
                   help="auto: OUT/checkpoint.pt from one process, sharded OUT/checkpoint/ from several")
    p.add_argument("--log_every", type=int, default=1, help="log every N steps (and the last)")
    p.add_argument("--peak_tflops", type=float, help="device peak for MFU when not in the built-in table")
    p.add_argument("--threads", type=int,
                   help="torch CPU threads (default on CPU: half the cores, split over local ranks)")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --out and start over")
    return p


class DataError(Exception):
    """The input or output directory is unusable (missing, corrupt, too small, not creatable)."""


@dataclass
class Run:
    """Everything a training run sets up once."""

    args: argparse.Namespace
    world: World
    device: torch.device
    out: Path
    cfg: ModelConfig
    seq_len: int
    windows: Windows
    peak_lr: float
    warmup: int
    run_key: dict
    model: nn.Module          # the LLaMA (FSDP2-sharded, or a plain module also inside DDP)
    wrapped: nn.Module        # what runs the batches and holds the state: DDP, FSDP2 or plain
    forward: nn.Module        # `wrapped`, or its torch.compile in one process
    optimizer: torch.optim.Optimizer
    autocast: ContextManager
    amp_dtype: Optional[torch.dtype]

    @property
    def per_step(self) -> int:
        return self.args.batch_size * self.args.grad_accum

    @property
    def local_batch(self) -> int:
        return self.args.batch_size // self.world.size


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return train(args)


def train(args: argparse.Namespace) -> int:
    world, device = distributed.init(args.device)
    try:
        if args.batch_size % world.size:
            _say(world, f"trainer: --batch_size {args.batch_size} does not divide by {world.size} ranks")
            return 2
        if args.ckpt_format == "file" and world.size > 1:
            _say(world, "trainer: --ckpt_format file is written by one process; use sharded under torchrun")
            return 2
        try:
            run = setup(args, world, device)
        except DataError as exc:
            _say(world, f"trainer: {exc}")
            return 2
        try:
            position = resume(run)
            if position is None:
                return 2
            describe(run)
            loop(run, *position)
        except (CheckpointError, ShardError) as exc:  # disk full; a shard corrupt or out of vocabulary
            _say(world, f"trainer: {exc}")
            return 1
        # Every rank finishes its last collective before any tears the group down: a rank that
        # destroys gloo while a peer still sends aborts the peer ("terminate called ...", seen in CI).
        distributed.barrier(world)
        return 0
    finally:
        distributed.shutdown(world)


# ---- setup ----

def setup(args: argparse.Namespace, world: World, device: torch.device) -> Run:
    """Data, model (sharded or replicated under torchrun), optimizer and the run key."""
    _set_threads(args, device)
    amp_dtype = {"auto": torch.bfloat16 if device.type == "cuda" else None, "float32": None,
                 "bfloat16": torch.bfloat16}[args.dtype]
    try:
        stream = TokenStream(args.input, verify=not args.no_verify)
    except (OSError, ValueError) as exc:  # missing manifest, corrupt shard, unreadable remote
        raise DataError(str(exc).strip().splitlines()[0]) from exc
    tie = None if args.tie_embeddings == "auto" else args.tie_embeddings == "yes"
    cfg = get_config(args.config, vocab_size=args.vocab_size or stream.vocab_size, tie_embeddings=tie)
    seq_len = args.seq_len or cfg.max_seq_len
    if seq_len > cfg.max_seq_len:
        cfg = get_config(args.config, vocab_size=cfg.vocab_size, tie_embeddings=cfg.tie_embeddings, max_seq_len=seq_len)
    try:
        windows = Windows(stream, seq_len, args.seed)
    except ValueError as exc:  # fewer tokens than one window
        raise DataError(str(exc)) from exc
    out = Path(args.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create --output {out}: {exc.strerror}") from exc
    peak_lr = args.lr or cfg.lr
    warmup = args.warmup if args.warmup is not None else default_warmup(args.steps)

    model, wrapped, forward, sharded = build_model(args, cfg, world, device, amp_dtype)
    optimizer = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=peak_lr,
                                  betas=(args.beta1, args.beta2), eps=1e-8, fused=device.type == "cuda")
    run_key = {"config": cfg.to_dict(), "seq_len": seq_len, "batch": args.batch_size * args.grad_accum,
               "steps": args.steps, "lr": peak_lr, "warmup": warmup, "seed": args.seed,
               "data": stream.manifest_sha256}
    # FSDP2 in bf16 gathers bf16 parameters itself (MixedPrecisionPolicy): no autocast on top.
    autocast = (torch.autocast(device_type=device.type, dtype=amp_dtype) if amp_dtype and not sharded
                else nullcontext())
    return Run(args, world, device, out, cfg, seq_len, windows, peak_lr, warmup, run_key, model, wrapped,
               forward, optimizer, autocast, amp_dtype)


def build_model(args: argparse.Namespace, cfg: ModelConfig, world: World, device: torch.device,
                amp_dtype: Optional[torch.dtype]) -> tuple[nn.Module, nn.Module, nn.Module, bool]:
    """(model, wrapped, forward, sharded), initialised as one process with `--seed` would."""
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    compile_ = _compile(args, device)
    if world.size > 1 and args.parallel == "fsdp":
        def on_meta() -> LLaMA:
            with torch.device("meta"):
                return LLaMA(cfg)

        model = distributed.shard_fsdp(lambda: LLaMA(cfg), on_meta, world, device, amp_dtype, compile_)
        model.activation_checkpointing = args.activation_checkpointing
        return model, model, model, True
    model = LLaMA(cfg).to(device)
    model.activation_checkpointing = args.activation_checkpointing
    if world.size > 1:
        wrapped = distributed.wrap_ddp(model, device, compile_)
        return model, wrapped, wrapped, False
    return model, model, torch.compile(model) if compile_ else model, False


def _compile(args: argparse.Namespace, device: torch.device) -> bool:
    return args.compile == "yes" or (args.compile == "auto" and device.type == "cuda")


def _set_threads(args: argparse.Namespace, device: torch.device) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    elif device.type == "cpu":
        # Half the cores: on a shared machine torch's spinning OpenMP threads slow down badly.
        local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
        torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2 // local_ranks))


def resume(run: Run) -> Optional[tuple[int, int]]:
    """(step, next sample) from the latest checkpoint in OUT, (0, 0) without one, None if refused."""
    step, sample = 0, 0
    found = None if run.args.fresh else distributed.broadcast_object(
        checkpoint.find(run.out) if run.world.main else None, run.world)
    if found is not None:
        meta = checkpoint.read_meta(found)
        if meta["run"] != run.run_key:
            diff = sorted(k for k in run.run_key if meta["run"].get(k) != run.run_key[k])
            _say(run.world, f"trainer: {found.path} is from a different run (differs in {', '.join(diff)}); "
                            f"use --fresh or another --out")
            return None
        checkpoint.load(found, run.wrapped, run.optimizer, run.device)
        step, sample = meta["step"], meta["sample"]
        set_rng_state(meta["rng"], run.device)
        written_by = meta.get("world_size", 1)
        ranks = "" if written_by == run.world.size else f", written by {written_by} rank(s), now {run.world.size}"
        _say(run.world, f"resumed from {found.path} at step {step} (sample {sample}){ranks}")
    if run.world.main:
        _truncate_log(run.out / LOG, step)
    return step, sample


def describe(run: Run) -> None:
    cfg, args, world = run.cfg, run.args, run.world
    n_params = run.model.num_parameters()
    parallel = f"; {world.size} ranks, {args.parallel}" if world.size > 1 else ""
    compiled = _compile(args, run.device)
    _say(world, f"model {args.config}: {n_params / 1e6:.1f}M parameters, dim {cfg.dim}, layers {cfg.n_layers}, "
                f"heads {cfg.n_heads}, ffn {cfg.hidden_dim}, vocab {cfg.vocab_size}; {run.windows.count:,} windows of "
                f"{run.seq_len} tokens; {run.per_step} windows/step; device {run.device}"
                f"{' bf16' if run.amp_dtype else ''}{' compiled' if compiled else ''}{parallel}")


# ---- the loop ----

def loop(run: Run, step: int, sample: int) -> None:
    args = run.args
    stop = min(args.steps, args.stop_after) if args.stop_after is not None else args.steps
    kill_at = int(os.environ.get(KILL_AT_STEP, 0))
    flops_per_token, peak = run.model.flops_per_token(), peak_flops(run.device, args.peak_tflops)
    run.wrapped.train()
    tokens_seen = sample * run.seq_len
    last_time = time.perf_counter()
    with (run.out / LOG).open("a") if run.world.main else nullcontext() as log:
        while step < stop:
            lr = lr_at(step, run.peak_lr, run.warmup, args.steps, args.min_lr_ratio)
            loss, grad_norm, sample = train_step(run, lr, sample)
            step += 1
            tokens_seen += run.per_step * run.seq_len
            if run.device.type == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            tps = run.per_step * run.seq_len / max(now - last_time, 1e-9)
            last_time = now
            if log is not None and (step % args.log_every == 0 or step == stop):
                log_step(log, run, step, loss=loss, lr=lr, grad_norm=grad_norm, tokens=tokens_seen, tps=tps,
                         mfu=flops_per_token * tps / run.world.size / peak if peak else None)
            if step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if step % args.ckpt_every == 0 or step == stop:
                save(run, step, sample)


def train_step(run: Run, lr: float, sample: int) -> tuple[float, float, int]:
    """One optimizer step over `grad_accum` micro-batches: (mean loss over all ranks, grad norm, next sample)."""
    args, world = run.args, run.world
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    total = torch.zeros((), device=run.device)
    for micro in range(args.grad_accum):
        # This rank's contiguous slice of the global micro-batch [sample, sample + batch_size).
        x, y = run.windows.batch(sample + world.rank * run.local_batch, run.local_batch)
        sample += args.batch_size
        x = torch.from_numpy(x).to(run.device, non_blocking=True)
        y = torch.from_numpy(y).to(run.device, non_blocking=True)
        with distributed.no_sync(run.wrapped, last_micro_batch=micro == args.grad_accum - 1):
            with run.autocast:
                _, loss = run.forward(x, y)
            (loss / args.grad_accum).backward()
        total += loss.detach().float() / args.grad_accum  # no host sync per micro-batch
    grad_norm = distributed.clip_grad_norm(run.model.parameters(), args.grad_clip)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    total = distributed.mean(total, world)
    return total.item(), grad_norm.item(), sample  # one sync per step


# ---- log and checkpoint ----

def log_step(log: Any, run: Run, step: int, *, loss: float, lr: float, grad_norm: float, tokens: int,
             tps: float, mfu: Optional[float]) -> None:
    """One JSON line in OUT/log.jsonl and one line on stdout (rank 0 only)."""
    record = {"step": step, "loss": round(loss, 6), "lr": lr, "grad_norm": round(grad_norm, 6), "tokens": tokens,
              "tokens_per_s": round(tps, 1), "tokens_per_s_per_rank": round(tps / run.world.size, 1),
              "mfu": round(mfu, 4) if mfu is not None else None, "world_size": run.world.size}
    log.write(json.dumps(record) + "\n")
    log.flush()
    shown = f" mfu {100 * record['mfu']:.1f}%" if mfu is not None else ""
    ranks = f" ({run.world.size} ranks)" if run.world.size > 1 else ""
    print(f"step {step:>6}/{run.args.steps} loss {loss:.4f} lr {lr:.2e} "
          f"grad {grad_norm:.2f} {tps:,.0f} tok/s{ranks}{shown}", flush=True)


def save(run: Run, step: int, sample: int) -> None:
    args = run.args
    meta = {"sample": sample, "run": run.run_key, "config": run.cfg.to_dict(),
            "schedule": {"peak_lr": run.peak_lr, "warmup": run.warmup, "steps": args.steps,
                         "min_lr_ratio": args.min_lr_ratio}}
    fmt = args.ckpt_format if args.ckpt_format != "auto" else ("file" if run.world.size == 1 else "sharded")
    if fmt == "sharded":
        checkpoint.save_sharded(run.out, step, run.wrapped, run.optimizer, run.world, meta, rng_state(run.device))
    else:
        checkpoint.save_file(run.out / CHECKPOINT, model=run.model.state_dict(), optimizer=run.optimizer.state_dict(),
                             step=step, rng=rng_state(run.device), **meta)
    if run.world.main:
        checkpoint.remove_other_kind(run.out, fmt)


def _say(world: World, message: str) -> None:
    if world.main:
        print(message, file=sys.stderr, flush=True)


def _truncate_log(path: Path, step: int) -> None:
    """Keep log lines up to the checkpoint's step, so a resumed run's log reads as one run."""
    if not paths.exists(str(path)):
        return
    kept = []
    for line in paths.read_text(str(path)).splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError):
            continue
    paths.write_text_atomically(str(path), "".join(k + "\n" for k in kept))


if __name__ == "__main__":
    sys.exit(main())
