"""C4/CommonCrawl overlap on the bench corpus: the cross-source near-dedup job over the C4
pipeline's output (the C4 sample) and the CommonCrawl pipeline's output of the bench WET
(bench_commoncrawl), C4 first in priority.

The bench WET re-assembles its pages from the WET, C4 and Wikipedia samples with one word inserted
into every line of three or more words (bench/corpus_builder.py), and names the origin in each
page's URL (`https://c4.bench.example/...`). So the overlap found at J >= 0.9 can be set against
how many CommonCrawl pages came from a C4 document at all: the edit rate decides how many of those
stay above the threshold.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

from corpus.docfiles import iter_directory


def _origin(url: str) -> str:
    host = url.split("//", 1)[-1].split("/", 1)[0]
    return host.split(".", 1)[0] if host.endswith(".bench.example") else "other"


def run(work: Path) -> dict:
    from bench import bench_commoncrawl
    from corpus.samples import resolve_samples
    from pipelines import c4, crossdedup

    if resolve_samples(download=False) is None:
        return {"skipped": "no samples"}
    cc_out = work.parent / "bench_commoncrawl" / "out"
    if not (cc_out / "stats.json").exists():
        bench_commoncrawl.run(work.parent / "bench_commoncrawl")
    work.mkdir(parents=True, exist_ok=True)
    sources = work / "sources"
    sources.mkdir(exist_ok=True)
    link = sources / "commoncrawl"  # crossdedup names each input by its directory
    if not link.is_symlink():
        os.symlink(os.path.relpath(cc_out, sources), link)
    for previous in (sources / "c4", work / "dedup"):  # a fresh run each time (no --overwrite needed)
        shutil.rmtree(previous, ignore_errors=True)
    c4.main(["--output", str(sources / "c4"), "--added", "2026-01-01"])

    start = time.perf_counter()
    crossdedup.main(["--input", str(sources / "c4"), str(link), "--output", str(work / "dedup"),
                     "--priority", "c4,commoncrawl"])
    seconds = time.perf_counter() - start
    stats = {s: json.loads((work / "dedup" / s / "stats.json").read_text()) for s in ("c4", "commoncrawl")}
    cc_in = Counter(_origin(d.metadata.get("url", "")) for d in iter_directory(str(cc_out)))
    kept = Counter(_origin(d.metadata.get("url", "")) for d in iter_directory(str(work / "dedup" / "commoncrawl")))
    removed = {k: cc_in[k] - kept.get(k, 0) for k in cc_in}
    cc_docs = stats["commoncrawl"]["documents_in"]
    dropped = stats["commoncrawl"]["dropped"].get("near_duplicate_of_c4", 0)
    return {
        "c4_documents": stats["c4"]["documents_in"],
        "commoncrawl_documents": cc_docs,
        "commoncrawl_near_duplicate_of_c4": dropped,
        "overlap_share_of_commoncrawl": round(dropped / cc_docs, 4) if cc_docs else 0.0,
        "commoncrawl_pages_by_origin": dict(sorted(cc_in.items())),
        "removed_by_origin": dict(sorted(removed.items())),
        "c4_derived_pages_found": round(removed.get("c4", 0) / cc_in["c4"], 4) if cc_in.get("c4") else 0.0,
        "crossdedup_seconds": round(seconds, 2),
        "threshold": 0.9,
    }


if __name__ == "__main__":
    import sys

    print(json.dumps(run(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/work/bench_crossdedup")), indent=2))
