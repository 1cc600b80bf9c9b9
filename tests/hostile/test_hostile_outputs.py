"""Outputs never lie: hostile documents reach the writer, reruns, two runs at once, a full disk,
kill -9 mid-run. Every completed run balances; every refused or failed one leaves nothing that
looks complete (no stats.json; the `_INCOMPLETE` marker says so)."""
from __future__ import annotations

import errno
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from corpus import paths
from pipelines import runner
from tests import eighth_source
from tests.hostile.harness import ROOT, assert_completed, run_capped

LINES = "tests.eighth_source"
JSON_LINES = "tests.hostile.outputs_source"
ADDED = ["--added", "2026-01-01"]


def _strict_json(line: bytes) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"not strict JSON: {name}")

    return json.loads(line, parse_constant=refuse)


def _lines_input(root: Path, n: int = 300) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "rows.txt").write_text("".join(f"row number {i}\n" for i in range(n)))
    return root


def _files(output: Path) -> dict[str, bytes]:
    """Every file of a run's output but stats.json (which holds times), by relative path."""
    return {str(p.relative_to(output)): p.read_bytes() for p in sorted(output.rglob("*"))
            if p.is_file() and p.name != "stats.json"}


def test_hostile_documents_among_good_ones_are_repaired_or_dropped_with_a_reason(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    good = [json.dumps({"text": f"good document number {i}", "meta": {"i": i}}) for i in range(50)]
    (src / "good.jsonl").write_text("\n".join(good) + "\n")
    (src / "surrogates.jsonl").write_text(
        '{"text": "lone \\ud800 surrogate", "meta": {"title": "x\\udfff"}}\n'
        '{"text": "a pair \\ud83d\\ude00 is joined"}\n')
    (src / "nonfinite.jsonl").write_text('{"text": "scores that JSON cannot hold", "meta": {"a": NaN, '
                                         '"b": [Infinity, -Infinity], "c": 1000000000000000000000000000000}}\n')
    random_bytes = os.urandom(4000)
    binary = [{"text": "PK\x03\x04" + "\x00" * 200 + "zip body"},            # NUL-laden
              {"text": random_bytes.decode("latin-1")},                       # binary read as Latin-1
              {"text": random_bytes.decode("utf-8", "replace")},              # binary read as UTF-8
              {"text": "utf-16 without a BOM".encode("utf-16-le").decode("latin-1")}]
    (src / "binary.jsonl").write_text("".join(json.dumps(b) + "\n" for b in binary))
    (src / "raises.jsonl").write_text('{"text": "this one will RAISE in a step"}\n')
    out = tmp_path / "out"
    outcome = run_capped(JSON_LINES, ["--input", str(src), *ADDED], output=out, case="hostile documents")
    assert_completed(outcome)
    assert outcome.dropped == {"binary_text": 4, "step_failed:fragile": 1}
    assert outcome.errors == {"step_failed:fragile:KeyError": 1}
    assert outcome.info["repaired_surrogates"] == 1  # one document (text and title); JSON joins the pair itself
    assert outcome.info["metadata_nulled"] == 4
    assert outcome.stats["documents_in"] == 58 and outcome.stats["documents_written"] == 53
    written = [_strict_json(line) for shard in sorted((out / "documents").glob("*.jsonl.gz"))
               for line in gzip.open(shard)]
    texts = {doc["text"] for doc in written}
    assert {f"good document number {i}" for i in range(50)} <= texts
    assert "lone \ufffd surrogate" in texts and "a pair \U0001F600 is joined" in texts
    nulled = next(doc for doc in written if doc["text"].startswith("scores"))["metadata"]
    if isinstance(nulled.get("extra"), str):  # the shared schema keeps source fields as a JSON string
        nulled = _strict_json(nulled["extra"].encode())
    assert {k: nulled.get(k) for k in "abc"} == {"a": None, "b": [None, None], "c": None}
    failed = [_strict_json(line) for line in gzip.open(out / "rejected" / "step_failed:fragile.jsonl.gz")]
    assert [doc["text"] for doc in failed] == ["this one will RAISE in a step"]
    assert len(list(gzip.open(out / "rejected" / "binary_text.jsonl.gz"))) == 4


def test_a_rerun_refuses_and_overwrite_replaces_every_shard(tmp_path):
    src = _lines_input(tmp_path / "in")
    out = tmp_path / "out"
    assert_completed(run_capped(LINES, ["--input", str(src), "--num_shards", "3", *ADDED], output=out,
                                case="first run, 3 shards"))
    before = _files(out)
    refused = run_capped(LINES, ["--input", str(src), "--num_shards", "2", *ADDED], output=out, case="rerun refused")
    assert refused.returncode == 2
    message = [line for line in refused.stderr.splitlines() if "error:" in line]
    assert len(message) == 1 and "--overwrite" in message[0] and "previous run" in message[0]
    assert _files(out) == before and refused.stats["documents_written"] == 300  # untouched
    replaced = run_capped(LINES, ["--input", str(src), "--num_shards", "2", "--overwrite", *ADDED], output=out,
                          case="rerun with --overwrite")
    assert_completed(replaced)
    shards = sorted(p.name for p in (out / "documents").iterdir())
    assert shards == ["documents-00000-of-00002.jsonl.gz", "documents-00001-of-00002.jsonl.gz"]
    assert sum(1 for p in (out / "documents").iterdir() for _ in gzip.open(p)) == replaced.stats["documents_written"]
    assert not (out / runner.MARKER).exists()


def test_two_runs_into_one_output_at_once(tmp_path):
    """Without --overwrite one run claims the output and the other refuses; with it both finish and
    the output is one consistent run (same inputs: the same bytes as a run alone)."""
    src = _lines_input(tmp_path / "in", 2000)
    alone = tmp_path / "alone"
    assert_completed(run_capped(LINES, ["--input", str(src), "--num_shards", "4", *ADDED], output=alone, case="alone"))
    for extra, label in (([], "together"), (["--overwrite"], "together, --overwrite")):
        out = tmp_path / label.replace(" ", "_").replace(",", "")
        outcomes: list = [None, None]

        def one(i: int) -> None:
            outcomes[i] = run_capped(LINES, ["--input", str(src), "--num_shards", "4", *extra, *ADDED],
                                     output=out, case=f"{label} #{i}")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        codes = sorted(o.returncode for o in outcomes)
        assert all("Traceback" not in o.stderr for o in outcomes), [o.stderr[-2000:] for o in outcomes]
        assert codes == ([0, 0] if extra else [0, 2]), [o.stderr[-1000:] for o in outcomes]
        assert _files(out) == _files(alone), label
        assert json.loads((out / "stats.json").read_text())["balanced"]
        assert not list(out.rglob("*.tmp"))


class _FullDisk:
    """A file whose writes fail with ENOSPC after `room` bytes, as a full disk does."""

    def __init__(self, handle, room: int):
        self._handle = handle
        self._room = room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            self._handle.write(data[: self._room])
            self._room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(data)
        return self._handle.write(data)

    def __getattr__(self, name: str):
        return getattr(self._handle, name)


@pytest.mark.parametrize("victim", ["documents-00001-of-00002.jsonl.gz", "stats.json"])
def test_a_full_disk_fails_the_run_and_leaves_nothing_finished_looking(tmp_path, monkeypatch, victim):
    """In-process on the local runner: the write of one shard, or of stats.json, hits ENOSPC."""
    src = _lines_input(tmp_path / "in", 3000)
    out = tmp_path / "out"
    real_open = open

    def filling_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        name = os.path.basename(str(file))
        if "w" in mode and name.startswith(victim) and name != victim:  # its temporary name
            return _FullDisk(handle, 100)
        return handle

    monkeypatch.setattr(paths.builtins, "open", filling_open)
    with pytest.raises(Exception, match="No space left on device"):
        eighth_source.main(["--input", str(src), "--output", str(out), "--num_shards", "2", *ADDED])
    assert not (out / "stats.json").exists()  # not even a 0-byte one
    assert (out / runner.MARKER).exists()
    assert not list(out.rglob("*.tmp")) and not (out / "documents" / victim).exists()


def test_kill_9_mid_run_then_rerun_is_byte_identical_and_nothing_stale(tmp_path):
    """A previous run (inputs A, 3 shards), then a rerun with other inputs and --overwrite killed
    mid-run: its output never looks complete; the next rerun equals a clean run of B."""
    a = _lines_input(tmp_path / "a", 500)
    b = tmp_path / "b"
    b.mkdir()
    (b / "rows.jsonl").write_text("".join(json.dumps({"text": f"b row {i}"}) + "\n" for i in range(400))
                                  + json.dumps({"text": "SLOW"}) + "\n")
    out = tmp_path / "out"
    assert_completed(run_capped(LINES, ["--input", str(a), "--num_shards", "3", *ADDED], output=out, case="run A"))
    argv = [sys.executable, "-m", JSON_LINES, "--input", str(b), "--output", str(out), "--num_shards", "2",
            "--overwrite", *ADDED]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOSTILE_SLOW_S": "30"}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while (out / "stats.json").exists() or not (out / runner.MARKER).exists():  # until B has claimed it
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "stats.json").exists() and (out / runner.MARKER).exists()
    assert not (out / "documents").exists() or not any("-of-00003" in p.name for p in (out / "documents").iterdir())
    clean = tmp_path / "clean"
    common = ["--input", str(b), "--num_shards", "2", *ADDED]
    assert_completed(run_capped(JSON_LINES, common, output=clean, case="clean run B"))
    again = run_capped(JSON_LINES, [*common, "--overwrite"], output=out, case="rerun B after kill -9")
    assert_completed(again)
    assert _files(out) == _files(clean)
    assert again.stats["documents_written"] == 401


def _source_output(root: Path, source: str, texts: list[str]) -> Path:
    """A pipeline output directory of `source` (documents/ only), as crossdedup reads it."""
    folder = root / source / "documents"
    folder.mkdir(parents=True)
    rows = [json.dumps({"id": f"{source}/{i:04d}", "text": text, "source": source, "added": "2026-01-01",
                        "metadata": {}}) for i, text in enumerate(texts)]
    (folder / "documents-00000-of-00001.jsonl.gz").write_bytes(gzip.compress(("\n".join(rows) + "\n").encode(),
                                                                             mtime=0))
    return root / source


@pytest.mark.slow  # two cross-source jobs: ~20 s on 2 cores
def test_crossdedup_rerun_refuses_and_overwrite_replaces_every_source(tmp_path):
    from pipelines import crossdedup

    words = " ".join(f"word{i}" for i in range(60))
    c4 = _source_output(tmp_path / "in", "c4", [words, "another page entirely " * 5])
    books = _source_output(tmp_path / "in", "books", [words + " end", "a different book " * 8])
    out = tmp_path / "dedup"
    crossdedup.main(["--input", str(c4), str(books), "--output", str(out), "--num_shards", "1"])
    assert sorted(p.name for p in out.iterdir()) == ["books", "c4"]
    with pytest.raises(SystemExit) as refused:
        crossdedup.main(["--input", str(c4), "--output", str(out)])
    assert refused.value.code == 2 and (out / "books" / "stats.json").exists()
    ledgers = crossdedup.main(["--input", str(c4), "--output", str(out), "--overwrite"])
    assert list(ledgers) == ["c4"] and ledgers["c4"].documents_written == 2
    assert not (out / "books" / "stats.json").exists() and not (out / "books" / "documents").exists()
    assert not list(out.rglob(runner.MARKER))
