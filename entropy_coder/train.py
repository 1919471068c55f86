r"""Trains the BinaryRNN entropy model over a frozen image model's codes.

  python -m entropy_coder.train --train_dir=/tmp/ec --model=progressive \
      --model_config=configs/entropy_coder/bundled_model.json \
      --input_config=<codes dir>/input.json \
      --train_config=configs/entropy_coder/bundled_train.json

Flags and JSON configs follow the reference's entropy_coder_train.py
(--master, --task and --ps_tasks are accepted for compatibility; training
runs in this process). As the image trainer: the latest checkpoint in
--train_dir is resumed, batches are a pure function of (--seed, step), a
progress line and TensorBoard summaries (code_length_layer_NN, loss,
Learning Rate) are written. <train_dir>/best/ keeps the weights of the best
held-out validation (give it to compression.entropy_release); SIGTERM checkpoints
and stops.
"""

import os

from absl import app
from absl import flags
from absl import logging
import keras
import numpy as np
import tensorflow as tf

from entropy_coder import config as config_lib
from entropy_coder import dataset
from entropy_coder import model as model_lib
from residual_gru import data
from residual_gru import harness as harness_lib
from residual_gru import model as image_model_lib
from residual_gru import weights as weights_lib

FLAGS = flags.FLAGS
MODELS = ("progressive", "single")


def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("master", "", "Accepted for compatibility; unused.")
  flags.DEFINE_string("train_dir", None, "Checkpoints and logs.")
  flags.DEFINE_integer("task", 0, "Accepted for compatibility; unused.")
  flags.DEFINE_integer("ps_tasks", 0, "Accepted for compatibility; unused.")
  flags.DEFINE_enum("model", "progressive", MODELS, "progressive: Figure 4 "
                    "(earlier iterations feed the line LSTM); single: the "
                    "single-iteration BinaryRNN per layer.")
  flags.DEFINE_string("model_config", None, "JSON: layer_depth, layer_count"
                      "[, coded_layer_count, context].")
  flags.DEFINE_string("input_config", None, "JSON: data, unique_code_size.")
  flags.DEFINE_string("train_config", None, "JSON: batch_size, "
                      "learning_rate, decay_rate, samples_per_decay.")
  flags.DEFINE_string("val_data", None, "Held-out code TFRecords.")
  flags.DEFINE_integer("max_steps", None, "Overrides train max_steps.")
  flags.DEFINE_integer("seed", 1, "Initialisation and batch order.")
  flags.DEFINE_integer("checkpoint_secs", 600, "Seconds between checkpoints.")
  flags.DEFINE_integer("checkpoint_steps", 0, "Also every N steps.")
  flags.DEFINE_integer("log_steps", 20, "Steps between progress lines.")
  flags.DEFINE_integer("val_steps", 200, "Steps between validations.")
  flags.DEFINE_float("stop_after_secs", 0, "Checkpoint and stop after this "
                     "much wall time.")
  flags.DEFINE_float("stop_after_cpu_secs", 0, "Checkpoint and stop once "
                     "the run's CPU time (all sessions') reaches this.")
  flags.DEFINE_integer("threads", 0, "intra-op threads (0 = default).")
  flags.DEFINE_string("init_from", None, "Start a new run from these "
                      "weights: a released entropy folder (weights.npz), "
                      "e.g. the previous image model's, to fine-tune on a "
                      "new image model's codes. Ignored when resuming.")


def load_configs(model, model_config, input_config, train_config):
  mc = config_lib.EntropyModelConfig.from_json(model_config)
  mc = config_lib.EntropyModelConfig.from_dict(
      {**mc.to_dict(), "progressive": model == "progressive"})
  ic = config_lib.EntropyInputConfig.from_json(input_config)
  tc = config_lib.EntropyTrainConfig.from_json(train_config)
  return mc, ic, tc


def train(model_config, input_config, train_config, train_dir, val_data=None,
          seed=1, checkpoint_secs=600, checkpoint_steps=0, log_steps=20,
          val_steps=200, stop_after_secs=0, init_from=None,
          stop_after_cpu_secs=0):
  record = {"model": model_config.to_dict(), "train": train_config.to_dict(),
            "input": {"data": input_config.data}}
  keras.utils.set_random_seed(seed)
  network = model_lib.ProgressiveBinaryRNN(model_config)
  optimizer = keras.optimizers.Adam(train_config.learning_rate,
                                    epsilon=train_config.adam_epsilon)
  optimizer.build(network.trainable_variables)
  step_var = tf.Variable(0, dtype=tf.int64)
  weights = image_model_lib.named_variables(network)
  # best/ keeps the weights of the best held-out validation with their
  # config.json: entropy models overfit (2,734 maps, 5 M parameters), and
  # that folder is what release and compare should be given.
  run = harness_lib.TrainingHarness(
      train_dir, record,
      tf.train.Checkpoint(weights=weights, optimizer=optimizer,
                          step=step_var),
      step_var, best_weights=tf.train.Checkpoint(weights=weights),
      best_metric="val_bits_per_bit")
  if not run.restore() and init_from:
    weights_lib.load_npz(network, os.path.join(init_from, "weights.npz"))
    logging.info("Initialised from %s.", init_from)
  step = int(step_var.numpy())
  end = train_config.max_steps
  if step >= end:
    return network
  codes = dataset.load(input_config.data, np.int8)
  depth = model_config.layer_depth
  needed = model_config.coded_layers * depth
  if codes.shape[-1] < needed:
    raise ValueError(f"The codes have {codes.shape[-1]} channels; the model "
                     f"codes {needed}.")
  val = dataset.load(val_data, np.int8) if val_data else None
  static = dataset.StaticBernoulli(codes[..., :needed], depth)

  @tf.function
  def apply_step(batch, lr):
    batch = tf.cast(batch, tf.float32)
    with tf.GradientTape() as tape:
      probs = network(batch)
      loss = model_lib.bits_per_bit(batch, probs)
    grads = tape.gradient(loss, network.trainable_variables)
    optimizer.learning_rate.assign(lr)
    optimizer.apply_gradients(zip(grads, network.trainable_variables))
    return model_lib.layer_bits_per_bit(batch, probs, depth)

  def train_step(step):
    batch = data.batch_for_step(codes, train_config.batch_size, seed, step,
                                flips=False)
    lr = train_config.learning_rate_at(step)
    return lr, apply_step(tf.constant(batch), tf.constant(lr, tf.float32))

  def report(step, result):
    lr, per_layer = result
    per_layer = per_layer.numpy()
    tf.summary.scalar("loss", per_layer.mean())
    tf.summary.scalar("Learning Rate", lr)
    for k, v in enumerate(per_layer):
      tf.summary.scalar(f"code_length_layer_{k:02d}", v)
    text = (f"bits/bit {per_layer.mean():.4f}  (layer 1 {per_layer[0]:.3f}, "
            f"last {per_layer[-1]:.3f})")
    return text, lr, {"bits_per_bit": float(per_layer.mean())}

  evaluate = model_lib.layer_evaluator(network, depth)

  def validate(step):
    v = evaluate(val)
    s, _ = static.bits_per_bit(val[..., :needed])
    logging.info("step %d held-out bits/bit %.4f (static Bernoulli %.4f)",
                 step, v.mean(), s)
    return {"val_bits_per_bit": float(v.mean()), "val_layers": v.tolist(),
            "val_static": float(s)}, float(v.mean())

  run.run(step, end, train_step, report,
          validate if val is not None else None, log_steps=log_steps,
          val_steps=val_steps, checkpoint_secs=checkpoint_secs,
          checkpoint_steps=checkpoint_steps, stop_after_secs=stop_after_secs,
          stop_after_cpu_secs=stop_after_cpu_secs)
  return network


def main(argv):
  del argv
  for name in ("train_dir", "model_config", "input_config", "train_config"):
    if not getattr(FLAGS, name):
      raise app.UsageError(f"--{name} is required.")
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  tf.config.experimental.enable_op_determinism()
  try:
    mc, ic, tc = load_configs(FLAGS.model, FLAGS.model_config,
                              FLAGS.input_config, FLAGS.train_config)
    if FLAGS.max_steps is not None:
      tc = config_lib.EntropyTrainConfig.from_dict({**tc.to_dict(),
                                             "max_steps": FLAGS.max_steps})
    train(mc, ic, tc, FLAGS.train_dir, FLAGS.val_data, FLAGS.seed,
          FLAGS.checkpoint_secs, FLAGS.checkpoint_steps, FLAGS.log_steps,
          FLAGS.val_steps, FLAGS.stop_after_secs, FLAGS.init_from,
          FLAGS.stop_after_cpu_secs)
  except (OSError, ValueError) as e:
    raise app.UsageError(str(e))


if __name__ == "__main__":
  define_flags()
  app.run(main)
