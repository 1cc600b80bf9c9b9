"""Scale probe: the CommonCrawl pipeline and the books near-dedup at 1x and 4x (and 16x with
`--full`) an input built from the samples' text, plus CommonCrawl against its native floor.

Inputs (`bench.corpus_builder`): CommonCrawl 1x = 20 MB of uncompressed WET (bench_commoncrawl's
size) in files of 10 MB (a crawl's shape: many files, so reading spreads over workers); books 1x =
at least 7 MiB of JSON-lines books (whole clusters), each a distinct rebuild of a Gutenberg sample
followed by two near copies (J ~0.95), so a larger input has more clusters, not larger ones.

Each run is one child process (`python -m bench.bench_scale --child ...`) that builds the source's
graph with `pipelines.builder.build` and runs it on the local FnApiRunner with one worker process
(`--direct_num_workers=1 --direct_running_mode=multi_processing`): the launcher holds the runner
(and, on this local runner, every PCollection between stages: its shuffle is in memory), the worker
process runs the DoFns, as a Dataflow/Flink worker would. Recorded per run:
- CPU seconds: launcher (`RUSAGE_SELF`, all its threads, Beam start-up included) + workers
  (`RUSAGE_CHILDREN`, every reaped worker process);
- peak RSS of every worker process: the kernel's high-water mark (`VmHWM` in /proc, read every
  0.2 s while the worker lives, per pid) and the exact maximum over workers (`RUSAGE_CHILDREN`
  `ru_maxrss`); the launcher's own peak beside it (its `VmHWM`);
- the largest group a shuffle key delivered, elements and bytes, per stage: the max of the
  `group_elements:<stage>` / `group_bytes:<stage>` distributions that group-consuming DoFns
  update through `pipelines.transforms.observe_group` (stages that do not call it are not seen).
Writers run with `--shard_mb 1` and the line dedup with `--dedup_partition_mb 0.125 --dedup_group_mb
0.02`, so that their bounds (one shard, one partition, one salted group) are reached at 1x already.

Two workers: the 4x CommonCrawl run with one worker process and then with two, back to back, the
load average before each: throughput ratio (wall one / wall two) and whether the documents match.
Scaled out: the 4x run on 4 worker processes, as a distributed runner adds workers with the input:
each worker's peak RSS against the 1x run's one worker.

Runner baseline: the same worker flags running only read -> the pages through a GroupByKey over
4096 keys -> count on each scale's WET. The FnApiRunner hands a stage's whole input to a worker as
one bundle, so its worker RSS grows with the input however small each key is: the pipeline's
growth is read against this floor (docs/scale.md).

Floors, on the 1x and 4x WET files: bench_commoncrawl's native floor (the model calls alone: LID +
quality + SentencePiece + KenLM + SHA-1 per page, in this process), and the native recipe (the
pipeline's own steps in a plain loop in one process: read, min_len, in-memory line dedup, LID,
perplexity, classifier, the pre-write check, gzip JSON lines; `--native`); ratios = the pipeline's
CPU (and wall) seconds per page over each floor's.

Targets: CPU 16x <= 18x the 1x CPU; worker peak RSS 16x <= 1.5x the 1x; largest group flat in the
input size; pipeline <= 1.25x the floor at 80 MB (4x); two workers >= 1.6x one's throughput.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
SCALES = (1, 4)
FULL_SCALES = (1, 4, 16)
MB = 1 << 20
CC_BASE_BYTES = 20 * MB
WET_FILE_BYTES = 10 * MB  # a crawl is many files: 1x = 2 files, 4x = 8, 16x = 32
BOOKS_BASE_BYTES = 7 * MB
# The probe's configured bounds, scaled down so that they bind at 1x already (a dump's defaults,
# 256 MB shards and 64 MB of WET per dedup partition, bind only from ~1 GB and ~4 GB of input).
SHARD_MB = "1"
DEDUP_PARTITION_MB = "0.125"
DEDUP_GROUP_MB = "0.02"  # 1,310 (hash, page) pairs: about one 1x partition's
WORKER_FLAGS = ["--direct_num_workers=1", "--direct_running_mode=multi_processing"]
TWO_WORKER_FLAGS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
# The scaled-out run: 4x on 4 workers. Not 16x on 16: with 8 or 16 workers on the 16x input the
# FnApiRunner of Beam 2.77 lost 3-4% of the pages (the ledger fails such a run; docs/scale.md).
SCALED_OUT = 4
WORKER_MARK = "sdk_worker_main"  # the FnApiRunner's worker processes run this module
TARGETS = {"cpu_16x_over_1x": 18.0, "worker_rss_16x_over_1x": 1.5, "pipeline_over_floor_at_80mb": 1.25,
           "two_workers_throughput_over_one": 1.6}


# --------------------------------------------------------------------------------------------
# The child: one pipeline run, measured
# --------------------------------------------------------------------------------------------
def _descendants(root: int) -> list[int]:
    """Pids of every process under `root` (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _own_hwm_kb() -> int:
    """This process's peak-RSS mark (`VmHWM`: reset by exec, unlike `ru_maxrss`, which a child
    started by a large parent inherits)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _hwm_kb(pid: int) -> Optional[int]:
    """The kernel's peak-RSS mark of a worker process, or None when `pid` is not a worker."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        if not any(a == "-m" and b.endswith(WORKER_MARK) for a, b in zip(args, args[1:])):
            return None  # not a worker (e.g. the shell that started one)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class _WorkerWatch(threading.Thread):
    """Reads every worker process's VmHWM every `interval` seconds until stopped."""

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.interval = interval
        self.peaks_kb: dict[int, int] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            for pid in _descendants(os.getpid()):
                kb = _hwm_kb(pid)
                if kb is not None:
                    self.peaks_kb[pid] = max(kb, self.peaks_kb.get(pid, 0))

    def stop(self) -> None:
        self._done.set()
        self.join()


def _largest_groups(result: Any) -> dict[str, dict[str, int]]:
    """{stage: {"elements": max, "bytes": max}} from the `group_*:<stage>` distributions."""
    from apache_beam.metrics.metric import MetricsFilter

    from pipelines.transforms import NAMESPACE

    groups: dict[str, dict[str, int]] = {}
    for item in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["distributions"]:
        name = item.key.metric.name
        if not name.startswith("group_"):
            continue
        kind, stage = name.removeprefix("group_").split(":", 1)
        value = item.committed if item.committed is not None else item.attempted
        if value is not None and value.count:
            slot = groups.setdefault(stage, {})
            slot[kind] = max(slot.get(kind, 0), int(value.max))
    return dict(sorted(groups.items()))


def child(source_name: str, result_path: Path, argv: Sequence[str]) -> None:
    """Run one source pipeline in this process (workers as subprocesses); write its numbers."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from corpus import paths
    from pipelines import builder, runner

    source = importlib.import_module(f"pipelines.{source_name}").SOURCE
    config, beam_argv = builder.configure(source, argv)
    for owned in runner.OWNED:  # as `runner.execute` does: no stale shard survives a rerun
        paths.delete(paths.join(config.output, owned))
    options = PipelineOptions(beam_argv)
    options.view_as(StandardOptions).runner = runner.LOCAL_RUNNER
    watch = _WorkerWatch()
    watch.start()
    start = time.perf_counter()
    pipeline = beam.Pipeline(options=options)
    builder.build(pipeline, source, config)
    result = pipeline.run()
    result.wait_until_finish()
    wall = time.perf_counter() - start
    watch.stop()
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    ledger = runner.read_stats(config.output)
    result_path.write_text(json.dumps({
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime, 2),
        "launcher_cpu_seconds": round(own.ru_utime + own.ru_stime, 2),
        "worker_cpu_seconds": round(workers.ru_utime + workers.ru_stime, 2),
        "worker_peak_rss_mb": round(workers.ru_maxrss / 1024, 1),
        "worker_peak_rss_mb_each": sorted(round(kb / 1024, 1) for kb in watch.peaks_kb.values()),
        "launcher_peak_rss_mb": round(_own_hwm_kb() / 1024, 1),
        "largest_group": _largest_groups(result),
        "documents_in": ledger.documents_in,
        "documents_written": ledger.documents_written,
        "dropped": ledger.dropped,
    }))


def baseline_child(wet_dir: str, keys: int, result_path: Path) -> None:
    """The runner's own floor: read the WET, group the pages by `keys` hash keys and count them,
    under the same worker flags. Its worker RSS shows what the local runner itself holds as the
    input grows (it hands a stage's whole input to a worker as one bundle), however small each key."""
    import zlib

    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from corpus.wet import is_wet_file, read_wet
    from pipelines.runner import LOCAL_RUNNER
    from pipelines.transforms import ReadFiles, is_payload

    watch = _WorkerWatch()
    watch.start()
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner", LOCAL_RUNNER, *WORKER_FLAGS]))
    _ = (pipeline
         | ReadFiles([wet_dir], read_wet, accept=is_wet_file)
         | beam.Filter(is_payload)
         | beam.Map(lambda d: (zlib.crc32(d.id.encode()) % keys, d))
         | beam.GroupByKey()
         | beam.Map(lambda kv: sum(len(d.text) for d in kv[1]))
         | beam.CombineGlobally(sum))
    pipeline.run().wait_until_finish()
    watch.stop()
    result_path.write_text(json.dumps({"keys": keys, "worker_peak_rss_mb": round(
        max(watch.peaks_kb.values(), default=0) / 1024, 1)}))


# --------------------------------------------------------------------------------------------
# The parent: inputs, one child per (source, scale), ratios
# --------------------------------------------------------------------------------------------
def _measure(source: str, work: Path, argv: list[str], mode: str = "--child") -> dict:
    result_path = work / "result.json"
    result_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.bench_scale", mode, source, str(result_path), *argv]
    log = work / "child.log"
    with open(log, "wb") as handle:
        done = subprocess.run(command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT)
    if done.returncode:
        raise RuntimeError(f"{source} run failed ({log}): {log.read_text(errors='replace')[-2000:]}")
    return json.loads(result_path.read_text())


def _commoncrawl(work: Path, scale: int, texts: dict, models: Path, has_lm: bool,
                 workers: Sequence[str] = WORKER_FLAGS, out: str = "out") -> dict:
    run_dir = work / f"commoncrawl_{scale}x"
    info = _wet_input(run_dir, scale, texts)
    numbers = _measure("commoncrawl", run_dir, [*_cc_flags(run_dir, models, has_lm, out), *workers])
    return {"input_mb": round(info["uncompressed_bytes"] / MB, 1), "input_documents": info["documents"], **numbers}


def _cc_flags(run_dir: Path, models: Path, has_lm: bool, out: str) -> list[str]:
    """The CommonCrawl flags of every probe run: every page kept past the models (all buckets, no
    classifier threshold), so each one is scored; the probe's bounds."""
    return ["--input", str(run_dir / "input"), "--output", str(run_dir / out), "--models", str(models),
            "--added", "2026-01-01", "--keep_buckets", "head,middle,tail", "--quality_threshold", "0",
            "--shard_mb", SHARD_MB, "--dedup_partition_mb", DEDUP_PARTITION_MB, "--dedup_group_mb", DEDUP_GROUP_MB,
            *([] if has_lm else ["--no_perplexity"])]


def _wet_input(run_dir: Path, scale: int, texts: dict) -> dict:
    """The scale's WET folder (built once): CC_BASE_BYTES x scale in files of WET_FILE_BYTES."""
    from bench.corpus_builder import build_wet_files

    info_path = run_dir / "input.json"
    if not info_path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        info = build_wet_files(run_dir / "input", texts, CC_BASE_BYTES * scale, WET_FILE_BYTES)
        info_path.write_text(json.dumps(info))
    return json.loads(info_path.read_text())


def _wet_files(work: Path, scale: int) -> list[str]:
    return sorted(str(p) for p in (work / f"commoncrawl_{scale}x" / "input").glob("*.wet.gz"))


def _books(work: Path, scale: int, texts: list[str]) -> dict:
    from bench.corpus_builder import build_books

    run_dir = work / f"books_{scale}x"
    info_path = run_dir / "input.json"
    if not info_path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        info_path.write_text(json.dumps(build_books(run_dir / "input", texts, BOOKS_BASE_BYTES * scale)))
    info = json.loads(info_path.read_text())
    argv = ["--input", str(run_dir / "input"), "--output", str(run_dir / "out"), "--added", "2026-01-01",
            "--shard_mb", SHARD_MB, *WORKER_FLAGS]
    numbers = _measure("books", run_dir, argv)
    return {"input_mb": round(info["text_bytes"] / MB, 1), "input_documents": info["documents"],
            "distinct_books": info["distinct_books"], **numbers}


def _runner_baseline(work: Path, scales: Sequence[int], keys: int = 4096) -> dict:
    """Worker peak RSS of the runner's own group-and-count over each scale's WET, and its growth."""
    runs = {f"{s}x": _measure(str(work / f"commoncrawl_{s}x" / "input"),
                              work / f"commoncrawl_{s}x", [str(keys)], mode="--baseline")
            for s in scales}
    top = f"{scales[-1]}x"
    return {"keys": keys, "runs": runs, f"worker_rss_{top}_over_1x": round(
        runs[top]["worker_peak_rss_mb"] / runs["1x"]["worker_peak_rss_mb"], 2)}


def native_recipe_child(result_path: Path, argv: Sequence[str]) -> None:
    """The CommonCrawl recipe without the engine, in this one process: the pipeline's own steps
    (set up as a worker does) applied in a plain loop over the pages read from the same files,
    `corpus.ccnet.dedup_in_memory` for the line dedup, and the documents encoded as gzip JSON
    lines as the writer does (not written). What the pipeline costs beyond it is the engine's."""
    from corpus import ccnet
    from corpus.docfiles import encode_jsonl_gz
    from corpus.document import Document
    from corpus.fileio import guarded, open_path
    from corpus.step import Step, run_steps
    from corpus.steps.commoncrawl import CommonCrawlParams
    from corpus.validate import Validate, ValidateParams
    from pipelines import builder, commoncrawl

    config, _ = builder.configure(commoncrawl.SOURCE, argv)
    read = commoncrawl.wet_reader(config)
    stages = [*commoncrawl.SOURCE.stages(config), Validate(config[ValidateParams])]
    for stage in stages:
        if isinstance(stage, Step):
            stage.setup()
    wall, cpu = time.perf_counter(), time.process_time()
    docs: list = []
    for path in sorted(str(p) for p in Path(config.input[0]).glob("*.wet.gz")):
        with open_path(path) as stream:
            docs += [d for d in guarded(read(stream, path), path) if isinstance(d, Document)]
    pages = len(docs)
    pending: list[Step] = []
    for stage in [*stages, None]:
        if isinstance(stage, Step):
            pending.append(stage)
            continue
        docs = [out for out in (run_steps(pending, d)[0] for d in docs) if isinstance(out, Document)]
        pending = []
        if stage is not None and stage.label == "Dedup lines":
            scope = config[CommonCrawlParams].scope()
            docs = [out for out in ccnet.dedup_in_memory(docs, scope) if isinstance(out, Document)]
    payload = encode_jsonl_gz(sorted(docs, key=lambda d: d.id))
    result_path.write_text(json.dumps({
        "documents_in": pages, "documents_written": len(docs), "payload_mb": round(len(payload) / MB, 1),
        "wall_seconds": round(time.perf_counter() - wall, 2), "cpu_seconds": round(time.process_time() - cpu, 2)}))


def _native(work: Path, scale: int, run: dict, models: Path, has_lm: bool) -> dict:
    """The native recipe on the run's input, and the pipeline's CPU and wall over it."""
    run_dir = work / f"commoncrawl_{scale}x"
    native = _measure("commoncrawl", run_dir, _cc_flags(run_dir, models, has_lm, "native_out"), mode="--native")
    return {**{f"native_{k}": v for k, v in native.items()},
            "cpu_pipeline_over_native": round(run["cpu_seconds"] / native["cpu_seconds"], 2),
            "pipeline_over_native": round(run["wall_seconds"] / native["wall_seconds"], 2)}


def _floor(run: dict, wet_paths: Sequence[str], models: Path, has_lm: bool) -> dict:
    from bench.bench_commoncrawl import _floor as native_floor

    # The machine is shared and noisy: two passes, the faster one counts (as bench_commoncrawl).
    (pages, seconds, cpu), (_, seconds2, cpu2) = (native_floor(wet_paths, models, has_lm) for _ in range(2))
    seconds, cpu = min(seconds, seconds2), min(cpu, cpu2)
    per_page_pipeline = run["wall_seconds"] / run["documents_in"]
    return {"floor_documents": pages, "floor_seconds": round(seconds, 2), "floor_cpu_seconds": round(cpu, 2),
            "pipeline_over_floor": round(per_page_pipeline / (seconds / pages), 2),
            "cpu_pipeline_over_floor": round((run["cpu_seconds"] / run["documents_in"]) / (cpu / pages), 2)}


def _two_workers(work: Path, texts: dict, models: Path, has_lm: bool, scale: int = 4) -> dict:
    """CommonCrawl at `scale` with one worker process, then two, back to back (each after the
    other's finish, the load average beside it): the throughput ratio, and the outputs compared."""
    runs = {}
    for name, flags in (("one_worker", WORKER_FLAGS), ("two_workers", TWO_WORKER_FLAGS)):
        load = round(os.getloadavg()[0], 2)
        runs[name] = {"load_average_before": load,
                      **_commoncrawl(work, scale, texts, models, has_lm, flags, out=f"out_{name}")}
    run_dir = work / f"commoncrawl_{scale}x"
    same = _same_documents(run_dir / "out_one_worker", run_dir / "out_two_workers")
    walls = [runs[n]["wall_seconds"] for n in ("one_worker", "two_workers")]
    return {"input_mb": runs["one_worker"]["input_mb"], "runs": runs, "identical_documents": same,
            "throughput_two_over_one": round(walls[0] / walls[1], 2),
            "cpu_two_over_one": round(runs["two_workers"]["cpu_seconds"] / runs["one_worker"]["cpu_seconds"], 2)}


def _same_documents(one: Path, two: Path) -> bool:
    """Whether two runs' outputs hold the same document shards, byte for byte."""
    def shards(out: Path) -> list[bytes]:
        return sorted(p.read_bytes() for p in (out / "documents").iterdir())

    return shards(one) == shards(two)


def _scaled_out(work: Path, scale: int, texts: dict, models: Path, has_lm: bool, base: dict) -> dict:
    """CommonCrawl at `scale` with `scale` worker processes: the workers grow with the input, as a
    distributed runner's do, so each receives about the 1x share of every shuffle (the local
    runner hands a worker its whole share of a grouped stage as one message). Worker peak RSS
    against the 1x run's one worker, and the documents against the one-worker run's."""
    flags = [f"--direct_num_workers={scale}", "--direct_running_mode=multi_processing"]
    run = _commoncrawl(work, scale, texts, models, has_lm, flags, out="out_scaled")
    run_dir = work / f"commoncrawl_{scale}x"
    same = _same_documents(run_dir / "out", run_dir / "out_scaled")
    peak = max(run["worker_peak_rss_mb_each"])
    return {"workers": scale, "run": run, "identical_documents": same, "worker_peak_rss_mb_max": peak,
            f"worker_rss_{scale}x_over_1x": round(peak / base["worker_peak_rss_mb"], 2)}


def _growth(runs: dict[str, dict], top: str) -> dict:
    """Ratios of the largest scale's run against the 1x run, and the largest groups side by side."""
    base, last = runs["1x"], runs[top]
    stages = sorted({s for r in runs.values() for s in r["largest_group"]})
    return {
        f"cpu_{top}_over_1x": round(last["cpu_seconds"] / base["cpu_seconds"], 2),
        f"worker_rss_{top}_over_1x": round(last["worker_peak_rss_mb"] / base["worker_peak_rss_mb"], 2),
        "largest_group_by_scale": {s: {k: r["largest_group"].get(s) for k, r in runs.items()} for s in stages},
    }


def run(work: Path, full: bool = False) -> dict:
    from bench.bench_commoncrawl import _models
    from bench.corpus_builder import gutenberg_texts, sample_texts
    from corpus.samples import resolve_samples

    samples = resolve_samples(download=False)
    if samples is None:
        return {"skipped": "no samples"}
    work.mkdir(parents=True, exist_ok=True)
    scales = FULL_SCALES if full else SCALES
    texts = sample_texts(samples)
    models = _models(work, texts)
    has_lm = (models / "lm").is_dir() and bool(list((models / "lm").glob("en.*")))
    book_texts = gutenberg_texts(samples)
    cc = {f"{s}x": _commoncrawl(work, s, texts, models, has_lm) for s in scales}
    books = {f"{s}x": _books(work, s, book_texts) for s in scales}
    floors = {f"{s}x": {**_floor(cc[f"{s}x"], _wet_files(work, s), models, has_lm),
                        **_native(work, s, cc[f"{s}x"], models, has_lm)}
              for s in (1, 4)}
    top = f"{scales[-1]}x"
    return {
        "scales": list(scales),
        "runner": "FnApiRunner " + " ".join(WORKER_FLAGS),
        "configured": {"shard_mb": float(SHARD_MB), "dedup_partition_mb": float(DEDUP_PARTITION_MB),
                       "dedup_group_mb": float(DEDUP_GROUP_MB)},
        "cpu_count": os.cpu_count(),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "commoncrawl": {"runs": cc, **_growth(cc, top), "floor": floors, "perplexity_stage": has_lm},
        "books_near_dedup": {"runs": books, **_growth(books, top)},
        "runner_baseline": _runner_baseline(work, scales),
        "commoncrawl_workers": _two_workers(work, texts, models, has_lm),
        "commoncrawl_scaled_out": _scaled_out(work, SCALED_OUT, texts, models, has_lm, cc["1x"]),
        "targets": TARGETS,
    }


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:  # --child SOURCE RESULT PIPELINE_FLAGS...
        child(argv[1], Path(argv[2]), argv[3:])
        return
    if argv[:1] == ["--native"]:  # --native SOURCE RESULT PIPELINE_FLAGS...
        native_recipe_child(Path(argv[2]), argv[3:])
        return
    if argv[:1] == ["--baseline"]:  # --baseline WET RESULT KEYS
        baseline_child(argv[1], int(argv[3]), Path(argv[2]))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.bench_scale", description=__doc__)
    parser.add_argument("work", nargs="?", default=str(REPO / "bench" / "work" / "bench_scale"))
    parser.add_argument("--full", action="store_true", help="also run 16x")
    args = parser.parse_args(argv)
    print(json.dumps(run(Path(args.work), args.full), indent=2))


if __name__ == "__main__":
    main()
