"""Weights on disk: training checkpoints and released weight files.

Both key variables by their path below the model (``model.named_variables``),
so any instance of a config reads any other's weights:
- a training run's checkpoints (``<train_dir>/checkpoints``, written by
  residual_gru.train) hold the weights, the optimizer and the step;
- a released model folder holds model.json and weights.npz (float16 to
  keep the package small, or int8 with a float32 scale per output unit for
  the heavy fully connected thumbnail models; the network computes in
  float32).
"""

import json
import os

import numpy as np


# The suffix of an int8 variable's scales in a weights.npz.
SCALE_SUFFIX = "@scale"


def quantize_int8(values):
  """float array -> (int8 array, float32 scales over its last axis):
  symmetric, one scale per output unit (the last axis of a kernel), so
  values ~= q * scale with |q| <= 127."""
  values = np.asarray(values, np.float32)
  axes = tuple(range(values.ndim - 1))
  peak = np.abs(values).max(axis=axes) if values.ndim else np.abs(values)
  scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
  q = np.clip(np.rint(values / scale), -127, 127).astype(np.int8)
  return q, scale


def save_npz(network, path, dtype=np.float16):
  """Writes the network's variables by name (compressed .npz); ``dtype``
  float16, float32 or int8 (quantize_int8; each variable's scales beside
  it under ``<name>@scale``)."""
  from residual_gru import model as model_lib
  named = model_lib.named_variables(network)
  arrays = {}
  for name, variable in named.items():
    if np.dtype(dtype) == np.int8:
      arrays[name], arrays[name + SCALE_SUFFIX] = quantize_int8(
          variable.numpy())
    else:
      arrays[name] = variable.numpy().astype(dtype)
  np.savez_compressed(path, **arrays)


def load_npz(network, path):
  """Assigns a save_npz file to the network; ValueError if they differ."""
  from residual_gru import model as model_lib
  named = model_lib.named_variables(network)
  with np.load(path) as stored:
    names = {n for n in stored.files if not n.endswith(SCALE_SUFFIX)}
    if names != set(named):
      raise ValueError(
          f"{path} does not match its model config: weights "
          f"{sorted(names ^ set(named))[:4]} differ.")
    for name, variable in named.items():
      value = stored[name].astype(np.float32)
      if stored[name].dtype == np.int8:
        if name + SCALE_SUFFIX not in stored.files:
          raise ValueError(f"{path}: int8 weights {name} have no scales.")
        value = value * stored[name + SCALE_SUFFIX]
      variable.assign(value)


def build_network(model_config, weights_path):
  """An RNNCompressionModel of a config dict with a save_npz file's weights."""
  from residual_gru import config as config_lib
  from residual_gru import networks
  network = networks.build(config_lib.ModelConfig.from_dict(model_config))
  load_npz(network, weights_path)
  return network


def load_folder(directory):
  """The network of a model folder (model.json + weights.npz)."""
  try:
    with open(os.path.join(directory, "model.json")) as f:
      meta = json.load(f)
  except (OSError, ValueError) as e:
    raise FileNotFoundError(f"{directory} is not a model folder ({e}).")
  return build_network(meta["model"], os.path.join(directory, "weights.npz"))


def is_training_run(path):
  return os.path.exists(os.path.join(path, "config.json")) and os.path.isdir(
      os.path.join(path, "checkpoints"))


def checkpoint_run(path):
  """The training run that a checkpoint path (``<run>/checkpoints/ckpt-N``,
  without its .index suffix) belongs to, or None if path is not one.

  A checkpoint path pins a run to one step: evaluating a live run by its
  folder would read whichever checkpoint is newest when each image loads.
  """
  path = os.fspath(path)
  if not os.path.exists(path + ".index"):
    return None
  run = os.path.dirname(os.path.dirname(os.path.abspath(path)))
  return run if is_training_run(run) else None


def latest_checkpoint(train_dir):
  """Path of the run's newest checkpoint (no suffix), or None."""
  import tensorflow as tf
  return tf.train.latest_checkpoint(os.path.join(train_dir, "checkpoints"))


def load_checkpoint(train_dir, checkpoint=None):
  """(model, step) of a training run's latest (or given) checkpoint.

  Raises FileNotFoundError (with a message for the user) when the run or
  the checkpoint is not there.
  """
  import tensorflow as tf
  from residual_gru import config as config_lib
  from residual_gru import model as model_lib
  from residual_gru import networks
  config_path = os.path.join(train_dir, "config.json")
  if not os.path.exists(config_path):
    raise FileNotFoundError(f"{train_dir} is not a training run (no "
                            "config.json).")
  with open(config_path) as f:
    model_config = config_lib.ModelConfig.from_dict(json.load(f)["model"])
  model = networks.build(model_config)
  path = checkpoint or latest_checkpoint(train_dir)
  if not path:
    raise FileNotFoundError(f"No checkpoint in {train_dir}.")
  if not tf.io.gfile.exists(path + ".index"):
    raise FileNotFoundError(f"No checkpoint {path} (give the path without "
                            "its .index/.data suffix).")
  step = tf.Variable(0, dtype=tf.int64)
  tf.train.Checkpoint(weights=model_lib.named_variables(model),
                      step=step).restore(path).expect_partial(
                      ).assert_existing_objects_matched()
  return model, int(step)


def load_network(spec):
  """A training run's latest checkpoint or a model folder -> network."""
  if is_training_run(spec):
    return load_checkpoint(spec)[0]
  return load_folder(spec)
