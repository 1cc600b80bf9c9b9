"""The scale probe's helpers (bench/bench_scale.py, bench/corpus_builder.py): its books input has
near duplicates only inside each planted cluster, and it reads the largest group back from the
`observe_group` metrics of a real pipeline result."""
from __future__ import annotations

import json
import random
from pathlib import Path

import apache_beam as beam
import numpy as np

from bench.bench_scale import _largest_groups
from bench.corpus_builder import build_books
from corpus.minhash import shingles
from pipelines.runner import LOCAL_RUNNER
from pipelines.transforms import observe_group


def _jaccard(a: str, b: str) -> float:
    left, right = shingles(a, 5), shingles(b, 5)
    return len(np.intersect1d(left, right)) / len(np.union1d(left, right))


def _book(rng: random.Random, words: list[str]) -> str:
    return "\n\n".join("\n".join(" ".join(rng.choices(words, k=12)) for _ in range(4)) for _ in range(150))


def test_books_input_plants_near_duplicates_only_within_clusters(tmp_path: Path) -> None:
    rng = random.Random(3)
    words = ["".join(rng.choices("abcdefghij", k=6)) for _ in range(3000)]
    info = build_books(tmp_path, [_book(rng, words)], target_bytes=200_000, copies=2)
    assert info["distinct_books"] >= 2 and info["documents"] == 3 * info["distinct_books"]
    first, second = ([json.loads(line)["text"] for line in open(path)] for path in sorted(tmp_path.glob("*.jsonl"))[:2])
    assert all(_jaccard(first[0], copy) >= 0.9 for copy in first[1:])
    assert _jaccard(first[0], second[0]) < 0.3  # two rebuilds of the same text are distinct books


def _observe(keyed: tuple[str, list[int]]) -> str:
    observe_group("probe", len(keyed[1]), sum(keyed[1]))
    return keyed[0]


def test_largest_group_is_read_from_the_pipeline_metrics() -> None:
    pipeline = beam.Pipeline(runner=LOCAL_RUNNER)
    _ = (pipeline
         | beam.Create([("a", 5), ("a", 7), ("b", 1), ("a", 2)])
         | beam.GroupByKey()
         | beam.Map(_observe))
    result = pipeline.run()
    result.wait_until_finish()
    assert _largest_groups(result) == {"probe": {"elements": 3, "bytes": 14}}
