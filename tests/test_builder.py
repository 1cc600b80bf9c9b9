"""The builder and the ledger as data, on the eighth-source example (tests/eighth_source.py):
accounting, rejected samples, layout, determinism, formats, progress, and `corpus/` free of Beam."""
from __future__ import annotations

import ast
import gzip
import json
import time
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest

from corpus import docfiles, progress
from corpus.document import Document
from corpus.ledger import Ledger
from corpus.step import Step
from pipelines import builder, runner
from tests import eighth_source

ROOT = Path(__file__).resolve().parent.parent


def _inputs(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.txt").write_text("alpha\nbeta\nx\nALPHA\n")
    (src / "b.txt.gz").write_bytes(gzip.compress("gamma\ndelta\nyy\n".encode()))
    blob = gzip.compress("".join(f"row number {i}\n" for i in range(5000)).encode())
    (src / "c.txt.gz").write_bytes(blob[: len(blob) // 2])  # truncated
    return src


def _run(src: Path, out: Path, *extra: str) -> Ledger:
    return eighth_source.main(["--input", str(src), "--output", str(out), "--added", "2026-01-01", *extra])


def _read_jsonl_gz(path: Path) -> list[dict]:
    return [Document.from_json(line).to_record() for line in gzip.open(path)]


def test_every_document_is_written_or_dropped_with_a_reason(tmp_path):
    ledger = _run(_inputs(tmp_path), tmp_path / "out", "--num_shards", "3")
    assert ledger.balanced and ledger.documents_in > 2000
    assert ledger.dropped == {"too_short": 2, "duplicate": 1}
    assert ledger.errors == {"truncated_input": 1}
    assert ledger.info["files_read"] == 3
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["documents", "rejected", "stats.json"]
    shards = sorted(p.name for p in (out / "documents").iterdir())
    assert shards == [f"documents-0000{i}-of-00003.jsonl.gz" for i in range(3)]
    written = [row for f in sorted((out / "documents").iterdir()) for row in _read_jsonl_gz(f)]
    assert len(written) == ledger.documents_written
    assert ledger.info["chars"] == sum(row["metadata"]["n"] for row in written)
    assert json.loads((out / "stats.json").read_text())["balanced"] is True


def test_rejected_samples_per_reason_deterministic_and_bounded(tmp_path):
    src = _inputs(tmp_path)
    _run(src, tmp_path / "one", "--rejected_samples", "1")
    _run(src, tmp_path / "two", "--rejected_samples", "1")
    rejected = tmp_path / "one" / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == ["duplicate.jsonl.gz", "too_short.jsonl.gz"]
    short = _read_jsonl_gz(rejected / "too_short.jsonl.gz")
    assert len(short) == 1 and short[0]["text"] in ("x", "yy")
    for f in rejected.iterdir():
        assert f.read_bytes() == (tmp_path / "two" / "rejected" / f.name).read_bytes()
    _run(src, tmp_path / "all", "--rejected_samples", "all")
    texts = sorted(r["text"] for r in _read_jsonl_gz(tmp_path / "all" / "rejected" / "too_short.jsonl.gz"))
    assert texts == ["x", "yy"]
    dup = _read_jsonl_gz(tmp_path / "all" / "rejected" / "duplicate.jsonl.gz")
    assert [r["text"] for r in dup] == ["alpha"] or [r["text"] for r in dup] == ["ALPHA"]
    _run(src, tmp_path / "none", "--rejected_samples", "0")
    assert not (tmp_path / "none" / "rejected").exists()


def test_every_rejected_document_in_bounded_shards_per_reason(tmp_path):
    """`--rejected_samples all` writes each reason as a series sized by --shard_mb: no writer holds
    every dropped document of a reason, and nothing is lost or doubled."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "short.txt").write_text("".join(f"{i:02x}\n" for i in range(256)) + "a long enough line\n")
    ledger = _run(src, tmp_path / "out", "--rejected_samples", "all", "--shard_mb", "0.004", "--min_chars", "3")
    assert ledger.dropped == {"too_short": 256}
    shards = sorted((tmp_path / "out" / "rejected").iterdir())
    n = len(shards)
    assert n > 1 and [p.name for p in shards] == [f"too_short-{i:05d}-of-{n:05d}.jsonl.gz" for i in range(n)]
    texts = [r["text"] for p in shards for r in _read_jsonl_gz(p)]
    assert sorted(texts) == sorted(f"{i:02x}" for i in range(256))
    assert max(p.stat().st_size for p in shards) < 4 * 0.004 * (1 << 20)


def test_reruns_are_byte_identical_and_stale_outputs_go(tmp_path):
    src = _inputs(tmp_path)
    _run(src, tmp_path / "one", "--num_shards", "2")
    _run(src, tmp_path / "two", "--num_shards", "3")
    _run(src, tmp_path / "two", "--num_shards", "2", "--overwrite")  # the 3-shard series must not survive
    one, two = tmp_path / "one" / "documents", tmp_path / "two" / "documents"
    assert sorted(p.name for p in one.iterdir()) == sorted(p.name for p in two.iterdir())
    for f in one.iterdir():
        assert f.read_bytes() == (two / f.name).read_bytes()


def test_a_failed_run_leaves_no_stats_json(tmp_path, monkeypatch):
    src = _inputs(tmp_path)
    _run(src, tmp_path / "out")
    assert (tmp_path / "out" / "stats.json").exists()

    def broken(self, doc):
        raise RuntimeError("a bug in a step")

    monkeypatch.setattr(eighth_source.Stamp, "__call__", broken)
    with pytest.raises(Exception, match="a bug in a step"):
        _run(src, tmp_path / "out", "--overwrite", "--fail_on_step_error")
    assert not (tmp_path / "out" / "stats.json").exists()
    assert not (tmp_path / "out" / "documents").exists()
    assert (tmp_path / "out" / runner.MARKER).exists()


def test_parquet_output_reads_with_pyarrow(tmp_path):
    ledger = _run(_inputs(tmp_path), tmp_path / "pq", "--format", "parquet")
    table = pq.read_table(tmp_path / "pq" / "documents" / "documents-00000-of-00001.parquet")
    assert table.num_rows == ledger.documents_written
    assert table.column_names == ["id", "text", "source", "added", "metadata"]
    assert json.loads(table.column("metadata")[0].as_py()["extra"])["n"] >= 3  # corpus.schema


def test_help_lists_param_flags_with_defaults_and_beam_options(capsys):
    with pytest.raises(SystemExit):
        eighth_source.main(["--help"])
    out = capsys.readouterr().out
    assert "--min_chars" in out and "drop lines shorter" in out and "(default: 3)" in out
    assert "--rejected_samples" in out and "--num_shards" in out and "DataflowRunner" in out


def test_params_flags_set_the_step(tmp_path):
    ledger = _run(_inputs(tmp_path), tmp_path / "out", "--min_chars", "5")
    assert ledger.dropped["too_short"] == 3  # x, yy and beta are shorter than 5
    assert ledger.options["min_chars"] == 5


@pytest.mark.parametrize("fmt,loader", [("jsonl.gz", "json"), ("parquet", "parquet")])
def test_hf_datasets_loads_our_shards(tmp_path, monkeypatch, fmt, loader):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = pytest.importorskip("datasets")
    ledger = _run(_inputs(tmp_path), tmp_path / "out", "--format", fmt, "--num_shards", "2")
    files = sorted(str(p) for p in (tmp_path / "out" / "documents").glob(f"documents-*.{fmt}"))
    loaded = datasets.load_dataset(loader, data_files=files, split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == ledger.documents_written
    assert set(loaded.column_names) == {"id", "text", "source", "added", "metadata"}


class _Slow(Step):
    name = "Slow"

    def __call__(self, doc: Document) -> Document:
        time.sleep(0.003)
        return doc


def test_progress_lines_on_a_run_longer_than_ten_seconds(tmp_path, monkeypatch, capfd):
    src = tmp_path / "in"
    src.mkdir()
    (src / "rows.txt").write_text("".join(f"row {i}\n" for i in range(4000)))
    slow = builder.Source("lines", "slow", eighth_source.read, lambda config: [_Slow()])
    started = time.monotonic()
    slow.main(["--input", str(src), "--output", str(tmp_path / "out"), "--added", "2026-01-01"])
    assert time.monotonic() - started > progress.INTERVAL_S
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("[lines] ") and "elapsed" in line]
    assert lines, "no progress line on stderr"
    assert "read" in lines[0] and "/s" in lines[0]


def test_corpus_imports_no_beam():
    offenders = []
    for path in sorted((ROOT / "corpus").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "apache_beam" or n.startswith(("apache_beam.", "pipelines")) for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"corpus/ must not import Beam or pipelines/: {offenders}"


def test_runner_reads_back_the_ledger_the_job_wrote(tmp_path):
    ledger = _run(_inputs(tmp_path), tmp_path / "out")
    assert runner.read_stats(str(tmp_path / "out")) == ledger


def test_shard_count_follows_the_data_size(tmp_path):
    from pipelines.transforms import shards_for

    src = tmp_path / "in"
    src.mkdir()
    (src / "rows.txt").write_text("".join(f"row {i} " + "word " * (i % 50) + "\n" for i in range(3000)))
    ledger = _run(src, tmp_path / "out", "--shard_mb", "0.02")
    shards = sorted((tmp_path / "out" / "documents").iterdir())
    expected = shards_for(sum(len(line.encode()) + 256 for line in (src / "rows.txt").read_text().splitlines()
                              if len(line) >= 3), 0.02)
    assert expected > 3 and len(shards) == expected
    assert all(p.name.endswith(f"-of-{expected:05d}.jsonl.gz") for p in shards)
    assert max(p.stat().st_size for p in shards) < 0.02 * (1 << 20) * 1.5
    assert sum(len(_read_jsonl_gz(p)) for p in shards) == ledger.documents_written


def test_keep_one_per_key_keeps_exactly_one_even_among_exact_copies():
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from corpus.ledger import Rejected
    from pipelines.transforms import KeepOnePerKey

    a = Document("id-a", "same", "c4")
    b = Document("id-b", "same", "c4")
    other = Document("id-c", "other", "c4")
    docs = [b, a, a, other, b]  # a twice (exact copies), b twice
    with beam.Pipeline(runner.LOCAL_RUNNER) as pipeline:
        out = pipeline | beam.Create(docs) | KeepOnePerKey(lambda d: d.text, "duplicate")
        kept = out | "kept" >> beam.Filter(lambda x: isinstance(x, Document)) | "ids" >> beam.Map(lambda d: d.id)
        rejected = (out | "rej" >> beam.Filter(lambda x: isinstance(x, Rejected))
                    | "rej ids" >> beam.Map(lambda r: (r.reason, r.doc.id)))
        assert_that(kept, equal_to(["id-a", "id-c"]), label="one per key, the smallest id")
        assert_that(rejected, equal_to([("duplicate", "id-a"), ("duplicate", "id-b"), ("duplicate", "id-b")]),
                    label="every other copy rejected")


def test_a_ledger_that_does_not_balance_fails_the_job_and_keeps_the_output_marked(tmp_path, capsys):
    """A stage that loses a document (neither written nor dropped with a reason): the job exits with
    one line naming the count, its output stays `_INCOMPLETE`, and a reader refuses it."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "rows.txt").write_text("alpha\nbeta\ngamma\n")
    lossy = builder.Source("lines", "lossy", eighth_source.read,
                           lambda config: [builder.Shuffle("Lose one", beam.Filter(lambda d: d.text != "beta"))])
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:
        lossy.main(["--input", str(src), "--output", str(out), "--added", "2026-01-01"])
    assert "does not balance (+1 documents unaccounted for: in 3, written 2, dropped 0)" in str(stop.value)
    assert (out / runner.MARKER).exists() and not runner.read_stats(str(out)).balanced
    with pytest.raises(SystemExit, match="is not a complete run"):
        docfiles.scan_inputs([str(out)])
    with pytest.raises(SystemExit) as again:  # a rerun must say --overwrite
        lossy.main(["--input", str(src), "--output", str(out), "--added", "2026-01-01"])
    assert again.value.code == 2 and "holds a previous run (_INCOMPLETE" in capsys.readouterr().err
