#!/usr/bin/env bash
# The recipe study: candidates warm-started from v1, each trained for the
# same CPU time on one thread, scored on held-out images of the training
# sources (never Kodak). Run from the repository root:
#
#   bash runs/study/run.sh setup NAME        # warm start NAME from v1
#   bash runs/study/run.sh train NAME SECS   # train NAME until its run has used SECS CPU seconds
#   bash runs/study/run.sh eval NAME         # held-out MS-SSIM/PSNR of NAME's latest checkpoint
#   bash runs/study/run.sh decode_time NAME  # seconds to decode a Kodak image at 16 iterations, one thread
#   bash runs/study/run.sh history           # the v1 run's steps 7,003 and 15,053 from git, as runs to evaluate
#   bash runs/study/run.sh table             # runs/study/table.md and results.json
#
# NAME is a config in configs/study/. Environment (defaults are this machine's):
#   STUDY   where the candidates' runs live            (/work/runs/study)
#   DATA    the v1 run's HE tiles (runs/v1/COMMAND.md)  (/work/data/v1)
#   TRAIN   ../shared/data/train                        (/work/shared/data/train)
#   SNAP    a git worktree of a fixed commit to train from (.)
#   KODAK   ../shared/data/kodak, for decode_time      (/work/shared/data/kodak)
set -euo pipefail
STUDY=${STUDY:-/work/runs/study}
DATA=${DATA:-/work/data/v1}
TRAIN=${TRAIN:-/work/shared/data/train}
SNAP=${SNAP:-.}
KODAK=${KODAK:-/work/shared/data/kodak}
PY=${PY:-python}
export PYTHONPATH=$SNAP

name=${2:-}
run=$STUDY/$name
case "${1:-}" in
  setup)
    # v1's resume checkpoint as a run the widening can read.
    src=$STUDY/v1src
    if [ ! -d "$src/checkpoints" ]; then
      mkdir -p "$src/checkpoints"
      cp runs/v1/checkpoint/* "$src/checkpoints/"
      cp runs/v1/config.json "$src/"
    fi
    [ -e "$run/checkpoints" ] && { echo "$run already exists" >&2; exit 1; }
    case "$name" in
      wide|wide_dec)
        $PY -m residual_gru.widen --from_run="$src" --train_dir="$run" \
            --config="configs/study/$name.json" ;;
      *)
        mkdir -p "$run/checkpoints"
        cp runs/v1/checkpoint/* "$run/checkpoints/" ;;
    esac
    ;;
  train)
    secs=${3:?CPU seconds}
    (cd "$SNAP" && nice -n 5 $PY -m residual_gru.train \
        --config="configs/study/$name.json" --train_dir="$run" \
        --train_data="$DATA/he32_bsds2/train-*,$DATA/he32_urban2/train-*,$DATA/he32_urban1/train-*" \
        --val_data="$DATA/he32_bsds2/val.tfrecord,$DATA/he32_urban2/val.tfrecord,$DATA/he32_urban1/val.tfrecord" \
        --seed=1 --threads=1 --checkpoint_secs=600 --val_steps=1000 --log_steps=100 \
        --stop_after_cpu_secs="$secs" ${STOP_AFTER_SECS:+--stop_after_secs=$STOP_AFTER_SECS}) \
        >> "$run/train_log.txt" 2>&1
    ;;
  eval)
    # Held out by build_dataset's name hash (fraction 0.05): BSDS500 at half
    # size, as its JPEGs are trained on, and Urban100 at full size; the
    # newest checkpoint, pinned by its path (both sets score one step).
    latest=$(sed -n 's/^model_checkpoint_path: "\(.*\)"/\1/p' "$run/checkpoints/checkpoint")
    for set in bsds500:2:heldout_bsds2 urban100:1:heldout_urban1; do
      IFS=: read -r src scale tag <<< "$set"
      $PY -m compression eval --codecs=ours --workers=0 \
          --model="$run/checkpoints/$latest" --images="$TRAIN/$src" \
          --held_out_fraction=0.05 --downscale="$scale" \
          --output_dir="$run/eval-{step}-$tag"
    done
    ;;
  decode_time)
    # `rnn-codec speed` on one Kodak image, one thread (decode time depends
    # on the architecture, not on the weights): 2, 8 and 16 iterations.
    latest=$(sed -n 's/^model_checkpoint_path: "\(.*\)"/\1/p' "$run/checkpoints/checkpoint")
    $PY -m compression --threads=1 speed --codecs=ours --images="$KODAK/kodim01.png" \
        --model="$run/checkpoints/$latest" --output="$run/speed-${latest#ckpt-}.json"
    ;;
  history)
    # Earlier resume checkpoints of the v1 run, replaced in later commits.
    for pair in 7003:aa7d5c8 15053:1cfc109; do
      step=${pair%%:*}; commit=${pair##*:}; dir=$STUDY/v1_$step
      mkdir -p "$dir/checkpoints"
      for f in index data-00000-of-00001; do
        git show "$commit:runs/v1/checkpoint/ckpt-$step.$f" > "$dir/checkpoints/ckpt-$step.$f"
      done
      printf 'model_checkpoint_path: "ckpt-%s"\n' "$step" > "$dir/checkpoints/checkpoint"
      cp runs/v1/config.json "$dir/"
    done
    ;;
  table)
    $PY -m compression.study --study_dir="$STUDY" --output_dir=runs/study
    ;;
  *)
    echo "usage: bash runs/study/run.sh setup|train|eval|decode_time NAME [CPU_SECS] | history | table" >&2
    exit 2
    ;;
esac
