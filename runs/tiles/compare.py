"""Mean PSNR and MS-SSIM per iteration of tiled against whole-image coding.

  python runs/tiles/compare.py WHOLE_DIR TILED_DIR [TILED_DIR ...]

Each folder is an `rnn-codec eval` output (results.json); the first is the
whole-image baseline. Prints a Markdown table: the baseline's means at 2, 4,
8 and 16 iterations, and each tiled run's difference from it.
"""

import json
import os
import sys

from compression import evaluation

ITERATIONS = (2, 4, 8, 16)


def tile_size(folder):
  with open(os.path.join(folder, "results.json")) as f:
    rows = json.load(f)["rows"]
  return sorted({r.get("tile_size", 0) for r in rows if r["codec"] == "ours"})


def main(folders):
  curves = [evaluation.iteration_curve(os.path.join(f, "results.json"))
            for f in folders]
  base = curves[0]
  print(f"Whole-image coding against tiles, {len(base['images'])} images "
        f"(`bash runs/tiles/run.sh`).\n")
  print("| coding | " + " | ".join(
      f"PSNR @{k} | MS-SSIM @{k}" for k in ITERATIONS) + " |")
  print("|---" * (1 + 2 * len(ITERATIONS)) + "|")
  for folder, curve in zip(folders, curves):
    tiles = tile_size(folder)
    name = "whole" if tiles == [0] else f"tiles {tiles}"
    cells = []
    for k in ITERATIONS:
      p, m = curve["psnr"][k - 1], curve["msssim"][k - 1]
      if curve is base:
        cells += [f"{p:.2f} dB", f"{m:.4f}"]
      else:
        cells += [f"{p - base['psnr'][k - 1]:+.3f} dB",
                  f"{m - base['msssim'][k - 1]:+.4f}"]
    print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  main(sys.argv[1:])
