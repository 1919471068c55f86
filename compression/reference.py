"""Compatibility with the released reference (tensorflow/models research/compression).

* ``.npz`` codes as the reference encoder.py writes them: ``shape`` =
  [iterations, 1, H/16, W/16, 32] and ``codes`` = numpy.packbits of the
  flattened {0, 1} codes (-1 -> 0, +1 -> 1). We add ``original_size`` =
  [H, W], which reference readers ignore, so padded images crop back.
* ``FrozenGraph``: the released ``residual_gru.pb`` (TF1 GraphDef) for users
  who have the file: input ``Placeholder:0`` (uint8 [1, H, W, 3], H and W
  multiples of 32), codes ``GruBinarizer/SignBinarizer/Sign:0`` and
  ``Sign_1:0`` .. ``Sign_15:0`` (float +-1, [1, H/16, W/16, 32]),
  reconstructions ``loop_00/add:0`` .. ``loop_15/add:0`` (0..255 floats).
"""

import io
import os

import numpy as np

from compression import errors, images

REFERENCE_ITERATIONS = 16
INPUT_TENSOR = "Placeholder:0"


def code_tensor(i):
  return ("GruBinarizer/SignBinarizer/Sign:0" if i == 0 else
          f"GruBinarizer/SignBinarizer/Sign_{i}:0")


def recon_tensor(i):
  return f"loop_{i:02d}/add:0"


def write_npz(path, bits, height=None, width=None):
  """uint8 {0,1} [n, h, w, 32] -> the reference's .npz (written atomically)."""
  bits = np.asarray(bits, np.uint8)
  n, h, w, d = bits.shape
  arrays = {"shape": np.array([n, 1, h, w, d]),
            "codes": np.packbits(bits.reshape(-1))}
  if height is not None:
    arrays["original_size"] = np.array([height, width])
  buf = io.BytesIO()
  np.savez_compressed(buf, **arrays)
  images.write_atomic(path, buf.getvalue())


def read_npz(path):
  """-> (bits uint8 {0,1} [n, h, w, 32], (H, W) or None)."""
  from entropy_coder import dataset
  try:
    return dataset.read_reference_npz(path)
  except FileNotFoundError:
    raise errors.InputError(f"{path}: no such file.")
  except ValueError as e:
    raise errors.FormatError(str(e))


class FrozenGraph:
  """Runs the released TF1 frozen graph (for users who have residual_gru.pb)."""

  def __init__(self, path):
    import tensorflow as tf
    if not os.path.exists(path):
      raise errors.InputError(f"{path}: no such file.")
    graph_def = tf.compat.v1.GraphDef()
    try:
      with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    except Exception as e:  # protobuf raises its own DecodeError
      raise errors.FormatError(f"{path} is not a TensorFlow GraphDef: {e}")
    self._tf = tf
    self.graph = tf.Graph()
    with self.graph.as_default():
      tf.compat.v1.import_graph_def(graph_def, name="")
    self.session = tf.compat.v1.Session(graph=self.graph)

  def encode(self, pixels, iterations=REFERENCE_ITERATIONS):
    """uint8 H x W x 3 (H, W multiples of 32) -> uint8 {0,1} [n, h, w, 32]."""
    h, w = pixels.shape[:2]
    if h % 32 or w % 32:
      raise errors.InputError(
          f"The reference graph needs sizes that are multiples of 32, not "
          f"{w}x{h}.")
    fetches = [code_tensor(i) for i in range(iterations)]
    codes = self.session.run(fetches, {INPUT_TENSOR: pixels[None]})
    return np.stack([(c[0] > 0).astype(np.uint8) for c in codes])

  max_iterations = REFERENCE_ITERATIONS

  def decode(self, bits, width, height, progressive=False):
    """Codes [n, h, w, 32] -> uint8 H x W x 3 (or [n, H, W, 3] if progressive).

    The Codec protocol (compression.codec), so callers need not know which
    they hold.
    """
    n = len(bits)
    feed = {code_tensor(i): bits[i][None].astype(np.float32) * 2 - 1
            for i in range(n)}
    fetch = range(n) if progressive else [n - 1]
    outs = self.session.run([recon_tensor(i) for i in fetch], feed)
    every = np.stack([np.clip(o[0] + 0.5, 0, 255).astype(np.uint8)
                      for o in outs])[:, :height, :width]
    return every if progressive else every[0]
