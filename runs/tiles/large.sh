#!/usr/bin/env bash
# The robustness issue's bar for tiled coding: a 24-megapixel image
# (6000x4000) round-trips at 8 iterations with peak RSS <= 2 GB and encode
# time per pixel within 1.2x a Kodak image's. `rnn-codec speed` (a fresh
# process per measurement, peak RSS from VmHWM) on kodim23 and on the same
# photo Lanczos-upscaled to 6000x4000 (content does not change the work).
# Run from the repository root:
#
#   KODAK=/path/to/kodak bash runs/tiles/large.sh
#
# Environment: KODAK (../shared/data/kodak), OUT (/work/runs/tiles/large),
# THREADS (1).
set -euo pipefail
KODAK=${KODAK:-/work/shared/data/kodak}
OUT=${OUT:-/work/runs/tiles/large}
THREADS=${THREADS:-1}
mkdir -p "$OUT/kodak" "$OUT/24mp"
cp "$KODAK/kodim23.png" "$OUT/kodak/"
python -c "
from PIL import Image
Image.open('$KODAK/kodim23.png').resize((6000, 4000), Image.LANCZOS).save(
    '$OUT/24mp/kodim23_6000x4000.png')"
for set in kodak 24mp; do
  python -m compression --threads="$THREADS" speed --codecs=ours \
      --iterations 8 --repeats=1 --no_warmup --images="$OUT/$set" \
      --output="$OUT/speed-$set.json"
done
python - "$OUT" <<'PY' | tee runs/tiles/large.md
import json, sys
out = sys.argv[1]
rows = {s: json.load(open(f"{out}/speed-{s}.json"))["rows"][0]
        for s in ("kodak", "24mp")}
print("| image | pixels | file bytes | encode s | decode s | encode s/MP | "
      "decode s/MP | peak RSS MB |")
print("|---|---|---|---|---|---|---|---|")
for s, r in rows.items():
  mp = r["pixels"] / 1e6
  print(f"| {r['image']} | {r['pixels']:,} | {r['bytes']:,} | "
        f"{r['encode_s']:.1f} | {r['decode_s']:.1f} | "
        f"{r['encode_s'] / mp:.2f} | {r['decode_s'] / mp:.2f} | "
        f"{r['peak_mb']:.0f} |")
k, b = rows["kodak"], rows["24mp"]
ratio = (b["encode_s"] / b["pixels"]) / (k["encode_s"] / k["pixels"])
print(f"\nEncode time per pixel, 24 MP against Kodak: {ratio:.2f}x "
      f"(bar: <= 1.2x); peak RSS {b['peak_mb']:.0f} MB (bar: <= 2048).")
PY
