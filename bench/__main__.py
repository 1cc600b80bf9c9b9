"""Run every benchmark module (or those named) and merge their numbers into bench/results.json.

`--full` runs the long variants of the benchmarks that have one (their `run(work, full=True)`):
the scale probe's 16x inputs."""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import json
import platform
import pkgutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("only", nargs="*", help=f"benchmarks to run (default all): {', '.join(names)}")
    parser.add_argument("--work", default=str(HERE / "work"), help="scratch directory for inputs/outputs")
    parser.add_argument("--results", default=str(HERE / "results.json"), help="where to write the numbers")
    parser.add_argument("--full", action="store_true", help="also the long runs (bench_scale: 16x inputs)")
    args = parser.parse_args(argv)

    results_path = Path(args.results)
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results["machine"] = {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                          "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    work = Path(args.work)
    failed = []
    for name in args.only or names:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}", file=sys.stderr)
        start = time.perf_counter()
        try:
            long_run = {"full": True} if args.full and "full" in inspect.signature(module.run).parameters else {}
            numbers = module.run(work / name, **long_run)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - one failing benchmark must not hide the others
            failed.append(name)
            numbers = {"error": f"{type(exc).__name__}: {exc}"}
        numbers["bench_seconds"] = round(time.perf_counter() - start, 2)
        results[name.removeprefix("bench_")] = numbers
        print(json.dumps(numbers, indent=2), file=sys.stderr)
        results_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
