"""The CommonCrawl pipeline end to end: dedup scopes on hand-made WET files, the ledger on the
real samples, multi-process and portable (job service on loopback) runners."""
from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corpus import ccnet, lid
from corpus.document import Document
from corpus.fileio import guarded, open_path
from corpus.ledger import Ledger
from corpus.quality import TrainingSet, train_classifier
from corpus.wet import min_length_rule, read_wet
from corpus.docfiles import iter_directory
from pipelines import commoncrawl
from pipelines.runner import read_stats
from tests.wet_fixtures import english_page, wet_record, write_wet

X = "Shared across files: the weather forecast for the weekend promises sunshine and light wind."
Y = "Another shared sentence: subscribe to our newsletter to receive the latest local headlines."
FRENCH = [
    "Le conseil municipal s'est réuni mardi soir pour examiner le budget annuel de la commune.",
    "Plusieurs conseillers ont demandé davantage d'investissements dans les transports publics.",
    "Après un long débat, la proposition a été adoptée à une courte majorité de sept voix.",
    "Les habitants pourront donner leur avis lors d'une réunion publique le mois prochain.",
]


def page(url: str, topic: str, extra: tuple[str, ...] = ()) -> bytes:
    return wet_record(url, topic.title(), [*english_page(topic), *extra])


@pytest.fixture(scope="module")
def wet_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wet")
    dup_page = page("http://copy.example/g", "gardening")
    write_wet(root / "s0.wet.gz", [
        page("http://a.example/", "apples", (X, "Repeated line inside one page only.", "Repeated line inside one page only.")),
        page("http://b.example/", "bicycles", (Y,)),
        dup_page,
    ])
    write_wet(root / "s1.wet.gz", [
        page("http://c.example/", "canoes", (X,)),
        page("http://d.example/", "dentists"),
    ], compression="gzip")
    write_wet(root / "s2.wet.gz", [
        page("http://e.example/", "elephants", (Y,)),
        wet_record("http://f.example/", "Conseil", FRENCH),
        wet_record("http://short.example/", "Short", ["Too short to keep."]),
        dup_page.replace(b"http://copy.example/g", b"http://copy.example/g2"),
    ], compression="plain")
    return root


def run_pipeline(input_dir: Path, output: Path, *extra: str) -> Ledger:
    return commoncrawl.main([
        "--input", str(input_dir), "--output", str(output), "--added", "2026-01-01", *extra,
    ])


def read_output(output: Path) -> dict[str, Document]:
    return {doc.metadata["url"]: doc for doc in iter_directory(str(output))}


NO_MODELS = ("--no_perplexity", "--no_quality")


def reference(wet_dir: Path, scope: str) -> dict[str, str]:
    """The in-memory reference dedup (corpus.ccnet) of the English pages, by URL."""
    docs = []
    for path in sorted(wet_dir.iterdir()):
        with open_path(str(path)) as stream:
            docs += [d for d in guarded(read_wet(stream, str(path)), str(path)) if isinstance(d, Document)]
    keep = min_length_rule()
    docs = [d for d in docs if isinstance(keep(d), Document)]
    out = ccnet.dedup_in_memory(docs, ccnet.parse_scope(scope))
    return {d.metadata["url"]: o.text for d, o in zip(docs, out) if isinstance(o, Document)}


@pytest.mark.parametrize("scope", ["global", "shard", "group:2"])
def test_dedup_scopes(tmp_path, wet_dir, scope):
    ledger = run_pipeline(wet_dir, tmp_path / "out", *NO_MODELS, "--dedup_scope", scope, "--dedup_partitions", "3")
    docs = read_output(tmp_path / "out")
    texts = {url: d.text for url, d in docs.items()}
    assert ledger.balanced and ledger.documents_in == 9
    assert ledger.dropped["too_short"] == 1
    assert ledger.dropped["language_not_kept"] == 1
    assert "http://f.example/" not in texts
    expected = reference(wet_dir, scope)
    expected.pop("http://f.example/", None)
    assert texts == expected
    a = texts["http://a.example/"]
    assert a.count("Repeated line inside one page only.") == 1
    if scope == "global":
        assert all(X not in t and Y not in t for t in texts.values())
        assert "http://copy.example/g" not in texts and "http://copy.example/g2" not in texts
        assert ledger.dropped["all_lines_duplicated"] == 2
    elif scope == "shard":
        assert X in a and X in texts["http://c.example/"] and Y in texts["http://e.example/"]
        assert "http://copy.example/g" in texts and "http://copy.example/g2" in texts
    else:  # files sorted, grouped two at a time: {s0, s1}, {s2}
        assert X not in a and X not in texts["http://c.example/"]
        assert Y in texts["http://b.example/"] and Y in texts["http://e.example/"]
        assert "http://copy.example/g" in texts and "http://copy.example/g2" in texts
    md = docs["http://a.example/"].metadata
    assert md["original_nlines"] == 9 and md["nlines"] == len(a.split("\n"))
    assert md["line_ids"][0] == 0 and md["language"] == "en" and md["language_score"] >= 0.5
    for key in ("url", "date_download", "digest", "length", "nlines", "source_domain", "title",
                "original_nlines", "original_length", "line_ids", "cc_segment"):
        assert key in md


def test_truncated_input_is_counted_and_good_records_kept(tmp_path):
    records = [page(f"http://t.example/{t}", t) for t in ("oranges", "lemons", "limes", "melons")]
    path = write_wet(tmp_path / "in" / "t.wet.gz", records, compression="gzip")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.75)])
    ledger = run_pipeline(tmp_path / "in", tmp_path / "out", *NO_MODELS)
    assert ledger.errors == {"truncated_input": 1}
    assert 1 <= ledger.documents_in < 4 and ledger.balanced


# ---------------------------------------------------------------------------------------------
# Models for the full chain, built once (tiny: stdlib docstrings as "Wikipedia")
# ---------------------------------------------------------------------------------------------
def _stdlib_texts(limit: int = 150) -> list[str]:
    """Module docstrings of the standard library (real English prose), read without importing."""
    import re
    import sysconfig

    leading = re.compile(r'\A(?:\s|#[^\n]*\n)*[rRuU]?("""|\'\'\')(.*?)\1', re.S)
    texts = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            match = leading.match(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
        doc = match.group(2).strip() if match else ""
        if doc and len(doc) > 300 and doc.isascii():
            texts.append(doc)
        if len(texts) >= limit:
            break
    return texts


@pytest.fixture(scope="session")
def cc_models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    lid.write_card(str(root))
    texts = _stdlib_texts()
    spam = ["\n".join(f"Click here for cheap {w} deals and win a free prize today number {i}!" for i in range(8))
            for w in ("pills", "casino", "loans", "watches", "shoes", "phones", "tickets", "coupons")]
    training = TrainingSet(positives=[" ".join(t.split()) for t in texts[:8]],
                           negatives=[" ".join(t.split()) for t in spam], fallback_used=True,
                           stats={"positives_source": "test", "fallback_reason": "test"})
    train_classifier(training, str(root / "quality"), {"dim": 16, "bucket": 10_000})
    try:
        from corpus import lm

        lm.kenlm_tool("lmplz")
        lm.kenlm_tool("build_binary")
    except (ImportError, FileNotFoundError):
        return root
    lm.train_language_model(texts, "en", str(root / "lm"), order=3, vocab_size=1000, created="2026-01-01",
                            training_source="stdlib docstrings (test)")
    return root


def _has_lm(models: Path) -> bool:
    return (models / "lm").is_dir() and any((models / "lm").glob("en*"))


def test_full_chain_on_fixture(tmp_path, wet_dir, cc_models):
    extra = ["--models", str(cc_models), "--quality_threshold", "0.0", "--keep_buckets", "head,middle,tail"]
    if not _has_lm(cc_models):
        extra.append("--no_perplexity")
    ledger = run_pipeline(wet_dir, tmp_path / "out", *extra)
    docs = read_output(tmp_path / "out")
    assert ledger.balanced and docs
    for doc in docs.values():
        assert 0.0 <= doc.metadata["wiki_prob"] <= 1.0
        if _has_lm(cc_models):
            assert doc.metadata["bucket"] in ("head", "middle", "tail") and doc.metadata["perplexity"] > 0


def test_real_samples_ledger_balanced(tmp_path, samples, cc_models):
    wet = samples / "commoncrawl" / "wet"
    if not wet.is_dir():
        pytest.skip("no CommonCrawl WET samples")
    extra = ["--models", str(cc_models)] + ([] if _has_lm(cc_models) else ["--no_perplexity"])
    ledger = run_pipeline(wet, tmp_path / "out", *extra)
    stats = read_stats(str(tmp_path / "out"))
    assert ledger.balanced and stats.balanced
    expected_in = sum(gzip.decompress(p.read_bytes()).count(b"WARC-Type: conversion") for p in wet.glob("*.wet.gz"))
    assert stats.documents_in == expected_in
    assert stats.documents_written + sum(stats.dropped.values()) == expected_in
    assert stats.documents_written == len(read_output(tmp_path / "out"))


# ---------------------------------------------------------------------------------------------
# Other runners
# ---------------------------------------------------------------------------------------------
def test_multi_processing_matches_in_process(tmp_path, wet_dir):
    local = run_pipeline(wet_dir, tmp_path / "local", *NO_MODELS)
    multi = run_pipeline(wet_dir, tmp_path / "multi", *NO_MODELS,
                         "--direct_num_workers=2", "--direct_running_mode=multi_processing")
    assert multi.balanced and multi.documents_in == local.documents_in and multi.dropped == local.dropped
    shard = "documents-00000-of-00001.jsonl.gz"
    assert (tmp_path / "multi" / shard).read_bytes() == (tmp_path / "local" / shard).read_bytes()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def job_service():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("localhost", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.skip("the Beam job service did not start")
                time.sleep(0.2)
        else:
            pytest.skip("the Beam job service did not open its port")
        yield f"localhost:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_portable_runner_on_loopback_matches_local(tmp_path, wet_dir, job_service):
    local = run_pipeline(wet_dir, tmp_path / "local", *NO_MODELS)
    portable = run_pipeline(wet_dir, tmp_path / "portable", *NO_MODELS, "--runner=PortableRunner",
                            f"--job_endpoint={job_service}", "--environment_type=LOOPBACK")
    shard = "documents-00000-of-00001.jsonl.gz"
    assert (tmp_path / "portable" / shard).read_bytes() == (tmp_path / "local" / shard).read_bytes()
    assert portable.documents_in == local.documents_in
    assert portable.documents_written == local.documents_written and portable.balanced


def test_help_lists_options():
    done = subprocess.run([sys.executable, "-m", "pipelines.commoncrawl", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for flag in ("--dedup_scope", "--lid_model", "--lang_threshold", "--keep_buckets", "--models"):
        assert flag in done.stdout
    json.dumps(done.stdout)
