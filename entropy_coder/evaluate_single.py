r"""The reference's entropy_coder_single: code length of one .npz of codes.

  python -m entropy_coder.evaluate_single --checkpoint=/tmp/ec \
      --model=progressive --model_config=... --input_codes=image.npz

Prints "Additional compression ratio: X", the model's cross-entropy in
output bits per input bit (so the entropy-coded rate is X times the nominal
rate), per layer and overall, as the reference did; then the bytes a real
range-coded segment per layer takes (integer model).
"""

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from entropy_coder import coding, config as config_lib, dataset, integer
from entropy_coder import model as model_lib

FLAGS = flags.FLAGS


def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("checkpoint", None, "Training dir or checkpoint path.")
  flags.DEFINE_enum("model", "progressive", ["progressive", "single"],
                    "Model type.")
  flags.DEFINE_string("model_config", None, "Model JSON.")
  flags.DEFINE_string("input_codes", None, "Reference .npz of codes.")


def restore(network, checkpoint):
  from residual_gru import model as image_model_lib
  path = (tf.train.latest_checkpoint(f"{checkpoint}/checkpoints") or
          tf.train.latest_checkpoint(checkpoint) or checkpoint)
  tf.train.Checkpoint(weights=image_model_lib.named_variables(network)
                      ).restore(path).expect_partial(
                      ).assert_existing_objects_matched()


def main(argv):
  del argv
  for name in ("checkpoint", "model_config", "input_codes"):
    if not getattr(FLAGS, name):
      raise app.UsageError(f"--{name} is required.")
  mc = config_lib.EntropyModelConfig.from_json(FLAGS.model_config)
  mc = config_lib.EntropyModelConfig.from_dict(
      {**mc.to_dict(), "progressive": FLAGS.model == "progressive"})
  network = model_lib.ProgressiveBinaryRNN(mc)
  restore(network, FLAGS.checkpoint)
  try:
    bits, _ = dataset.read_reference_npz(FLAGS.input_codes)
  except (FileNotFoundError, ValueError) as e:
    raise app.UsageError(str(e))
  bits = bits[:mc.coded_layers]
  p = integer.float_probabilities(network, bits)
  q = np.where(bits > 0, p, 1 - p)
  per_layer = (-np.log2(q)).reshape(len(bits), -1).mean(axis=1)
  for k, v in enumerate(per_layer):
    print(f"Layer {k:02d}: {v:.4f} bits per bit")
  print(f"Additional compression ratio: {per_layer.mean():.6f}")
  engine = integer.IntegerBinaryRNN(network)
  segments = coding.encode(engine, bits)
  raw = bits[0].size / 8
  print("Range-coded bytes per layer: " + ", ".join(
      str(len(s)) for s in segments) + f" (raw {raw:.0f} each)")


if __name__ == "__main__":
  define_flags()
  app.run(main)
