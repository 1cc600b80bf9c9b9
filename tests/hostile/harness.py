"""Run one job on hostile input the way a dump would meet it: in a child process under an
address-space cap and a time bound, then read back what it counted.

Every hostile test asserts a *counted* outcome (an `error:` or `dropped:` reason, a non-zero exit
with one clear line) and, when the job completed, a balanced ledger. Peak RSS and wall time of each
run are appended to `$HOSTILE_REPORT` (JSON lines) when it is set, for the closing note's table.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
MEMORY_CAP_GIB = 4.0
TIME_LIMIT_S = 300.0


@dataclass
class Outcome:
    """What one capped run did."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_mb: float
    output: Optional[Path]
    stats: dict = field(default_factory=dict)

    @property
    def errors(self) -> dict:
        return self.stats.get("errors", {})

    @property
    def dropped(self) -> dict:
        return self.stats.get("dropped", {})

    @property
    def info(self) -> dict:
        return self.stats.get("info", {})

    @property
    def balanced(self) -> bool:
        return bool(self.stats.get("balanced"))

    def documents(self) -> list[dict]:
        """Every written document (JSONL shards) of the run's output, metadata flat (corpus.schema)."""
        import gzip

        from corpus.document import Document

        docs: list[dict] = []
        if self.output is None:
            return docs
        for shard in sorted((self.output / "documents").glob("*.jsonl.gz")):
            with gzip.open(shard, "rt", encoding="utf-8") as fh:
                docs.extend(Document.from_json(line).to_record() for line in fh)
        return docs


def _cap(memory_gib: float):
    limit = int(memory_gib * (1 << 30))

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        os.setsid()  # the whole job is one process group: a timeout kills every child

    return apply


def run_capped(module: str, args: Sequence[str], *, output: Optional[Path] = None,
               memory_gib: float = MEMORY_CAP_GIB, timeout_s: float = TIME_LIMIT_S,
               case: str = "", env: Optional[dict] = None) -> Outcome:
    """`python -m module *args` (plus `--output output` when given) under the caps.

    A run that exceeds the time bound is killed and reported with returncode -9 and
    `timed_out` in stderr, so a test can assert it did not hang.
    """
    argv = [sys.executable, "-m", module, *args]
    if output is not None:
        argv += ["--output", str(output)]
    child_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, env=child_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_cap(memory_gib))
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        stdout, stderr = proc.communicate()
        timed_out = True
    wall = time.monotonic() - start
    # RUSAGE_CHILDREN's max RSS is the largest of any child waited for so far: good enough for
    # the worst case, and exact when tests run one capped job at a time (they do).
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    stats: dict = {}
    if output is not None and (output / "stats.json").is_file():
        try:
            stats = json.loads((output / "stats.json").read_text())
        except ValueError:
            stats = {}
    outcome = Outcome(-9 if timed_out else proc.returncode, stdout.decode("utf-8", "replace"),
                      stderr.decode("utf-8", "replace") + ("\ntimed_out" if timed_out else ""),
                      wall, peak_mb, output, stats)
    _report(module, case, outcome)
    return outcome


def _report(module: str, case: str, outcome: Outcome) -> None:
    target = os.environ.get("HOSTILE_REPORT")
    if not target:
        return
    row = {"module": module, "case": case, "rc": outcome.returncode, "wall_s": round(outcome.wall_s, 2),
           "peak_rss_mb": round(outcome.peak_rss_mb, 1), "errors": outcome.errors, "dropped": outcome.dropped}
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, sort_keys=True) + "\n")


def assert_completed(outcome: Outcome) -> None:
    """The job finished, under the caps, with a balanced ledger."""
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert outcome.stats, "no stats.json"
    assert outcome.balanced, outcome.stats
