r"""Rate-distortion of a training checkpoint on a folder of images.

  python -m residual_gru.evaluate --train_dir=/tmp/run --images=DIR \
      [--held_out_fraction=0.05] [--downscale=1]

For each iteration k (nominal k/8 bpp) prints the mean MS-SSIM (the paper's
RGB-averaged MS-SSIM) and PSNR over the images, and writes them to
<train_dir>/eval-<step>-<name>.json. With --held_out_fraction it keeps only
the images residual_gru.build_dataset held out for validation with the same
fraction, so training runs can be compared without touching evaluation sets.
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np
from tqdm import tqdm

from residual_gru import data
from residual_gru.images import load_downscaled
from residual_gru import metrics
from residual_gru import weights

FLAGS = flags.FLAGS
def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("train_dir", None, "Training run to evaluate (latest "
                      "checkpoint).")
  flags.DEFINE_string("checkpoint", None, "A specific checkpoint path instead.")
  flags.DEFINE_list("images", [], "Folders of PNG/JPEG images.")
  flags.DEFINE_float("held_out_fraction", 0.0, "Only the images that the "
                     "dataset builder held out with this fraction (0 = all).")
  flags.DEFINE_integer("downscale", 1, "Box-downscale images by this factor.")
  flags.DEFINE_integer("iterations", 16, "Iterations to evaluate.")
  flags.DEFINE_string("name", "images", "Tag of the output JSON file.")
  flags.DEFINE_integer("max_images", 0, "Evaluate at most this many (0 = all).")
  flags.DEFINE_string("decode_timing", None, "Instead of evaluating, time "
                      "the decoding of this image at --iterations (median of "
                      "--repeats after a warm-up) and write "
                      "decode-<step>.json to --train_dir: what a wider or "
                      "primed network costs every user.")
  flags.DEFINE_integer("repeats", 3, "Timed decodes with --decode_timing.")
  flags.DEFINE_integer("threads", 0, "intra-op threads (0 = default).")


def rate_distortion(model, images, iterations):
  """Per image and iteration: MS-SSIM, PSNR, PSNR-HVS arrays [N, n]."""
  msssim = np.zeros((len(images), iterations))
  psnr = np.zeros_like(msssim)
  psnr_hvs = np.zeros_like(msssim)
  for i, image in enumerate(tqdm(images, unit="img", file=sys.stderr)):
    h, w = image.shape[:2]
    bits, _ = model.compress(image, iterations)
    every = model.decompress_progressive(bits, h, w).numpy()
    for t in range(iterations):
      msssim[i, t] = metrics.msssim(image, every[t])
      psnr[i, t] = metrics.psnr(image, every[t])
      psnr_hvs[i, t] = metrics.psnr_hvs(image, every[t])
  return msssim, psnr, psnr_hvs


def decode_seconds(model, image, iterations, repeats):
  """Median wall seconds of model.decompress for image's codes (warmed up)."""
  h, w = image.shape[:2]
  bits, _ = model.compress(image, iterations)
  model.decompress(bits, h, w).numpy()  # traces the function
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    model.decompress(bits, h, w).numpy()
    times.append(time.perf_counter() - t0)
  return float(np.median(times))


def time_decoding():
  try:
    model, step = weights.load_checkpoint(FLAGS.train_dir, FLAGS.checkpoint)
    image = load_downscaled(FLAGS.decode_timing, FLAGS.downscale)
  except (FileNotFoundError, ValueError) as e:
    raise app.UsageError(str(e))
  secs = decode_seconds(model, image, FLAGS.iterations, FLAGS.repeats)
  result = {"step": step, "image": os.path.basename(FLAGS.decode_timing),
            "height": image.shape[0], "width": image.shape[1],
            "iterations": FLAGS.iterations, "threads": FLAGS.threads,
            "repeats": FLAGS.repeats, "decode_secs": secs}
  out = os.path.join(FLAGS.train_dir, f"decode-{step}.json")
  with open(out, "w") as f:
    json.dump(result, f, indent=1)
  print(f"step {step}: {result['image']} ({image.shape[1]}x{image.shape[0]})"
        f" decoded at {FLAGS.iterations} iterations in {secs:.2f} s -> {out}")


def main(argv):
  del argv
  if FLAGS.threads:
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  if FLAGS.train_dir and FLAGS.decode_timing:
    return time_decoding()
  if not FLAGS.train_dir or not FLAGS.images:
    raise app.UsageError("--train_dir and --images are required.")
  try:
    paths = [p for p, _ in data.list_images(FLAGS.images,
                                            FLAGS.held_out_fraction)]
  except FileNotFoundError as e:
    raise app.UsageError(f"--images {e}")
  if FLAGS.max_images:
    paths = paths[:FLAGS.max_images]
  if not paths:
    raise app.UsageError("No images to evaluate.")
  try:
    model, step = weights.load_checkpoint(FLAGS.train_dir, FLAGS.checkpoint)
  except FileNotFoundError as e:
    raise app.UsageError(str(e))
  images = [load_downscaled(p, FLAGS.downscale) for p in paths]
  msssim, psnr, psnr_hvs = rate_distortion(model, images, FLAGS.iterations)
  result = {"step": step, "images": [os.path.basename(p) for p in paths],
            "bpp": [(t + 1) / 8 for t in range(FLAGS.iterations)],
            "msssim": msssim.mean(0).tolist(), "psnr": psnr.mean(0).tolist(),
            "psnr_hvs": psnr_hvs.mean(0).tolist(),
            "msssim_per_image": msssim.tolist()}
  out = os.path.join(FLAGS.train_dir, f"eval-{step}-{FLAGS.name}.json")
  with open(out, "w") as f:
    json.dump(result, f, indent=1)
  print(f"step {step}, {len(paths)} images -> {out}")
  for t in range(FLAGS.iterations):
    print(f"  {result['bpp'][t]:.3f} bpp  MS-SSIM {result['msssim'][t]:.4f}"
          f"  PSNR {result['psnr'][t]:.2f}"
          f"  PSNR-HVS {result['psnr_hvs'][t]:.2f}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
