"""The stop map of a spatially adaptive file (FORMAT.md, "Stop map").

A spatially adaptive file (issue #16) says, for each cell of a grid over
the code map, how many iterations that cell sent. The map is small (one
value per 16x16 pixels, or coarser above a megapixel) and smooth (flat
regions stop together), so it is range coded with adaptive binary
contexts: each value v in 1..n becomes the decisions "continues past
iteration t" for t = 1, 2, ... until the first
"no" (none after n - 1), coded with a probability learnt from counts of
the same decisions so far in the same context (t and how many of the cell's
upper and left neighbours continued past t). Counts are integers and the
probabilities exact multiples of 2^-12, so encoder and decoder agree on any
machine. constriction's range coder, as for the payload.
"""

import constriction
import numpy as np

PRECISION = 1 << 12
# At most this many cells (a megapixel at 16x16 pixels per cell, 4 at 32x32):
# decoding is a Python loop over cells and decisions, so a header may not
# claim more.
MAX_CELLS = 4096
_FAMILY = constriction.stream.model.Bernoulli(perfect=False)


class StopMapError(ValueError):
  """A coded map that no encoder could have written for this header."""


def _probability(counts):
  """P(continue) from counts [stops, continues], a multiple of 2^-12."""
  total = counts[0] + counts[1]
  numerator = (PRECISION * counts[1] + total // 2) // total
  return min(max(numerator, 1), PRECISION - 1) / PRECISION


def _walk(shape, iterations, decide):
  """Visits every decision in order: ``decide(p) -> bit`` codes or decodes
  one with probability p; returns the map."""
  rows, cols = shape
  values = np.zeros(shape, np.int64)
  counts = {}
  for i in range(rows):
    for j in range(cols):
      v = 1
      while v < iterations:
        neighbours = int(i > 0 and values[i - 1, j] > v) + int(
            j > 0 and values[i, j - 1] > v)
        c = counts.setdefault((v, neighbours), [1, 1])
        bit = decide(_probability(c))
        c[bit] += 1
        if not bit:
          break
        v += 1
      values[i, j] = v
  return values


def encode(values, iterations):
  """Map of ints in 1..iterations -> bytes (whole 32-bit words)."""
  values = np.asarray(values, np.int64)
  if values.ndim != 2 or values.min() < 1 or values.max() > iterations:
    raise ValueError(f"A stop map holds 1..{iterations} per cell.")
  encoder = constriction.stream.queue.RangeEncoder()

  def decisions():
    for i in range(values.shape[0]):
      for j in range(values.shape[1]):
        for t in range(1, min(values[i, j], iterations - 1) + 1):
          yield int(values[i, j] > t)

  flat = decisions()

  def decide(p):
    bit = next(flat)
    encoder.encode(np.array([bit], np.int32), _FAMILY, np.array([p]))
    return bit

  _walk(values.shape, iterations, decide)
  return np.asarray(encoder.get_compressed(), np.uint32).astype(
      "<u4").tobytes()


def decode(data, shape, iterations):
  """Bytes -> map [rows, cols] of ints in 1..iterations, or StopMapError."""
  if len(data) % 4:
    raise StopMapError("The stop map's length is not a multiple of 4 bytes.")
  words = np.frombuffer(bytes(data), "<u4").astype(np.uint32)
  decoder = constriction.stream.queue.RangeDecoder(words)

  def decide(p):
    try:
      return int(decoder.decode(_FAMILY, np.array([p]))[0])
    except (ValueError, RuntimeError, AssertionError) as e:
      raise StopMapError(f"The stop map is invalid: {e}")

  return _walk(shape, iterations, decide)
