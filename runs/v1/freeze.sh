#!/usr/bin/env bash
# How v1 (id 2, entropy id 2) was released, as stages of the release
# pipeline (`python -m compression.release --help`); kept so that v1's
# MODEL_CARD.md commands still run. Run from the repository root:
#
#   bash runs/v1/freeze.sh STAGE      # release golden eval fp16 codes entropy
#                                     # entropy_release eval_entropy benchmark default
# Environment (defaults are this machine's):
#   RUN     the v1 training run          (/work/runs/v1)
#   TRAIN   ../shared/data/train          (/work/shared/data/train)
#   KODAK   the 24 Kodak images           (/work/shared/data/kodak)
#   WORK    code maps and entropy run     (/work/data/release_v1)
#   EC_INIT weights the entropy fine-tuning starts from (stage 1: /work/scratch/v1_15k/entropy)
#   EC_SECS wall-time limit of the entropy stage (3600)
set -euo pipefail
RUN=${RUN:-/work/runs/v1}
TRAIN=${TRAIN:-/work/shared/data/train}
KODAK=${KODAK:-/work/shared/data/kodak}
WORK=${WORK:-/work/data/release_v1}
EC_INIT=${EC_INIT:-/work/scratch/v1_15k/entropy}
EC_SECS=${EC_SECS:-3600}
stage=${1:?usage: bash runs/v1/freeze.sh STAGE}
${PY:-python} -m compression.release --stages="$stage" --redo="$stage" \
    --train_dir="$RUN" --output_dir=compression/models/v1 --model_id=2 --name=v1 \
    --register \
    --description="The v1 recipe (configs/v1.json): the residual-GRU network at width 0.25, trained on CPU until its held-out loss stopped improving (see MODEL_CARD.md)." \
    --work_dir="$WORK" --kodak="$KODAK" --code_images="$TRAIN/urban100" \
    --entropy_init="$EC_INIT" --entropy_secs="$EC_SECS" --entropy_id=2
