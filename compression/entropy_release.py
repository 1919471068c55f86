r"""Freezes an entropy-coder checkpoint into its image model's folder.

  python -m compression.entropy_release --checkpoint=/tmp/ec \
      --model_dir=compression/models/v1 --entropy_id=1

Writes <model_dir>/entropy/{model.json, weights.npz}; files coded with it
carry --entropy_id in their header. An entropy model belongs to exactly one
image model (it was trained on that model's codes).
"""

import json
import os

from absl import app
from absl import flags

from compression import registry
from entropy_coder import config as config_lib
from entropy_coder import evaluate_single
from entropy_coder import model as model_lib

FLAGS = flags.FLAGS


def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("checkpoint", None, "Entropy-coder training dir.")
  flags.DEFINE_string("model_dir", None, "Image model folder it belongs to.")
  flags.DEFINE_integer("entropy_id", None, "Id written into coded files.")


def main(argv):
  del argv
  for name in ("checkpoint", "model_dir", "entropy_id"):
    if getattr(FLAGS, name) is None:
      raise app.UsageError(f"--{name} is required.")
  with open(os.path.join(FLAGS.checkpoint, "config.json")) as f:
    meta = json.load(f)
  network = model_lib.ProgressiveBinaryRNN(
      config_lib.EntropyModelConfig.from_dict(meta["model"]))
  evaluate_single.restore(network, FLAGS.checkpoint)
  registry.save_entropy_dir(network, FLAGS.model_dir, FLAGS.entropy_id,
                            extra={"provenance": meta})
  print(f"Wrote {FLAGS.model_dir}/entropy (id {FLAGS.entropy_id})")


if __name__ == "__main__":
  define_flags()
  app.run(main)
