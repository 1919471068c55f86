r"""Speed and memory of the network: training step, 16-iteration encode/decode.

  python -m compression.benchmark --config=configs/default.json \
      --image=compression/data/kodim23_crop.png [--repeats=3]

Each measurement runs in a fresh subprocess so that its peak RSS (minus the
RSS after imports and model construction) belongs to that work alone.
Reports medians of --repeats timed runs after one warm-up (tracing) run.
Untrained weights: speed and memory do not depend on their values.
"""

import json
import os
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags

from compression import images, speed

FLAGS = flags.FLAGS


def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("config", "configs/default.json", "Config to measure.")
  flags.DEFINE_string("image", None, "Image for encode/decode (e.g. a Kodak "
                      "image).")
  flags.DEFINE_integer("repeats", 3, "Timed runs per measurement.")
  flags.DEFINE_integer("batch_size", 32, "Training batch.")
  flags.DEFINE_integer("threads", 0, "intra-op threads (0 = default).")
  flags.DEFINE_string("what", None, "Internal: run one measurement.")


def _measure(what, config_path, image, repeats, batch_size):
  """Runs in the child: returns {seconds: [...], peak_mb, base_mb}."""
  import keras
  import tensorflow as tf
  from residual_gru import config as config_lib
  from residual_gru import model as model_lib
  model_config, _ = config_lib.load(config_path)
  model = model_lib.RNNCompressionModel(model_config)
  n = model_config.iterations
  if what == "train_step":
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)
    x = tf.random.uniform((batch_size, 32, 32, 3), -0.9, 0.9, seed=1)
    noise = tf.random.uniform(model.code_shape(batch_size, 32, 32), seed=2)

    @tf.function
    def step():
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model_lib.iteration_losses(
            x, model(x, noise=noise, training=True)))
      grads = tape.gradient(loss, model.trainable_variables)
      optimizer.apply_gradients(zip(grads, model.trainable_variables))
      return loss
    run = lambda: step().numpy()
  else:
    pixels = images.load(image)
    h, w = pixels.shape[:2]
    if what == "encode":
      run = lambda: model.compress(pixels, n)[0].numpy()
    else:
      # The codes come from a separate model instance's trace, so that
      # this one's decode graph is traced after the base RSS is read.
      bits = model_lib.RNNCompressionModel(model_config).compress(
          pixels, n)[0]
      run = lambda: model.decompress(bits, h, w).numpy()
  base = speed.rss_mb()
  run()  # trace
  seconds = []
  for _ in range(repeats):
    t = time.perf_counter()
    run()
    seconds.append(time.perf_counter() - t)
  return {"seconds": seconds, "peak_mb": speed.peak_rss_mb(), "base_mb": base}


def main(argv):
  del argv
  if FLAGS.threads:
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  if FLAGS.what:
    print(json.dumps(_measure(FLAGS.what, FLAGS.config, FLAGS.image,
                              FLAGS.repeats, FLAGS.batch_size)))
    return
  results = {}
  for what in ("train_step", "encode", "decode"):
    if what != "train_step" and not FLAGS.image:
      continue
    cmd = [sys.executable, "-m", "compression.benchmark",
           f"--config={FLAGS.config}", f"--image={FLAGS.image}",
           f"--repeats={FLAGS.repeats}", f"--batch_size={FLAGS.batch_size}",
           f"--threads={FLAGS.threads}", f"--what={what}"]
    out = subprocess.run(cmd, capture_output=True, text=True,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    if out.returncode:
      raise app.UsageError(f"{what} failed:\n{out.stderr[-2000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    results[what] = {"median_s": statistics.median(r["seconds"]),
                     "runs_s": r["seconds"],
                     "peak_rss_mb": r["peak_mb"],
                     "work_mb": r["peak_mb"] - r["base_mb"]}
    print(f"{what:>10}: median {results[what]['median_s']:.3f} s "
          f"(runs {', '.join(f'{s:.3f}' for s in r['seconds'])}); peak RSS "
          f"{r['peak_mb']:.0f} MB, {results[what]['work_mb']:.0f} MB above "
          f"the loaded model", flush=True)
  print(json.dumps({"config": FLAGS.config, "image": FLAGS.image,
                    **results}))


if __name__ == "__main__":
  define_flags()
  app.run(main)
