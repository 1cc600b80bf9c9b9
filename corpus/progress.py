"""Progress of long local runs on stderr: counts, rate and elapsed time every ~10 s.

On a terminal it is a tqdm bar; otherwise (CI logs, files) a plain line per interval. One
reporter per process: Beam's local workers each report what they saw. A background thread prints,
so a step stuck on one large element still shows that the run is alive.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from typing import Optional, TextIO

INTERVAL_S = 10.0
# Set by the launcher of a local run to the job's name; worker processes inherit it.
ENV = "LLAMA_CORPUS_PROGRESS"


class Progress:
    """Counters (`read`, `written`, ...) printed with their rate every `interval` seconds."""

    def __init__(self, label: str, main: str = "read", interval: float = INTERVAL_S,
                 stream: Optional[TextIO] = None) -> None:
        self.label = label
        self.main = main
        self.interval = interval
        self.stream = stream or sys.stderr
        self.counts: Counter[str] = Counter()
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._bar = None

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def line(self) -> str:
        elapsed = time.monotonic() - self._started
        with self._lock:
            counts = dict(self.counts)
        rate = counts.get(self.main, 0) / elapsed if elapsed > 0 else 0.0
        parts = [f"{name} {counts[name]:,}" for name in sorted(counts)]
        return f"[{self.label}] {', '.join(parts) or 'starting'} | {rate:,.0f} {self.main}/s | {elapsed:,.0f}s elapsed"

    def start(self) -> "Progress":
        if self._thread is None:
            if self.stream.isatty():
                from tqdm import tqdm

                self._bar = tqdm(desc=self.label, unit=" docs", file=self.stream, mininterval=self.interval)
            self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._bar is not None:
            self._bar.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.report()

    def report(self) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.n = self.counts.get(self.main, 0)
                self._bar.set_postfix({k: v for k, v in self.counts.items() if k != self.main}, refresh=False)
            self._bar.refresh()
        else:
            print(self.line(), file=self.stream, flush=True)


_current: Optional[Progress] = None
_current_lock = threading.Lock()


def reporter(label: str) -> Progress:
    """This process's reporter (started on first use)."""
    global _current
    with _current_lock:
        if _current is None or _current.label != label:
            if _current is not None:
                _current.stop()
            _current = Progress(label).start()
        return _current


def tick(name: str, n: int = 1) -> None:
    """Count `n` under `name` when this process runs a local job (a no-op elsewhere)."""
    label = os.environ.get(ENV)
    if label:
        reporter(label).add(name, n)


def stop() -> None:
    global _current
    with _current_lock:
        if _current is not None:
            _current.stop()
            _current = None
