r"""Exports a model as a SavedModel for TF Serving (<export_dir>/<version>/).

  python -m compression.export --model=v0 --export_dir=/tmp/rnn --version=1

Signatures (entropy coding stays outside the graph: constriction is not a
TensorFlow op; compression.serving turns responses into files):
  serving_default / encode: image uint8 [H, W, 3], iterations int32 ->
      codes uint8 [iterations, h*w*4] (each iteration's bits packed MSB
      first, as in the container's raw segments), code_shape int32 [3]
      = (h, w, 32), image_size int32 [2] = (H, W)
  encode_image: image_bytes string (PNG or JPEG), iterations int32 -> same
  decode: codes uint8 [n, h*w*4], image_size int32 [2] -> image uint8
      [H, W, 3]
"""

import os

from absl import app
from absl import flags
import tensorflow as tf

from compression import errors, registry
from residual_gru import model as model_lib
from residual_gru import weights

FLAGS = flags.FLAGS
BITS = 32


def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("model", None, "Bundled model name/id or model folder.")
  flags.DEFINE_string("train_dir", None, "Or: a training run's latest "
                      "checkpoint.")
  flags.DEFINE_string("export_dir", None, "Base folder; the SavedModel goes "
                      "to <export_dir>/<version>.")
  flags.DEFINE_integer("version", 1, "TF Serving model version.")


def pack_bits(bits):
  """uint8 {0,1} [n, h, w, 32] -> uint8 [n, h*w*4], MSB first."""
  n = tf.shape(bits)[0]
  groups = tf.reshape(tf.cast(bits, tf.int32), [n, -1, 8])
  weights = tf.constant([128, 64, 32, 16, 8, 4, 2, 1], tf.int32)
  return tf.cast(tf.reduce_sum(groups * weights, axis=-1), tf.uint8)


def unpack_bits(packed, h, w):
  """Inverse of pack_bits (in the graph: the served model has no numpy)."""
  n = tf.shape(packed)[0]
  shifts = tf.constant([7, 6, 5, 4, 3, 2, 1, 0], tf.int32)
  bits = tf.bitwise.right_shift(tf.cast(packed, tf.int32)[..., None], shifts)
  bits = tf.bitwise.bitwise_and(bits, 1)
  return tf.cast(tf.reshape(bits, [n, h, w, BITS]), tf.uint8)


class ServingModule(tf.Module):
  """The exported functions, wrapping an RNNCompressionModel."""

  def __init__(self, network):
    super().__init__()
    self.network = network
    # Keras 3 layers are not trackable children, so the variables are
    # attached by name: TF1-style loaders (saved_model_cli, TF Serving)
    # restore only variables in the object graph.
    self.variables_by_name = {
        k.replace("/", "."): v.value
        for k, v in model_lib.named_variables(network).items()}

  def _encode(self, image, iterations):
    bits, _ = self.network.compress(image, iterations)
    shape = tf.shape(bits)
    return {"codes": pack_bits(bits),
            "code_shape": tf.stack([shape[1], shape[2], shape[3]]),
            "image_size": tf.shape(image)[:2]}

  @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8),
                                tf.TensorSpec([], tf.int32)])
  def encode(self, image, iterations):
    return self._encode(image, iterations)

  @tf.function(input_signature=[tf.TensorSpec([], tf.string),
                                tf.TensorSpec([], tf.int32)])
  def encode_image(self, image_bytes, iterations):
    image = tf.io.decode_image(image_bytes, channels=3,
                               expand_animations=False)
    return self._encode(tf.ensure_shape(image, [None, None, 3]), iterations)

  @tf.function(input_signature=[tf.TensorSpec([None, None], tf.uint8),
                                tf.TensorSpec([2], tf.int32)])
  def decode(self, codes, image_size):
    height, width = image_size[0], image_size[1]
    h = (height + 31) // 32 * 2
    w = (width + 31) // 32 * 2
    return {"image": self.network.decompress(unpack_bits(codes, h, w),
                                             height, width)}


def export(network, export_dir, version):
  module = ServingModule(network)
  path = os.path.join(export_dir, str(version))
  tf.saved_model.save(module, path, signatures={
      "serving_default": module.encode, "encode": module.encode,
      "encode_image": module.encode_image, "decode": module.decode})
  return path


def main(argv):
  del argv
  if not FLAGS.export_dir or bool(FLAGS.model) == bool(FLAGS.train_dir):
    raise app.UsageError("Give --export_dir and one of --model, --train_dir.")
  try:
    if FLAGS.train_dir:
      network = weights.load_checkpoint(FLAGS.train_dir)[0]
    else:
      network = registry.get(FLAGS.model).network
  except (FileNotFoundError, errors.UnknownModelError) as e:
    raise app.UsageError(str(e))
  print(f"Exported to {export(network, FLAGS.export_dir, FLAGS.version)}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
