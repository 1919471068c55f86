r"""Profiles the training step with the TensorFlow profiler.

  python -m residual_gru.profile_step --config=configs/v1.json --threads=1

Builds the trainer of --config on random tiles (the step's cost does not
depend on the pixels), warms up, then measures --steps steps twice: once
plainly (wall and CPU seconds per step) and once under
tf.profiler.experimental.trace, whose XSpace is summarised per TensorFlow
op type (self time on the host, share of the total) without TensorBoard.
The trace is left in --logdir for TensorBoard's profile plugin.
"""

import collections
import dataclasses
import glob
import json
import os
import sys
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

from residual_gru import config as config_lib
from residual_gru import quiet

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("config", "configs/v1.json", "Model and training config.")
  flags.DEFINE_integer("steps", 10, "Steps measured (after --warmup).")
  flags.DEFINE_integer("warmup", 3, "Steps run before measuring (tracing).")
  flags.DEFINE_integer("threads", 1, "intra-op threads (0 = default).")
  flags.DEFINE_integer("batch_size", 0, "Override the config's batch size.")
  flags.DEFINE_integer("top", 15, "Op types listed.")
  flags.DEFINE_string("logdir", None, "Where the trace goes (default: a "
                      "temporary folder).")
  flags.DEFINE_string("json", None, "Also write the summary here.")


def op_type_times(logdir):
  """Self time per TensorFlow op type from the newest trace in logdir."""
  from tensorflow.python.profiler.internal import _pywrap_profiler_plugin
  paths = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*",
                                        "*.xplane.pb")))
  if not paths:
    raise FileNotFoundError(f"No trace under {logdir}.")
  raw, ok = _pywrap_profiler_plugin.xspace_to_tools_data(
      [paths[-1]], "framework_op_stats", {})
  if not ok:
    raise RuntimeError("The profiler could not read its trace.")
  tables = json.loads(raw)
  table = tables[0] if isinstance(tables, list) else tables
  columns = [c["id"] for c in table["cols"]]
  rows = [[cell.get("v") if cell else None for cell in row["c"]]
          for row in table["rows"]]
  by_type = collections.Counter()
  for row in rows:
    rec = dict(zip(columns, row))
    if rec.get("host_or_device") not in (None, "Host"):
      continue
    by_type[rec["type"]] += float(rec["total_self_time"])
  return by_type


def measure(trainer, batches, lr, steps):
  t0, c0 = time.time(), time.process_time()
  for images, noise in batches[:steps]:
    trainer.train_step(images, noise, lr).numpy()
  return ((time.time() - t0) / steps, (time.process_time() - c0) / steps)


def main(argv):
  del argv
  tf = quiet.import_tensorflow(FLAGS.threads)
  from residual_gru import data
  from residual_gru import train
  try:
    model_config, train_config = config_lib.load(FLAGS.config)
  except (OSError, ValueError) as e:
    raise app.UsageError(str(e))
  if FLAGS.batch_size:
    train_config = dataclasses.replace(train_config,
                                       batch_size=FLAGS.batch_size)
  logdir = FLAGS.logdir or tempfile.mkdtemp(prefix="profile-")
  trainer = train.Trainer(model_config, train_config, logdir, 1,
                          tf.distribute.get_strategy())
  p, b = train_config.patch_size, train_config.batch_size
  tiles = np.random.default_rng(0).integers(0, 256, (256, p, p, 3),
                                            dtype=np.uint8)
  code_shape = trainer.model.code_shape(b, p, p)
  n = FLAGS.warmup + 2 * FLAGS.steps
  batches = [(tf.constant(data.batch_for_step(tiles, b, 1, s)),
              tf.constant(data.noise_for_step(code_shape, 1, s)))
             for s in range(n)]
  lr = tf.constant(train_config.learning_rate, tf.float32)
  print(f"Tracing and warming up ({FLAGS.warmup} steps)...", file=sys.stderr)
  measure(trainer, batches, lr, FLAGS.warmup)
  batches = batches[FLAGS.warmup:]
  wall, cpu = measure(trainer, batches, lr, FLAGS.steps)
  tf.profiler.experimental.start(logdir)
  measure(trainer, batches[FLAGS.steps:], lr, FLAGS.steps)
  tf.profiler.experimental.stop()
  times = op_type_times(logdir)
  total = sum(times.values())
  summary = {"config": FLAGS.config, "batch_size": b, "threads": FLAGS.threads,
             "wall_secs_per_step": round(wall, 4),
             "cpu_secs_per_step": round(cpu, 4),
             "op_types": {k: round(v / total, 4)
                          for k, v in times.most_common(FLAGS.top)}}
  print(f"{FLAGS.config}: batch {b}, {FLAGS.threads} thread(s): "
        f"{wall:.3f} s/step wall, {cpu:.3f} s/step CPU "
        f"({1 / wall:.2f} steps/s); trace in {logdir}")
  print(f"{'op type':28s} {'share of host self time':>24s}")
  for name, t in times.most_common(FLAGS.top):
    print(f"{name:28s} {100 * t / total:23.1f}%")
  if FLAGS.json:
    with open(FLAGS.json, "w") as f:
      json.dump(summary, f, indent=2)


if __name__ == "__main__":
  define_flags()
  app.run(main)
