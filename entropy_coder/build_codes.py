r"""Builds the entropy coder's training codes from a frozen image model.

  python -m entropy_coder.build_codes --image_model=compression/models/v1 \
      --input_dir=data/urban100 --output=/tmp/codes/train.tfrecord.gz \
      --val_output=/tmp/codes/val.tfrecord.gz

Runs the image encoder as at inference (eq 7 sign codes, 16 iterations) over
random crops (--crop, at least 256x256 pixels) of every image and writes
them in the reference's TFRecord schema (entropy_coder/dataset.py). Images
the image-tile builder held out for validation (same name hash and fraction)
go to the --val_output file instead, so the entropy coder is validated on
images neither model was trained on. An input.json (the reference's
input_config) for entropy_coder.train is written next to --output.
"""

import json
import os
import sys

from absl import app
from absl import flags
import numpy as np
from tqdm import tqdm

from entropy_coder import dataset
from residual_gru import images
from residual_gru import weights

FLAGS = flags.FLAGS


def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("image_model", None, "A model folder (e.g. "
                      "compression/models/v1) or the train_dir of an image "
                      "training run.")
  flags.DEFINE_list("input_dir", [], "Folders of images.")
  flags.DEFINE_list("scales", ["1"], "Box-downscale factors (may be "
                    "fractional, e.g. 1,1.5,2); every image is used at each "
                    "scale where it is at least --crop pixels on a side.")
  flags.DEFINE_integer("crop", 256, "Crop side in pixels (multiple of 32, "
                       ">= 256).")
  flags.DEFINE_integer("crops_per_image", 2, "Random crops per image and "
                       "scale, as many as --crop-sized non-overlapping "
                       "crops fit times this.")
  flags.DEFINE_bool("orientations", True, "Encode each crop in one of the "
                    "8 flips/rotations, drawn at random: the encoder's "
                    "codes of a turned image are new codes, not turned "
                    "ones.")
  flags.DEFINE_integer("iterations", 16, "Image iterations = code layers.")
  flags.DEFINE_string("output", None, "Training codes (.gz = GZIP).")
  flags.DEFINE_string("val_output", None, "Held-out codes.")
  flags.DEFINE_float("held_out_fraction", 0.05, "As build_dataset's "
                     "--validation_fraction.")
  flags.DEFINE_integer("seed", 0, "Crop positions.")


def scaled(image, factor):
  """Box-downscaled copy (any factor >= 1) of a uint8 RGB array."""
  if factor == 1:
    return image
  from PIL import Image
  h, w = image.shape[:2]
  size = (max(1, round(w / factor)), max(1, round(h / factor)))
  return np.asarray(Image.fromarray(image).resize(size,
                                                  Image.Resampling.BOX))


def orient(crop, k):
  """One of the 8 dihedral transforms of a square crop."""
  crop = np.rot90(crop, k % 4)
  return np.ascontiguousarray(crop[:, ::-1] if k >= 4 else crop)


def crops(image, size, per_fit, rng):
  """Random crops: per_fit x the number of non-overlapping ones that fit."""
  h, w = image.shape[:2]
  if h < size or w < size:
    return []
  out = []
  for _ in range(per_fit * (h // size) * (w // size)):
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    out.append(image[y:y + size, x:x + size])
  return out


def main(argv):
  del argv
  from residual_gru import data
  if not (FLAGS.image_model and FLAGS.input_dir and FLAGS.output):
    raise app.UsageError("--image_model, --input_dir and --output are "
                         "required.")
  if FLAGS.crop < 256 or FLAGS.crop % 32:
    raise app.UsageError("--crop must be a multiple of 32, at least 256.")
  # Fail before the long encoding, not after it.
  for path in (FLAGS.output, FLAGS.val_output):
    if path:
      os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  try:
    network = weights.load_network(FLAGS.image_model)
  except (FileNotFoundError, ValueError) as e:
    raise app.UsageError(str(e))
  try:
    paths = data.list_images(FLAGS.input_dir)
  except FileNotFoundError as e:
    raise app.UsageError(f"--input_dir {e}")
  scales = [float(f) for f in FLAGS.scales]
  if any(f < 1 for f in scales):
    raise app.UsageError("--scales must be >= 1.")
  rng = np.random.default_rng(FLAGS.seed)
  train, val = [], []
  for path, name in tqdm(paths, unit="img", file=sys.stderr):
    image = images.load(path)
    target = val if data.is_validation(name, FLAGS.held_out_fraction) else (
        train)
    for factor in scales:
      for crop in crops(scaled(image, factor), FLAGS.crop,
                        FLAGS.crops_per_image, rng):
        if FLAGS.orientations:
          crop = orient(crop, int(rng.integers(0, 8)))
        bits, _ = network.compress(crop, np.int32(FLAGS.iterations))
        target.append(dataset.bits_to_codes(bits.numpy()).astype(np.int8))
  if not train:
    raise app.UsageError(f"No image is at least {FLAGS.crop} pixels on a "
                         "side.")
  dataset.write(FLAGS.output, train)
  # The reference's input_config, ready for entropy_coder.train.
  input_config = os.path.join(os.path.dirname(os.path.abspath(FLAGS.output)),
                              "input.json")
  with open(input_config, "w") as f:
    json.dump({"data": os.path.abspath(FLAGS.output),
               "unique_code_size": True}, f)
  if FLAGS.val_output and val:
    dataset.write(FLAGS.val_output, val)
  print(f"{len(train)} training and {len(val)} held-out code maps of shape "
        f"{train[0].shape}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
