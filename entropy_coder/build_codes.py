r"""Builds the entropy coder's training codes from a frozen image model.

  python -m entropy_coder.build_codes --image_model=v1 \
      --input_dir=data/urban100 --output=/tmp/codes/train.tfrecord.gz

Runs the image encoder as at inference (eq 7 sign codes, 16 iterations) over
random crops (--crop, at least 256x256 pixels) of every image and writes
them in the reference's TFRecord schema (entropy_coder/dataset.py). Images
the image-tile builder held out for validation (same name hash and fraction)
go to the --val_output file instead, so the entropy coder is validated on
images neither model was trained on.
"""

import os
import sys

from absl import app
from absl import flags
import numpy as np
from tqdm import tqdm

from entropy_coder import dataset

FLAGS = flags.FLAGS


def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("image_model", None, "Bundled model name/id, a model "
                      "folder, or the train_dir of an image training run.")
  flags.DEFINE_list("input_dir", [], "Folders of images.")
  flags.DEFINE_integer("downscale", 1, "Box-downscale images first.")
  flags.DEFINE_integer("crop", 256, "Crop side in pixels (multiple of 32, "
                       ">= 256).")
  flags.DEFINE_integer("crops_per_image", 2, "Random crops per image.")
  flags.DEFINE_integer("iterations", 16, "Image iterations = code layers.")
  flags.DEFINE_string("output", None, "Training codes (.gz = GZIP).")
  flags.DEFINE_string("val_output", None, "Held-out codes.")
  flags.DEFINE_float("held_out_fraction", 0.05, "As build_dataset's "
                     "--validation_fraction.")
  flags.DEFINE_integer("seed", 0, "Crop positions.")


def load_image_network(spec):
  """A network from a model registry spec or an image training dir."""
  if os.path.exists(os.path.join(spec, "config.json")) and os.path.isdir(
      os.path.join(spec, "checkpoints")):
    from residual_gru import evaluate
    return evaluate.load_checkpoint(spec)[0]
  from compression import registry
  return registry.get(spec).network


def crops(image, size, count, rng):
  h, w = image.shape[:2]
  if h < size or w < size:
    return []
  out = []
  for _ in range(count):
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    out.append(image[y:y + size, x:x + size])
  return out


def main(argv):
  del argv
  from residual_gru import build_dataset, data
  if not (FLAGS.image_model and FLAGS.input_dir and FLAGS.output):
    raise app.UsageError("--image_model, --input_dir and --output are "
                         "required.")
  if FLAGS.crop < 256 or FLAGS.crop % 32:
    raise app.UsageError("--crop must be a multiple of 32, at least 256.")
  network = load_image_network(FLAGS.image_model)
  paths = build_dataset._list_images(FLAGS.input_dir)
  rng = np.random.default_rng(FLAGS.seed)
  train, val = [], []
  for path, name in tqdm(paths, unit="img", file=sys.stderr):
    image = data.load_image(path, FLAGS.downscale)
    target = val if data.is_validation(name, FLAGS.held_out_fraction) else (
        train)
    for crop in crops(image, FLAGS.crop, FLAGS.crops_per_image, rng):
      bits, _ = network.compress(crop, np.int32(FLAGS.iterations))
      target.append(dataset.bits_to_codes(bits.numpy()))
  if not train:
    raise app.UsageError(f"No image is at least {FLAGS.crop} pixels on a "
                         "side.")
  dataset.write(FLAGS.output, train)
  if FLAGS.val_output and val:
    dataset.write(FLAGS.val_output, val)
  print(f"{len(train)} training and {len(val)} held-out code maps of shape "
        f"{train[0].shape}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
