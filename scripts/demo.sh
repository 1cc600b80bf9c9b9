#!/usr/bin/env bash
# `make demo`: the whole chain on the samples with the local runner, then a summary.
#   sources -> models (LM, quality) -> CommonCrawl -> tokenizer -> token shards -> mixture
#   -> a short CPU training run -> the data card.
# OUT (default out/) and MODELS (default models/) can be overridden from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=${OUT:-out}
MODELS=${MODELS:-models}
ADDED=${ADDED:-2026-01-01}   # fixed so reruns are byte-identical
# --overwrite: a rerun of the demo replaces the previous run's outputs (pipelines refuse otherwise)
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Wikipedia dumps -> documents"
# --verify_language: the dbpedia "de" sample claims to be enwiki in its siteinfo
$PY -m pipelines.wikipedia --output "$OUT/wikipedia" --added "$ADDED" --overwrite --verify_language

step "Models: per-language SentencePiece+KenLM, quality classifier, LID card"
$PY -m pipelines.models build --output "$MODELS" --wikipedia "$OUT/wikipedia" --allow_fallback  # samples: few cited pages

step "CommonCrawl (CCNet): line dedup -> LID -> perplexity buckets -> quality"
$PY -m pipelines.commoncrawl --output "$OUT/commoncrawl" --models "$MODELS" --added "$ADDED" --overwrite

step "C4 rules"
$PY -m pipelines.c4 --output "$OUT/c4" --added "$ADDED" --overwrite

step "GitHub (the venv's own packages)"
$PY -m pipelines.github --output "$OUT/github" --added "$ADDED" --overwrite --max_repos 40

step "Books (Gutenberg) with MinHash near-dedup"
$PY -m pipelines.books --output "$OUT/books" --added "$ADDED" --overwrite

step "ArXiv LaTeX"
$PY -m pipelines.arxiv --output "$OUT/arxiv" --added "$ADDED" --overwrite

step "StackExchange"
$PY -m pipelines.stackexchange --output "$OUT/stackexchange" --added "$ADDED" --overwrite

step "Tokenizer (SentencePiece BPE, LLaMA settings, small vocab for the samples)"
$PY -m tokenizer.train --input "$OUT"/{commoncrawl,c4,github,wikipedia,books,arxiv,stackexchange} \
    --output "$OUT/tokenizer" --vocab_size 8000

step "Token shards per source (Megatron .bin/.idx)"
$PY -m tokenizer.encode --input "$OUT"/{commoncrawl,c4,github,wikipedia,books,arxiv,stackexchange} \
    --tokenizer "$OUT/tokenizer/tokenizer.model" --output "$OUT/tokens" --overwrite

step "Mixture at LLaMA Table 1 proportions"
# --renormalise: a sample source that came out empty is left out of the plan (and the plan says so).
$PY -m mixture.sample --tokens 2M --input "$OUT/tokens" --output "$OUT/mixture" --renormalise --shard_tokens 512K

step "Reference trainer: a short CPU run"
$PY -m trainer.train --input "$OUT/mixture" --output "$OUT/train" --config tiny --steps 60 --seq_len 128 --batch_size 8

step "Data card"
$PY -m mixture.report --root "$OUT" --models "$MODELS" --output "$OUT/report"
