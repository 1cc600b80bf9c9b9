"""The shared contracts: documents, drops, the ledger, input faults, reading and writing shards."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpus.document import Document, make_id
from corpus.fileio import ReadError, guarded, open_decompressed
from corpus.ledger import Ledger
from corpus.rules import Drop, chain, on_text
from pipelines import runner
from pipelines.transforms import ApplyRule, CountIn, KeepOnePerKey, ReadFiles, WriteDocuments

import apache_beam as beam


def test_document_json_round_trip_is_stable():
    doc = Document(make_id("c4", "http://x"), "héllo", "c4", "2026-01-01", {"b": 1, "a": {"z": 2, "y": 3}})
    line = doc.to_json()
    assert line.index('"a"') < line.index('"b"')  # metadata keys sorted -> stable bytes
    assert Document.from_json(line) == doc
    assert "héllo" in line  # UTF-8, not \u escapes


def test_make_id_is_stable_and_source_scoped():
    assert make_id("c4", "u") == make_id("c4", "u")
    assert make_id("c4", "u") != make_id("c4", "v")
    assert make_id("c4", "a", "b") != make_id("c4", "ab")
    assert make_id("books", "u").startswith("books/")


def test_drop_reason_must_be_snake_case():
    assert Drop("too_short").reason == "too_short"
    with pytest.raises(ValueError):
        Drop("Too Short")


def test_chain_stops_at_first_drop():
    upper = on_text(str.upper)
    drop = lambda d: Drop("always")  # noqa: E731
    doc = Document("x", "a", "c4")
    assert chain(upper, upper)(doc).text == "A"
    assert chain(upper, drop, upper)(doc) == Drop("always")


def test_ledger_balance_and_counter_names():
    ledger = Ledger.from_counters("c4", {"documents_in": 5, "documents_written": 3, "dropped:a": 1,
                                        "dropped:b": 1, "error:truncated_input": 2, "info:files_read": 1})
    assert ledger.balanced
    assert ledger.errors == {"truncated_input": 2}
    assert Ledger.from_json(ledger.to_json()).dropped == {"a": 1, "b": 1}
    assert not Ledger.from_counters("c4", {"documents_in": 5}).balanced


PAYLOAD = b"".join(b"line %d\n" % i for i in range(2000))


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress, lambda b: b])
def test_open_decompressed_sniffs_format(compress):
    assert open_decompressed(io.BytesIO(compress(PAYLOAD))).read() == PAYLOAD


def test_multi_member_gzip_reads_every_member():
    data = gzip.compress(b"a\n") + gzip.compress(b"b\n")
    assert open_decompressed(io.BytesIO(data)).read() == b"a\nb\n"


@pytest.mark.parametrize("compress,reason", [(gzip.compress, "truncated_input"), (bz2.compress, "truncated_input"),
                                             (lzma.compress, "truncated_input")])
def test_truncated_input_keeps_what_was_read(compress, reason):
    # 2.5 MB spans several bz2 blocks (900 kB each), so each format has complete data to yield.
    payload = b"".join(b"line %d\n" % i for i in range(250_000))
    blob = compress(payload)
    stream = open_decompressed(io.BytesIO(blob[: len(blob) * 2 // 3]))
    items = list(guarded(iter(stream), "f"))
    assert isinstance(items[-1], ReadError) and items[-1].reason == reason
    assert 0 < len(items) - 1 < 250_000


def test_corrupt_gzip_is_an_input_fault():
    blob = bytearray(gzip.compress(PAYLOAD))
    blob[20:40] = b"\x00" * 20
    items = list(guarded(iter(open_decompressed(io.BytesIO(bytes(blob)))), "f"))
    assert isinstance(items[-1], ReadError) and items[-1].reason == "corrupt_compression"


def test_bugs_are_not_swallowed():
    def broken():
        yield 1
        raise KeyError("bug")

    with pytest.raises(KeyError):
        list(guarded(broken()))


# ------------------------------------------------------------------------------------------
# A toy source through the real runner: accounting, determinism, formats, errors.
# ------------------------------------------------------------------------------------------
def _lines(stream, path):
    for raw in stream:
        yield raw.decode("utf-8").rstrip("\n")


def _too_short(doc: Document):
    return Drop("too_short") if len(doc.text) < 3 else doc


def _build(pipeline, args):
    (
        pipeline
        | ReadFiles(args.input, _lines)
        | beam.Map(lambda t, added=args.added: Document(make_id("c4", t), t, "c4", added, {"n": len(t)}))
        | CountIn()
        | ApplyRule(_too_short)
        | KeepOnePerKey(lambda d: d.text.lower(), "duplicate")
        | WriteDocuments(args.output, args.num_shards, args.format)
    )


def _inputs(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.txt").write_text("alpha\nbeta\nx\nALPHA\n")
    (src / "b.txt.gz").write_bytes(gzip.compress("gamma\ndelta\nyy\n".encode()))
    blob = gzip.compress("".join(f"row number {i}\n" for i in range(5000)).encode())
    (src / "c.txt.gz").write_bytes(blob[: len(blob) // 2])  # truncated
    return src


def _run(src: Path, out: Path, *extra: str) -> Ledger:
    return runner.run("c4", "toy", _build, ["--input", str(src), "--output", str(out), "--added", "2026-01-01", *extra])


def test_toy_pipeline_accounts_for_every_document(tmp_path):
    ledger = _run(_inputs(tmp_path), tmp_path / "out", "--num_shards", "3")
    assert ledger.balanced
    assert ledger.dropped["too_short"] == 2 and ledger.dropped["duplicate"] == 1
    assert ledger.errors == {"truncated_input": 1}
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["documents-00000-of-00003.jsonl.gz", "documents-00001-of-00003.jsonl.gz",
                     "documents-00002-of-00003.jsonl.gz", "stats.json"]
    written = [json.loads(line) for f in (tmp_path / "out").glob("*.jsonl.gz") for line in gzip.open(f)]
    assert len(written) == ledger.documents_written
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["balanced"] is True


def test_toy_pipeline_is_byte_identical_across_runs(tmp_path):
    src = _inputs(tmp_path)
    _run(src, tmp_path / "one", "--num_shards", "2")
    _run(src, tmp_path / "two", "--num_shards", "2")
    for f in (tmp_path / "one").glob("*.jsonl.gz"):
        assert f.read_bytes() == (tmp_path / "two" / f.name).read_bytes()


def test_parquet_output_reads_with_pyarrow(tmp_path):
    ledger = _run(_inputs(tmp_path), tmp_path / "pq", "--format", "parquet")
    table = pq.read_table(tmp_path / "pq" / "documents-00000-of-00001.parquet")
    assert table.num_rows == ledger.documents_written
    assert table.column_names == ["id", "text", "source", "added", "metadata"]
    assert json.loads(table.column("metadata")[0].as_py())["n"] >= 3


def test_help_lists_our_flags_and_mentions_beam_options(capsys):
    with pytest.raises(SystemExit):
        runner.run("c4", "toy", _build, ["--help"])
    out = capsys.readouterr().out
    assert "--input" in out and "--num_shards" in out and "DataflowRunner" in out


@pytest.mark.parametrize("fmt,builder", [("jsonl.gz", "json"), ("parquet", "parquet")])
def test_hf_datasets_loads_our_shards(tmp_path, monkeypatch, fmt, builder):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = pytest.importorskip("datasets")
    ledger = _run(_inputs(tmp_path), tmp_path / "out", "--format", fmt, "--num_shards", "2")
    files = sorted(str(p) for p in (tmp_path / "out").glob(f"documents-*.{fmt}"))
    loaded = datasets.load_dataset(builder, data_files=files, split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == ledger.documents_written
    assert set(loaded.column_names) == {"id", "text", "source", "added", "metadata"}
    assert all(row["source"] == "c4" for row in loaded)
