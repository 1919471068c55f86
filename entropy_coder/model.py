"""The progressive BinaryRNN of section 3 (2017 paper), as Keras layers.

Per coded layer k (one image iteration, D = layer_depth bits per position),
following the released entropy coder's BrnnPredictor layout:

  z0 = tanh(MaskedConv7x7(x_k))                 short-range causal context
  z1 = tanh(Conv3x3(s_k))                       from earlier iterations
  line LSTM over rows, input [z0, z1] (1x3), state h, c carried row to row
  p  = (clip(tanh(Conv1x1(tanh(Conv1x1(h)))), +-0.999) + 1) / 2 = P(bit=1)

and, after layer k is known, the progressive state for layer k+1 (Figure 4):
  v = tanh(Conv3x3(tanh(Conv3x3(x_k)))),  (hs, cs) = ConvLSTM1x1(v, hs, cs),
  s_{k+1} = tanh(Conv1x1(tanh(Conv1x1(hs)))).

Contexts: "raster" is the paper's mask (rows above and the left neighbours in
the current row); "row" excludes the current row from the 7x7 mask, so the
LSTM's 1x3 input convolution may look right too and a decoder predicts a
whole row at once (one step per row instead of one per position).
LSTM gate order f, i, j, o with forget bias +1, as in the reference.
"""

import keras
import numpy as np
import tensorflow as tf

from entropy_coder.config import EntropyModelConfig
from residual_gru import model as image_model

CLIP = 0.999  # the reference clips predictions to +-(1 - 0.001)


def causal_mask(context, size=7):
  """1 where the 7x7 kernel may look: rows above (and left, for raster)."""
  mask = np.zeros((size, size), np.float32)
  mask[:size // 2] = 1.0
  if context == "raster":
    mask[size // 2, :size // 2] = 1.0
  return mask


def lstm_input_mask(context):
  """1x3 mask of the line LSTM's input conv: raster hides the right one."""
  return np.array([1, 1, 0 if context == "raster" else 1], np.float32)


@keras.saving.register_keras_serializable(package="entropy_coder")
class MaskedConv2D(keras.layers.Conv2D):
  """Conv2D whose kernel is multiplied by a fixed spatial mask."""

  def __init__(self, filters, kernel_size, mask, **kwargs):
    kwargs["padding"] = "same"
    super().__init__(filters, kernel_size, **kwargs)
    self.mask = np.asarray(mask, np.float32).reshape(self.kernel_size)

  def masked_kernel(self):
    return self.kernel * self.mask[:, :, None, None]

  def call(self, x):
    y = tf.nn.conv2d(x, self.masked_kernel(), 1, "SAME")
    return tf.nn.bias_add(y, self.bias) if self.use_bias else y

  def get_config(self):
    return {**super().get_config(), "mask": self.mask.tolist()}


def _conv(filters, size, name, use_bias=True):
  return keras.layers.Conv2D(filters, size, padding="same", name=name,
                             use_bias=use_bias)


class _ConfiguredLayer(image_model.ConfiguredLayer):
  """A layer built from an EntropyModelConfig, which its Keras config carries."""

  config_class = EntropyModelConfig


@keras.saving.register_keras_serializable(package="entropy_coder")
class LayerPredictor(_ConfiguredLayer):
  """BrnnPredictor_k: the probabilities of one code layer."""

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    d, h = config.layer_depth, config.hidden
    self.short = MaskedConv2D(h, 7, causal_mask(config.context),
                              name="short_7x7")
    self.from_state = (_conv(h, 3, "state_3x3") if config.progressive
                       else None)
    self.lstm_x = MaskedConv2D(4 * h, (1, 3),
                               lstm_input_mask(config.context),
                               name="lstm_input_1x3")
    self.lstm_h = _conv(4 * h, (1, 3), "lstm_hidden_1x3", use_bias=False)
    self.out1 = _conv(h, 1, "out_1x1_a")
    self.out2 = _conv(d, 1, "out_1x1_b")

  def call(self, x, state):
    """x: [B, H, W, D] in {-1, +1}; state: [B, H, W, D] -> P(bit = 1)."""
    z = [tf.tanh(self.short(x))]
    if self.from_state is not None:
      z.append(tf.tanh(self.from_state(state)))
    u = tf.concat(z, axis=-1)
    gates_x = self.lstm_x(u)
    hidden = self.config.hidden
    batch, width = tf.shape(x)[0], tf.shape(x)[2]
    h = tf.zeros(tf.stack([batch, 1, width, hidden]))
    c = tf.zeros_like(h)
    rows = []
    for y in range(x.shape[1]):
      gates = gates_x[:, y:y + 1] + self.lstm_h(h)
      f, i, j, o = tf.split(gates, 4, axis=-1)
      c = tf.sigmoid(f + 1.0) * c + tf.sigmoid(i) * tf.tanh(j)
      h = tf.sigmoid(o) * tf.tanh(c)
      rows.append(h)
    h = tf.concat(rows, axis=1)
    pred = tf.tanh(self.out2(tf.tanh(self.out1(h))))
    return (tf.clip_by_value(pred, -CLIP, CLIP) + 1.0) / 2.0


@keras.saving.register_keras_serializable(package="entropy_coder")
class StateUpdate(_ConfiguredLayer):
  """Per-layer encoding of a decoded layer for the next one (Figure 4)."""

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    d, h = config.layer_depth, config.hidden
    self.conv1 = _conv(h, 3, "conv_3x3_a")
    self.conv2 = _conv(d, 3, "conv_3x3_b")

  def call(self, x):
    return tf.tanh(self.conv2(tf.tanh(self.conv1(x))))


@keras.saving.register_keras_serializable(package="entropy_coder")
class ProgressiveBinaryRNN(keras.Model):
  """Probabilities of every coded bit given its causal context."""

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    if isinstance(config, dict):
      config = EntropyModelConfig.from_dict(config)
    self.config = config
    n, d, h = config.layer_count, config.layer_depth, config.hidden
    # Unused layers up to layer_count are built too, so checkpoints of one
    # layer_count load whatever coded_layer_count is (as the reference).
    self.predictors = [LayerPredictor(config, name=f"brnn_predictor_{k}")
                       for k in range(n)]
    if config.progressive:
      self.updates = [StateUpdate(config, name=f"state_update_{k}")
                      for k in range(n)]
      self.shared_x = _conv(4 * h, 1, "shared_lstm_x")
      self.shared_h = _conv(4 * h, 1, "shared_lstm_h", use_bias=False)
      self.post1 = _conv(h, 1, "shared_post_a")
      self.post2 = _conv(d, 1, "shared_post_b")
    self(tf.zeros((1, 2, 2, n * d)))
    # Build what that call skipped: layers past coded_layer_count and the
    # update after the last coded layer (never called, but checkpointed).
    # Inside the model's name scope, so their variable paths match those
    # built by the call.
    x = tf.zeros((1, 2, 2, d))
    with keras.name_scope(self.name):
      for p in self.predictors:
        if not p.built:
          p(x, x)
      for u in getattr(self, "updates", []):
        if not u.built:
          u(x)

  def build(self, input_shape=None):
    """Sublayers build on their first call (in __init__)."""
    self.built = True

  def get_config(self):
    return {"config": self.config.to_dict()}

  @classmethod
  def from_config(cls, config):
    return cls(EntropyModelConfig.from_dict(config["config"]))

  def next_state(self, k, x, hs, cs):
    """(s_{k+1}, hs, cs) once layer k (x) is known."""
    v = self.updates[k](x)
    gates = self.shared_x(v) + self.shared_h(hs)
    f, i, j, o = tf.split(gates, 4, axis=-1)
    cs = tf.sigmoid(f + 1.0) * cs + tf.sigmoid(i) * tf.tanh(j)
    hs = tf.sigmoid(o) * tf.tanh(cs)
    return tf.tanh(self.post2(tf.tanh(self.post1(hs)))), hs, cs

  def call(self, codes):
    """codes [B, H, W, layers * D] in {-1, +1} -> P(bit = 1), same shape
    over the first coded_layers layers."""
    d = self.config.layer_depth
    shape = tf.shape(codes)
    state = tf.zeros(tf.concat([shape[:3], [d]], 0))
    hs = tf.zeros(tf.concat([shape[:3], [self.config.hidden]], 0))
    cs = tf.zeros_like(hs)
    probs = []
    layers = min(self.config.coded_layers, codes.shape[-1] // d)
    for k in range(layers):
      x = codes[..., k * d:(k + 1) * d]
      probs.append(self.predictors[k](x, state))
      if self.config.progressive and k + 1 < layers:
        state, hs, cs = self.next_state(k, x, hs, cs)
    return tf.concat(probs, axis=-1)


def bits_per_bit(codes, probs):
  """Mean binary cross-entropy in bits (eq 20) of codes in {-1, +1}."""
  ones = tf.cast(codes[..., :probs.shape[-1]] > 0, probs.dtype)
  p = tf.where(ones > 0, probs, 1.0 - probs)
  return -tf.reduce_mean(tf.math.log(p)) / np.log(2.0)


def layer_bits_per_bit(codes, probs, depth):
  """Cross-entropy per layer, [layers], in bits per bit."""
  ones = tf.cast(codes[..., :probs.shape[-1]] > 0, probs.dtype)
  p = tf.where(ones > 0, probs, 1.0 - probs)
  nll = -tf.math.log(p) / np.log(2.0)
  shape = tf.concat([tf.shape(nll)[:3], [-1, depth]], 0)
  return tf.reduce_mean(tf.reshape(nll, shape), axis=[0, 1, 2, 4])


def layer_evaluator(network, depth, chunk=16):
  """f(maps [N, H, W, C] +-1, any dtype) -> mean bits per bit per layer,
  evaluated in chunks by one traced function (trace once, call often)."""

  @tf.function
  def per_layer(batch):
    batch = tf.cast(batch, tf.float32)
    return layer_bits_per_bit(batch, network(batch), depth)

  def evaluate(maps):
    total = 0.0
    for i in range(0, len(maps), chunk):
      part = maps[i:i + chunk]
      total = total + per_layer(tf.constant(part)).numpy() * len(part)
    return total / len(maps)

  return evaluate
