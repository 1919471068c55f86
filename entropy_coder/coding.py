"""Range coding of code layers with constriction, driven by the integer model.

Each image iteration (code layer) becomes its own byte segment, so a prefix
of segments still decodes (files stay progressive). The encoder computes all
probabilities of a layer at once; the decoder goes row by row, feeding each
decoded row back as context. Both use IntegerBinaryRNN, so the
probabilities agree bit for bit.
"""

import constriction
import numpy as np

from entropy_coder import integer

_FAMILY = constriction.stream.model.Bernoulli(perfect=False)


class EntropyDecodeError(ValueError):
  """A segment does not hold what the model expects (corrupt or foreign)."""


def _to_bytes(words):
  return np.asarray(words, np.uint32).astype("<u4").tobytes()


def _to_words(data):
  if len(data) % 4:
    raise EntropyDecodeError("An entropy-coded segment's length is not a "
                             "multiple of 4 bytes.")
  return np.frombuffer(data, "<u4").astype(np.uint32)


def _sent(kept, k, shape):
  """Boolean [H, W, D]: which bits of layer k are coded (all without a map)."""
  if kept is None:
    return np.ones(shape, bool)
  return np.broadcast_to(integer.sent_mask(kept, k)[..., None] > 0, shape)


def encode(engine, bits, kept=None):
  """bits uint8 {0,1} [layers, H, W, D] -> one bytes segment per layer.

  ``kept`` ([H, W], optional; spatially adaptive files): iterations each
  code position sends; the bits of later layers there are not coded (they
  cost nothing) and the model reads them as 0.
  """
  segments = []
  for k, numerators in enumerate(engine.layer_probabilities(bits, kept)):
    sent = _sent(kept, k, bits[k].shape)
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(bits[k][sent].astype(np.int32), _FAMILY,
                   integer.probability_of_one(numerators[sent]))
    segments.append(_to_bytes(encoder.get_compressed()))
  return segments


# The integer model's most confident prediction is P = (CLIP + ONE) /
# PROB_SCALE = 8188/8192, so no bit costs less than -log2 of it (0.0007
# bits) and no segment of n bits can be much shorter than n times that:
# the range coder's 64-bit state lets it end at most two 32-bit words early.
# Half that bound, less those two words, is what a segment must hold.
MIN_BITS_PER_SYMBOL = -np.log2((integer.CLIP + integer.ONE) /
                               integer.PROB_SCALE)


def can_hold(segment_bytes, symbols):
  """Whether a segment of this many bytes could code this many bits."""
  return 8 * segment_bytes + 64 >= 0.5 * symbols * MIN_BITS_PER_SYMBOL


def decode(engine, segments, height, width, kept=None):
  """Segments -> bits uint8 {0,1} [len(segments), H, W, D], row by row.

  A header's claimed size costs nothing until segments long enough to code
  it are there: shorter ones are refused before anything is allocated.
  With ``kept`` (as for ``encode``) bits that were not sent decode as 0.
  """
  config = engine.config
  depth, hidden = config.layer_depth, config.hidden
  layers = len(segments)
  if layers > config.coded_layers:
    raise EntropyDecodeError(f"{layers} layers, but the entropy model codes "
                             f"{config.coded_layers}.")
  for k, segment in enumerate(segments):
    sent = height * width if kept is None else int(
        integer.sent_mask(kept, k).sum())
    if not can_hold(len(segment), sent * depth):
      raise EntropyDecodeError(
          f"segment {k + 1} ({len(segment)} bytes) is too short to code a "
          f"{height}x{width} code map.")
  bits = np.zeros((layers, height, width, depth), np.uint8)
  state = np.zeros((height, width, depth), integer.STORE)
  shared = (np.zeros((height, width, hidden), integer.STORE),
            np.zeros((height, width, hidden), integer.STORE))
  one = integer.ONE
  for k, segment in enumerate(segments):
    decoder = constriction.stream.queue.RangeDecoder(_to_words(segment))
    x = np.zeros((height, width, depth), integer.STORE)  # rows to come: 0
    z1 = engine.layer_context(k, state)
    lstm = engine.zero_lstm(width)
    mask = None if kept is None else integer.sent_mask(kept, k)
    for y in range(height):
      p = integer.probability_of_one(
          engine.row_probabilities(k, x, y, z1, lstm))
      if mask is None:
        row = np.asarray(decoder.decode(_FAMILY, p.reshape(-1)), np.uint8)
        bits[k, y] = row.reshape(width, depth)
        x[y] = bits[k, y] * (2.0 * one) - one
      else:
        sent = mask[y] > 0
        if sent.any():
          bits[k, y, sent] = np.asarray(decoder.decode(
              _FAMILY, p[sent].reshape(-1)), np.uint8).reshape(-1, depth)
        x[y] = (bits[k, y] * (2.0 * one) - one) * mask[y][:, None]
    if config.progressive and k + 1 < layers:
      state, shared = engine.next_state(k, x, shared)
  return bits


def _bit_costs(engine, bits, kept=None):
  """-log2 P of every (sent) bit under the model [layers, H, W, D]."""
  p = integer.probability_of_one(engine.probabilities(bits, kept))
  cost = -np.log2(np.where(bits > 0, p, 1.0 - p))
  if kept is not None:
    cost = cost * np.stack([_sent(kept, k, bits[k].shape)
                            for k in range(len(bits))])
  return cost


def ideal_bits(engine, bits, kept=None):
  """The model's cross-entropy of the (sent) bits, in bits (per layer)."""
  return _bit_costs(engine, bits, kept).reshape(len(bits), -1).sum(axis=1)


def position_costs(engine, bits):
  """Bits each code position's codes cost in each layer [layers, H, W]
  (what spatially adaptive coding prices an iteration of a region at)."""
  return _bit_costs(engine, bits).sum(-1)
