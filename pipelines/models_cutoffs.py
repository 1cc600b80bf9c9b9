"""The perplexity cutoffs (p30/p60 per language) as a Beam job, as cc_net's `cutoff.csv`: the
perplexity of every page of the CommonCrawl sample (`models_data`'s `cc/<lang>/`) under its
language's new LM, reduced per language by an approximate-quantiles combiner (Beam's
`ApproximateQuantiles`, Munro-Paterson: bounded buffers whatever the sample size; exact while a
language's sample fits in one buffer). The LMs load once per worker, in `DoFn.setup`, from the
model directory (local or remote: `corpus.lm` copies KenLM's file to the worker).
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterator, Optional, Sequence

import apache_beam as beam

from corpus import lm, models, paths

QUANTILES = 101  # min, 1%, ..., 99%, max: percentile q is element q


class _PerplexityFn(beam.DoFn):
    def __init__(self, lm_dir: str):
        self._lm_dir = lm_dir
        self._models: dict[str, lm.PerplexityModel] = {}

    def setup(self) -> None:
        self._models = {}

    def process(self, item: tuple[str, str]) -> Iterator[tuple[str, float]]:
        language, path = item
        model = self._models.get(language)
        if model is None:
            model = self._models[language] = lm.PerplexityModel.load(self._lm_dir, language)
        for text in models.read_sample(path):
            perplexity = model.perplexity(text)
            if math.isfinite(perplexity):  # a page with no word has no perplexity (as corpus.lm.cutoffs_of)
                yield language, perplexity


def _table(keyed: tuple[str, list[float]], counts: dict[str, int]) -> tuple[str, dict[str, Any]]:
    language, quantiles = keyed
    table: dict[str, Any] = {f"p{q}": round(quantiles[q], 3) for q in lm.PERCENTILES}
    return language, {**table, "n": counts[language]}


def build(pipeline: beam.Pipeline, work: str, lm_dir: str, languages: Sequence[str], output: str) -> None:
    """Add the job: perplexities of `work/cc/<language>/` under `lm_dir`'s models -> `output`
    (JSON: language -> the percentiles of `corpus.lm.PERCENTILES` and n)."""
    files = [(language, f) for language in sorted(languages)
             for f in paths.list_files(paths.join(work, "cc", language))
             if paths.basename(f).startswith(models.PART_PREFIX)]
    scored = (pipeline | "Sample shards" >> beam.Create(files) | "Spread shards" >> beam.Reshuffle()
              | "Perplexity" >> beam.ParDo(_PerplexityFn(lm_dir)))
    counts = beam.pvalue.AsDict(scored | "Pages scored" >> beam.combiners.Count.PerKey())
    tables = (scored | "Quantiles" >> beam.ApproximateQuantiles.PerKey(QUANTILES)
              | "Percentiles" >> beam.Map(_table, counts) | "All languages" >> beam.combiners.ToDict())
    _ = tables | "Write cutoffs" >> beam.Map(_write, output)


def _write(tables: dict[str, Any], output: str) -> None:
    paths.write_text_atomically(output, json.dumps(tables, indent=2, sort_keys=True) + "\n")


def read(output: str) -> Optional[dict[str, Any]]:
    """The tables the job wrote (None when it wrote none)."""
    return json.loads(paths.read_text(output)) if paths.exists(output) else None
