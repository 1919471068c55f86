#!/usr/bin/env bash
# Freezes the v1 run into the bundled model v1 (id 2) and its entropy model
# (entropy id 2), then measures it. Run from the repository root, one stage
# at a time or all in order:
#
#   bash runs/v1/freeze.sh STAGE
#
# Stages, in order: release golden eval fp16 (the image model, released
# beside v0, which stays the default), then codes entropy entropy_release
# benchmark default (v1's entropy model; then v1 becomes the default, so
# that new files are never larger than v0's entropy-coded ones).
# Environment (defaults are this machine's):
#   RUN     the v1 training run          (/work/runs/v1)
#   TRAIN   ../shared/data/train          (/work/shared/data/train)
#   KODAK   the 24 Kodak images           (/work/shared/data/kodak)
#   CODES   v1's code maps, outside git   (/work/data/codes_v1)
#   EC_RUN  entropy fine-tuning run       (/work/runs/ec_v1)
#   EC_INIT weights the fine-tuning starts from (stage 1: /work/scratch/v1_15k/entropy)
#   EC_SECS wall-time limit of the fine-tuning (3600)
set -euo pipefail
RUN=${RUN:-/work/runs/v1}
TRAIN=${TRAIN:-/work/shared/data/train}
KODAK=${KODAK:-/work/shared/data/kodak}
CODES=${CODES:-/work/data/codes_v1}
EC_RUN=${EC_RUN:-/work/runs/ec_v1}
EC_INIT=${EC_INIT:-/work/scratch/v1_15k/entropy}
EC_SECS=${EC_SECS:-3600}
PY=${PY:-python}
export PYTHONPATH=.

case "${1:-}" in
  release)
    $PY -m compression.release --train_dir="$RUN" \
        --output_dir=compression/models/v1 --model_id=2 --name=v1 \
        --register \
        --description="The v1 recipe (configs/v1.json): the residual-GRU network at width 0.25, trained on CPU until its held-out loss stopped improving (see MODEL_CARD.md)."
    ;;
  golden)
    $PY -m tests.make_golden v1
    ;;
  codes)
    $PY -m entropy_coder.build_codes --image_model=compression/models/v1 \
        --input_dir="$TRAIN/urban100" --scales=1,1.5,2 --crops_per_image=2 \
        --output="$CODES/train.tfrecord.gz" --val_output="$CODES/val.tfrecord.gz"
    ;;
  entropy)
    $PY -m entropy_coder.train --train_dir="$EC_RUN" --model=progressive \
        --model_config=configs/entropy_coder/bundled_model.json \
        --input_config="$CODES/input.json" \
        --train_config=configs/entropy_coder/bundled_train.json \
        --init_from="$EC_INIT" --val_data="$CODES/val.tfrecord.gz" \
        --val_steps=500 --log_steps=100 --threads=1 --stop_after_secs="$EC_SECS"
    ;;
  entropy_release)
    $PY -m compression.entropy_release --checkpoint="$EC_RUN/best" \
        --model_dir=compression/models/v1 --entropy_id=2
    $PY -m tests.make_golden v1 --entropy
    ;;
  eval)
    $PY -m compression eval --images="$KODAK" --output_dir=runs/benchmarks/kodak_v1 \
        --codecs=ours,jpeg --workers=2 --model=v1
    ;;
  eval_entropy)
    $PY -m compression eval --images="$KODAK" --output_dir=runs/benchmarks/kodak_v1_entropy \
        --codecs=ours,jpeg,webp --entropy --workers=1 --model=v1
    ;;
  default)
    $PY -c "from compression import release; release.register('v1', 2, True)"
    ;;
  fp16)
    # float16 release (eval above) against the float32 checkpoint, all of Kodak.
    $PY -m residual_gru.evaluate --train_dir="$RUN" --images="$KODAK" --name=kodak_float32
    $PY - "$RUN" <<'EOF'
import json, sys
run = sys.argv[1]
step = json.load(open("compression/models/v1/model.json"))["provenance"]["step"]
f32 = json.load(open(f"{run}/eval-{step}-kodak_float32.json"))
f16 = json.load(open("runs/benchmarks/kodak_v1/results.json"))["summary"]["ours@nominal"]
for key in ("msssim", "psnr"):
  d = [abs(a - b) for a, b in zip(f32[key], f16[key]["mean"])]
  print(f"{key}: float32 checkpoint vs float16 release, largest difference "
        f"over 16 iterations {max(d):.5f}")
EOF
    ;;
  benchmark)
    $PY -m compression.entropy_benchmark --images="$KODAK" --model=v1 \
        --output=runs/benchmarks/entropy_v1/results.json
    ;;
  *)
    echo "usage: bash runs/v1/freeze.sh release|golden|eval|fp16|codes|entropy|entropy_release|eval_entropy|benchmark|default" >&2
    exit 2
    ;;
esac
