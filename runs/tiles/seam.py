"""Are tile borders visible? The step across each border, tiled against whole.

  python runs/tiles/seam.py --images=KODAK --output_dir=runs/tiles [--tile_size=256]

For each image, at 2 and 4 iterations (the coarsest, where a seam would
show most): the mean absolute difference between the pixel rows (and
columns) on the two sides of every tile border, in the tiled decode and in
the whole-image decode at the same places, and their ratio (1.0: the
border is no sharper than the image there). Also the mean step between
neighbouring rows away from borders, for scale. Writes seam.md and
seam.png (a crop around a tile corner: whole, tiled, and 8x their
difference).
"""

import argparse
import os

import numpy as np

from compression import images, registry
from residual_gru import images as image_loader


def border_steps(image, tile):
  """Mean |row b - row b-1| over tile borders b, and over all rows."""
  x = image.astype(np.float64)
  rows = np.abs(np.diff(x, axis=0)).mean(axis=(1, 2))  # step below row i
  cols = np.abs(np.diff(x, axis=1)).mean(axis=(0, 2))
  at = lambda steps: [steps[b - 1] for b in range(tile, len(steps) + 1, tile)]
  borders = at(rows) + at(cols)
  return float(np.mean(borders)), float(np.mean(np.r_[rows, cols]))


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--images", required=True)
  p.add_argument("--output_dir", required=True)
  p.add_argument("--tile_size", type=int, default=256)
  p.add_argument("--model", default=None)
  args = p.parse_args()
  codec = registry.get(args.model).codec
  paths = image_loader.files_in(args.images, (".png",))
  lines = [f"Tile borders of {args.tile_size}-pixel tiles, {len(paths)} "
           "images (`python runs/tiles/seam.py`): mean step across the "
           "borders, tiled and whole decodes at the same places.\n",
           "| iterations | step at borders, tiled | same places, whole | "
           "ratio | mean step anywhere |", "|---|---|---|---|---|"]
  steps = {2: [], 4: []}
  crop = None
  for path in paths:
    original = images.load(path)
    h, w = original.shape[:2]
    tiled = codec.decode(codec.encode(original, 4, tile_size=args.tile_size),
                         w, h, progressive=True, tile_size=args.tile_size)
    whole = codec.decode(codec.encode(original, 4), w, h, progressive=True)
    for k in steps:
      t, anywhere = border_steps(tiled[k - 1], args.tile_size)
      o, _ = border_steps(whole[k - 1], args.tile_size)
      steps[k].append((t, o, anywhere))
    if crop is None:
      c, s = args.tile_size, 64
      parts = [whole[1][c - s:c + s, c - s:c + s],
               tiled[1][c - s:c + s, c - s:c + s]]
      diff = np.abs(parts[1].astype(int) - parts[0].astype(int)) * 8
      parts.append(np.clip(diff, 0, 255).astype(np.uint8))
      crop = np.concatenate([np.pad(q, ((4, 4), (4, 4), (0, 0)),
                                    constant_values=255) for q in parts], 1)
      crop_name = os.path.basename(path)
  for k, rows in steps.items():
    t, o, a = np.mean(rows, axis=0)
    lines.append(f"| {k} | {t:.2f} | {o:.2f} | {t / o:.3f} | {a:.2f} |")
  lines.append(f"\nseam.png: {crop_name} at 2 iterations, 128x128 around "
               "the first tile corner: whole, tiled, 8x |difference|.")
  text = "\n".join(lines) + "\n"
  print(text)
  with open(os.path.join(args.output_dir, "seam.md"), "w") as f:
    f.write(text)
  images.save_png(os.path.join(args.output_dir, "seam.png"),
                  np.kron(crop, np.ones((2, 2, 1), np.uint8)))


if __name__ == "__main__":
  main()
