"""A second engine: every pipeline on Beam's DaskRunner, against a dask.distributed scheduler and two
worker processes started here on 127.0.0.1, gives byte-identical documents, rejected samples and
an identical ledger to the default runner (the ledger is data, so no runner metrics are needed)."""
from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
COUNTS = ("documents_in", "documents_written", "dropped", "errors", "info", "balanced")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(proc: "subprocess.Popen") -> None:
    """Stop a server a fixture started: terminate, then kill if it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    python_m = [sys.executable, "-m"]
    procs = [subprocess.Popen([*python_m, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                               str(port), "--no-dashboard"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    time.sleep(1.0)
    for _ in range(2):
        procs.append(subprocess.Popen([*python_m, "distributed.cli.dask_worker", address, "--nworkers", "1",
                                       "--nthreads", "1", "--no-dashboard"], cwd=ROOT, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=90)
        yield address
    finally:
        _close_clients(distributed)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def _close_clients(distributed) -> None:
    """The DaskRunner leaves its client open; close it before the cluster goes, or it keeps
    trying to reconnect (and logging) for the rest of the session."""
    while True:
        try:
            client = distributed.default_client()
        except ValueError:
            return
        client.close()


def _outputs(out: Path) -> dict[str, bytes]:
    files = sorted(p for sub in ("documents", "rejected") if (out / sub).exists() for p in (out / sub).iterdir())
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for p in files}


def _counts(out: Path) -> dict:
    stats = json.loads((out / "stats.json").read_text())
    return {key: stats[key] for key in COUNTS}


def _lines_input(tmp_path: Path) -> list[str]:
    src = tmp_path / "lines-in"
    src.mkdir()
    (src / "a.txt").write_text("alpha\nbeta\nx\nALPHA\n" + "".join(f"row {i}\n" for i in range(300)))
    return [str(src)]


def _cases(samples: Path, tmp_path: Path) -> list[tuple[str, list[str]]]:
    wiki = samples / "wikipedia" / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    return [
        ("tests.eighth_source", ["--input", *_lines_input(tmp_path)]),
        ("pipelines.c4", ["--input", str(samples / "c4")]),
        ("pipelines.commoncrawl", ["--input", str(samples / "commoncrawl" / "wet"),
                                   "--no_perplexity", "--no_quality"]),
        ("pipelines.wikipedia", ["--input", str(wiki)]),
        ("pipelines.books", ["--input", str(samples / "gutenberg")]),
        ("pipelines.arxiv", ["--input", str(samples / "arxiv")]),
        ("pipelines.stackexchange", ["--input", str(samples / "stackexchange")]),
        ("pipelines.github", ["--max_repos", "4"]),
    ]


@pytest.mark.samples
def test_every_pipeline_gives_the_same_output_on_the_dask_runner(samples, tmp_path, dask_cluster):
    failures = []
    for module_name, args in _cases(samples, tmp_path):
        module = importlib.import_module(module_name)
        name = module_name.rsplit(".", 1)[-1]
        common = [*args, "--added", "2026-01-01", "--rejected_samples", "3"]
        local, dask = tmp_path / "local" / name, tmp_path / "dask" / name
        module.main([*common, "--output", str(local)])
        module.main([*common, "--output", str(dask), f"--runner={DASK_RUNNER}", f"--dask_client_address={dask_cluster}"])
        if _outputs(local) != _outputs(dask):
            failures.append(f"{name}: files differ {sorted(_outputs(local))} vs {sorted(_outputs(dask))}")
        if _counts(local) != _counts(dask):
            failures.append(f"{name}: ledger differs {_counts(local)} vs {_counts(dask)}")
        assert _counts(local)["balanced"], name
        # bugs surface: no step failed on a real document, and the pre-write check rejected none
        flagged = [r for r in (*_counts(local)["errors"], *_counts(local)["dropped"])
                   if r.startswith("step_failed") or r == "binary_text"]
        assert not flagged, (name, flagged)
        assert _outputs(local), f"{name}: wrote nothing"
    failures += _crossdedup_differences(tmp_path, dask_cluster)
    assert not failures, "\n".join(failures)


def _crossdedup_differences(tmp_path: Path, dask_cluster: str) -> list[str]:
    """The cross-source job over the outputs above, on both runners: one ledger per source."""
    from pipelines import crossdedup

    inputs = [str(tmp_path / "local" / name) for name in ("c4", "commoncrawl", "books")]
    common = ["--input", *inputs, "--rejected_samples", "3", "--max_cc_rounds", "2"]  # ~13 s a round on Dask
    crossdedup.main([*common, "--output", str(tmp_path / "dedup" / "local")])
    crossdedup.main([*common, "--output", str(tmp_path / "dedup" / "dask"),
                     f"--runner={DASK_RUNNER}", f"--dask_client_address={dask_cluster}"])
    failures = []
    for source in sorted(p.name for p in (tmp_path / "dedup" / "local").iterdir()):
        local, dask = tmp_path / "dedup" / "local" / source, tmp_path / "dedup" / "dask" / source
        if _outputs(local) != _outputs(dask) or _counts(local) != _counts(dask):
            failures.append(f"crossdedup/{source}: outputs or ledger differ")
    return failures
