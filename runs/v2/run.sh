#!/usr/bin/env bash
# The v2 run: the recipe study's winner (the v1 recipe, configs/v2.json)
# trained on from v1's checkpoint in resumed stretches, one per session.
# Run from the repository root:
#
#   bash runs/v2/run.sh data         # every 32x32 tile of the training images (the all32 sets)
#   bash runs/v2/run.sh train        # resume (from RUN, else runs/v2/checkpoint, else v1's) and train
#   bash runs/v2/run.sh eval         # held-out MS-SSIM/PSNR of the latest checkpoint (the study's images)
#   bash runs/v2/run.sh pack         # copy the latest checkpoint, history and log into runs/v2/ to commit
#
# Environment (defaults are this machine's):
#   RUN      the run folder (outside the repository)      (/work/runs/v2)
#   DATA     the training tiles (`run.sh data` builds all32) (/work/data/v2)
#   VAL      the v1 run's HE tiles, for validation (runs/v1/COMMAND.md) (/work/data/v1)
#   TRAIN    ../shared/data/train, for eval                (/work/shared/data/train)
#   TILES    which tile sets of DATA: all32 (every tile position; from step
#            36,254 on, runs/v2/TRIALS.md) or he32 (the v1 run's high-entropy
#            quarter, used for steps 27,243-36,254)         (all32)
#   CONFIG   the run's config                              (configs/v2.json)
#   SNAP     a git worktree of a fixed commit to train from (.)
#   THREADS  intra-op threads                              (1)
#   STOP_AFTER_SECS  wall seconds after which training checkpoints and stops
set -euo pipefail
RUN=${RUN:-/work/runs/v2}
DATA=${DATA:-/work/data/v2}
VAL=${VAL:-/work/data/v1}
TRAIN=${TRAIN:-/work/shared/data/train}
SNAP=${SNAP:-.}
THREADS=${THREADS:-1}
PY=${PY:-python}
TILES=${TILES:-all32}
CONFIG=${CONFIG:-configs/v2.json}
export PYTHONPATH=$SNAP
# TensorFlow turns oneDNN on by itself only on CPUs with AVX-512 features;
# on the AMD EPYC of session 11 it was off and training ran 4x slower per
# CPU second (BUILD-notes.md, "oneDNN on every CPU").
export TF_ENABLE_ONEDNN_OPTS=${TF_ENABLE_ONEDNN_OPTS:-1}
case "${1:-}" in
  data)
    # The v1 run's sources and scales, every tile position (runs/v2/TRIALS.md);
    # the same images are held out as in the HE sets (validation by name).
    for set in bsds500:2:bsds2 urban100:2:urban2 urban100:1:urban1; do
      IFS=: read -r src scale tag <<< "$set"
      $PY -m residual_gru.build_dataset --input_dir="$TRAIN/$src" \
          --downscale="$scale" --tile_size=32 --keep_fraction=1.0 \
          --output_dir="$DATA/all32_$tag"
    done
    ;;
  train)
    if [ ! -e "$RUN/checkpoints/checkpoint" ]; then
      mkdir -p "$RUN/checkpoints"
      if [ -e runs/v2/checkpoint/checkpoint ]; then
        cp runs/v2/checkpoint/* "$RUN/checkpoints/"
        cp runs/v2/config.json runs/v2/history.jsonl "$RUN/"
      else
        cp runs/v1/checkpoint/* "$RUN/checkpoints/"
      fi
    fi
    (cd "$SNAP" && nice -n 10 $PY -m residual_gru.train \
        --config="$CONFIG" --train_dir="$RUN" \
        --train_data="$DATA/${TILES}_bsds2/train-*,$DATA/${TILES}_urban2/train-*,$DATA/${TILES}_urban1/train-*" \
        --val_data="$VAL/he32_bsds2/val.tfrecord,$VAL/he32_urban2/val.tfrecord,$VAL/he32_urban1/val.tfrecord" \
        --seed=1 --threads="$THREADS" --checkpoint_secs=600 --val_steps=1000 --log_steps=100 \
        ${STOP_AFTER_SECS:+--stop_after_secs=$STOP_AFTER_SECS}) \
        >> "$RUN/train_log.txt" 2>&1
    ;;
  eval)
    # `rnn-codec eval` of the newest checkpoint, copied out of the run first
    # so that both held-out sets score the same step while the run trains on
    # (a running training deletes old checkpoints: session 12 lost one
    # half-way through the second set).
    latest=$(sed -n 's/^model_checkpoint_path: "\(.*\)"/\1/p' "$RUN/checkpoints/checkpoint")
    pinned=$(mktemp -d)
    trap 'rm -rf "$pinned"' EXIT
    mkdir -p "$pinned/checkpoints"
    cp "$RUN/config.json" "$pinned/"
    cp "$RUN/checkpoints/$latest".* "$pinned/checkpoints/"
    printf 'model_checkpoint_path: "%s"\n' "$latest" > "$pinned/checkpoints/checkpoint"
    for set in bsds500:2:heldout_bsds2 urban100:1:heldout_urban1; do
      IFS=: read -r src scale tag <<< "$set"
      $PY -m compression --threads="$THREADS" eval --codecs=ours --workers=0 \
          --model="$pinned/checkpoints/$latest" --images="$TRAIN/$src" \
          --held_out_fraction=0.05 --downscale="$scale" \
          --output_dir="$RUN/eval-{step}-$tag"
    done
    ;;
  pack)
    latest=$(sed -n 's/^model_checkpoint_path: "\(.*\)"/\1/p' "$RUN/checkpoints/checkpoint")
    rm -rf runs/v2/checkpoint && mkdir -p runs/v2/checkpoint
    cp "$RUN/checkpoints/$latest".* runs/v2/checkpoint/
    printf 'model_checkpoint_path: "%s"\n' "$latest" > runs/v2/checkpoint/checkpoint
    cp "$RUN/config.json" "$RUN/history.jsonl" runs/v2/
    # one log per session: a second session on the same day gets _2, _3...
    log=runs/v2/train_log_$(date -u +%Y%m%d).txt; n=2
    while [ -e "$log" ] && ! cmp -s "$RUN/train_log.txt" "$log"; do
      log=runs/v2/train_log_$(date -u +%Y%m%d)_$n.txt; n=$((n + 1))
    done
    cp "$RUN/train_log.txt" "$log"
    cp "$RUN"/eval-*.json runs/v2/ 2>/dev/null || true  # older records
    for d in "$RUN"/eval-*/; do
      [ -e "$d/results.json" ] || continue
      mkdir -p "runs/v2/$(basename "$d")" && cp "$d"/results.json "$d"/table.md "runs/v2/$(basename "$d")/"
    done
    ;;
  *)
    echo "usage: bash runs/v2/run.sh data|train|eval|pack" >&2; exit 2 ;;
esac
