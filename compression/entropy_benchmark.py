r"""Entropy coding on a folder of images: bytes per iteration and exact decoding.

  python -m compression.entropy_benchmark --images=<kodak> --model=v0 \
      --output=runs/benchmarks/entropy_v0/results.json

For every image, through the public API: the raw and the entropy-coded file
at 16 iterations, the bytes of each iteration's segment in both, and a check
that the entropy-coded file decodes to exactly the raw file's bits and image,
also when cut to fewer iterations (files stay progressive). The range
coder's overhead is the coded size over the integer model's own
cross-entropy. Then the time bar: on the first image, range decoding alone
against the image network's own decode of the same codes (same process,
median of --repeats). Any mismatch exits with status 1.
"""

import json
import statistics
import sys
import time

from absl import app
from absl import flags
import numpy as np
from tqdm import tqdm

from compression import api, container, images, registry

FLAGS = flags.FLAGS


def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("images", None, "Folder of images.")
  flags.DEFINE_string("model", None, "Bundled model name/id or folder "
                      "(default: the bundled default).")
  flags.DEFINE_integer("iterations", 16, "Iterations per file.")
  flags.DEFINE_integer("repeats", 3, "Timed runs (median) for the time bar.")
  flags.DEFINE_integer("threads", 2, "intra-op threads.")
  flags.DEFINE_string("output", None, "JSON report; a PNG plot of the "
                      "bytes per iteration is written beside it.")


def _median_seconds(fn, repeats):
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def main(argv):
  del argv
  import tensorflow as tf
  tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  from entropy_coder import coding
  from residual_gru import data
  if not FLAGS.images:
    raise app.UsageError("--images is required.")
  model = registry.get(FLAGS.model)
  if model.entropy is None:
    raise app.UsageError(f"Model {model.name} has no entropy coder.")
  engine = model.entropy[1]
  paths = data.list_images([FLAGS.images])
  if not paths:
    raise app.UsageError(f"No images in {FLAGS.images}.")
  n = FLAGS.iterations
  rows, failures = [], []
  for path, name in tqdm(paths, unit="img", file=sys.stderr):
    image = images.load(path)
    height, width = image.shape[:2]
    bits = model.codec.encode(image, n)  # once; both files pack these
    raw = model.codec.pack(bits, width, height, entropy_coding=False)
    # The coder's own output, even where raw would be smaller (pack).
    coded = model.codec.entropy_coded(bits, width, height).to_bytes()
    c_raw, c_coded = container.parse(raw), container.parse(coded)
    if not rows:
      first = (bits, c_coded.segments, height, width)  # for the time bar
    exact = bool(np.array_equal(model.codec.unpack(c_raw), bits))
    exact &= bool(np.array_equal(model.codec.unpack(c_coded), bits))
    exact &= bool(np.array_equal(api.decompress(coded, model=model),
                                 api.decompress(raw, model=model)))
    for k in (1, n // 2):
      exact &= bool(np.array_equal(
          api.decompress(api.truncate(coded, k), model=model),
          api.decompress(api.truncate(raw, k), model=model)))
    ideal = coding.ideal_bits(engine, bits)
    rows.append({
        "image": name, "width": c_raw.width, "height": c_raw.height,
        "raw_bytes": len(raw), "coded_bytes": len(coded),
        "raw_segment_bytes": [len(s) for s in c_raw.segments],
        "coded_segment_bytes": [len(s) for s in c_coded.segments],
        "ideal_segment_bits": ideal.tolist(), "exact": exact})
    if not exact:
      failures.append(name)
      print(f"MISMATCH: {name}", file=sys.stderr)

  pixels = np.array([r["width"] * r["height"] for r in rows], np.float64)
  raw_seg = np.array([r["raw_segment_bytes"] for r in rows], np.float64)
  coded_seg = np.array([r["coded_segment_bytes"] for r in rows], np.float64)
  ideal = np.array([r["ideal_segment_bits"] for r in rows])
  # Cumulative bpp of the payload after k iterations, mean over images.
  raw_bpp = (8 * np.cumsum(raw_seg, 1) / pixels[:, None]).mean(0)
  coded_bpp = (8 * np.cumsum(coded_seg, 1) / pixels[:, None]).mean(0)
  summary = {
      "images": len(rows), "iterations": n, "model": model.name,
      "entropy_id": model.entropy[0], "all_exact": not failures,
      "mean_raw_bytes_per_iteration": raw_seg.mean(0).tolist(),
      "mean_coded_bytes_per_iteration": coded_seg.mean(0).tolist(),
      "mean_payload_bpp_raw": raw_bpp.tolist(),
      "mean_payload_bpp_coded": coded_bpp.tolist(),
      "saving_per_iteration": (1 - coded_seg.sum(0) / raw_seg.sum(0)).tolist(),
      "coder_overhead": float(8 * coded_seg.sum() / ideal.sum() - 1),
  }

  bits, segments, height, width = first
  h, w = bits.shape[1:3]
  network = model.network
  network_decode = _median_seconds(lambda: network.decompress(
      tf.constant(bits), tf.constant(height), tf.constant(width)).numpy(),
                                   FLAGS.repeats)
  range_decode = _median_seconds(
      lambda: coding.decode(engine, segments, h, w), FLAGS.repeats)
  summary["time_bar"] = {
      "image": paths[0][1], "threads": FLAGS.threads,
      "network_decode_s": network_decode, "range_decode_s": range_decode,
      "ratio": range_decode / network_decode,
      "met": range_decode <= 2 * network_decode}

  print(f"{len(rows)} images, {n} iterations, model {model.name}, entropy "
        f"model {model.entropy[0]}: "
        f"{'all decoded exactly' if not failures else 'MISMATCHES'}")
  print(f"{'it.':>3} {'raw B':>8} {'coded B':>8} {'saving':>7} "
        f"{'raw bpp':>8} {'coded bpp':>9}")
  for k in range(n):
    print(f"{k + 1:>3} {raw_seg[:, k].mean():>8.1f} "
          f"{coded_seg[:, k].mean():>8.1f} "
          f"{100 * summary['saving_per_iteration'][k]:>6.1f}% "
          f"{raw_bpp[k]:>8.4f} {coded_bpp[k]:>9.4f}")
  print(f"Range coder overhead over the integer model's cross-entropy: "
        f"{100 * summary['coder_overhead']:.3f} %")
  tb = summary["time_bar"]
  print(f"Time bar on {tb['image']} ({FLAGS.threads} threads, median of "
        f"{FLAGS.repeats}): range decode {tb['range_decode_s']:.2f} s, "
        f"network decode {tb['network_decode_s']:.2f} s, ratio "
        f"{tb['ratio']:.2f} ({'met' if tb['met'] else 'NOT met'}: <= 2)")
  if FLAGS.output:
    with open(FLAGS.output, "w") as f:
      json.dump({"summary": summary, "images": rows}, f, indent=1)
    plot(summary, FLAGS.output.rsplit(".", 1)[0] + ".png")
  return 1 if failures else 0


def plot(summary, path):
  """Payload bpp after each iteration, raw and coded, and the saving."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  k = np.arange(1, summary["iterations"] + 1)
  fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
  a.plot(k, summary["mean_payload_bpp_raw"], "o-", label="raw bits")
  a.plot(k, summary["mean_payload_bpp_coded"], "s-", label="entropy coded")
  a.set_xlabel("iterations")
  a.set_ylabel("payload bits per pixel (mean over images)")
  a.grid(alpha=0.3)
  a.legend()
  b.bar(k, 100 * np.asarray(summary["saving_per_iteration"]))
  b.set_xlabel("iteration")
  b.set_ylabel("bytes saved in that iteration's segment (%)")
  b.grid(alpha=0.3, axis="y")
  fig.suptitle(f"Entropy coding, model {summary['model']} (entropy model "
               f"{summary['entropy_id']}), {summary['images']} images")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


if __name__ == "__main__":
  define_flags()
  app.run(main)
