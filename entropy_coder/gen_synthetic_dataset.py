r"""Synthetic codes for smoke tests, as the reference's gen_synthetic_dataset.

  python -m entropy_coder.gen_synthetic_dataset \
      --dataset_dir=/tmp/entropy_coder_synthetic --count=100

Writes codes.tfrecord: [35, 48, 8] maps (the reference's sample shape) with
spatial and inter-layer correlation, so a context model has something to
learn that a static per-channel model cannot.
"""

import os

from absl import app
from absl import flags
import numpy as np

from entropy_coder import dataset

FLAGS = flags.FLAGS


def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("dataset_dir", None, "Output folder.")
  flags.DEFINE_integer("count", 100, "Number of code maps.")
  flags.DEFINE_integer("seed", 0, "Seed.")


def synthetic_codes(rng, shape=(35, 48, 8)):
  """+-1 maps: a smooth random field per layer, each layer leaning on the
  previous one, thresholded."""
  h, w, c = shape
  field = rng.normal(size=(h + 4, w + 4))
  smooth = sum(np.roll(np.roll(field, i, 0), j, 1)
               for i in range(3) for j in range(3))[2:h + 2, 2:w + 2]
  layers, prev = [], smooth
  for _ in range(c):
    prev = 0.7 * prev + 0.6 * rng.normal(size=(h, w))
    layers.append(np.where(prev > 0, 1.0, -1.0))
  return np.stack(layers, axis=-1).astype(np.float32)


def main(argv):
  del argv
  if not FLAGS.dataset_dir:
    raise app.UsageError("--dataset_dir is required.")
  os.makedirs(FLAGS.dataset_dir, exist_ok=True)
  rng = np.random.default_rng(FLAGS.seed)
  dataset.write(os.path.join(FLAGS.dataset_dir, "codes.tfrecord"),
                [synthetic_codes(rng) for _ in range(FLAGS.count)])


if __name__ == "__main__":
  define_flags()
  app.run(main)
