r"""Spatially adaptive bits, step 3: a two-pass Lagrangian allocation at real
file sizes.

  python runs/adaptive/measure_lagrange.py --images=<kodak> [--max_images=6] \
      [--model=v1] [--cost=entropy|raw] [--min_iterations=2] \
      --output=runs/adaptive/lagrange.json

The equal-slope rule of step 2 is greedy (a block stops the first time one
iteration gains little) and prices every iteration of every block the same
(raw bits). Here the encoder first codes the image uniformly and measures,
for every cell of the stop map (16x16 pixels on Kodak, the codec's
``map_block_for``; ``--cell`` to force another) and every
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

import numpy as np
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
  p.add_argument("--lambdas", default="0.003,0.01,0.02,0.04,0.08,0.16,"
                 "0.32,0.64,1.28,2.56",
                 help="The sweep's multipliers: slopes of MS-SSIM per bit "
                 "per pixel (codec.AdaptivePlan; before session 13, per bit "
                 "of a cell: those of the steps 3-4 JSONs are 1/1024 of "
                 "these).")
  p.add_argument("--cell", type=int, default=0,
                 help="Code positions per map cell side (1: 16x16 pixels; "
                 "0: the codec's choice, map_block_for).")
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
  cell = args.cell or None
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
    start = time.perf_counter()
    bits = codec.encode(pixels, n)
    every = codec.decode(bits, width, height, progressive=True)
    first_pass_secs = time.perf_counter() - start
    for k, size in enumerate(codec.file_sizes(bits, width, height)):
      rows.append({"image": name, "mode": "uniform", "knob": k + 1,
                   "bytes": size, "bpp": 8 * size / (height * width),
                   "msssim": metrics.msssim(pixels, every[k]),
                   "psnr": metrics.psnr(pixels, every[k])})
    start = time.perf_counter()
    plan = codec.adaptive_plan(pixels, n, map_block=cell,
                               raw_costs=args.cost == "raw",
                               min_iterations=args.min_iterations,
                               first_pass=(bits, every))
    plan_secs = first_pass_secs + time.perf_counter() - start
    uniform_decode_secs = {}
    for lam in lambdas:
      start = time.perf_counter()
      data = codec.compress_adaptive(pixels, n, lam, plan=plan)
      encode_secs = plan_secs + time.perf_counter() - start
      decoded, decode_secs = timed_decode(codec, data, "adaptive")
      k = plan.iterations(lam)
      most = int(k.max())
      if most not in uniform_decode_secs:  # a uniform file as long
        uniform_decode_secs[most] = timed_decode(
            codec, codec.pack(bits[:most], width, height), "uniform")[1]
      rows.append({"image": name, "mode": f"lagrange_{args.cost}",
                   "knob": lam, "bytes": len(data),
                   "bpp": 8 * len(data) / (height * width),
                   "mean_iterations": float(k.mean()),
                   "predicted_bytes": plan.predicted_bits(lam) / 8,
                   "predicted_msssim": plan.predicted_msssim(lam),
                   "msssim": metrics.msssim(pixels, decoded),
                   "psnr": metrics.psnr(pixels, decoded),
                   "encode_secs": encode_secs, "decode_secs": decode_secs,
                   "uniform_decode_secs": uniform_decode_secs[most]})
      print(f"{name} lambda {lam:g}: {rows[-1]['bpp']:.3f} bpp, MS-SSIM "
            f"{rows[-1]['msssim']:.4f}, {k.mean():.1f} it, decode "
            f"{decode_secs / uniform_decode_secs[most]:.2f}x uniform "
            f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
  result = {"model": args.model, "cost": args.cost, "lambdas": lambdas,
            "cell": plan.map_block, "min_iterations": args.min_iterations,
            "images": [os.path.basename(p) for p in paths], "rows": rows}
  summarise(result, f"lagrange_{args.cost}", args.output)


_TRACED = set()


def timed_decode(codec, data, kind):
  """(image, seconds) of one decode; the first decode of each kind
  ("adaptive", "uniform") runs once untimed before (it traces)."""
  if kind not in _TRACED:
    codec.decompress(data)
    _TRACED.add(kind)
  start = time.perf_counter()
  image = codec.decompress(data)
  return image, time.perf_counter() - start


def summarise(result, mode, output):
  """BD-rates against uniform coding per image, and decode time against a
  uniform file of as many iterations -> the result, written."""
  rows = result["rows"]
  bd = {f"{mode}_{metric}": rd.per_image_bd_rates(rows, "uniform", mode, metric)
        for metric in ("msssim", "psnr")}
  result["bd_rate_vs_uniform_percent"] = bd
  ratios = [r["decode_secs"] / r["uniform_decode_secs"] for r in rows
            if "decode_secs" in r]
  if ratios:
    timed = [r for r in rows if "decode_secs" in r]
    result["decode_time_vs_uniform"] = {
        "mean": float(np.mean(ratios)), "median": float(np.median(ratios)),
        "max": float(np.max(ratios)), "files": len(ratios),
        "mean_encode_secs": float(np.mean([r["encode_secs"] for r in timed])),
        "mean_decode_secs": float(np.mean([r["decode_secs"] for r in timed]))}
    print(json.dumps(result["decode_time_vs_uniform"], indent=1))
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
