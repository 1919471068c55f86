"""The rate-distortion evaluation behind `rnn-codec eval` (the papers' Kodak study).

For every image and codec it records real file sizes (bpp), MS-SSIM (the
headline), PSNR and PSNR-HVS; then per codec the mean curve at common bpp
targets (compression/rd.py: per-image interpolation in log bpp, no
extrapolation), the AUC over [0.25, 2] bpp, and Bjøntegaard BD-rates against
JPEG for PSNR and for MS-SSIM in dB. Writes results.json, results.csv,
summary.csv and one plot per metric, with the reference model's published
Kodak curve dashed.
"""

import concurrent.futures
import csv
import json
import multiprocessing
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from compression import anchors, container, images, metrics, rd, registry
from residual_gru import quiet
from residual_gru.images import box_downscale

METRICS = ("msssim", "psnr", "psnr_hvs")
TARGETS = [k / 8 for k in range(1, 17)] + [2.5, 3.0]
# The released reference model's published Kodak MS-SSIM (tensorflow/
# compression's results for toderici-2017-cvpr), at the nominal k/8 bpp,
# before entropy coding: the one copy (plots, tables, model cards).
REFERENCE_MSSSIM = [0.8191, 0.9037, 0.9375, 0.9538, 0.9636, 0.9715, 0.9758,
                    0.9796, 0.9822, 0.9839, 0.9858, 0.9868, 0.9878, 0.9883,
                    0.9885, 0.9887]
REFERENCE = {
    "msssim": ([k / 8 for k in range(1, 17)], REFERENCE_MSSSIM),
    "psnr": ([0.125, 0.25, 0.5, 1.0, 1.5, 2.0],
             [23.01, 25.65, 28.27, 31.62, 33.63, 34.63]),
}


def _scores(original, decoded):
  return {"msssim": metrics.msssim(original, decoded),
          "psnr": metrics.psnr(original, decoded),
          "psnr_hvs": metrics.psnr_hvs(original, decoded)}


def _load(path, downscale=1):
  """The image as the codecs see it: the codec's loader, box-downscaled."""
  return box_downscale(images.load(path), downscale)


def run_anchor(codec, path, downscale=1):
  """All knob settings of one anchor codec on one image -> rows."""
  original = _load(path, downscale)
  pixels = original.shape[0] * original.shape[1]
  rows = []
  for knob in anchors.TABLE[codec].grid:
    t0 = time.perf_counter()
    data, decoded = anchors.TABLE[codec].code(original, knob)
    rows.append({"codec": codec, "image": os.path.basename(path),
                 "knob": knob, "bytes": len(data),
                 "bpp": 8.0 * len(data) / pixels,
                 "seconds": time.perf_counter() - t0,
                 **_scores(original, decoded)})
  return rows


def run_ours(path, model=None, entropy=False, downscale=1, tile_size=None):
  """Iterations 1..16 of our codec on one image -> rows (real file sizes);
  ``tile_size`` as the API's (None: the codec's choice for the size)."""
  chosen = registry.get(model).codec
  original = _load(path, downscale)
  height, width = original.shape[:2]
  n = chosen.max_iterations
  tile_size = chosen.tile_size_for(width, height, tile_size)
  t0 = time.perf_counter()
  bits = chosen.encode(original, n, tile_size=tile_size)
  every = chosen.decode(bits, width, height, progressive=True,
                        tile_size=tile_size)
  seconds = time.perf_counter() - t0
  name = "ours-entropy" if entropy else "ours"
  rows = []
  for k in range(1, n + 1):
    data = chosen.pack(bits[:k], width, height,
                       entropy_coding=True if entropy else False,
                       tile_size=tile_size)
    header = len(container.parse(
        data, lambda _: chosen.geometry).header_bytes())
    rows.append({"codec": name, "image": os.path.basename(path), "knob": k,
                 "bytes": len(data), "header_bytes": header,
                 "bpp": 8.0 * len(data) / (width * height),
                 "nominal_bpp": chosen.geometry.nominal_bpp(k),
                 "tile_size": tile_size,
                 "seconds": seconds,
                 **_scores(original, every[k - 1])})
  return rows


# Multipliers (slopes of MS-SSIM per bit per pixel) of spatially adaptive
# coding (codec.AdaptivePlan): from about 14 of 16 iterations per cell on
# Kodak down to the floor of 2 (runs/adaptive/README.md, steps 3-5).
ADAPTIVE_MULTIPLIERS = (0.003, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28)


def run_ours_adaptive(path, model=None, downscale=1,
                      multipliers=ADAPTIVE_MULTIPLIERS):
  """Spatially adaptive coding (issue #16) at each multiplier on one image
  -> rows (real file sizes, entropy coded, stop map included), with encode
  and decode seconds (the encode's share of the one uniform first pass
  included) and the decode seconds of a uniform file of as many iterations
  (the same decoder steps)."""
  chosen = registry.get(model).codec
  original = _load(path, downscale)
  height, width = original.shape[:2]
  n = chosen.max_iterations
  rows = []
  t = time.perf_counter()
  plan = chosen.adaptive_plan(original, n)
  first_pass = (time.perf_counter() - t) / len(multipliers)
  for multiplier in multipliers:
    t0 = time.perf_counter() - first_pass
    data = chosen.compress_adaptive(original, n, multiplier,
                                    entropy_coding=True, plan=plan)
    t1 = time.perf_counter()
    decoded = chosen.decompress(data)
    t2 = time.perf_counter()
    c = container.parse(data, lambda _: chosen.geometry)
    uniform = chosen.pack(chosen.encode(original, c.iterations), width,
                          height, entropy_coding=True)
    t3 = time.perf_counter()
    chosen.decompress(uniform)
    uniform_seconds = time.perf_counter() - t3
    rows.append({"codec": "ours-adaptive", "image": os.path.basename(path),
                 "knob": multiplier, "bytes": len(data),
                 "header_bytes": len(c.header_bytes()),
                 "bpp": 8.0 * len(data) / (width * height),
                 "iterations": c.iterations,
                 "mean_iterations": float(np.mean(c.kept())),
                 "encode_seconds": t1 - t0, "decode_seconds": t2 - t1,
                 "uniform_decode_seconds": uniform_seconds,
                 "seconds": t2 - t0, **_scores(original, decoded)})
  return rows


def _task(args):
  kind, path, model, entropy, downscale, tile_size = args
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if kind == "ours-adaptive":
    quiet.import_tensorflow()
    return run_ours_adaptive(path, model, downscale)
  if kind in ("ours", "ours-entropy"):
    quiet.import_tensorflow()
    return run_ours(path, model, entropy, downscale, tile_size)
  return run_anchor(kind, path, downscale)


def summarize(rows, images, bpp_key="bpp"):
  """Per codec: mean curves, image counts, AUC and BD-rates vs JPEG."""
  by_codec = {}
  for r in rows:
    by_codec.setdefault(r["codec"], {}).setdefault(r["image"], []).append(r)
  summary = {}
  for codec, per_image in by_codec.items():
    if set(per_image) != set(images):
      continue
    entry = {"images": len(per_image)}
    for metric in METRICS:
      sweeps = []
      for rs in per_image.values():
        rs = sorted(rs, key=lambda r: r[bpp_key])
        sweeps.append(([r[bpp_key] for r in rs], [r[metric] for r in rs]))
      targets, mean, counts = rd.mean_curve(sweeps, TARGETS)
      entry[metric] = {"bpp": targets.tolist(), "mean": mean.tolist(),
                       "image_count": counts.tolist(),
                       "auc_0.25_2": rd.auc(targets, mean)}
    summary[codec] = entry
  # BD-rates against JPEG, and adaptive coding against uniform coding with
  # the same model, both entropy coded.
  for anchor, key, codecs in (
      ("jpeg", "bd_rate_vs_jpeg_percent", list(summary)),
      ("ours-entropy", "bd_rate_vs_uniform_percent", ["ours-adaptive"])):
    if anchor not in summary:
      continue
    for codec in codecs:
      if codec not in summary:
        continue
      entry = summary[codec]
      for metric, transform in (("psnr", np.asarray),
                                ("msssim", rd.msssim_db)):
        a, t = summary[anchor][metric], entry[metric]
        entry[metric][key] = (
            rd.bd_rate(a["bpp"], transform(a["mean"]), t["bpp"],
                       transform(t["mean"]))
            if len(a["bpp"]) >= 4 and len(t["bpp"]) >= 4 else None)
  return summary


def plot(summary, output_dir):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  labels = {"msssim": "MS-SSIM (RGB)", "psnr": "PSNR (dB, RGB)",
            "psnr_hvs": "PSNR-HVS (dB, luma)"}
  paths = []
  for metric in METRICS:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for codec, entry in sorted(summary.items()):
      curve = entry[metric]
      ax.plot(curve["bpp"], curve["mean"], "o-", ms=3, label=codec)
    if metric in REFERENCE:
      ax.plot(*REFERENCE[metric], "k--", label="Toderici 2017 (published)")
    ax.set_xlabel("bits per pixel (real file sizes)")
    ax.set_ylabel(labels[metric])
    ax.set_xlim(0, 2.2)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(output_dir, f"rd_{metric}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
  return paths


def pin(model):
  """A model spec that names one set of weights: a training run's folder
  becomes its newest checkpoint's path, so that every worker (and every
  image) scores the same step while the run trains on; others unchanged."""
  chosen = registry.get(model)
  return getattr(chosen, "checkpoint", None) or model


def _model_record(model):
  """Which model (and training step) the numbers of "ours" belong to."""
  m = registry.get(model)
  record = {"id": m.id, "name": m.name,
            "step": m.meta.get("provenance", {}).get("step"),
            "entropy_id": None}
  if getattr(m, "checkpoint", None):
    record["checkpoint"] = m.checkpoint
  entropy_meta = os.path.join(m.directory, "entropy", "model.json")
  if os.path.exists(entropy_meta):
    with open(entropy_meta) as f:
      record["entropy_id"] = json.load(f)["id"]
  return record


def evaluate(image_paths, codecs, output_dir, model=None, workers=2,
             entropy=False, downscale=1, tile_size=None, adaptive=False):
  """Runs every codec on every image in worker processes; writes outputs.

  ``downscale``: box-downscale every image by this integer first (held-out
  images of JPEG training sources are scored at the size they train at).
  ``tile_size``: our codec's tiles (None: its choice per image size).
  ``adaptive``: also our codec's spatially adaptive files
  (``run_ours_adaptive``), with their BD-rate against uniform coding.
  """
  os.makedirs(output_dir, exist_ok=True)
  if "ours" in codecs:
    model = pin(model)
  tasks = []
  for codec in codecs:
    for path in image_paths:
      if codec == "ours":
        tasks.append(("ours", path, model, False, downscale, tile_size))
        if entropy or adaptive:
          tasks.append(("ours-entropy", path, model, True, downscale,
                        tile_size))
        if adaptive:
          tasks.append(("ours-adaptive", path, model, True, downscale,
                        None))
      else:
        tasks.append((codec, path, None, False, downscale, None))
  rows, failures = [], []
  if workers == 0:  # in this process (tests, debugging)
    bar = tqdm(tasks, unit="task", file=sys.stderr)
    for task in bar:
      try:
        rows += _task(task)
      except Exception as e:  # one image's failure must not stop the run
        failures.append(f"{task[0]} {task[1]}: {e}")
        bar.write(f"error: {failures[-1]}", file=sys.stderr)
  else:
    # spawn, not fork: forking a process whose TensorFlow thread pools are
    # running deadlocks the children (seen: no task finished in 10 minutes).
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers,
                                                mp_context=context) as pool:
      futures = {pool.submit(_task, t): t for t in tasks}
      bar = tqdm(concurrent.futures.as_completed(futures), total=len(tasks),
                 unit="task", file=sys.stderr)
      for future in bar:
        try:
          rows += future.result()
        except Exception as e:  # one image's failure must not stop the run
          failures.append(f"{futures[future][0]} {futures[future][1]}: {e}")
          bar.write(f"error: {failures[-1]}", file=sys.stderr)
  names = [os.path.basename(p) for p in image_paths]
  summary = summarize(rows, names)
  # Our codec also at its nominal rate k/8 bpp, as the papers plot it
  # (raw bits only: entropy coding changes the sizes, not the images).
  nominal = [{**r, "codec": r["codec"] + "@nominal"} for r in rows
             if "nominal_bpp" in r and r["codec"] == "ours"]
  summary.update(summarize(nominal, names, bpp_key="nominal_bpp"))
  result = {"images": names, "codecs": list(codecs), "rows": rows,
            "model": _model_record(model) if "ours" in codecs else None,
            "summary": summary, "failures": failures,
            "grids": {c: list(anchors.TABLE[c].grid) for c in codecs
                      if c != anchors.OURS}}
  with open(os.path.join(output_dir, "results.json"), "w") as f:
    json.dump(result, f, indent=1)
  with open(os.path.join(output_dir, "results.csv"), "w", newline="") as f:
    keys = sorted({k for r in rows for k in r})
    writer = csv.DictWriter(f, keys)
    writer.writeheader()
    writer.writerows(rows)
  with open(os.path.join(output_dir, "summary.csv"), "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["codec", "metric", "bpp", "mean", "images"])
    for codec, entry in summary.items():
      for metric in METRICS:
        c = entry[metric]
        for b, m, n in zip(c["bpp"], c["mean"], c["image_count"]):
          writer.writerow([codec, metric, b, m, n])
  plot(summary, output_dir)
  if "ours@nominal" in summary:
    with open(os.path.join(output_dir, "table.md"), "w") as f:
      f.write(nominal_table(result))
  return result


def iteration_curve(path):
  """Our codec's mean score per iteration in one results file, the form the
  model card and the recipe study tabulate: {"step", "images", "bpp"
  (nominal k/8), "msssim", "psnr", "psnr_hvs"} (lists over iterations).

  Reads results.json of `rnn-codec eval` (means over its images of the raw
  "ours" rows, iteration by iteration), and, for the records written before
  the evaluation harnesses were one, the eval-<step>-<name>.json files of
  the retired residual_gru.evaluate, which held these means already.
  """
  with open(path) as f:
    result = json.load(f)
  if "rows" not in result:  # a record of the retired binary
    return {k: result[k] for k in ("step", "images", "bpp", "msssim", "psnr",
                                   "psnr_hvs") if k in result}
  by_iteration = {}
  for r in result["rows"]:
    if r["codec"] == "ours":
      by_iteration.setdefault(r["knob"], []).append(r)
  if not by_iteration:
    raise ValueError(f"{path} has no rows of our codec.")
  iterations = sorted(by_iteration)
  curve = {"step": (result.get("model") or {}).get("step"),
           "images": result["images"],
           "bpp": [by_iteration[k][0]["nominal_bpp"] for k in iterations]}
  for metric in METRICS:
    curve[metric] = [float(np.mean([r[metric] for r in by_iteration[k]]))
                     for k in iterations]
  return curve


def nominal_table(result):
  """Markdown: our codec at iteration k's nominal k/8 bpp, the reference's
  published MS-SSIM, and the other codecs interpolated at the same rates."""
  summary = result["summary"]
  ours = summary["ours@nominal"]
  anchors_ = [c for c in result["codecs"] if c != "ours" and c in summary]
  name = (result.get("model") or {}).get("name", "ours")

  def at(codec, metric, bpp):
    c = summary[codec][metric]
    for b, m, n in zip(c["bpp"], c["mean"], c["image_count"]):
      if abs(b - bpp) < 1e-9 and n == len(result["images"]):
        return f"{m:.4f}" if metric == "msssim" else f"{m:.2f}"
    return "–"

  head = (["iterations", "bpp", f"{name} MS-SSIM", "reference MS-SSIM"] +
          [f"{a.upper()} MS-SSIM" for a in anchors_] + [f"{name} PSNR"] +
          [f"{a.upper()} PSNR" for a in anchors_])
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  ref_bpp, ref = REFERENCE["msssim"]
  for k, bpp in enumerate(ours["msssim"]["bpp"]):
    cells = [str(k + 1), f"{bpp:.3f}", at("ours@nominal", "msssim", bpp),
             f"{ref[ref_bpp.index(bpp)]:.4f}" if bpp in ref_bpp else "–"]
    cells += [at(a, "msssim", bpp) for a in anchors_]
    cells += [at("ours@nominal", "psnr", bpp)]
    cells += [at(a, "psnr", bpp) for a in anchors_]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"
