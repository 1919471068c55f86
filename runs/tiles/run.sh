#!/usr/bin/env bash
# What tile borders cost (issue #15): the default model on the 24 Kodak
# images coded whole, in 512-pixel tiles (the default for images over one
# megapixel) and in 256-pixel tiles, through `rnn-codec eval --tile_size`;
# then the mean PSNR and MS-SSIM per iteration of each against whole-image
# coding (runs/tiles/compare.py -> runs/tiles/table.md). Run from the
# repository root:
#
#   KODAK=/path/to/kodak bash runs/tiles/run.sh
#
# Environment: KODAK (../shared/data/kodak), OUT (/work/runs/tiles), THREADS (1).
set -euo pipefail
KODAK=${KODAK:-/work/shared/data/kodak}
OUT=${OUT:-/work/runs/tiles}
THREADS=${THREADS:-1}
for tile in 0 512 256; do
  [ -e "$OUT/tile$tile/results.json" ] && continue
  python -m compression --threads="$THREADS" eval --codecs=ours --workers=0 \
      --images="$KODAK" --tile_size="$tile" --output_dir="$OUT/tile$tile"
done
python runs/tiles/compare.py "$OUT/tile0" "$OUT/tile512" "$OUT/tile256" \
    | tee runs/tiles/table.md
