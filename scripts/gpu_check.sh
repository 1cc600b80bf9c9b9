#!/usr/bin/env bash
# GPU check: build token shards from the samples, mix them, and train the ~1B-parameter config
# (trainer/model.py "1b": dim 2048, 18 layers, 16 heads, 1.06B parameters) for a few hundred
# steps on one GPU with bf16 autocast, fused AdamW, SDPA flash attention and torch.compile,
# then report tokens/s and MFU (6 N tokens/s over the GPU's dense bf16 peak).
#
#   scripts/gpu_check.sh                    # everything, into out/gpu_check
#   STEPS=100 BATCH=4 scripts/gpu_check.sh  # shorter / smaller
#   ALLOW_CPU=1 CONFIG=tiny STEPS=5 SEQ=128 VOCAB=4000 WORK=/tmp/gc scripts/gpu_check.sh   # CPU dry run
#
# Needs: a CUDA torch (torch==2.13.0 from the CUDA index) and the project's requirements in
# $PY's environment; the samples (../shared/data or $LLAMA_CORPUS_SAMPLES) for the first stage.
# Stages whose output already exists are skipped, so a rerun only retrains.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
WORK=${WORK:-out/gpu_check}
CONFIG=${CONFIG:-1b}
STEPS=${STEPS:-300}
BATCH=${BATCH:-8}          # windows per micro-batch
SEQ=${SEQ:-2048}           # LLaMA-1 context
ACCUM=${ACCUM:-1}
TOKENS=${TOKENS:-10M}      # mixture size (repeats small sources when the samples are smaller)
VOCAB=${VOCAB:-32000}
SOURCES=${SOURCES:-"c4 wikipedia books"}
LIMIT=${LIMIT:-540}        # seconds for the training stage

log() { printf '\n== %s  %s\n' "$(date -u +%H:%M:%S)" "$*"; }

log "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" - <<'EOF'
import torch, sys
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
import os
if not torch.cuda.is_available():
    if os.environ.get("ALLOW_CPU") == "1":
        print("no CUDA: ALLOW_CPU=1, running the stages on the CPU (a dry run of this script)")
        sys.exit(0)
    sys.exit("gpu_check: no CUDA device visible to torch")
print("device", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported(),
      "flash sdp", torch.backends.cuda.flash_sdp_enabled())
EOF

mkdir -p "$WORK"
inputs=()
for source in $SOURCES; do
  if [ ! -f "$WORK/docs/$source/stats.json" ]; then
    log "corpus $source (samples)"
    "$PY" -m pipelines."$source" --output "$WORK/docs/$source" \
      || { echo "corpus $source failed, continuing without it"; continue; }
  fi
  inputs+=("$WORK/docs/$source")
done
[ ${#inputs[@]} -gt 0 ] || { echo "gpu_check: no source built"; exit 1; }

if [ ! -f "$WORK/tokenizer/tokenizer.model" ]; then
  log "tokenizer (vocab $VOCAB)"
  "$PY" -m tokenizer.train --input "${inputs[@]}" --output "$WORK/tokenizer" --vocab_size "$VOCAB" --num_threads 8
fi
if ! ls "$WORK"/tokens/*/manifest.json >/dev/null 2>&1; then
  log "encode"
  "$PY" -m tokenizer.encode --input "${inputs[@]}" --tokenizer "$WORK/tokenizer/tokenizer.model" --output "$WORK/tokens"
fi

log "mixture ($TOKENS tokens, Table 1 shares renormalised over: ${SOURCES})"
"$PY" -m mixture.sample --tokens "$TOKENS" --input "$WORK/tokens" --output "$WORK/mixture" --renormalise \
  --shard_tokens 8M --workers 8

log "train $CONFIG: $STEPS steps of $BATCH x $ACCUM x $SEQ tokens"
rm -rf "$WORK/train"
timeout "$LIMIT" "$PY" -m trainer.train --data "$WORK/mixture" --out "$WORK/train" --config "$CONFIG" \
  --steps "$STEPS" --batch_size "$BATCH" --grad_accum "$ACCUM" --seq_len "$SEQ" --log_every 10 \
  --ckpt_every 100000 || echo "training stopped (exit $?); summarising what was logged"

log "summary"
"$PY" - "$WORK/train/log.jsonl" "$CONFIG" <<'EOF'
import json, statistics, sys
from pathlib import Path
path, config = Path(sys.argv[1]), sys.argv[2]
rows = [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []
if not rows:
    sys.exit("no training log")
steady = [r for r in rows if r["step"] > max(20, rows[-1]["step"] // 5)] or rows
tps = statistics.median(r["tokens_per_s"] for r in steady)
mfus = [r["mfu"] for r in steady if r.get("mfu") is not None]
summary = {"config": config, "steps": rows[-1]["step"], "first_loss": rows[0]["loss"], "last_loss": rows[-1]["loss"],
           "tokens_per_s_median": round(tps), "mfu_median": round(statistics.median(mfus), 4) if mfus else None}
print(json.dumps(summary, indent=2))
Path(path.parent / "gpu_check.json").write_text(json.dumps(summary, indent=2) + "\n")
EOF
