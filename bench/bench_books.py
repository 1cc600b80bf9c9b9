"""Books near-dedup: MinHash signatures/s of ours vs datatrove's MinhashDedupSignature, plus the
dedup's recall/precision against exact Jaccard.

Same documents, same process, interleaved rounds (best round kept, the machine is noisy):
- ours: `corpus.minhash.shingles` + `signature` with the default 11x9 = 99 hashes, and with
  datatrove's 14x8 = 112 hashes for a like-for-like count;
- datatrove 0.10.1: `MinhashDedupSignature.get_shingles` + `get_signature` (its default config:
  word 5-grams, 14 buckets x 8 hashes, 64-bit xxhash), the compute of its stage 1 without the
  file writing.
Documents: the Gutenberg samples (licence stripped) plus near-duplicate variants of each, or
synthetic books when the samples are absent; and the same text cut into ~2 kB pieces (whole
paragraphs) for the short-document case (datatrove's spaCy word tokenizer dominates its cost and
grows faster than linearly on whole books).
"""
from __future__ import annotations

import random
import time
from pathlib import Path

from corpus import books, minhash
from corpus.minhash import MinHashParams
from corpus.samples import local_samples, SAMPLE_FOLDERS


def _documents(variants: int = 3) -> tuple[list[str], str]:
    root = local_samples()
    texts: list[str] = []
    if root is not None and (root / SAMPLE_FOLDERS["books"]).is_dir():
        for path in sorted((root / SAMPLE_FOLDERS["books"]).glob("*.txt")):
            doc = books.read_gutenberg_text(path.read_bytes(), path.name)
            out = books.strip_gutenberg(doc)
            if not isinstance(out, books.Drop):
                texts.append(out.text)
        origin = "gutenberg samples"
    if not texts:
        rng = random.Random(0)
        vocab = [f"w{i}" for i in range(20000)]
        texts = [" ".join(rng.choices(vocab, k=30000)) for _ in range(3)]
        origin = "synthetic"
    rng = random.Random(1)
    docs = list(texts)
    for text in texts:
        for _ in range(variants):
            words = text.split(" ")
            for i in rng.sample(range(len(words)), len(words) // 50):
                words[i] = "edited"
            docs.append(" ".join(words))
    return docs, origin


def _chunks(texts: list[str], size: int = 2000, limit: int = 400) -> list[str]:
    """Web-page-sized pieces (~2 kB, whole paragraphs) of the books, for the short-document case."""
    out: list[str] = []
    for text in texts:
        piece: list[str] = []
        length = 0
        for paragraph in text.split("\n\n"):
            piece.append(paragraph)
            length += len(paragraph)
            if length >= size:
                out.append("\n\n".join(piece))
                piece, length = [], 0
    return out[:limit]


def _time(fn, docs: list[str]) -> float:
    start = time.perf_counter()
    for text in docs:
        fn(text)
    return time.perf_counter() - start


def run(work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    docs, origin = _documents()
    megabytes = sum(len(t.encode("utf-8")) for t in docs) / 1e6

    def ours(num_hashes: int):
        return lambda text: minhash.signature(minhash.shingles(text, 5), num_hashes, 1)

    candidates = {"ours_99": ours(99), "ours_112": ours(112)}
    try:
        from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

        step = MinhashDedupSignature(output_folder=str(work / "datatrove_sigs"), config=MinhashConfig())
        candidates["datatrove"] = lambda text: step.get_signature(step.get_shingles(text))
        datatrove_error = None
    except Exception as exc:  # noqa: BLE001 - report instead of failing the whole bench
        datatrove_error = f"{type(exc).__name__}: {exc}"

    for fn in candidates.values():  # warm caches (word hashes, tokenizer models)
        fn(docs[0])
    short = _chunks(docs)
    best: dict[str, float] = {}
    best_short: dict[str, float] = {}
    for _ in range(2):
        for name, fn in candidates.items():
            seconds = _time(fn, docs)
            best[name] = min(best.get(name, seconds), seconds)
            seconds = _time(fn, short)
            best_short[name] = min(best_short.get(name, seconds), seconds)

    result: dict = {
        "documents": len(docs),
        "documents_from": origin,
        "megabytes": round(megabytes, 2),
        "params": {"ngram": 5, "bands": 11, "rows": 9, "threshold": 0.9},
        "s_curve_11x9": {str(j): round(p, 5) for j, p in minhash.s_curve(11, 9).items()},
    }
    for name, seconds in best.items():
        result[f"{name}_docs_per_s"] = round(len(docs) / seconds, 2)
        result[f"{name}_mb_per_s"] = round(megabytes / seconds, 2)
    result["short_documents"] = len(short)
    for name, seconds in best_short.items():
        result[f"short_{name}_docs_per_s"] = round(len(short) / seconds, 1)
    if "datatrove" in best:
        result["ratio_ours_99_vs_datatrove"] = round(best["datatrove"] / best["ours_99"], 2)
        result["ratio_ours_112_vs_datatrove"] = round(best["datatrove"] / best["ours_112"], 2)
        result["short_ratio_ours_99_vs_datatrove"] = round(best_short["datatrove"] / best_short["ours_99"], 2)
        result["short_ratio_ours_112_vs_datatrove"] = round(best_short["datatrove"] / best_short["ours_112"], 2)
    else:
        result["datatrove_error"] = datatrove_error

    # Recall / precision of LSH + exact verification against exact Jaccard >= 0.9.
    start = time.perf_counter()
    result["quality_synthetic"] = minhash.evaluate(minhash.perturbed_pairs(600, seed=11), MinHashParams())
    words = [w for t in docs[: len(docs) // 4] for w in t.split()]
    result["quality_book_text"] = minhash.evaluate(minhash.perturbed_pairs(300, seed=5, words_from=words), MinHashParams())
    result["quality_seconds"] = round(time.perf_counter() - start, 2)
    result["cluster_quality"] = _cluster_quality(words)
    return result


def _all_pairs(ids) -> list[tuple[str, str]]:
    """The candidate generation before the star (every pair of a bucket): the baseline."""
    members = sorted(set(ids))
    return [(a, b) for i, a in enumerate(members) for b in members[i + 1:]]


def _cluster_quality(words: list[str]) -> dict:
    """Star candidates + components against the truth (all-pairs exact Jaccard components) on
    corpora of near-copy families, and the all-pairs candidate generation on the same corpora."""
    out: dict = {}
    for name, docs in (("synthetic", minhash.near_copy_families(60, 5, seed=3)),
                       ("book_text", minhash.near_copy_families(40, 8, seed=4, words_from=words))):
        out[f"star_{name}"] = minhash.evaluate_clusters(docs)
        star, minhash.bucket_pairs = minhash.bucket_pairs, _all_pairs
        try:
            out[f"all_pairs_{name}"] = minhash.evaluate_clusters(docs)
        finally:
            minhash.bucket_pairs = star
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/work/bench_books")), indent=2))
