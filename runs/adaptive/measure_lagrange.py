r"""Spatially adaptive bits, step 3: a two-pass Lagrangian allocation at real
file sizes.

  python runs/adaptive/measure_lagrange.py --images=<kodak> [--max_images=6] \
      [--model=v1] [--cost=entropy|raw] [--min_iterations=2] \
      --output=runs/adaptive/lagrange.json

The equal-slope rule of step 2 is greedy (a block stops the first time one
iteration gains little) and prices every iteration of every block the same
(raw bits). Here the encoder first codes the image uniformly and measures,
for every 32x32 cell (2x2 code positions, the map's cell) and every
iteration count k, the cell's means of MS-SSIM's maps per scale
(``metrics.msssim_shares(per_scale=True)``) and what its codes cost: with
``--cost=entropy`` the entropy model's -log2 P of each bit (the bits the
range coder will spend), with ``--cost=raw`` 32 bits per position and
iteration. For a multiplier lambda each cell keeps the k that maximises
G_b(k) - lambda * C_b(k), C_b the cumulative cost and G_b the cell's
means weighted by MS-SSIM's gradient at the plan's operating point
(``codec.AdaptivePlan``; step 4): the allocation on the convex hull of
every cell's curve, not a greedy stop. ``--min_iterations``: no cell stops
before that many iterations (step 4: stops after the first iteration
decode far below plan). The second pass codes the image with that plan
(closed loop, stopped cells hold, ``compress_adaptive(plan=...)``) and the
codec writes the file (version 3, map included, entropy coded). Rates are
the files' sizes; quality is MS-SSIM and PSNR of the decoded files.
BD-rate against uniform coding with the same model and entropy model, at
real sizes; negative means adaptive saves bits.
"""

import argparse
import json
import os
import sys
import time

import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from compression import images, rd, registry  # noqa: E402
from residual_gru import metrics  # noqa: E402


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--images",
                 help="Folder of PNG images (Kodak); or, with --merge, none.")
  p.add_argument("--merge", nargs="+", metavar="JSON",
                 help="Instead of measuring, join these runs' rows (one "
                 "run split with --skip_images) and summarise them.")
  p.add_argument("--max_images", type=int, default=6)
  p.add_argument("--skip_images", type=int, default=0,
                 help="Start after this many images (to split a long run).")
  p.add_argument("--model", default="v1")
  p.add_argument("--cost", choices=["entropy", "raw"], default="entropy")
  p.add_argument("--lambdas", default="3e-6,1e-5,2e-5,4e-5,8e-5,1.6e-4,"
                 "3.2e-4,6.4e-4,1.3e-3,2.6e-3",
                 help="MS-SSIM share per bit of the sweep.")
  p.add_argument("--cell", type=int, default=2,
                 help="Code positions per map cell side (1: 16x16 pixels).")
  p.add_argument("--threads", type=int, default=1,
                 help="TensorFlow threads (one core is the training's).")
  p.add_argument("--min_iterations", type=int, default=2,
                 help="No cell stops before this many iterations.")
  p.add_argument("--output", required=True)
  args = p.parse_args()
  if args.merge:
    runs = [json.load(open(path)) for path in args.merge]
    result = dict(runs[0], images=[i for r in runs for i in r["images"]],
                  rows=[row for r in runs for row in r["rows"]])
    return summarise(result, f"lagrange_{result['cost']}", args.output)
  if not args.images:
    p.error("--images is required (or --merge)")
  tf.config.threading.set_intra_op_parallelism_threads(args.threads)
  tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  cell = args.cell
  codec = registry.get(args.model).codec
  paths = images.image_loader.files_in(args.images, (".png",))
  paths = paths[args.skip_images:args.skip_images + args.max_images]
  lambdas = [float(x) for x in args.lambdas.split(",")]
  rows = []
  t0 = time.time()
  n = codec.max_iterations
  for path in paths:
    pixels = images.load(path)
    height, width = pixels.shape[:2]
    name = os.path.basename(path)
    bits = codec.encode(pixels, n)
    every = codec.decode(bits, width, height, progressive=True)
    for k, size in enumerate(codec.file_sizes(bits, width, height)):
      rows.append({"image": name, "mode": "uniform", "knob": k + 1,
                   "bytes": size, "bpp": 8 * size / (height * width),
                   "msssim": metrics.msssim(pixels, every[k]),
                   "psnr": metrics.psnr(pixels, every[k])})
    plan = codec.adaptive_plan(pixels, n, map_block=cell,
                               raw_costs=args.cost == "raw",
                               min_iterations=args.min_iterations)
    for lam in lambdas:
      data = codec.compress_adaptive(pixels, n, lam, plan=plan)
      decoded = codec.decompress(data)
      k = plan.iterations(lam)
      rows.append({"image": name, "mode": f"lagrange_{args.cost}",
                   "knob": lam, "bytes": len(data),
                   "bpp": 8 * len(data) / (height * width),
                   "mean_iterations": float(k.mean()),
                   "predicted_bytes": plan.predicted_bits(lam) / 8,
                   "predicted_msssim": plan.predicted_msssim(lam),
                   "msssim": metrics.msssim(pixels, decoded),
                   "psnr": metrics.psnr(pixels, decoded)})
      print(f"{name} lambda {lam:g}: {rows[-1]['bpp']:.3f} bpp, MS-SSIM "
            f"{rows[-1]['msssim']:.4f}, {k.mean():.1f} it "
            f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
  result = {"model": args.model, "cost": args.cost, "lambdas": lambdas,
            "cell": cell, "min_iterations": args.min_iterations,
            "images": [os.path.basename(p) for p in paths], "rows": rows}
  summarise(result, f"lagrange_{args.cost}", args.output)


def summarise(result, mode, output):
  """BD-rates against uniform coding per image -> the result, written."""
  rows = result["rows"]
  bd = {f"{mode}_{metric}": rd.per_image_bd_rates(rows, "uniform", mode, metric)
        for metric in ("msssim", "psnr")}
  result["bd_rate_vs_uniform_percent"] = bd
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  with open(output, "w") as f:
    json.dump(result, f, indent=1)
  plot(result, mode, os.path.splitext(output)[0] + ".png")
  print(json.dumps(bd, indent=1))


def plot(result, mode, path):
  """Mean MS-SSIM and PSNR curves of both modes over the images (each image
  interpolated in log bpp at common rates, rd.mean_curve) -> a PNG."""
  import matplotlib  # noqa: PLC0415
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # noqa: PLC0415
  targets = [k / 16 for k in range(2, 33)]
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
  for ax, metric, label in zip(axes, ("msssim", "psnr"),
                               ("MS-SSIM (RGB)", "PSNR (dB, RGB)")):
    for m, name in (("uniform", "uniform"), (mode, "adaptive")):
      sweeps = []
      for image in result["images"]:
        rs = sorted((r for r in result["rows"]
                     if r["image"] == image and r["mode"] == m),
                    key=lambda r: r["bpp"])
        sweeps.append(([r["bpp"] for r in rs], [r[metric] for r in rs]))
      bpp, mean, _ = rd.mean_curve(sweeps, targets)
      key = f"{mode}_{metric}"
      mean_bd = result["bd_rate_vs_uniform_percent"][key]["mean"]
      ax.plot(bpp, mean, "o-", ms=3, label=name if m == "uniform" else
              f"{name} (BD-rate {mean_bd:+.1f} %)")
    ax.set_xlabel("bits per pixel (real file sizes)")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    ax.legend()
  fig.suptitle(f"{result['model']}: spatially adaptive against uniform "
               f"coding, {len(result['images'])} images")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


if __name__ == "__main__":
  main()
