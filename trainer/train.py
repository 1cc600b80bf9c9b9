"""Train the reference LLaMA decoder on the mixture's token shards.

    python -m trainer.train --data out/mixture --out out/train --config tiny --steps 200

Optimizer and schedule follow LLaMA §2.3: AdamW (beta1 0.9, beta2 0.95, weight decay 0.1 on
matrices only), gradient clipping at 1.0, linear warmup then cosine decay to 10% of the peak LR.
Warmup is 2,000 steps at full scale; for shorter runs it is 2% of the steps (at least 1, at most
2,000) unless `--warmup` is given. Data: fixed-length windows in a seeded order (trainer/data.py).

Checkpoints (`OUT/checkpoint.pt`, written atomically every `--ckpt_every` steps and at the end)
hold the model, optimizer, schedule, next sample index and RNG states; rerunning the same command
resumes from it and reproduces the loss curve of an uninterrupted run step by step. Logs: one JSON
line per step in `OUT/log.jsonl` (step, loss, lr, grad_norm, tokens, tokens_per_s, mfu) and stdout.

On CUDA: bf16 autocast, fused AdamW, SDPA (FlashAttention) and torch.compile (`--compile auto`);
MFU = 6 N tokens/s over the GPU's dense bf16 peak (A100 312, H100 SXM 989, H100 PCIe 756,
H200 989 TFLOP/s; `--peak_tflops` overrides). See docs/trainer.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from trainer.data import TokenStream, Windows
from trainer.model import CONFIGS, LLaMA, get_config, param_groups

# Dense bf16 tensor-core peaks (vendor datasheets), TFLOP/s. Matched by substring of the name.
PEAK_TFLOPS: list[tuple[str, float]] = [
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("A100", 312.0),
    ("A10G", 70.0),
    ("L4", 121.0),
]

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"


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
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="out/mixture", help="mixture directory (manifest.json + shards)")
    p.add_argument("--out", default="out/train", help="checkpoint and log directory")
    p.add_argument("--config", default="tiny", choices=sorted(CONFIGS), help="model shape (trainer/model.py)")
    p.add_argument("--vocab_size", type=int, help="default: the data manifest's vocab_size")
    p.add_argument("--tie_embeddings", choices=("auto", "yes", "no"), default="auto",
                   help="share input embedding and output head (auto: the config's choice)")
    p.add_argument("--seq_len", type=int, help="tokens per window (default: config max_seq_len)")
    p.add_argument("--batch_size", type=int, default=8, help="windows per micro-batch")
    p.add_argument("--grad_accum", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--steps", type=int, default=200, help="optimizer steps of the whole schedule")
    p.add_argument("--stop_after", type=int, help="stop (with a checkpoint) after this step; rerun to resume")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the config's)")
    p.add_argument("--min_lr_ratio", type=float, default=0.1, help="final LR as a fraction of the peak (LLaMA: 0.1)")
    p.add_argument("--warmup", type=int, help="warmup steps (default: 2%% of --steps, 1..2000)")
    p.add_argument("--weight_decay", type=float, default=0.1)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.95)
    p.add_argument("--grad_clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the window order")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="autocast dtype (auto: bfloat16 on CUDA, float32 on CPU)")
    p.add_argument("--compile", choices=("auto", "yes", "no"), default="auto", help="torch.compile (auto: on CUDA)")
    p.add_argument("--ckpt_every", type=int, default=100, help="checkpoint every N steps (and at the end)")
    p.add_argument("--log_every", type=int, default=1)
    p.add_argument("--peak_tflops", type=float, help="device peak for MFU when not in the built-in table")
    p.add_argument("--threads", type=int, help="torch CPU threads (default on CPU: half the cores)")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --out and start over")
    return p


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, **state) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return train(args)


def train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if args.threads:
        torch.set_num_threads(args.threads)
    elif device.type == "cpu":
        # Half the cores: on a shared machine torch's spinning OpenMP threads slow down badly.
        torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    amp_dtype = {"auto": torch.bfloat16 if device.type == "cuda" else None, "float32": None,
                 "bfloat16": torch.bfloat16}[args.dtype]

    stream = TokenStream(args.data)
    tie = None if args.tie_embeddings == "auto" else args.tie_embeddings == "yes"
    cfg = get_config(args.config, vocab_size=args.vocab_size or stream.vocab_size, tie_embeddings=tie)
    seq_len = args.seq_len or cfg.max_seq_len
    if seq_len > cfg.max_seq_len:
        cfg = get_config(args.config, vocab_size=cfg.vocab_size, tie_embeddings=cfg.tie_embeddings, max_seq_len=seq_len)
    windows = Windows(stream, seq_len, args.seed)
    peak_lr = args.lr or cfg.lr
    warmup = args.warmup if args.warmup is not None else default_warmup(args.steps)
    per_step = args.batch_size * args.grad_accum

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    model = LLaMA(cfg).to(device)
    fused = device.type == "cuda"
    optimizer = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=peak_lr,
                                  betas=(args.beta1, args.beta2), eps=1e-8, fused=fused)
    run_key = {"config": cfg.to_dict(), "seq_len": seq_len, "batch": per_step, "steps": args.steps,
               "lr": peak_lr, "warmup": warmup, "seed": args.seed, "data": stream.manifest_sha256}

    step, sample = 0, 0
    ckpt_path, log_path = out / CHECKPOINT, out / LOG
    if ckpt_path.exists() and not args.fresh:
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ckpt["run"] != run_key:
            diff = sorted(k for k in run_key if ckpt["run"].get(k) != run_key[k])
            print(f"trainer: {ckpt_path} is from a different run (differs in {', '.join(diff)}); "
                  f"use --fresh or another --out", file=sys.stderr)
            return 2
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step, sample = ckpt["step"], ckpt["sample"]
        set_rng_state(ckpt["rng"])
        print(f"resumed from {ckpt_path} at step {step} (sample {sample})", file=sys.stderr)
    _truncate_log(log_path, step)

    n_params = model.num_parameters()
    flops_per_token = model.flops_per_token()
    peak = peak_flops(device, args.peak_tflops)
    compiled = model
    if args.compile == "yes" or (args.compile == "auto" and device.type == "cuda"):
        compiled = torch.compile(model)
    print(f"model {args.config}: {n_params / 1e6:.1f}M parameters, dim {cfg.dim}, layers {cfg.n_layers}, "
          f"heads {cfg.n_heads}, ffn {cfg.hidden_dim}, vocab {cfg.vocab_size}; {windows.count:,} windows of "
          f"{seq_len} tokens; {per_step} windows/step; device {device}"
          f"{' bf16' if amp_dtype else ''}{' compiled' if compiled is not model else ''}", file=sys.stderr)

    autocast = (torch.autocast(device_type=device.type, dtype=amp_dtype) if amp_dtype else nullcontext())
    stop = min(args.steps, args.stop_after) if args.stop_after is not None else args.steps
    model.train()
    tokens_seen = sample * seq_len
    last_time = time.perf_counter()
    with log_path.open("a") as log:
        while step < stop:
            lr = lr_at(step, peak_lr, warmup, args.steps, args.min_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = lr
            total = torch.zeros((), device=device)
            for _ in range(args.grad_accum):
                x, y = windows.batch(sample, args.batch_size)
                sample += args.batch_size
                x = torch.from_numpy(x).to(device, non_blocking=True)
                y = torch.from_numpy(y).to(device, non_blocking=True)
                with autocast:
                    _, loss = compiled(x, y)
                (loss / args.grad_accum).backward()
                total += loss.detach().float() / args.grad_accum  # no host sync per micro-batch
            grad_norm_t = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            total_loss, grad_norm = total.item(), grad_norm_t.item()  # one sync per step
            step += 1
            tokens_seen += per_step * seq_len
            if device.type == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            tps = per_step * seq_len / max(now - last_time, 1e-9)
            last_time = now
            if step % args.log_every == 0 or step == stop:
                record = {"step": step, "loss": round(total_loss, 6), "lr": lr, "grad_norm": round(grad_norm, 6),
                          "tokens": tokens_seen, "tokens_per_s": round(tps, 1),
                          "mfu": round(flops_per_token * tps / peak, 4) if peak else None}
                log.write(json.dumps(record) + "\n")
                log.flush()
                mfu = f" mfu {100 * record['mfu']:.1f}%" if peak else ""
                print(f"step {step:>6}/{args.steps} loss {total_loss:.4f} lr {lr:.2e} "
                      f"grad {grad_norm:.2f} {tps:,.0f} tok/s{mfu}", flush=True)
            if step % args.ckpt_every == 0 or step == stop:
                save_checkpoint(ckpt_path, model=model.state_dict(), optimizer=optimizer.state_dict(), step=step,
                                sample=sample, rng=rng_state(), run=run_key, config=cfg.to_dict(),
                                schedule={"peak_lr": peak_lr, "warmup": warmup, "steps": args.steps,
                                          "min_lr_ratio": args.min_lr_ratio})
    return 0


def _truncate_log(path: Path, step: int) -> None:
    """Keep log lines up to the checkpoint's step, so a resumed run's log reads as one run."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError):
            continue
    path.write_text("".join(k + "\n" for k in kept))


if __name__ == "__main__":
    sys.exit(main())
