"""The CommonCrawl pipeline end to end: dedup scopes on hand-made WET files, the ledger on the
real samples, the models' resolution and record, multi-process and portable (job service on
loopback) runners."""
from __future__ import annotations

import gzip
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from corpus import ccnet, lid, paths
from corpus.docfiles import iter_directory, iter_file
from corpus.document import Document
from corpus.fileio import guarded, open_path
from corpus.ledger import Ledger
from corpus.quality import TrainingSet, train_classifier
from corpus.steps.commoncrawl import CommonCrawlParams, MinLength
from corpus.wet import is_wet_file, read_wet
from pipelines import commoncrawl
from pipelines.runner import read_stats
from tests.test_engines import DASK_RUNNER, _outputs, dask_cluster, free_port, stop_process  # noqa: F401 - the cluster fixture
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
    (root / "README.txt").write_text("Not a WET file: listed, ignored, counted.\n")
    return root


def run_pipeline(input_dir: Path, output: Path, *extra: str) -> Ledger:
    return commoncrawl.main([
        "--input", str(input_dir), "--output", str(output), "--added", "2026-01-01", *extra,
    ])


def read_output(output: Path) -> dict[str, Document]:
    return {doc.metadata["url"]: doc for doc in iter_directory(str(output / "documents"))}


def documents_bytes(output: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((output / "documents").iterdir())}


NO_MODELS = ("--no_perplexity", "--no_quality")


def reference(wet_dir: Path, scope: str) -> tuple[list[Document], list]:
    """The pages that pass min_len and their in-memory reference dedup (corpus.ccnet)."""
    docs = []
    for path in sorted(p for p in wet_dir.iterdir() if is_wet_file(str(p))):
        with open_path(str(path)) as stream:
            docs += [d for d in guarded(read_wet(stream, str(path)), str(path)) if isinstance(d, Document)]
    keep = MinLength(CommonCrawlParams())
    docs = [d for d in docs if isinstance(keep(d), Document)]
    return docs, ccnet.dedup_in_memory(docs, ccnet.parse_scope(scope))


@pytest.mark.parametrize("scope", ["global", "shard", "group:2"])
def test_dedup_scopes(tmp_path, wet_dir, scope):
    ledger = run_pipeline(wet_dir, tmp_path / "out", *NO_MODELS, "--dedup_scope", scope, "--dedup_partitions", "3")
    docs = read_output(tmp_path / "out")
    texts = {url: d.text for url, d in docs.items()}
    assert ledger.balanced and ledger.documents_in == 9 and not ledger.errors
    assert ledger.info["files_read"] == 3 and ledger.info["files_ignored"] == 1
    inputs, outcomes = reference(wet_dir, scope)
    assert ledger.info["lines_in"] == sum(len(d.text.split("\n")) for d in inputs)
    assert ledger.info["lines_kept"] == sum(o.metadata["nlines"] for o in outcomes if isinstance(o, Document))
    assert ledger.dropped["too_short"] == 1
    assert ledger.dropped["language_not_kept"] == 1
    assert "http://f.example/" not in texts
    expected = {d.metadata["url"]: o.text for d, o in zip(inputs, outcomes) if isinstance(o, Document)}
    expected.pop("http://f.example/", None)
    assert texts == expected
    a = texts["http://a.example/"]
    assert a.count("Repeated line inside one page only.") == 1
    if scope == "global":
        assert all(X not in t and Y not in t for t in texts.values())
        assert "http://copy.example/g" not in texts and "http://copy.example/g2" not in texts
        assert ledger.dropped["all_lines_duplicated"] == 2
        samples = iter_file(str(tmp_path / "out" / "rejected" / "all_lines_duplicated.jsonl.gz"))
        assert sorted(d.metadata["url"] for d in samples) == ["http://copy.example/g", "http://copy.example/g2"]
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
    for key in ("url", "timestamp", "digest", "length", "nlines", "source_domain", "title",
                "original_nlines", "original_length", "line_ids", "cc_segment"):
        assert key in md


HOT = "Home | About us | Privacy policy | Terms of use | Contact"  # boilerplate on every page


def _growing_input(root: Path, files: int) -> Path:
    """`files` WET files of 25 distinct pages each, every page sharing one line with its neighbour
    file (so the dedup has duplicates to send back) and one line, HOT, with every page."""
    def word(number: int) -> str:  # cc_net's normalisation maps digits to 0: tell pages apart by letters
        return "".join(chr(ord("a") + int(digit)) for digit in f"{number:04d}")

    for f in range(files):
        records = [page(f"http://grow.example/{f}/{i}", f"topic {word(100 * f + i)}",
                        (f"Shared by the {word(f % 2 + 2 * (i % 5))} pages everywhere in the crawl.", HOT))
                   for i in range(25)]
        write_wet(root / f"g{f:03d}.wet.gz", records)
    return root


def _largest_groups(monkeypatch, input_dir: Path, output: Path, *extra: str) -> tuple[dict[str, tuple[int, int]], dict]:
    """Run the pipeline; the largest group each dedup stage received (elements, bytes), as the
    live view's `observe_group` reports it, and the run's recorded dedup size."""
    largest: dict[str, tuple[int, int]] = {}

    def observe(stage: str, elements: int, nbytes: int) -> None:
        old = largest.get(stage, (0, 0))
        largest[stage] = (max(old[0], elements), max(old[1], nbytes))

    monkeypatch.setattr(commoncrawl, "observe_group", observe)  # the in-process runner calls it here
    run_pipeline(input_dir, output, *NO_MODELS, *extra)
    return largest, read_stats(str(output)).options["line_dedup"]


def test_largest_dedup_group_stays_bounded_while_the_input_grows_4x(tmp_path, monkeypatch):
    monkeypatch.setattr(ccnet, "MIN_PARTITIONS", 1)  # the fixture is small: let the size alone decide
    small, large = _growing_input(tmp_path / "x1", 2), _growing_input(tmp_path / "x4", 8)
    partition_mb = sum(p.stat().st_size for p in small.iterdir()) / 3 / (1 << 20)
    bound = ["--dedup_partition_mb", str(partition_mb), "--dedup_group_mb", str(120 * ccnet.PAIR_BYTES / (1 << 20))]
    one, size1 = _largest_groups(monkeypatch, small, tmp_path / "o1", *bound)
    four, size4 = _largest_groups(monkeypatch, large, tmp_path / "o4", *bound)
    assert size1["partitions"] == 3 and 12 <= size4["partitions"] <= 13  # partitions grow with the input
    assert size1["group_pairs"] == size4["group_pairs"] == 120
    for stage in ("line_dedup_count", "line_dedup_partition", "line_dedup_join"):
        assert four[stage][0] <= 1.6 * one[stage][0] and four[stage][1] <= 1.6 * one[stage][1], (stage, one, four)
    assert four["line_dedup_partition"][0] <= 1.3 * 120 + four["line_dedup_count"][0]  # pairs + the dup hashes
    assert read_output(tmp_path / "o4") and all(HOT not in d.text for d in read_output(tmp_path / "o4").values())
    # the same 4x input with the 1x partition count: the groups grow with it
    fixed, _ = _largest_groups(monkeypatch, large, tmp_path / "f4", "--dedup_partitions", "3")
    assert fixed["line_dedup_join"][1] >= 3 * one["line_dedup_join"][1]
    # without the salts the partition holding HOT receives all its 200 pages' pairs: the check fails
    unsalted, _ = _largest_groups(monkeypatch, large, tmp_path / "u4", *bound[:2], "--dedup_group_mb", "64")
    assert unsalted["line_dedup_partition"][0] > 1.6 * one["line_dedup_partition"][0]


def test_salted_groups_remove_the_same_lines(tmp_path, wet_dir):
    """Partitions split into page-salted groups of 2 pairs find every duplicate the unsplit run finds."""
    whole = run_pipeline(wet_dir, tmp_path / "whole", *NO_MODELS, "--dedup_partitions", "2")
    salted = run_pipeline(wet_dir, tmp_path / "salted", *NO_MODELS, "--dedup_partitions", "2",
                          "--dedup_group_mb", str(2 * ccnet.PAIR_BYTES / (1 << 20)))
    assert documents_bytes(tmp_path / "salted") == documents_bytes(tmp_path / "whole")
    assert salted.info == whole.info and salted.dropped == whole.dropped


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
    lm.train_language_model(texts, "en", str(root / "lm"), lm.LMParams(order=3, vocab_size=1000, created="2026-01-01"),
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


def test_models_on_another_file_system_give_the_same_documents(tmp_path, wet_dir, cc_models):
    """`--models` through `corpus.paths` only: a copy on fsspec's memory:// (the in-process runner
    shares it) gives the same documents as the local directory."""
    remote = f"memory://models-{uuid.uuid4().hex}"
    for path in paths.list_files(str(cc_models)):
        paths.copy(path, paths.join(remote, os.path.relpath(path, cc_models)))
    extra = ["--quality_threshold", "0.0"] + ([] if _has_lm(cc_models) else ["--no_perplexity"])
    local = run_pipeline(wet_dir, tmp_path / "local", "--models", str(cc_models), *extra)
    moved = run_pipeline(wet_dir, tmp_path / "remote", "--models", remote, *extra)
    assert documents_bytes(tmp_path / "remote") == documents_bytes(tmp_path / "local")
    assert moved.dropped == local.dropped and moved.options["models_used"]["quality"]["path"].startswith(remote)


# ---------------------------------------------------------------------------------------------
# Other runners
# ---------------------------------------------------------------------------------------------
def test_multi_processing_matches_in_process(tmp_path, wet_dir):
    local = run_pipeline(wet_dir, tmp_path / "local", *NO_MODELS)
    multi = run_pipeline(wet_dir, tmp_path / "multi", *NO_MODELS,
                         "--direct_num_workers=2", "--direct_running_mode=multi_processing")
    assert multi.balanced and multi.documents_in == local.documents_in and multi.dropped == local.dropped
    assert multi.info == local.info
    assert documents_bytes(tmp_path / "multi") == documents_bytes(tmp_path / "local")


@pytest.mark.slow
def test_dask_runner_matches_local_with_models_and_a_grouped_scope(tmp_path, wet_dir, cc_models, dask_cluster):
    """What the cross-engine test does not cover: the group scope's side input, and every model's
    setup() on Dask's workers. Documents, rejected samples and the ledger are identical."""
    extra = ["--models", str(cc_models), "--quality_threshold", "0.0", "--keep_buckets", "head,middle,tail",
             "--dedup_scope", "group:2", "--rejected_samples", "all"]
    if not _has_lm(cc_models):
        extra.append("--no_perplexity")
    local = run_pipeline(wet_dir, tmp_path / "local", *extra)
    dask = run_pipeline(wet_dir, tmp_path / "dask", *extra, f"--runner={DASK_RUNNER}",
                        f"--dask_client_address={dask_cluster}")
    assert _outputs(tmp_path / "dask") == _outputs(tmp_path / "local")
    for field in ("documents_in", "documents_written", "dropped", "errors", "info"):
        assert getattr(dask, field) == getattr(local, field), field
    texts = {url: d.text for url, d in read_output(tmp_path / "dask").items()}
    assert X not in texts["http://a.example/"] and Y in texts["http://e.example/"]  # groups {s0, s1}, {s2}


@pytest.fixture(scope="module")
def job_service():
    port = free_port()
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
        stop_process(proc)


def test_portable_runner_on_loopback_matches_local(tmp_path, wet_dir, job_service):
    local = run_pipeline(wet_dir, tmp_path / "local", *NO_MODELS)
    portable = run_pipeline(wet_dir, tmp_path / "portable", *NO_MODELS, "--runner=PortableRunner",
                            f"--job_endpoint={job_service}", "--environment_type=LOOPBACK")
    assert documents_bytes(tmp_path / "portable") == documents_bytes(tmp_path / "local")
    assert portable.documents_in == local.documents_in
    assert portable.documents_written == local.documents_written and portable.balanced


FLAGS = {"--models": "models", "--min_len": "300", "--dedup_scope": "global", "--dedup_partitions": "None",
         "--dedup_partition_mb": "64.0",
         "--lid_model": "None", "--lang_threshold": "0.5", "--languages": "en", "--keep_buckets": "head,middle",
         "--quality_threshold": "0.25", "--no_perplexity": "False", "--no_quality": "False"}


def test_help_lists_every_flag_with_its_default():
    done = subprocess.run([sys.executable, "-m", "pipelines.commoncrawl", "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    entries = [" ".join(entry.split()) for entry in re.split(r"\n(?=  -)|\n\n", done.stdout)]
    for flag, default in FLAGS.items():
        [entry] = [e for e in entries if e.startswith(flag + " ")]
        assert entry.endswith(f"(default: {default})"), entry


@pytest.mark.parametrize("flag, value", [("--dedup_scope", "file"), ("--keep_buckets", "top")])
def test_bad_flag_values_stop_the_run_before_it_starts(tmp_path, flag, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        run_pipeline(tmp_path, tmp_path / "out", *NO_MODELS, flag, value)
    assert stopped.value.code == 2 and flag in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_models_fail_fast_with_the_command_that_builds_them(tmp_path, wet_dir):
    with pytest.raises(SystemExit, match="no language model under .*make models"):
        run_pipeline(wet_dir, tmp_path / "out", "--models", str(tmp_path / "none"), "--no_quality")
    with pytest.raises(SystemExit, match="no quality classifier at .*make models"):
        run_pipeline(wet_dir, tmp_path / "out", "--models", str(tmp_path / "none"), "--no_perplexity")
    assert not (tmp_path / "out").exists()


def test_models_used_are_recorded_and_the_lid_card_is_followed(tmp_path, wet_dir, cc_models):
    extra = ["--models", str(cc_models), "--quality_threshold", "0.0"]
    if not _has_lm(cc_models):
        extra.append("--no_perplexity")
    run_pipeline(wet_dir, tmp_path / "out", *extra)
    options = read_stats(str(tmp_path / "out")).options
    used = options["models_used"]
    assert used["lid"]["path"] == lid.PACKAGED  # from cc_models/lid.json, resolved on the workers
    [warning] = options["warnings"]  # cc_models' classifier was trained with the fallback
    assert "fallback" in warning and "looks like Wikipedia" in warning
    assert used["quality"]["path"] == str(cc_models / "quality" / "quality.bin")
    assert used["quality"]["digest"].startswith("sha256:") and used["quality"]["fallback_used"] is True
    if _has_lm(cc_models):
        assert set(used["lm"]) == {"en"} and used["lm"]["en"]["kenlm_sha256"]
