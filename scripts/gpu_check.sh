#!/usr/bin/env bash
# GPU check: build token shards from the samples, mix them, and train the ~1B-parameter config
# (trainer/model.py "1b": dim 2048, 18 layers, 16 heads, 1.06B parameters) for a few hundred
# steps with bf16, fused AdamW, SDPA flash attention and torch.compile, on one GPU or on every
# visible GPU through torchrun, then record tokens/s and MFU per GPU (6 N tokens/s over the GPU's
# dense bf16 peak) in a JSON file.
#
#   scripts/gpu_check.sh                            # one GPU, everything, into out/gpu_check
#   GPUS=all scripts/gpu_check.sh                   # every visible GPU through torchrun (FSDP2)
#   GPUS=all PARALLEL=ddp scripts/gpu_check.sh      # the same with DDP
#   GPUS=4 STEPS=100 BATCH=4 scripts/gpu_check.sh   # 4 GPUs, shorter / smaller
#   MIXTURE=out/mixture scripts/gpu_check.sh        # train on an existing mixture, build nothing
#   ALLOW_CPU=1 CONFIG=tiny STEPS=5 SEQ=128 VOCAB=4000 WORK=/tmp/gc scripts/gpu_check.sh   # CPU dry run
#   ALLOW_CPU=1 GPUS=2 CONFIG=tiny STEPS=20 SEQ=128 WORK=/tmp/gc scripts/gpu_check.sh      # 2 CPU ranks
#
# BATCH is one GPU's micro-batch: with N GPUs the trainer's --batch_size is N x BATCH, so every GPU
# does the work of the one-GPU check and the per-GPU figures compare directly. Result:
# WORK/train/gpu_check.json (one GPU) or WORK/train_<N>gpu/gpu_check.json (N GPUs) with the median
# tokens/s in total and per GPU and the median MFU per GPU after warm-up, first/last loss, devices.
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
BATCH=${BATCH:-8}          # windows per micro-batch of one GPU
SEQ=${SEQ:-2048}           # LLaMA-1 context
ACCUM=${ACCUM:-1}
TOKENS=${TOKENS:-10M}      # mixture size (repeats small sources when the samples are smaller)
VOCAB=${VOCAB:-32000}
SOURCES=${SOURCES:-"c4 wikipedia books"}
LIMIT=${LIMIT:-540}        # seconds for the training stage
GPUS=${GPUS:-1}            # 1, N or "all" (every visible GPU); more than 1 runs torchrun
PARALLEL=${PARALLEL:-fsdp} # fsdp or ddp, when GPUS > 1
MIXTURE=${MIXTURE:-}       # an existing mixture directory: skip the corpus, tokenizer and mixture stages

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
for i in range(torch.cuda.device_count()):
    print("device", i, torch.cuda.get_device_name(i), "bf16", torch.cuda.is_bf16_supported(),
          "flash sdp", torch.backends.cuda.flash_sdp_enabled())
EOF

if [ "$GPUS" = all ]; then
  GPUS=$("$PY" -c "import torch; print(max(1, torch.cuda.device_count()))")
fi
[[ "$GPUS" =~ ^[1-9][0-9]*$ ]] || { echo "gpu_check: GPUS is a positive number or 'all', not '$GPUS'"; exit 2; }

mkdir -p "$WORK"
if [ -z "$MIXTURE" ]; then
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
  MIXTURE="$WORK/mixture"
fi

if [ "$GPUS" -gt 1 ]; then
  TRAIN="$WORK/train_${GPUS}gpu"
  launch=("$PY" -m torch.distributed.run --standalone --nproc_per_node "$GPUS" -m trainer.train --parallel "$PARALLEL")
else
  TRAIN="$WORK/train"
  launch=("$PY" -m trainer.train)
fi
log "train $CONFIG on $GPUS GPU(s): $STEPS steps of $GPUS x $BATCH x $ACCUM x $SEQ tokens"
rm -rf "$TRAIN"
timeout "$LIMIT" "${launch[@]}" --data "$MIXTURE" --out "$TRAIN" --config "$CONFIG" \
  --steps "$STEPS" --batch_size "$((GPUS * BATCH))" --grad_accum "$ACCUM" --seq_len "$SEQ" --log_every 10 \
  --ckpt_every 100000 || echo "training stopped (exit $?); summarising what was logged"

log "summary"
"$PY" - "$TRAIN/log.jsonl" "$CONFIG" "$PARALLEL" <<'EOF'
import json, statistics, sys
from pathlib import Path
import torch
path, config, parallel = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
rows = [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []
if not rows:
    sys.exit("no training log")
steady = [r for r in rows if r["step"] > max(20, rows[-1]["step"] // 5)] or rows
world = rows[-1].get("world_size", 1)
tps = statistics.median(r["tokens_per_s"] for r in steady)
mfus = [r["mfu"] for r in steady if r.get("mfu") is not None]
devices = [torch.cuda.get_device_name(i) for i in range(min(world, torch.cuda.device_count()))]
summary = {"config": config, "gpus": world, "parallel": parallel if world > 1 else None, "devices": devices,
           "steps": rows[-1]["step"], "first_loss": rows[0]["loss"], "last_loss": rows[-1]["loss"],
           "tokens_per_s_median": round(tps), "tokens_per_s_per_gpu_median": round(tps / world),
           "mfu_per_gpu_median": round(statistics.median(mfus), 4) if mfus else None}
print(json.dumps(summary, indent=2))
Path(path.parent / "gpu_check.json").write_text(json.dumps(summary, indent=2) + "\n")
EOF
