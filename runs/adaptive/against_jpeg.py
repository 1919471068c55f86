r"""Adaptive and uniform coding of one model against JPEG, on the same images.

  python runs/adaptive/against_jpeg.py runs/adaptive/<measure_lagrange>.json \
      runs/benchmarks/kodak_v1_entropy/results.json

The first file is what measure_lagrange.py wrote (uniform and adaptive rows,
entropy coded, real file sizes); the second an `rnn-codec eval` results.json
with JPEG rows of the same images. Prints, as `rnn-codec eval` computes its
own (mean curves interpolated per image in log bpp at the eval's rates, then
Bjøntegaard on the means, MS-SSIM in dB), the BD-rate against JPEG of the
uniform and of the adaptive curve, and the mean MS-SSIM of each at 0.25,
0.5 and 1 bpp.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from compression import evaluation, rd  # noqa: E402


def curves(rows, images, select):
  """metric -> (bpp, mean) over the images, for the rows ``select`` keeps."""
  out = {}
  for metric in ("msssim", "psnr"):
    sweeps = []
    for image in images:
      rs = sorted((r for r in rows if r["image"] == image and select(r)),
                  key=lambda r: r["bpp"])
      sweeps.append(([r["bpp"] for r in rs], [r[metric] for r in rs]))
    bpp, mean, _ = rd.mean_curve(sweeps, evaluation.TARGETS)
    out[metric] = (bpp, mean)
  return out


def main():
  if len(sys.argv) != 3:
    sys.exit(__doc__.split("\n\n")[1])
  ours = json.load(open(sys.argv[1]))
  bench = json.load(open(sys.argv[2]))
  images = ours["images"]
  modes = sorted({r["mode"] for r in ours["rows"]} - {"uniform"})
  jpeg = curves(bench["rows"], images, lambda r: r["codec"] == "jpeg")
  result = {"images": len(images)}
  for name, select in [("uniform", lambda r: r["mode"] == "uniform")] + [
      ("adaptive", lambda r, m=m: r["mode"] == m) for m in modes]:
    c = curves(ours["rows"], images, select)
    entry = {}
    for metric, transform in (("msssim", rd.msssim_db), ("psnr", None)):
      t = transform or (lambda x: x)
      entry[f"bd_rate_vs_jpeg_{metric}"] = rd.bd_rate(
          jpeg[metric][0], t(jpeg[metric][1]), c[metric][0],
          t(c[metric][1]))
    bpp, mean = c["msssim"]
    entry["msssim_at"] = {f"{b:g}": float(mean[list(bpp).index(b)])
                          for b in (0.25, 0.5, 1.0) if b in list(bpp)}
    result[name] = entry
  bpp, mean = jpeg["msssim"]
  result["jpeg_msssim_at"] = {f"{b:g}": float(mean[list(bpp).index(b)])
                              for b in (0.25, 0.5, 1.0) if b in list(bpp)}
  print(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()
