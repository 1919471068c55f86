r"""Held-out bits per bit of the entropy models, against the static baseline.

  python -m entropy_coder.compare --train_codes=<codes>/train.tfrecord.gz \
      --val_codes=<codes>/val.tfrecord.gz \
      --checkpoints=progressive:/tmp/ec_prog,single:/tmp/ec_single \
      --output=compare.json

Over the held-out code maps: the cross-entropy, per layer and overall, of a
static per-(iteration, channel) Bernoulli model fitted on the training codes
and of each trained BinaryRNN's float network; and, on the first
--coded_maps maps, of the integer twin the coder really uses and the bytes
constriction's range coder really writes with it: so the report shows what
the network learned, what quantizing it costs, and the coder's own overhead.
"""

import json
import sys
import time

from absl import app
from absl import flags
import numpy as np
from tqdm import tqdm

FLAGS = flags.FLAGS


def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("train_codes", None, "Codes the static model is "
                      "fitted on (the entropy models' training codes).")
  flags.DEFINE_string("val_codes", None, "Held-out codes.")
  flags.DEFINE_list("checkpoints", [], "name:train_dir of each trained "
                    "model (its config.json says single or progressive).")
  flags.DEFINE_integer("max_maps", 0, "Use only the first N held-out maps.")
  flags.DEFINE_integer("coded_maps", 32, "Held-out maps the integer model "
                       "and the range coder run on (numpy, slower).")
  flags.DEFINE_string("output", None, "JSON report.")


def load_trained(train_dir):
  from entropy_coder import config as config_lib
  from entropy_coder import evaluate_single
  from entropy_coder import model as model_lib
  with open(f"{train_dir}/config.json") as f:
    meta = json.load(f)
  network = model_lib.ProgressiveBinaryRNN(
      config_lib.EntropyModelConfig.from_dict(meta["model"]))
  evaluate_single.restore(network, train_dir)
  return network


def evaluate_network(network, val, depth, coded_maps):
  """Float cross-entropy on every map; the integer twin's cross-entropy and
  the real range-coded bits on the first ``coded_maps`` (numpy, slower)."""
  from entropy_coder import coding, dataset, integer
  from entropy_coder import model as model_lib
  engine = integer.IntegerBinaryRNN(network)
  float_layer_bits = model_lib.layer_evaluator(network, depth)
  layers = network.config.coded_layers
  float_bits = float_layer_bits(val)
  subset = val[:coded_maps]
  float_subset = float_layer_bits(subset).mean()
  int_bits = np.zeros(layers)
  coded_bits = np.zeros(layers)
  seconds = 0.0
  for codes in tqdm(subset, unit="map", file=sys.stderr, leave=False):
    bits = dataset.codes_to_bits(codes, depth)[:layers]
    int_bits += coding.ideal_bits(engine, bits)
    t = time.time()
    segments = coding.encode(engine, bits)
    seconds += time.time() - t
    coded_bits += [8 * len(s) for s in segments]
  nbits = len(subset) * val.shape[1] * val.shape[2] * depth
  return {"float": float_bits.tolist(),
          "float_mean": float(float_bits.mean()),
          "coded_maps": len(subset),
          "float_mean_coded_maps": float(float_subset),
          "integer": (int_bits / nbits).tolist(),
          "coded": (coded_bits / nbits).tolist(),
          "integer_mean": float(int_bits.sum() / nbits / layers),
          "coded_mean": float(coded_bits.sum() / nbits / layers),
          "coder_overhead": float(coded_bits.sum() / int_bits.sum() - 1),
          "encode_seconds_per_map": seconds / len(subset)}


def main(argv):
  del argv
  from entropy_coder import dataset
  if not (FLAGS.train_codes and FLAGS.val_codes and FLAGS.checkpoints):
    raise app.UsageError("--train_codes, --val_codes and --checkpoints are "
                         "required.")
  named = [c.split(":", 1) for c in FLAGS.checkpoints]
  if any(len(n) != 2 for n in named):
    raise app.UsageError("--checkpoints entries are name:train_dir.")
  networks = {name: load_trained(path) for name, path in named}
  depth = {n.config.layer_depth for n in networks.values()}
  layers = {n.config.coded_layers for n in networks.values()}
  if len(depth) != 1 or len(layers) != 1:
    raise app.UsageError("The models code different layer shapes.")
  depth, layers = depth.pop(), layers.pop()
  train = dataset.load(FLAGS.train_codes, np.int8)[..., :layers * depth]
  static = dataset.StaticBernoulli(train, depth)
  del train
  val = dataset.load(FLAGS.val_codes, np.int8)[..., :layers * depth]
  if FLAGS.max_maps:
    val = val[:FLAGS.max_maps]
  mean, per_layer = static.bits_per_bit(val)
  report = {"val_codes": FLAGS.val_codes, "maps": len(val),
            "map_shape": list(val.shape[1:]),
            "static": {"float": per_layer.tolist(),
                       "float_mean": float(mean)}}
  for name, network in networks.items():
    print(f"Evaluating {name} ...", file=sys.stderr)
    report[name] = evaluate_network(network, val, depth, FLAGS.coded_maps)
    report[name]["progressive"] = bool(network.config.progressive)
  names = ["static"] + [n for n, _ in named]
  print(f"Held-out bits per bit ({len(val)} code maps of "
        f"{val.shape[1]}x{val.shape[2]}x{layers}x{depth}):")
  print("layer " + "".join(f"{n:>14}" for n in names))
  for k in range(layers):
    print(f"{k + 1:>5} " + "".join(
        f"{report[n]['float'][k]:>14.4f}" for n in names))
  print("  all " + "".join(f"{report[n]['float_mean']:>14.4f}"
                           for n in names))
  for n, _ in named:
    r = report[n]
    print(f"{n}, first {r['coded_maps']} maps: float model "
          f"{r['float_mean_coded_maps']:.4f}, integer model "
          f"{r['integer_mean']:.4f}, range-coded "
          f"{r['coded_mean']:.4f} bits per bit (coder overhead "
          f"{100 * r['coder_overhead']:.2f} %, "
          f"{r['encode_seconds_per_map']:.2f} s per map to encode)")
  if FLAGS.output:
    with open(FLAGS.output, "w") as f:
      json.dump(report, f, indent=1)
    plot_histories(named, report["static"]["float_mean"],
                   FLAGS.output.rsplit(".", 1)[0] + ".png")


def plot_histories(named, static, path):
  """Held-out bits per bit during training of each model (history.jsonl)."""
  import os
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, train_dir in named:
    history = os.path.join(train_dir, "history.jsonl")
    if not os.path.exists(history):
      continue
    with open(history) as f:
      vals = [json.loads(l) for l in f if "val_bits_per_bit" in l]
    ax.plot([v["step"] for v in vals],
            [v["val_bits_per_bit"] for v in vals], "o-", label=name)
  ax.axhline(static, ls="--", color="gray", label="static Bernoulli")
  ax.set_xlabel("training step")
  ax.set_ylabel("held-out bits per bit")
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


if __name__ == "__main__":
  define_flags()
  app.run(main)
