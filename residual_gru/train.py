r"""Trains the RNN image codec on HE tiles (2017 paper, section 4).

  python -m residual_gru.train --config=configs/default.json \
      --train_dir=/tmp/rnn --train_data='/data/he32/train-*' \
      --val_data=/data/he32/val.tfrecord

Loss: the paper's L1 on every iteration's residual, weighted by
beta = 1/(s n) (equivalently the mean over iterations of the mean absolute
residual), or an MS-SSIM / mixed loss on patches large enough for it.

Resumption works like keras.callbacks.BackupAndRestore: the latest checkpoint
in --train_dir (model, optimizer, step) is restored on start. Because the
input batch and the binarizer's noise of step s are pure functions of
(--seed, s), a run killed and resumed ends with the same weights as one that
never stopped. Checkpoints are written every --checkpoint_secs and at exit.

tf.distribute: --strategy=mirrored spreads the global batch over the local
devices (--cpu_devices logical CPUs for testing); --strategy=multi_worker reads
the cluster from TF_CONFIG (see README.md, "Training on several machines").
"""

import os

from absl import app
from absl import flags
from absl import logging
import keras
import numpy as np
import tensorflow as tf

from residual_gru import config as config_lib
from residual_gru import data
from residual_gru import harness as harness_lib
from residual_gru import metrics
from residual_gru import model as model_lib
from residual_gru import networks

FLAGS = flags.FLAGS
def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("config", None, "JSON config with 'model' and 'train' "
                      "parts (see configs/).")
  flags.DEFINE_string("train_dir", None, "Checkpoints, TensorBoard logs and "
                      "config.json go here; an existing run is resumed.")
  flags.DEFINE_string("train_data", None, "Comma-separated globs of training "
                      "TFRecords (from residual_gru.build_dataset).")
  flags.DEFINE_string("val_data", None, "Glob of held-out validation TFRecords.")
  flags.DEFINE_integer("max_steps", None, "Overrides train.max_steps.")
  flags.DEFINE_integer("batch_size", None, "Overrides train.batch_size.")
  flags.DEFINE_float("learning_rate", None, "Overrides train.learning_rate.")
  flags.DEFINE_enum("loss", None, config_lib.LOSSES, "Overrides train.loss.")
  flags.DEFINE_integer("seed", 1, "Seed of initialisation, data order and "
                       "binarizer noise.")
  flags.DEFINE_integer("checkpoint_secs", 600,
                       "Seconds between checkpoints.")
  flags.DEFINE_integer("checkpoint_steps", 0,
                       "Also checkpoint every this many steps (0 = off).")
  flags.DEFINE_integer("log_steps", 20, "Steps between progress lines and "
                       "scalar summaries.")
  flags.DEFINE_integer("val_steps", 500, "Steps between validation runs.")
  flags.DEFINE_integer("val_tiles", 512, "Validation tiles used (first N).")
  flags.DEFINE_float("stop_after_secs", 0, "Checkpoint and exit after this "
                     "much wall time (0 = run to max_steps); for sessions with "
                     "a time limit.")
  flags.DEFINE_float("stop_after_cpu_secs", 0, "Checkpoint and exit once "
                     "the run's CPU time (this process's, added to what "
                     "history.jsonl recorded for earlier sessions) reaches "
                     "this; recipes are compared at equal CPU time.")
  flags.DEFINE_enum("strategy", "default", ["default", "mirrored",
                                            "multi_worker"],
                    "tf.distribute strategy.")
  flags.DEFINE_integer("cpu_devices", 0, "Split the CPU into this many logical "
                       "devices (to exercise MirroredStrategy without GPUs).")
  flags.DEFINE_integer("threads", 0, "intra-op threads (0 = TensorFlow's "
                       "default).")
  flags.DEFINE_bool("deterministic", True, "tf.config.experimental."
                    "enable_op_determinism (exact resume).")


def learning_rate_at(train_config, step):
  """The learning rate of a step (a pure function, so resuming is exact).

  "staircase" is the reference's exponential_decay(staircase=True);
  "cosine" anneals from schedule_start (e.g. the step a run was warm-started
  at) to max_steps. Either is ramped up linearly over warmup_steps.
  """
  c = train_config
  if c.lr_schedule == "cosine":
    span = max(c.max_steps - c.schedule_start, 1)
    progress = min(max(step - c.schedule_start, 0) / span, 1.0)
    lr = c.learning_rate * 0.5 * (1.0 + np.cos(np.pi * progress))
  else:
    lr = c.learning_rate * c.decay_rate ** (step // c.decay_steps)
  if c.warmup_steps:
    lr *= min(1.0, (max(step - c.schedule_start, 0) + 1) / c.warmup_steps)
  return float(lr)


def _gaussian_kernel(channels, size=11, sigma=1.5):
  x = np.arange(size, dtype=np.float32) - (size - 1) / 2.0
  g = np.exp(-x ** 2 / (2 * sigma ** 2))
  g = np.outer(g, g) / np.sum(g) ** 2
  return tf.constant(np.tile(g[:, :, None, None], (1, 1, channels, 1)))


def msssim_loss_terms(x, y, scales):
  """Per-image MS-SSIM of [B, H, W, C] images in [0, 1], safe to train on.

  The paper's evaluation MS-SSIM (residual_gru.metrics: per channel,
  Gaussian 11x11, its weights and scale rule; the truncated weights are
  renormalised here so that the loss stays on one scale), computed in the log domain
  with cs and SSIM clipped to [1e-4, 1]: tf.image.ssim_multiscale's x ** w at
  x = 0 (after its ReLU) has an infinite gradient, which turned the first
  mixed-loss run's weights to NaN within 100 steps.
  """
  weights = np.array(metrics.MSSSIM_WEIGHTS[:scales])
  weights = weights / weights.sum()
  kernel = _gaussian_kernel(x.shape[-1])
  c1, c2 = 0.01 ** 2, 0.03 ** 2
  blur = lambda t: tf.nn.depthwise_conv2d(t, kernel, [1, 1, 1, 1], "VALID")
  log_msssim = 0.0
  for i, w in enumerate(weights):
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    cs = tf.reduce_mean((2 * sxy + c2) / (sxx + syy + c2), axis=[1, 2])
    if i == len(weights) - 1:
      lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
      term = tf.reduce_mean(lum * (2 * sxy + c2) / (sxx + syy + c2),
                            axis=[1, 2])
    else:
      term = cs
      x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
      y = tf.nn.avg_pool2d(y, 2, 2, "VALID")
    log_msssim += w * tf.math.log(tf.clip_by_value(term, 1e-4, 1.0))
  return tf.reduce_mean(tf.exp(log_msssim), axis=-1)  # mean over channels


SSIM_BLOCK = 8  # pixels per side of the blocks the SSIM weights come from


def ssim_dissimilarity_weights(x, y, block=SSIM_BLOCK):
  """Per-pixel weights 1 - SSIM(x, y) of each block, mean 1 per image.

  The SSIM-weighted L1 of Johnston et al. 2018 ("Improved lossy image
  compression with priming and spatially adaptive bit rates for recurrent
  networks", section 3.3): pixels in blocks the reconstruction renders badly
  count more. SSIM (the usual c1, c2 for [0, 1] images) is taken over
  non-overlapping block x block windows per channel and averaged over the
  channels; the weights carry no gradient and are scaled to mean 1 per
  image (with a 1e-3 floor, so a perfect reconstruction weighs pixels
  equally), which keeps the loss on the L1 scale.
  """
  x, y = tf.stop_gradient(x), tf.stop_gradient(y)
  c1, c2 = 0.01 ** 2, 0.03 ** 2
  pool = lambda t: tf.nn.avg_pool2d(t, block, block, "VALID")
  mx, my = pool(x), pool(y)
  sxx = pool(x * x) - mx * mx
  syy = pool(y * y) - my * my
  sxy = pool(x * y) - mx * my
  ssim = ((2 * mx * my + c1) * (2 * sxy + c2) /
          ((mx * mx + my * my + c1) * (sxx + syy + c2)))
  w = tf.maximum(1.0 - tf.reduce_mean(ssim, axis=-1, keepdims=True), 0.0)
  w = w + 1e-3
  w = w / tf.reduce_mean(w, axis=[1, 2, 3], keepdims=True)
  w = tf.repeat(tf.repeat(w, block, axis=1), block, axis=2)
  return tf.stop_gradient(w)


def iteration_losses(train_config, model, x, reconstructions):
  """Per-iteration loss; their mean is the training objective."""
  if train_config.loss == "ssim_l1":
    to01 = lambda t: model.to_pixels(t) / 255.0
    target = to01(x)
    return tf.stack([
        tf.reduce_mean(ssim_dissimilarity_weights(target, to01(r)) *
                       tf.abs(x - r)) for r in reconstructions])
  if train_config.loss == "l2":
    # 2016 paper section 4.1: L2 normalised by pixels and unrolled steps.
    return tf.stack([tf.reduce_mean(tf.square(x - r))
                     for r in reconstructions])
  l1 = model_lib.iteration_losses(x, reconstructions)
  if train_config.loss == "l1":
    return l1
  scales = metrics.msssim_scales(x.shape[1])
  to01 = lambda t: model.to_pixels(t) / 255.0
  target = to01(x)
  msssim = tf.stack([
      tf.reduce_mean(msssim_loss_terms(target, to01(r), scales))
      for r in reconstructions])
  if train_config.loss == "msssim":
    return 1.0 - msssim
  w = train_config.msssim_weight
  return w * (1.0 - msssim) + (1.0 - w) * l1


def masked_l1_losses(x, reconstructions, kept):
  """Per-iteration mean |r_t| counting only blocks whose codes of iteration
  t were sent (a stopped block's later reconstructions are never shown);
  divided by all pixels, so it equals the L1 when nothing stops."""
  losses = []
  for t, r in enumerate(reconstructions):
    _, keep = model_lib.keep_masks(kept, t)
    losses.append(tf.reduce_mean(keep * tf.abs(x - r)))
  return tf.stack(losses)


def make_strategy(name, cpu_devices):
  if cpu_devices > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
  if name == "mirrored":
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)
  if name == "multi_worker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  return tf.distribute.get_strategy()


class Trainer:
  """Owns the model, optimizer, checkpoint and the distributed train step."""

  def __init__(self, model_config, train_config, train_dir, seed,
               strategy):
    self.model_config = model_config
    self.train_config = train_config
    self.train_dir = train_dir
    self.seed = seed
    self.strategy = strategy
    keras.utils.set_random_seed(seed)
    with strategy.scope():
      self.model = networks.build(model_config)
      if (train_config.stop_fraction and
          not isinstance(self.model, model_lib.RNNCompressionModel)):
        raise ValueError("stop_fraction is for the full-resolution network.")
      self.optimizer = keras.optimizers.Adam(
          learning_rate=train_config.learning_rate,
          epsilon=train_config.adam_epsilon)
      self.optimizer.build(self.model.trainable_variables)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False,
                              name="step")
    self.checkpoint = tf.train.Checkpoint(
        weights=model_lib.named_variables(self.model),
        optimizer=self.optimizer, step=self.step)

  def save(self, manager):
    """Saves a checkpoint with the harness's manager (the chief's)."""
    # Only the chief writes under multi-worker; the others save to a
    # temporary folder, as tf.distribute's fault-tolerance guide asks.
    if is_chief(self.strategy):
      return manager.save(checkpoint_number=int(self.step.read_value()))
    task_id = self.strategy.cluster_resolver.task_id
    tmp = os.path.join(self.train_dir, f"worker_tmp_{task_id}")
    path = tf.train.CheckpointManager(self.checkpoint, tmp, 1).save()
    tf.io.gfile.rmtree(tmp)
    return path

  def _replica_step(self, images, noise, learning_rate):
    x = self.model.to_network(images)
    global_batch = self.train_config.batch_size
    local_batch = tf.cast(tf.shape(x)[0], tf.float32)
    with tf.GradientTape() as tape:
      if self.train_config.stop_fraction:
        kept = self._stop_iterations(tf.shape(noise)[0], tf.shape(noise)[1],
                                     tf.shape(noise)[2], tf.shape(noise)[3])
        recons = self.model(x, noise=noise, training=True, kept=kept)
        per_iter = masked_l1_losses(x, recons, kept)
      else:
        recons = self.model(x, noise=noise, training=True)
        per_iter = iteration_losses(self.train_config, self.model, x, recons)
      # Each replica's mean, weighted so the replicas' sum is the global mean.
      loss = tf.reduce_mean(per_iter) * local_batch / global_batch
    variables = self.model.trainable_variables
    grads = tape.gradient(loss, variables)
    self.optimizer.learning_rate.assign(learning_rate)
    self.optimizer.apply_gradients(zip(grads, variables))
    return per_iter * local_batch / global_batch

  def _stop_iterations(self, batch, iterations, height, width):
    """Iterations each code position sends this step (int [B, h, w]): n, or
    for ``stop_fraction`` of them uniform in 1..n-1. A stateless function of
    (seed, step), so a resumed run draws the same stops."""
    seed = tf.stack([tf.constant(self.seed, tf.int64) + (3 << 30),
                     self.step.read_value()])
    u = tf.random.stateless_uniform([2, batch, height, width], seed)
    early = 1 + tf.cast(u[1] * tf.cast(iterations - 1, tf.float32), tf.int32)
    early = tf.maximum(tf.minimum(early, iterations - 1), 1)
    return tf.where(u[0] < self.train_config.stop_fraction, early,
                    iterations)

  @tf.function
  def train_step(self, images, noise, learning_rate):
    per_iter = self.strategy.run(self._replica_step,
                                 args=(images, noise, learning_rate))
    return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_iter,
                                axis=None)

  @tf.function
  def evaluate(self, images):
    x = self.model.to_network(images)
    recons = self.model(x, training=False)
    return (iteration_losses(self.train_config, self.model, x, recons),
            model_lib.iteration_losses(x, recons), recons)


def is_chief(strategy):
  """True unless this is a non-chief worker of a multi-worker cluster."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  if resolver.task_type in ("chief", None):
    return True
  return (resolver.task_type == "worker" and resolver.task_id == 0 and
          "chief" not in resolver.cluster_spec().as_dict())


def train(model_config, train_config, train_dir, train_data, val_data=None,
          seed=1, strategy=None, checkpoint_secs=600, checkpoint_steps=0,
          log_steps=20, val_steps=500, val_tiles=512, stop_after_secs=0,
          stop_after_cpu_secs=0):
  """Runs (or resumes) training; returns the Trainer."""
  strategy = strategy or tf.distribute.get_strategy()
  # Under multi-worker only the chief writes config, history and summaries.
  chief = is_chief(strategy)
  record = {"model": model_config.to_dict(), "train": train_config.to_dict()}
  tf.io.gfile.makedirs(train_dir)
  harness_lib.check_config(train_dir, record, write=False)
  trainer = Trainer(model_config, train_config, train_dir, seed, strategy)
  run = harness_lib.TrainingHarness(
      train_dir, record, trainer.checkpoint, trainer.step, chief=chief,
      save=trainer.save)
  step = run.restore()
  end = train_config.max_steps
  if step >= end:
    logging.info("Already at step %d of %d.", step, end)
    return trainer

  tiles = data.load_tiles(train_data)
  p = train_config.patch_size
  if tiles.shape[1] < p:
    raise app.UsageError(f"Tiles of {tiles.shape[1]}px are smaller than "
                         f"patch_size {p}.")
  tiles = tiles[:, :p, :p]
  val = data.load_tiles(val_data)[:val_tiles, :p, :p] if val_data else None
  logging.info("%d training tiles of %dx%d; %s validation tiles.",
               len(tiles), p, p, "no" if val is None else len(val))
  code_shape = trainer.model.code_shape(train_config.batch_size, p, p)
  dataset = data.training_dataset(tiles, train_config.batch_size, code_shape,
                                  seed, step, end)
  batches = iter(strategy.experimental_distribute_dataset(dataset))

  def train_step(step):
    images, noise = next(batches)
    lr = learning_rate_at(train_config, step)
    return lr, trainer.train_step(images, noise, tf.constant(lr, tf.float32))

  def report(step, result):
    lr, per_iter = result
    per_iter = per_iter.numpy()
    tf.summary.scalar("loss", per_iter.mean())
    tf.summary.scalar("learning_rate", lr)
    for t, v in enumerate(per_iter):
      tf.summary.scalar(f"loss_iteration_{t + 1:02d}", v)
    text = (f"loss {per_iter.mean():.5f}  (it1 {per_iter[0]:.4f}, "
            f"it{len(per_iter)} {per_iter[-1]:.4f})")
    return text, lr, {"loss": float(per_iter.mean())}

  def validate(step):
    losses, l1, recons = trainer.evaluate(val)
    losses, l1 = losses.numpy(), l1.numpy()
    tf.summary.scalar("loss", losses.mean())
    for t, v in enumerate(l1):
      tf.summary.scalar(f"l1_iteration_{t + 1:02d}", v)
    n = len(recons)
    shown = sorted({0, n // 4, n - 1})
    grid = [val[:4]] + [model_lib.pixels_to_uint8(
        trainer.model.to_pixels(recons[t][:4])) for t in shown]
    tf.summary.image("original_then_iterations_" + "_".join(
        str(t + 1) for t in shown), tf.concat(grid, axis=2), step=step,
        max_outputs=4)
    logging.info("step %d validation loss %.5f", step, losses.mean())
    return {"val_loss": float(losses.mean()), "val_l1": l1.tolist()}, None

  run.run(step, end, train_step, report,
          validate if val is not None else None, log_steps=log_steps,
          val_steps=val_steps, checkpoint_secs=checkpoint_secs,
          checkpoint_steps=checkpoint_steps, stop_after_secs=stop_after_secs,
          stop_after_cpu_secs=stop_after_cpu_secs)
  return trainer


def main(argv):
  del argv
  for name in ("config", "train_dir", "train_data"):
    if not getattr(FLAGS, name):
      raise app.UsageError(f"--{name} is required.")
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  if FLAGS.deterministic:
    tf.config.experimental.enable_op_determinism()
  try:
    model_config, train_config = config_lib.load(FLAGS.config)
  except (OSError, ValueError) as e:
    raise app.UsageError(f"Cannot read --config {FLAGS.config}: {e}")
  overrides = {k: getattr(FLAGS, k) for k in
               ("max_steps", "batch_size", "learning_rate", "loss")
               if getattr(FLAGS, k) is not None}
  train_config = config_lib.TrainConfig.from_dict(
      {**train_config.to_dict(), **overrides})
  strategy = make_strategy(FLAGS.strategy, FLAGS.cpu_devices)
  try:
    train(model_config, train_config, FLAGS.train_dir, FLAGS.train_data,
          FLAGS.val_data, FLAGS.seed, strategy, FLAGS.checkpoint_secs,
          FLAGS.checkpoint_steps, FLAGS.log_steps, FLAGS.val_steps,
          FLAGS.val_tiles, FLAGS.stop_after_secs, FLAGS.stop_after_cpu_secs)
  except (FileNotFoundError, ValueError) as e:  # incl. ConfigMismatch
    raise app.UsageError(str(e))


if __name__ == "__main__":
  define_flags()
  app.run(main)
