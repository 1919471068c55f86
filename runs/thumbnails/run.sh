#!/usr/bin/env bash
# The 2016 paper's thumbnail networks (configs/thumbnails/), each trained
# for a stated CPU budget on one thread, resumable across sessions.
# Run from the repository root:
#
#   bash runs/thumbnails/run.sh data                # 32x32 thumbnails (section 4.3) -> $DATA
#   bash runs/thumbnails/run.sh train NAME SECS     # train NAME until its run has used SECS CPU seconds
#   bash runs/thumbnails/run.sh chain               # every row in turn, at its budget (BUDGETS below)
#   bash runs/thumbnails/run.sh pack NAME           # copy NAME's latest checkpoint, history and log here
#   bash runs/thumbnails/run.sh table               # Table 1 of the bundled thumbnail models (ids 11-18)
#
# Environment (defaults are this machine's):
#   RUNS   where the runs live (outside the repository)   (/work/runs/thumbnails)
#   DATA   the thumbnail TFRecords                          (/work/data/thumbs)
#   TRAIN  ../shared/data/train                             (/work/shared/data/train)
#   SNAP   a git worktree of a fixed commit to train from    (.)
#   STOP_AFTER_SECS  wall seconds after which a training checkpoints and stops
#   DEADLINE         (chain) epoch seconds after which no training runs
set -euo pipefail
RUNS=${RUNS:-/work/runs/thumbnails}
DATA=${DATA:-/work/data/thumbs}
TRAIN=${TRAIN:-/work/shared/data/train}
KODAK=${KODAK:-/work/shared/data/kodak}
SNAP=${SNAP:-.}
PY=${PY:-python}
export PYTHONPATH=$SNAP
# TensorFlow turns oneDNN on by itself only on CPUs with AVX-512 features;
# on the AMD EPYC of session 11 it was off and training ran 4x slower per
# CPU second (BUILD-notes.md, "oneDNN on every CPU").
export TF_ENABLE_ONEDNN_OPTS=${TF_ENABLE_ONEDNN_OPTS:-1}
# CPU seconds per row: at most 2 CPU hours each (about 9 in all).
BUDGETS="fc_residual_shared:1800 fc_residual_distinct:1800
conv_autoencoder_64:1800 conv_autoencoder_128:1800
conv_residual_shared:5400 conv_residual_distinct:5400
fc_lstm:7200 conv_lstm:7200"

name=${2:-}
case "${1:-}" in
  data)
    for src in bsds500 urban100; do
      $PY -m residual_gru.build_dataset --input_dir="$TRAIN/$src" \
          --thumbnail_crops=16 --tile_size=32 --output_dir="$DATA/$src"
    done
    ;;
  train)
    secs=${3:?CPU seconds}
    mkdir -p "$RUNS/$name"
    if [ ! -e "$RUNS/$name/checkpoints/checkpoint" ] && [ -e "runs/thumbnails/$name/checkpoint/checkpoint" ]; then
      mkdir -p "$RUNS/$name/checkpoints"
      cp "runs/thumbnails/$name/checkpoint/"* "$RUNS/$name/checkpoints/"
      cp "runs/thumbnails/$name/config.json" "runs/thumbnails/$name/history.jsonl" "$RUNS/$name/"
    fi
    (cd "$SNAP" && nice -n 15 $PY -m residual_gru.train \
        --config="configs/thumbnails/$name.json" --train_dir="$RUNS/$name" \
        --train_data="$DATA/bsds500/train-*,$DATA/urban100/train-*" \
        --val_data="$DATA/bsds500/val.tfrecord,$DATA/urban100/val.tfrecord" \
        --seed=1 --threads=1 --checkpoint_secs=600 --val_steps=1000 --log_steps=100 \
        --stop_after_cpu_secs="$secs" ${STOP_AFTER_SECS:+--stop_after_secs=$STOP_AFTER_SECS}) \
        >> "$RUNS/$name/train_log.txt" 2>&1
    ;;
  chain)
    # DEADLINE (epoch seconds, optional): no training runs past it.
    for pair in $BUDGETS; do
      n=${pair%%:*}; secs=${pair##*:}
      # A row whose committed history reached its budget is finished when
      # it is bundled or its run is still here to release; a finished row
      # with neither (fc_residual_distinct: its run went with session 11's
      # machine before it was bundled) is trained again from scratch.
      # (|| true: a row never trained has no history, and pipefail would
      # otherwise end the chain there.)
      done_secs=$(tail -n 1 "runs/thumbnails/$n/history.jsonl" 2>/dev/null \
          | sed -n 's/.*"cpu_secs": *\([0-9]*\).*/\1/p' || true)
      if [ "${done_secs:-0}" -ge "$secs" ] && { [ -e "compression/models/$n/model.json" ] \
          || [ -e "$RUNS/$n/checkpoints/checkpoint" ]; }; then
        continue
      fi
      if [ -n "${DEADLINE:-}" ]; then
        left=$(( DEADLINE - $(date +%s) ))
        [ "$left" -gt 120 ] || break
        STOP_AFTER_SECS=$left bash "$0" train "$n" "$secs" || true
      else
        bash "$0" train "$n" "$secs" || true
      fi
    done
    ;;
  table)
    # Held-out thumbnails of the training sources, then Kodak thumbnails.
    models=$($PY -c "from compression import registry; print(','.join(n for i, n in sorted(registry.bundled().items()) if 11 <= i <= 18))")
    $PY -m compression thumbnails --models="$models" \
        --records="$DATA/bsds500/val.tfrecord,$DATA/urban100/val.tfrecord" \
        --output=runs/thumbnails/table1_heldout.json
    $PY -m compression thumbnails --models="$models" --images="$KODAK" \
        --output=runs/thumbnails/table1_kodak.json
    ;;
  pack)
    run=$RUNS/$name
    latest=$(sed -n 's/^model_checkpoint_path: "\(.*\)"/\1/p' "$run/checkpoints/checkpoint")
    rm -rf "runs/thumbnails/$name/checkpoint" && mkdir -p "runs/thumbnails/$name/checkpoint"
    cp "$run/checkpoints/$latest".* "runs/thumbnails/$name/checkpoint/"
    printf 'model_checkpoint_path: "%s"\n' "$latest" > "runs/thumbnails/$name/checkpoint/checkpoint"
    cp "$run/config.json" "$run/history.jsonl" "$run/train_log.txt" "runs/thumbnails/$name/"
    ;;
  *)
    echo "usage: bash runs/thumbnails/run.sh data | train NAME SECS | chain | pack NAME | table" >&2; exit 2 ;;
esac
