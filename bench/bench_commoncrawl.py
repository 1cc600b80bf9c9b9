"""CommonCrawl (CCNet) pipeline vs its native floor, on a >= 20 MB WET file built from the samples.

Pipeline: `python -m pipelines.commoncrawl` in-process on the local FnApiRunner (one worker):
read WET -> min_len -> line dedup through the shuffle (partitions sized by the input) -> Reshuffle ->
LID -> perplexity -> bucket -> quality -> write, with Beam start-up included.

Floor: the native calls the pipeline cannot avoid, on the same documents (every page that passes
min_len, i.e. more pages than the pipeline's later stages see), in one plain Python loop:
fastText LID predict + fastText quality predict + SentencePiece encode + KenLM score of every
line + SHA-1 of every line. Reading the file and cc_net's normalisation are not in the floor.

Target: pipeline time <= 1.5x floor time.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parent.parent


def _models(work: Path, texts: dict[str, list[str]]) -> Path:
    """`models/` when `make models` built it, else tiny bench models built here."""
    repo_models = REPO / "models"
    if (repo_models / "quality" / "quality.bin").exists():
        return repo_models
    from corpus import lid
    from corpus.quality import TrainingSet, train_classifier

    models = work / "models"
    if (models / "quality" / "quality.bin").exists():
        return models
    lid.write_card(str(models))
    positives = [" ".join(t.split()) for t in texts["wikipedia"][:200]]
    negatives = [" ".join(t.split()) for t in (texts["wet"] + texts["c4"])[: max(1, len(positives))]]
    train_classifier(TrainingSet(positives, negatives, True, {"positives_source": "wikipedia sample text",
                                                              "fallback_reason": "bench"}),
                     str(models / "quality"))
    try:
        from corpus import lm

        lm.kenlm_tool("lmplz")
        lm.train_language_model(texts["wikipedia"] + texts["c4"], "en", str(models / "lm"),
                                lm.LMParams(order=5, created="2026-01-01"), reference=texts["c4"][:300],
                                training_source="bench: wikipedia + c4 samples")
    except (ImportError, FileNotFoundError):
        pass
    return models


def _floor(wet_paths: Sequence[Path], models: Path, has_lm: bool) -> tuple[int, float, float]:
    from corpus import lid
    from corpus.fileio import guarded, open_path
    from corpus.quality import QualityModel
    from corpus.wet import MIN_LEN, read_wet

    texts = []
    for wet_path in wet_paths:
        with open_path(str(wet_path)) as stream:
            texts += [d.text for d in guarded(read_wet(stream, str(wet_path)), str(wet_path))
                      if hasattr(d, "text") and len(d.text) >= MIN_LEN]
    identifier = lid.load_fasttext(lid.resolve(lid.model_from_card(str(models))))
    classifier = QualityModel.load(str(models / "quality"))._model
    sp = lm_model = None
    if has_lm:
        from corpus import lm

        model = lm.PerplexityModel.load(str(models / "lm"), "en")
        sp, lm_model = model.sp, model.lm
    sha1 = hashlib.sha1
    start, cpu = time.perf_counter(), time.process_time()
    for text in texts:
        identifier.predict(text.replace("\n", ""), k=1)
        classifier.predict(" ".join(text.split()), k=1)
        for line in text.split("\n"):
            sha1(line.encode("utf-8")).digest()
            if sp is not None and line:
                pieces = sp.encode(line, out_type=str)
                lm_model.score(" ".join(pieces), bos=True, eos=True)
    return len(texts), time.perf_counter() - start, time.process_time() - cpu


def run(work: Path) -> dict:
    from bench.corpus_builder import build_wet, sample_texts
    from corpus.samples import resolve_samples
    from pipelines import commoncrawl

    work.mkdir(parents=True, exist_ok=True)
    samples = resolve_samples(download=False)
    if samples is None:
        return {"skipped": "no samples"}
    texts = sample_texts(samples)
    wet_path = work / "input" / "bench.wet.gz"
    info_path = work / "input" / "bench.json"
    if not wet_path.exists() or not info_path.exists():
        info = build_wet(wet_path, samples, texts=texts)
        info_path.write_text(json.dumps(info))
    info = json.loads(info_path.read_text())
    models = _models(work, texts)
    has_lm = (models / "lm").is_dir() and bool(list((models / "lm").glob("en.*")))

    # Every stage sees every page it can (all buckets kept, no quality threshold), so the pipeline
    # does the same model work as the floor; the ledger still names each drop.
    args = ["--input", str(wet_path), "--output", str(work / "out"), "--overwrite", "--models", str(models),
            "--added", "2026-01-01", "--keep_buckets", "head,middle,tail", "--quality_threshold", "0"]
    if not has_lm:
        args.append("--no_perplexity")
    # The machine is shared and noisy: floor, pipeline, floor again; the faster floor counts.
    # Wall and CPU time (process_time covers the FnApiRunner's in-process worker threads).
    floor_docs, floor_s, floor_cpu = _floor([wet_path], models, has_lm)
    start, cpu = time.perf_counter(), time.process_time()
    ledger = commoncrawl.main(args)
    pipeline_s, pipeline_cpu = time.perf_counter() - start, time.process_time() - cpu
    _, floor_s2, floor_cpu2 = _floor([wet_path], models, has_lm)
    floor_s, floor_cpu = min(floor_s, floor_s2), min(floor_cpu, floor_cpu2)
    docs_in = ledger.documents_in
    return {
        "input": {**info, "path": os.path.relpath(info["path"], work)},
        "documents_in": docs_in,
        "documents_written": ledger.documents_written,
        "dropped": ledger.dropped,
        "pipeline_seconds": round(pipeline_s, 2),
        "pipeline_docs_per_s": round(docs_in / pipeline_s, 1),
        "floor_documents": floor_docs,
        "floor_seconds": round(floor_s, 2),
        "floor_docs_per_s": round(floor_docs / floor_s, 1),
        "ratio_pipeline_over_floor": round((pipeline_s / docs_in) / (floor_s / floor_docs), 2),
        "pipeline_cpu_seconds": round(pipeline_cpu, 2),
        "floor_cpu_seconds": round(floor_cpu, 2),
        "cpu_ratio_pipeline_over_floor": round((pipeline_cpu / docs_in) / (floor_cpu / floor_docs), 2),
        "target_ratio": 1.5,
        "perplexity_stage": has_lm,
        "models": str(models),
    }


if __name__ == "__main__":
    import sys

    print(json.dumps(run(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/work/bench_commoncrawl")), indent=2))
