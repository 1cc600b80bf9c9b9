"""One document schema for every source: the tools people use load all seven outputs together."""
from __future__ import annotations

import gzip
import importlib
import json
import math
import time
from pathlib import Path

import pytest

from corpus import schema
from corpus.docfiles import encode_jsonl_gz, encode_parquet, iter_directory, read_documents
from corpus.document import SOURCES, Document

# The samples' small files: each pipeline runs in a few seconds (github: two repositories).
INPUTS = {
    "c4": ["c4/c4-sample.01.json.gz", "c4/c4-train.00000-of-01024-30K.json"],
    "books": ["gutenberg/pg1513.txt"],
    "arxiv": ["arxiv"],
    "stackexchange": ["stackexchange/coffee.stackexchange.com"],
    "wikipedia": ["wikipedia/dbpedia-minidumps"],
    "commoncrawl": ["commoncrawl/wet"],
}
EXTRA = {"commoncrawl": ["--no_perplexity", "--no_quality"], "github": ["--max_repos", "2"]}


@pytest.fixture(scope="module")
def outputs(samples, tmp_path_factory) -> Path:
    """ROOT/<source>/ from each of the seven pipelines (JSONL), and a Parquet copy of every shard
    beside it, written by the Parquet encoder the pipelines use."""
    root = tmp_path_factory.mktemp("root")
    models = tmp_path_factory.mktemp("models")  # no LM or classifier: LID only (the packaged model)
    for source in SOURCES:
        argv = ["--output", str(root / source), "--added", "2026-01-01", *EXTRA.get(source, [])]
        if source in INPUTS:
            argv += ["--input", *[str(samples / p) for p in INPUTS[source]]]
        if source == "commoncrawl":
            argv += ["--models", str(models)]
        ledger = importlib.import_module(f"pipelines.{source}").main(argv)
        assert ledger.balanced and ledger.documents_written > 0, source
        documents = root / source / "documents"
        for shard in sorted(documents.glob("*.jsonl.gz")):
            docs = list(iter_directory(str(shard)))
            (documents / shard.name.replace(".jsonl.gz", ".parquet")).write_bytes(encode_parquet(docs))
    return root


def _count(root: Path) -> int:
    return sum(1 for s in SOURCES for _ in iter_directory(str(root / s / "documents" / "*.jsonl.gz")))


def test_common_fields_are_typed_the_same_for_every_source(outputs):
    langs, prog, kinds = set(), set(), {}
    for line in (l for f in sorted(outputs.glob("*/documents/*.jsonl.gz")) for l in gzip.open(f)):
        record = json.loads(line)
        assert list(record) == ["id", "text", "source", "added", "metadata"]
        assert list(record["metadata"]) == [*schema.COMMON_FIELDS, "extra"]
        assert record["added"] == "2026-01-01T00:00:00Z"
        assert isinstance(json.loads(record["metadata"]["extra"]), dict)
        for key in schema.STRING_FIELDS:
            assert isinstance(record["metadata"][key], str), (record["source"], key)
        stamp = record["metadata"]["timestamp"]
        assert stamp is None or schema.canonical_time(stamp) == stamp
        kinds.setdefault(record["source"], set()).add(stamp is None)
        langs.add(record["metadata"]["language"])
        prog.add(record["metadata"]["programming_language"])
    assert set(kinds) == set(SOURCES)
    assert all(schema.is_language_code(lang) for lang in langs - {""})  # no "English", no "Python"
    assert "Python" in prog
    assert kinds["commoncrawl"] == kinds["c4"] == kinds["stackexchange"] == {False}  # every page has a date


def test_datasets_loads_all_sources_in_both_formats(outputs, tmp_path):
    datasets = pytest.importorskip("datasets")
    cache = str(tmp_path / "hf")
    js = datasets.load_dataset("json", data_files=str(outputs / "*/documents/*.jsonl.gz"), split="train",
                               cache_dir=cache)
    pq = datasets.load_dataset("parquet", data_files=str(outputs / "*/documents/*.parquet"), split="train",
                               cache_dir=cache)
    assert js.num_rows == pq.num_rows == _count(outputs)
    # The same schema in both formats; timestamps are whole seconds, which JSON readers infer as
    # timestamp[s] and Parquet (no seconds unit) stores as timestamp[ms].
    unit = {"timestamp[s]": "timestamp", "timestamp[ms]": "timestamp"}
    assert json.loads(json.dumps(js.features.to_dict()).replace("timestamp[s]", "timestamp")) == \
        json.loads(json.dumps(pq.features.to_dict()).replace("timestamp[ms]", "timestamp"))
    assert {js.features["added"].dtype, pq.features["added"].dtype} <= set(unit)
    assert sorted(zip(js["id"], js["added"])) == sorted(zip(pq["id"], pq["added"]))
    assert set(js.unique("source")) == set(SOURCES)
    github = js.filter(lambda r: r["source"] == "github")
    assert github[0]["metadata"]["programming_language"] and github[0]["metadata"]["language"] == ""
    # A first file without any timestamp (GitHub) fixes `null` as the type unless told the schema.
    files = [str(p) for s in ("github", "c4") for p in sorted((outputs / s / "documents").glob("*.jsonl.gz"))]
    typed = datasets.load_dataset("json", data_files=files, split="train", cache_dir=cache,
                                  features=datasets.Features.from_arrow_schema(schema.arrow_schema()))
    assert typed.num_rows == sum(1 for f in files for _ in iter_directory(f))


def test_pyarrow_dataset_over_every_parquet_shard_filters_on_metadata(outputs):
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    started = time.monotonic()
    dataset = ds.dataset(sorted(str(p) for p in outputs.glob("*/documents/*.parquet")), format="parquet")
    assert dataset.schema == schema.arrow_schema()
    english = dataset.to_table(columns=["id", "source"], filter=pc.field("metadata", "language") == "en")
    assert set(english.column("source").to_pylist()) >= {"c4", "commoncrawl", "stackexchange"}
    assert time.monotonic() - started < 30


def test_duckdb_queries_metadata_fields_in_parquet_and_jsonl(outputs):
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    parquet = con.sql(f"SELECT source, metadata.url, metadata.language, metadata.timestamp, added FROM "
                      f"read_parquet('{outputs}/*/documents/*.parquet')").fetchall()
    jsonl = con.sql(f"SELECT source, metadata.url, metadata.language, metadata.timestamp, added FROM "
                    f"read_json_auto('{outputs}/*/documents/*.jsonl.gz')").fetchall()
    assert len(parquet) == len(jsonl) == _count(outputs)
    assert sorted(parquet, key=repr) == sorted(jsonl, key=repr)  # the same values and types
    wiki = con.sql(f"SELECT count(*) FROM read_parquet('{outputs}/*/documents/*.parquet') WHERE "
                   "json_extract_string(metadata.extra, '$.dbname') IS NOT NULL").fetchone()[0]
    assert wiki == sum(1 for _ in iter_directory(str(outputs / "wikipedia" / "documents" / "*.parquet")))


def test_documents_round_trip_through_both_encoders(outputs):
    for source in SOURCES:
        for shard in sorted((outputs / source / "documents").glob("*.jsonl.gz")):
            docs = list(iter_directory(str(shard)))
            parquet = Path(str(shard).replace(".jsonl.gz", ".parquet"))
            back = list(iter_directory(str(parquet)))
            assert back == docs
            assert encode_jsonl_gz(back) == shard.read_bytes()  # read + write again: the same bytes
            assert encode_parquet(back) == parquet.read_bytes()


def test_old_layouts_still_read():
    flat = {"id": "c4/1", "text": "t", "source": "c4", "added": "2026-01-01",
            "metadata": {"url": "http://a", "language": "en", "split": "train"}}
    old_jsonl = Document.from_json(json.dumps(flat))
    old_parquet = Document.from_record({**flat, "metadata": json.dumps(flat["metadata"])})
    assert old_jsonl == old_parquet
    assert old_jsonl.metadata == flat["metadata"] and old_jsonl.added == "2026-01-01T00:00:00Z"


def test_values_that_do_not_fit_are_kept_in_extra_and_json_is_strict():
    meta = {"language": "English", "title": 7, "timestamp": "last tuesday", "score": math.nan,
            "scores": [math.inf, -math.inf, 1.5], "programming_language": "Python", "deep": [[[[1]]]]}
    doc = Document("x/1", "t", "x", "2026-01-01T10:11:12+02:00", meta)
    line = doc.to_json()
    json.loads(line, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    record = json.loads(line)
    assert record["added"] == "2026-01-01T08:11:12Z"
    assert record["metadata"]["language"] == "" and record["metadata"]["timestamp"] is None
    assert record["metadata"]["programming_language"] == "Python"
    extra = json.loads(record["metadata"]["extra"])
    assert extra == {"language": "English", "title": 7, "timestamp": "last tuesday", "score": "NaN",
                     "scores": ["Infinity", "-Infinity", 1.5], "deep": [[[[1]]]]}
    back = Document.from_json(line)
    assert back.to_json() == line and back.metadata["language"] == "English"
    table_doc = next(iter(read_documents(_buffered(encode_parquet([doc])), "x.parquet")))
    assert table_doc == back


def test_times_are_utc_seconds():
    assert schema.canonical_time("2015-01-29T06:54:06.853") == "2015-01-29T06:54:06Z"
    assert schema.canonical_time("2022-08-04T21:47:40+00:00") == "2022-08-04T21:47:40Z"
    assert schema.canonical_time("2019-04-25") == "2019-04-25T00:00:00Z"
    assert schema.canonical_time("0001-01-01T00:00:00+01:00") is None  # before year 1 in UTC
    assert schema.canonical_time("x" * 10_000) is None and schema.canonical_time(12) is None


def test_language_names_become_codes():
    assert schema.language_code("English") == "en" and schema.language_code("german") == "de"
    assert schema.language_code("uk") == "uk" and schema.language_code("Klingonish") is None


def _buffered(payload: bytes):
    import io

    return io.BufferedReader(io.BytesIO(payload))


@pytest.mark.timeout(20)
def test_hostile_records_are_malformed_lines_not_crashes():
    deep = "[" * 100_000 + "]" * 100_000
    lines = [json.dumps({"id": "a", "text": "t", "metadata": {**dict.fromkeys(schema.COMMON_FIELDS, ""),
                                                              "timestamp": None, "extra": deep}}),
             json.dumps({"id": "b", "text": "t", "metadata": deep}),
             "[1, 2]", json.dumps({"id": "c", "text": "t", "metadata": 5}),
             Document("x/1", "good", "x", "2026-01-01", {"url": "u"}).to_json()]
    items = list(read_documents(_buffered(("\n".join(lines) + "\n").encode()), "h.jsonl"))
    assert [getattr(i, "reason", None) for i in items[:4]] == ["malformed_json"] * 4
    assert isinstance(items[4], Document) and items[4].metadata == {"url": "u"}
