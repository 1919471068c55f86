#!/usr/bin/env bash
# Spatially adaptive bits (issue #16): stop-code tolerant fine-tuning of the
# shipped model, and the masking measurements. Run from the repository root:
#
#   bash runs/adaptive/run.sh train SECS   # fine-tune v1 with stop masks until the run used SECS CPU s
#   bash runs/adaptive/run.sh measure      # closed-loop adaptive vs uniform, frozen v1 and the fine-tuned model
#   bash runs/adaptive/run.sh pack         # copy the latest checkpoint, history and log here to commit
#
# Environment (defaults are this machine's):
#   RUN      the run folder (outside the repository)   (/work/runs/adaptive_stop)
#   DATA     the all32 training tiles (runs/v2/run.sh data) (/work/data/v2)
#   VAL      the v1 run's HE tiles, for validation      (/work/data/v1)
#   KODAK    the Kodak images, for measure              (/work/shared/data/kodak)
#   SNAP     a git worktree of a fixed commit to run from (.)
#   THREADS  intra-op threads                           (1)
#   STOP_AFTER_SECS  wall seconds after which training checkpoints and stops
set -euo pipefail
RUN=${RUN:-/work/runs/adaptive_stop}
DATA=${DATA:-/work/data/v2}
VAL=${VAL:-/work/data/v1}
KODAK=${KODAK:-/work/shared/data/kodak}
SNAP=${SNAP:-.}
THREADS=${THREADS:-1}
PY=${PY:-python}
export PYTHONPATH=$SNAP
# TensorFlow turns oneDNN on by itself only on CPUs with AVX-512 features;
# on the AMD EPYC of session 11 it was off and training ran 4x slower per
# CPU second (BUILD-notes.md, "oneDNN on every CPU").
export TF_ENABLE_ONEDNN_OPTS=${TF_ENABLE_ONEDNN_OPTS:-1}
case "${1:-}" in
  train)
    secs=${2:?CPU seconds}
    if [ ! -e "$RUN/checkpoints/checkpoint" ]; then
      mkdir -p "$RUN/checkpoints"
      if [ -e runs/adaptive/checkpoint/checkpoint ]; then
        cp runs/adaptive/checkpoint/* "$RUN/checkpoints/"
        cp runs/adaptive/config.json runs/adaptive/history.jsonl "$RUN/"
      else
        cp runs/v1/checkpoint/* "$RUN/checkpoints/"
      fi
    fi
    (cd "$SNAP" && nice -n 10 $PY -m residual_gru.train \
        --config=configs/adaptive/stop_v1.json --train_dir="$RUN" \
        --train_data="$DATA/all32_bsds2/train-*,$DATA/all32_urban2/train-*,$DATA/all32_urban1/train-*" \
        --val_data="$VAL/he32_bsds2/val.tfrecord,$VAL/he32_urban2/val.tfrecord,$VAL/he32_urban1/val.tfrecord" \
        --seed=1 --threads="$THREADS" --checkpoint_secs=600 --val_steps=500 --log_steps=100 \
        --stop_after_cpu_secs="$secs" ${STOP_AFTER_SECS:+--stop_after_secs=$STOP_AFTER_SECS}) \
        >> "$RUN/train_log.txt" 2>&1
    ;;
  measure)
    latest=$(sed -n 's/^model_checkpoint_path: "\(.*\)"/\1/p' "$RUN/checkpoints/checkpoint")
    for model in v1 "$RUN/checkpoints/$latest"; do
      tag=$(basename "$model")
      for criterion in ssim psnr; do
        $PY runs/adaptive/measure_masking.py --images="$KODAK" --max_images=6 \
            --model="$model" --criterion="$criterion" --modes=closed_hold \
            --output="runs/adaptive/hold_${tag}_${criterion}_kodak6.json"
      done
    done
    ;;
  pack)
    latest=$(sed -n 's/^model_checkpoint_path: "\(.*\)"/\1/p' "$RUN/checkpoints/checkpoint")
    rm -rf runs/adaptive/checkpoint && mkdir -p runs/adaptive/checkpoint
    cp "$RUN/checkpoints/$latest".* runs/adaptive/checkpoint/
    printf 'model_checkpoint_path: "%s"\nall_model_checkpoint_paths: "%s"\n' "$latest" "$latest" \
        > runs/adaptive/checkpoint/checkpoint
    cp "$RUN/config.json" "$RUN/history.jsonl" runs/adaptive/
    cp "$RUN/train_log.txt" runs/adaptive/train_log.txt
    ;;
  *)
    sed -n '2,17p' "$0"; exit 2 ;;
esac
