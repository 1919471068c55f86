"""Code datasets in the reference's TFRecord schema, and the static baseline.

One tf.train.Example per image crop:
  code_shape  int64[3]   [H, W, layers * depth] of the code map
  code        float list the codes, +-1, flattened row-major
Files ending in .gz are GZIP-compressed TFRecords (+-1 floats compress about
30x); anything else is read as plain TFRecords, as the reference wrote them.
"""

import os

import numpy as np
import tensorflow as tf

_FEATURES = {"code_shape": tf.io.FixedLenFeature([3], tf.int64),
             "code": tf.io.VarLenFeature(tf.float32)}


def _options(path):
  return "GZIP" if path.endswith(".gz") else None


def code_example(codes):
  """codes +-1 [H, W, C] -> tf.train.Example of the reference schema."""
  codes = np.asarray(codes, np.float32)
  return tf.train.Example(features=tf.train.Features(feature={
      "code_shape": tf.train.Feature(int64_list=tf.train.Int64List(
          value=list(codes.shape))),
      "code": tf.train.Feature(float_list=tf.train.FloatList(
          value=codes.reshape(-1))),
  }))


def read_reference_npz(path):
  """The reference encoder's .npz -> (bits uint8 {0,1} [n, h, w, 32], (H, W)).

  Its layout (2017 paper's released code): ``codes`` the packed bits,
  ``shape`` [n, 1, h, w, 32], optionally ``original_size`` [H, W] (else the
  code map's 16x size). Raises FileNotFoundError, or ValueError for a file
  of another layout.
  """
  try:
    with np.load(path) as f:
      shape = [int(s) for s in f["shape"]]
      codes = f["codes"]
      size = (tuple(int(s) for s in f["original_size"])
              if "original_size" in f.files else None)
  except FileNotFoundError:
    raise
  except (OSError, ValueError, KeyError) as e:
    raise ValueError(f"{path} is not a reference .npz code file ({e}).")
  if len(shape) != 5 or shape[1] != 1 or min(shape) < 1:
    raise ValueError(f"{path}: unexpected code shape {shape}.")
  count = int(np.prod(shape))
  if codes.size * 8 < count:
    raise ValueError(f"{path}: fewer code bits than its shape says.")
  bits = np.unpackbits(codes)[:count].reshape(shape)[:, 0]
  if size is None:
    size = (shape[2] * 16, shape[3] * 16)
  return bits, size


def bits_to_codes(bits):
  """uint8 {0,1} [layers, H, W, D] -> +-1 [H, W, layers * D] (iteration-
  major channels, as entropy_coder_single reshapes the .npz)."""
  layers, h, w, d = bits.shape
  return (bits.astype(np.float32) * 2 - 1).transpose(1, 2, 0, 3).reshape(
      h, w, layers * d)


def codes_to_bits(codes, depth):
  h, w, c = codes.shape
  return (np.asarray(codes) > 0).astype(np.uint8).reshape(
      h, w, c // depth, depth).transpose(2, 0, 1, 3)


def write(path, code_maps):
  """Writes a temporary file and renames it: no half-written datasets."""
  partial = path + ".partial"
  with tf.io.TFRecordWriter(partial, options=_options(path)) as writer:
    for codes in code_maps:
      writer.write(code_example(codes).SerializeToString())
  os.replace(partial, path)


def load(pattern, dtype=np.float32):
  """All code maps of the files matching ``pattern`` -> [N, H, W, C] +-1.

  int8 keeps large training sets small in memory (4x less than float32).
  All maps must share one shape (the reference's unique_code_size: true).
  """
  files = sorted(f for p in pattern.split(",") for f in tf.io.gfile.glob(p))
  if not files:
    raise FileNotFoundError(f"No code files match {pattern!r}.")
  maps = []
  for path in files:
    for record in tf.data.TFRecordDataset(path,
                                          compression_type=_options(path)):
      ex = tf.io.parse_single_example(record, _FEATURES)
      shape = ex["code_shape"].numpy()
      maps.append(tf.sparse.to_dense(ex["code"]).numpy().reshape(
          shape).astype(dtype))
  if not maps:
    raise ValueError(f"{pattern} holds no code maps.")
  shapes = {m.shape for m in maps}
  if len(shapes) > 1:
    raise ValueError(f"Code maps of several shapes {sorted(shapes)}; "
                     "unique_code_size needs one.")
  return np.stack(maps)


class StaticBernoulli:
  """The baseline: one P(bit = 1) per (iteration, channel), no context."""

  def __init__(self, codes, depth):
    ones = (np.asarray(codes) > 0).reshape(-1, codes.shape[-1])
    # Laplace smoothing keeps both symbols possible.
    self.p = (ones.sum(0) + 1.0) / (len(ones) + 2.0)
    self.depth = depth

  def bits_per_bit(self, codes):
    ones = (np.asarray(codes) > 0).reshape(-1, codes.shape[-1])
    p = self.p[:codes.shape[-1]]
    nll = -np.where(ones, np.log2(p), np.log2(1 - p))
    return nll.mean(), nll.reshape(len(nll), -1, self.depth).mean(axis=(0, 2))
