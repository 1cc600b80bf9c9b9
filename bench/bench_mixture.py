"""Mixture sampler write throughput against a plain sequential write, its peak memory at 10M and
100M+ tokens, and the reference trainer's CPU tokens/s for the tiny config.

    python -m bench bench_mixture

* throughput: `mixture.sample` (one worker) drawing 100M tokens from seven synthetic uint16 source
  series (lognormal document lengths, mean ~700 tokens, sizes in Table 1's unique-token ratios),
  against writing the same number of bytes sequentially (10M-token output shards) from memory in 8 MiB chunks (the named
  baseline: the disk/page-cache write speed). Neither fsyncs. Target: ratio >= 0.5.
* memory: peak RSS (ru_maxrss) of a sampler subprocess at 10M and 100M tokens. Target: flat.
* trainer: tokens/s of `trainer.train --config tiny` (seq 256, batch 8, one thread, vocab 32000: the
  output layer and its softmax dominate) on the CPU, and tokens per CPU-second (load-independent).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
UNIQUE_B = {"commoncrawl": 853, "c4": 198, "github": 98, "wikipedia": 25.7, "books": 28.3, "arxiv": 33,
            "stackexchange": 27.2}
VOCAB = 32000

_CHILD = r"""
import json, sys, time
sys.path.insert(0, {repo!r})
from mixture import sample
start = time.perf_counter()
rc = sample.main({argv!r})
seconds = time.perf_counter() - start
# VmHWM is this process's own peak; ru_maxrss would carry the parent's peak over fork+exec.
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"rc": rc, "seconds": seconds, "max_rss_mb": hwm_kb / 1024}}))
"""


def build_inputs(root: Path, total_tokens: int, seed: int = 0) -> int:
    from corpus import shards as shardlib

    rng = np.random.default_rng(seed)
    scale = total_tokens / sum(UNIQUE_B.values())
    written = 0
    for source, size in UNIQUE_B.items():
        target = int(size * scale)
        with shardlib.ShardWriter(root / source, source, VOCAB, max_tokens_per_shard=1 << 24) as writer:
            tokens = 0
            while tokens < target:
                n = int(min(max(8, rng.lognormal(6.2, 0.8)), 50_000))
                writer.add(rng.integers(0, VOCAB, size=n, dtype=np.uint16))
                tokens += n
        shardlib.write_manifest(root / source, shardlib.Manifest.build(source, writer.shards, VOCAB, "b" * 64))
        written += tokens
    return written


def run_sampler(inputs: Path, output: Path, tokens: str, workers: int = 1) -> dict:
    shutil.rmtree(output, ignore_errors=True)
    argv = ["--tokens", tokens, "--input", str(inputs), "--output", str(output), "--shard_tokens", "10M",
            "--workers", str(workers)]
    code = _CHILD.format(repo=str(REPO), argv=argv)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["bytes"] = sum(p.stat().st_size for p in output.glob("*.bin"))
    return result


def sequential_write(path: Path, nbytes: int, chunk: int = 8 << 20) -> float:
    buffer = np.random.default_rng(1).integers(0, 255, size=chunk, dtype=np.uint8).tobytes()
    start = time.perf_counter()
    with open(path, "wb") as handle:
        left = nbytes
        while left > 0:
            handle.write(buffer[: min(chunk, left)])
            left -= chunk
    seconds = time.perf_counter() - start
    path.unlink()
    return seconds


def trainer_speed(data: Path, out: Path, steps: int = 15) -> dict:
    from trainer import train

    shutil.rmtree(out, ignore_errors=True)
    argv = ["--data", str(data), "--out", str(out), "--config", "tiny", "--seq_len", "256", "--batch_size", "8",
            "--steps", str(steps), "--threads", "1", "--ckpt_every", "100000", "--vocab_size", str(VOCAB)]
    start, cpu = time.perf_counter(), time.process_time()
    train.main(argv)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    speeds = [r["tokens_per_s"] for r in log[3:]]
    return {"tokens_per_s": round(float(np.median(speeds)), 1), "steps": steps, "wall_seconds": round(wall, 2),
            "tokens_per_cpu_second": round(steps * 8 * 256 / cpu, 1),
            "first_loss": log[0]["loss"], "last_loss": log[-1]["loss"]}


def run(work: Path) -> dict:
    work = Path(work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    inputs = work / "tokens"
    available = build_inputs(inputs, 110_000_000)
    small = run_sampler(inputs, work / "mix10M", "10M")
    big = run_sampler(inputs, work / "mix100M", "100M")
    baseline_seconds = sequential_write(work / "sequential.bin", big["bytes"])
    sampler_mb_s = big["bytes"] / big["seconds"] / 1e6
    baseline_mb_s = big["bytes"] / baseline_seconds / 1e6
    two = run_sampler(inputs, work / "mix100M_w2", "100M", workers=2)
    trainer = trainer_speed(work / "mix10M", work / "train")
    shutil.rmtree(work / "mix100M_w2", ignore_errors=True)
    return {
        "input_tokens": available,
        "sampler_100M_seconds": round(big["seconds"], 2),
        "sampler_MB_per_s": round(sampler_mb_s, 1),
        "sequential_write_MB_per_s": round(baseline_mb_s, 1),
        "ratio_vs_sequential_write": round(sampler_mb_s / baseline_mb_s, 3),
        "sampler_2_workers_MB_per_s": round(two["bytes"] / two["seconds"] / 1e6, 1),
        "peak_rss_mb_10M": round(small["max_rss_mb"], 1),
        "peak_rss_mb_100M": round(big["max_rss_mb"], 1),
        "peak_rss_ratio_100M_vs_10M": round(big["max_rss_mb"] / small["max_rss_mb"], 3),
        "trainer_tiny_cpu": trainer,
    }


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    print(json.dumps(run(REPO / "bench" / "work" / "bench_mixture"), indent=2))
