r"""Freezes a training checkpoint into a model folder the codec can load.

  python -m compression.release --train_dir=/tmp/run \
      --output_dir=compression/models/v1 --model_id=1 --name=v1

Writes model.json (id, name, architecture, provenance) and weights.npz
(float16 by default, which halves the package size; the network still
computes in float32). A bundled release is also listed in
compression/models/registry.json with --register.
"""

import json
import os
import subprocess

from absl import app
from absl import flags
import numpy as np

from compression import registry
from residual_gru import weights

FLAGS = flags.FLAGS
def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("train_dir", None, "Training run to freeze.")
  flags.DEFINE_string("checkpoint", None, "A specific checkpoint instead of "
                      "the latest.")
  flags.DEFINE_string("output_dir", None, "Model folder to write.")
  flags.DEFINE_integer("model_id", None, "Id stored in every file: 1-999 for "
                       "bundled releases, >= 1000 for your own models.")
  flags.DEFINE_string("name", None, "Model name.")
  flags.DEFINE_string("description", "", "One line about the model.")
  flags.DEFINE_enum("dtype", "float16", ["float16", "float32"],
                    "Storage type of the weights.")
  flags.DEFINE_bool("register", False, "Add to compression/models/"
                    "registry.json (bundled releases only).")
  flags.DEFINE_bool("make_default", False, "With --register: new files use it.")


def _git_commit():
  try:
    return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


def register(folder_name, model_id, make_default):
  path = os.path.join(registry.MODELS_DIR, "registry.json")
  index = {"default": None, "models": {}}
  if os.path.exists(path):
    with open(path) as f:
      index = json.load(f)
  if str(model_id) in index["models"] and (
      index["models"][str(model_id)] != folder_name):
    raise app.UsageError(f"Model id {model_id} is taken by "
                         f"{index['models'][str(model_id)]}.")
  index["models"][str(model_id)] = folder_name
  if make_default:
    index["default"] = folder_name
  with open(path, "w") as f:
    json.dump(index, f, indent=2)


def main(argv):
  del argv
  for name in ("train_dir", "output_dir", "model_id", "name"):
    if getattr(FLAGS, name) is None:
      raise app.UsageError(f"--{name} is required.")
  if FLAGS.register and not 1 <= FLAGS.model_id < registry.FIRST_USER_ID:
    raise app.UsageError("Bundled releases take ids 1-999.")
  try:
    network, step = weights.load_checkpoint(FLAGS.train_dir,
                                            FLAGS.checkpoint)
  except FileNotFoundError as e:
    raise app.UsageError(str(e))
  with open(os.path.join(FLAGS.train_dir, "config.json")) as f:
    train_config = json.load(f)["train"]
  model = registry.save_model_dir(
      network, FLAGS.output_dir, FLAGS.model_id, FLAGS.name,
      FLAGS.description, dtype=np.dtype(FLAGS.dtype),
      extra={"provenance": {"train_dir": os.path.abspath(FLAGS.train_dir),
                            "step": step, "train": train_config,
                            "release_commit": _git_commit()}})
  if FLAGS.register:
    if os.path.dirname(os.path.abspath(FLAGS.output_dir)) != (
        registry.MODELS_DIR):
      raise app.UsageError("--register needs --output_dir inside "
                           f"{registry.MODELS_DIR}.")
    register(os.path.basename(os.path.abspath(FLAGS.output_dir)),
             FLAGS.model_id, FLAGS.make_default)
  print(f"Wrote {model} (step {step}) to {FLAGS.output_dir}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
