"""Exact fixed-point inference of the BinaryRNN, identical on every machine.

A range coder needs bit-identical probabilities on the encoding and the
decoding side, and the decoder computes them row by row while the encoder
may batch them. Float kernels give neither guarantee (their last bits change
with thread count, oneDNN, CPU), so the trained float network is run here as
an integer network (in the spirit of Ballé et al., "Integer networks for data
compression"):

* weights are stored as integers at scale 2^12 (Q12), biases at 2^24,
* activations are integers at scale 2^12,
* a convolution is an integer dot product; it is evaluated with float64
  matrix products on integer-valued arrays, which is exact in any summation
  order because every partial sum stays below 2^53 (bounds asserted), then
  rescaled to Q12 by floor((acc + 2^11) / 2^12) (exact in float64),
* tanh and sigmoid are lookup tables over Q12 inputs, built once: float64
  values, except where one lies within 1e-9 of a rounding tie, where the
  table entry is recomputed with Python's correctly rounded decimal exp,
  so the tables do not depend on the platform's libm,
* P(bit = 1) = (clip(tanh, +-4092) + 4096) / 8192, an exact dyadic number.
"""

import decimal
import functools

import numpy as np

from entropy_coder import model as model_lib

FRAC = 12
ONE = 1 << FRAC                  # 1.0 in Q12
HALF = 1 << (FRAC - 1)
LIMIT = 8 * ONE                  # activations are clamped to [-8, 8)
CLIP = ONE - 4                   # +-0.999 of the reference, in Q12
PROB_SCALE = 2 * ONE             # P = (pred + ONE) / PROB_SCALE
MAX_ABS_WEIGHT = 8.0
PATCH_ELEMENTS = 1 << 22         # im2col block: 32 MB of float64
# Whole code maps of activations, states and numerators are stored as
# float32: they are integers within +-LIMIT (2^15), exact in float32's 24
# bits; the accumulators are computed in float64 (QConv).
STORE = np.float32
EXACT = float(1 << 53)


def _exact_round(fn_decimal, x):
  with decimal.localcontext() as ctx:
    ctx.prec = 40
    return int(fn_decimal(decimal.Decimal(int(x)) / ONE).to_integral_value(
        rounding=decimal.ROUND_HALF_EVEN))


def _tanh_decimal(x):
  e = (2 * x).exp()
  return (e - 1) / (e + 1) * ONE


def _sigmoid_decimal(x):
  return ONE / (1 + (-x).exp())


@functools.lru_cache(maxsize=None)
def tables():
  """(tanh, sigmoid) lookup tables indexed by a Q12 input + LIMIT."""
  x = np.arange(-LIMIT, LIMIT, dtype=np.float64)
  out = []
  for f, fd in ((np.tanh, _tanh_decimal),
                (lambda v: 1.0 / (1.0 + np.exp(-v)), _sigmoid_decimal)):
    v = f(x / ONE) * ONE
    table = np.floor(v + 0.5)
    near_tie = np.abs(v - np.floor(v) - 0.5) < 1e-9
    for i in np.nonzero(near_tie)[0]:
      table[i] = _exact_round(fd, x[i])
    out.append(table)
  return tuple(out)


def _lut(table, r):
  idx = np.clip(r, -LIMIT, LIMIT - 1) + LIMIT
  return table[idx.astype(np.int64)]


def tanh_q(r):
  return _lut(tables()[0], r)


def sigmoid_q(r):
  return _lut(tables()[1], r)


def rescale(acc):
  """Q24 accumulator -> Q12, rounding half up: exact in float64."""
  return np.floor((acc + HALF) / ONE)


class QConv:
  """An integer convolution with 'same' padding and stride 1."""

  def __init__(self, kernel, bias=None, mask=None):
    kernel = np.asarray(kernel, np.float64)
    if mask is not None:
      kernel = kernel * np.asarray(mask)[:, :, None, None]
    if np.abs(kernel).max(initial=0) >= MAX_ABS_WEIGHT:
      raise ValueError("A weight exceeds the fixed-point range.")
    self.kh, self.kw, self.cin, self.cout = kernel.shape
    self.w = np.floor(kernel * ONE + 0.5).reshape(-1, self.cout)
    self.b = (np.zeros(self.cout) if bias is None else
              np.floor(np.asarray(bias, np.float64) * ONE * ONE + 0.5))
    # |activation| <= LIMIT, so |acc| <= sum|w| * LIMIT + |b|.
    bound = np.abs(self.w).sum(0).max() * LIMIT + np.abs(self.b).max()
    if bound >= EXACT:
      raise ValueError("Accumulators could exceed 2^53.")

  def patches(self, x, rows=None):
    """im2col of x [H, W, C] (Q12 ints as float64) -> [n, kh*kw*C].

    ``rows``: only output rows in this range (the rest of x is context).
    """
    h, w, _ = x.shape
    ph, pw = self.kh - 1, self.kw - 1
    top, left = ph // 2, pw // 2
    r0, r1 = rows if rows is not None else (0, h)
    # Only the input rows these output rows read, zero-padded.
    lo, hi = r0 - top, r1 - top + ph
    xp = np.zeros((hi - lo, w + pw, self.cin))
    xp[max(0, -lo):(hi - lo) - max(0, hi - h), left:left + w] = \
        x[max(lo, 0):min(hi, h)]
    cols = [xp[i:i + r1 - r0, j:j + w] for i in range(self.kh)
            for j in range(self.kw)]
    return np.concatenate(cols, axis=-1).reshape((r1 - r0) * w, -1)

  def __call__(self, x, rows=None):
    """Q24 accumulators [rows, W, cout].

    Computed in blocks of rows so that the im2col matrix stays under
    PATCH_ELEMENTS (a large image's code map would otherwise need hundreds
    of MB for it); every accumulator is an exact integer, so the blocks
    change no value.
    """
    h, w, _ = x.shape
    r0, r1 = rows if rows is not None else (0, h)
    step = max(1, PATCH_ELEMENTS // (w * self.w.shape[0]))
    out = np.empty((r1 - r0, w, self.cout))
    for y in range(r0, r1, step):
      y1 = min(y + step, r1)
      acc = self.patches(x, (y, y1)) @ self.w + self.b
      out[y - r0:y1 - r0] = acc.reshape(y1 - y, w, self.cout)
    return out


def _kernel(layer):
  mask = getattr(layer, "mask", None)
  bias = layer.bias.numpy() if layer.use_bias else None
  return QConv(layer.kernel.numpy(), bias, mask)


def _lstm(gates, c):
  """One LSTM update on Q12 gate pre-activations (order f, i, j, o)."""
  f, i, j, o = np.split(gates, 4, axis=-1)
  f = sigmoid_q(f + ONE)  # forget bias +1
  c = rescale(f * c + sigmoid_q(i) * tanh_q(j))
  c = np.clip(c, -LIMIT, LIMIT - 1)
  h = rescale(sigmoid_q(o) * tanh_q(c))
  return h, c


def _row_blocks(height, width, channels):
  """(y, y1) blocks of rows whose [rows, width, channels] float64 arrays
  stay near PATCH_ELEMENTS elements."""
  step = max(1, PATCH_ELEMENTS // (width * channels))
  return [(y, min(y + step, height)) for y in range(0, height, step)]


def _by_rows(fn, height, width, channels):
  """[height, width, channels] from fn(y, y1) -> its rows y..y1-1."""
  out = np.empty((height, width, channels), STORE)
  for y, y1 in _row_blocks(height, width, channels):
    out[y:y1] = fn(y, y1)
  return out


class IntegerBinaryRNN:
  """The fixed-point twin of a trained ProgressiveBinaryRNN (row context)."""

  def __init__(self, network):
    config = network.config
    if config.context != "row":
      raise ValueError("Exact coding is implemented for the row context.")
    self.config = config
    self.layers = []
    for p in network.predictors[:config.coded_layers]:
      self.layers.append({
          "short": _kernel(p.short),
          "state": _kernel(p.from_state) if p.from_state is not None
                   else None,
          "lstm_x": _kernel(p.lstm_x), "lstm_h": _kernel(p.lstm_h),
          "out1": _kernel(p.out1), "out2": _kernel(p.out2)})
    if config.progressive:
      self.updates = [(_kernel(u.conv1), _kernel(u.conv2))
                      for u in network.updates[:config.coded_layers]]
      self.shared_x = _kernel(network.shared_x)
      self.shared_h = _kernel(network.shared_h)
      self.post1 = _kernel(network.post1)
      self.post2 = _kernel(network.post2)

  # -- per layer ------------------------------------------------------------

  def layer_context(self, k, state):
    """What layer k's rows need besides its own bits: z1 (or None)."""
    q = self.layers[k]["state"]
    return None if q is None else _by_rows(
        lambda y, y1: tanh_q(rescale(q(state, rows=(y, y1)))),
        state.shape[0], state.shape[1], q.cout)

  def row_probabilities(self, k, x, y, z1, lstm):
    """Numerators of P(bit=1) (over PROB_SCALE) of row y of layer k.

    x: the layer's bits so far as Q12 (+-ONE; rows >= y are not read);
    lstm: (h, c) of row y - 1, updated in place.
    """
    q = self.layers[k]
    z = [tanh_q(rescale(q["short"](x, rows=(y, y + 1))))]
    if z1 is not None:
      z.append(z1[y:y + 1])
    u = np.concatenate(z, axis=-1)
    h, c = lstm
    gates = rescale(q["lstm_x"](u) + q["lstm_h"](h))
    h, c = _lstm(gates, c)
    lstm[0], lstm[1] = h, c
    t = tanh_q(rescale(q["out1"](h)))
    pred = tanh_q(rescale(q["out2"](t)))
    return (np.clip(pred, -CLIP, CLIP) + ONE)[0]

  def zero_lstm(self, width):
    z = np.zeros((1, width, self.config.hidden))
    return [z, z.copy()]

  def next_state(self, k, x, shared):
    """Progressive state for layer k + 1 from layer k's bits (Q12).

    Row block by row block (``_by_rows``): the LSTM's gates and their
    temporaries over a large image's whole code map took 600 MB.
    """
    c1, c2 = self.updates[k]
    height, width = x.shape[:2]
    t = _by_rows(lambda y, y1: tanh_q(rescale(c1(x, rows=(y, y1)))),
                 height, width, c1.cout)
    v = _by_rows(lambda y, y1: tanh_q(rescale(c2(t, rows=(y, y1)))),
                 height, width, c2.cout)
    hs, cs = shared
    new_h, new_c = np.empty(hs.shape, STORE), np.empty(cs.shape, STORE)
    state = np.empty((height, width, self.post2.cout), STORE)
    for y, y1 in _row_blocks(height, width, self.shared_x.cout):
      # 1x1 convolutions and pointwise steps: any rows on their own.
      gates = rescale(self.shared_x(v[y:y1]) + self.shared_h(hs[y:y1]))
      new_h[y:y1], new_c[y:y1] = _lstm(gates, cs[y:y1])
      state[y:y1] = tanh_q(rescale(self.post2(tanh_q(rescale(
          self.post1(new_h[y:y1]))))))
    return state, (new_h, new_c)

  # -- whole code maps (the encoder's side, and tests) ----------------------

  def probabilities(self, bits, kept=None):
    """bits uint8 {0,1} [layers, H, W, D] -> numerators, same shape."""
    return np.stack(list(self.layer_probabilities(bits, kept)))

  def layer_probabilities(self, bits, kept=None):
    """Yields each layer's numerators [H, W, D] in turn (the encoder codes
    and drops one layer at a time: a whole image's at once is 8 bytes per
    code bit). ``kept`` ([H, W], optional): iterations each position sends;
    a position's bits of later layers are not sent and read as 0, the value
    of a bit not yet known (``sent_mask``)."""
    layers, height, width, depth = bits.shape
    state = np.zeros((height, width, depth), STORE)
    hidden = self.config.hidden
    shared = (np.zeros((height, width, hidden), STORE),
              np.zeros((height, width, hidden), STORE))
    for k in range(layers):
      x = bits[k].astype(STORE) * (2 * ONE) - ONE
      if kept is not None:
        x *= sent_mask(kept, k)[..., None]
      z1 = self.layer_context(k, state)
      lstm = self.zero_lstm(width)
      out = np.empty((height, width, depth), STORE)
      for y in range(height):
        out[y] = self.row_probabilities(k, x, y, z1, lstm)
      yield out
      if self.config.progressive and k + 1 < layers:
        state, shared = self.next_state(k, x, shared)


def sent_mask(kept, k):
  """[H, W] STORE, 1 where layer k's bits are sent (k < kept), else 0."""
  return (np.asarray(kept) > k).astype(STORE)


def probability_of_one(numerators):
  """Numerators -> float64 P(bit = 1), exact dyadic values."""
  return np.asarray(numerators, np.float64) / PROB_SCALE


def float_probabilities(network, bits):
  """The float network's P(bit = 1) for comparison with the integer twin."""
  import tensorflow as tf
  layers, h, w, d = bits.shape
  codes = (bits.astype(np.float32) * 2 - 1).transpose(1, 2, 0, 3).reshape(
      1, h, w, layers * d)
  p = network(tf.constant(codes)).numpy()[0]
  return p.reshape(h, w, -1, d).transpose(2, 0, 1, 3)


__all__ = ["IntegerBinaryRNN", "probability_of_one", "float_probabilities",
           "model_lib"]
