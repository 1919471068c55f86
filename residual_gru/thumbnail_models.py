"""The 2016 paper's thumbnail networks (Toderici et al., ICLR 2016, section 3).

Five families, chosen by ``ModelConfig.architecture``:

  fc_residual       fully connected residual encoder (section 3.3, Figure 1),
                    one encoder/decoder for every stage (``shared_weights``)
                    or one per stage
  fc_lstm           fully connected LSTM compressor (section 3.4, Figure 2)
  conv_residual     convolutional/deconvolutional residual encoder (3.5,
                    Figure 3), shared or distinct weights
  conv_lstm         convolutional/deconvolutional LSTM compressor (3.6)
  conv_autoencoder  the one-rate conv/deconv autoencoder of Table 1 (one
                    network per byte budget: iterations = 1)

The stage loop is section 3.1's. Residual (memoryless) stages predict their
input, r_t = F_t(r_{t-1}) - r_{t-1} (eq 2), and the image is the signed sum
of the stages' outputs; LSTM stages predict the image itself,
r_t = F_t(r_{t-1}) - r_0 (eq 3). Either way |r_t| = |x - x^_t|, so the L2
loss on the reconstructions is the paper's loss on the residuals. The
binarizer (section 3.2, eqs 4-7) is the 2017 network's ``Binarizer``.

Codes are maps, as the 2017 network's are: the fully connected networks
code each 8x8 patch (``space_to_depth``: a fully connected layer on a patch
is a 1x1 convolution on the patch map) with ``bits`` = 8 per stage (16 bytes
per 32x32 image, section 4.1); the convolutional ones reduce 32x32 to 8x8 and
code ``bits`` = 2 per position (also 16 bytes per stage).

Layer depths: the paper gives 512 units for the fully connected layers; for
the convolutional networks Figure 3 shows the layers but the text gives no
depths, so they are ours (64, 256, 256 in the encoder, 256, 128, 64 in the
decoder, all times ``width``), with tanh between layers as in section 3.3.
"""

import keras
import tensorflow as tf

from residual_gru import codes
from residual_gru import layers
from residual_gru import model as model_lib
from residual_gru.config import ModelConfig

PATCH = 8  # The fully connected networks code 8x8 patches (section 4.1).
CODE_STRIDES = codes.THUMBNAIL_STRIDES
BLOCK = codes.THUMBNAIL_BLOCK  # Images are padded to a multiple of this.
RESIDUAL = ("fc_residual", "conv_residual")  # memoryless stages (eq 2)


def _dense(units, name, activation="tanh"):
  return keras.layers.Dense(units, activation=activation, name=name)


def _conv(filters, kernel, strides, name, activation="tanh"):
  return keras.layers.Conv2D(filters, kernel, strides=strides, padding="same",
                             activation=activation, name=name)


class _Stack(model_lib.ConfiguredLayer):
  """Layers applied in order; recurrent ones (cells) carry a state."""

  def _recurrent(self):
    return [l for l in self.stack if isinstance(l, layers.ConvLSTM)]

  def run(self, x, state):
    new_state, cells = [], iter(state)
    for layer in self.stack:
      if isinstance(layer, layers.ConvLSTM):
        x, s = layer(x, next(cells))
        new_state.append(s)
      else:
        x = layer(x)
    return x, tuple(new_state)

  def states(self, batch, height, width):
    """Zero states for an input of height x width at the stack's input."""
    states, h, w = [], height, width
    for layer in self.stack:
      if isinstance(layer, layers.ConvLSTM):
        states.append(layer.initial_state(batch, h, w))
      stride = getattr(layer, "strides", 1)
      stride = stride[0] if isinstance(stride, (tuple, list)) else stride
      if isinstance(layer, (layers.DeconvLSTM, layers.Deconv2D)):
        h, w = h * stride, w * stride
      else:
        h, w = -(-h // stride), -(-w // stride)
    return tuple(states)


@keras.saving.register_keras_serializable(package="residual_gru")
class ThumbnailEncoder(_Stack):
  """E of one stage (or of every stage), then the binarizer B (eq 6)."""

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    self.config = c = config
    d, a = c.depth, c.architecture
    if a == "fc_lstm":
      self.stack = [_dense(d(512), "e_fc_1"),
                    layers.ConvLSTM(d(512), 1, 1, 1, name="e_lstm_2"),
                    layers.ConvLSTM(d(512), 1, 1, 1, name="e_lstm_3")]
    elif a == "fc_residual":
      self.stack = [_dense(d(512), f"e_fc_{i}") for i in (1, 2, 3)]
    elif a == "conv_lstm":
      # Section 3.6: the second and third convolutions become conv LSTMs
      # (eq 13: the stride applies to the input term only).
      self.stack = [_conv(d(64), 3, 2, "e_conv_1"),
                    layers.ConvLSTM(d(256), 3, 2, 1, name="e_lstm_2"),
                    layers.ConvLSTM(d(256), 3, 1, 1, name="e_lstm_3")]
    else:
      self.stack = [_conv(d(64), 3, 2, "e_conv_1"),
                    _conv(d(256), 3, 2, "e_conv_2"),
                    _conv(d(256), 3, 1, "e_conv_3")]
    self.binarizer = layers.Binarizer(c.bits, name="binarizer")

  def initial_state(self, batch, height, width):
    if self.config.architecture.startswith("fc"):
      height, width = height // PATCH, width // PATCH
    return self.states(batch, height, width)

  def call(self, residual, state, noise=None, training=False):
    x = residual
    if self.config.architecture.startswith("fc"):
      x = tf.nn.space_to_depth(x, PATCH)
    x, state = self.run(x, state)
    return self.binarizer(x, noise=noise, training=training), state


@keras.saving.register_keras_serializable(package="residual_gru")
class ThumbnailDecoder(_Stack):
  """D of one stage (or of every stage): bits -> RGB (patch or image)."""

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    self.config = c = config
    d, a = c.depth, c.architecture
    # Residual stages predict a residual (eq 2, values beyond +-1): linear
    # output. The others predict the image in [-0.9, 0.9]: tanh (3.4).
    out = None if a in RESIDUAL else "tanh"
    if a == "fc_lstm":
      self.stack = [layers.ConvLSTM(d(512), 1, 1, 1, name="d_lstm_1"),
                    layers.ConvLSTM(d(512), 1, 1, 1, name="d_lstm_2"),
                    _dense(PATCH * PATCH * 3, "d_rgb", out)]
    elif a == "fc_residual":
      self.stack = [_dense(d(512), f"d_fc_{i}") for i in (1, 2, 3)]
      self.stack.append(_dense(PATCH * PATCH * 3, "d_rgb", out))
    elif a == "conv_lstm":
      # The second and third deconvolutions become deconv LSTMs (eq 14).
      self.stack = [layers.Deconv2D(d(256), 3, 1, "tanh", name="d_deconv_1"),
                    layers.DeconvLSTM(d(128), 3, 2, 1, name="d_lstm_2"),
                    layers.DeconvLSTM(d(64), 3, 2, 1, name="d_lstm_3"),
                    _conv(3, 1, 1, "d_rgb", out)]
    else:
      self.stack = [layers.Deconv2D(d(256), 3, 1, "tanh", name="d_deconv_1"),
                    layers.Deconv2D(d(128), 3, 2, "tanh", name="d_deconv_2"),
                    layers.Deconv2D(d(64), 3, 2, "tanh", name="d_deconv_3"),
                    _conv(3, 1, 1, "d_rgb", out)]

  def initial_state(self, batch, height, width):
    """State for a code map of height x width."""
    return self.states(batch, height, width)

  def call(self, bits, state):
    x, state = self.run(bits, state)
    if self.config.architecture.startswith("fc"):
      x = tf.nn.depth_to_space(x, PATCH)
    return x, state


@keras.saving.register_keras_serializable(package="residual_gru")
class ThumbnailModel(model_lib.PixelRange, keras.Model):
  """A 2016 thumbnail network with the 2017 network's training interface.

  ``call`` unrolls the stages for training (list of reconstructions in
  network range); ``compress``/``decompress`` are exportable tf.functions
  with the same signatures as ``RNNCompressionModel``'s.
  """

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    if isinstance(config, dict):
      config = ModelConfig.from_dict(config)
    if config.architecture == "full_resolution":
      raise ValueError("ThumbnailModel holds the 2016 networks; use "
                       "RNNCompressionModel for full_resolution.")
    self.config = config
    self.code_stride = CODE_STRIDES[config.architecture]
    self.residual = config.architecture in RESIDUAL
    distinct = self.residual and not config.shared_weights
    stages = config.iterations if distinct else 1
    suffix = (lambda t: f"_{t + 1}") if stages > 1 else (lambda t: "")
    self.encoders = [ThumbnailEncoder(config, name="encoder" + suffix(t))
                     for t in range(stages)]
    self.decoders = [ThumbnailDecoder(config, name="decoder" + suffix(t))
                     for t in range(stages)]
    self(tf.zeros((1, BLOCK, BLOCK, 3)))

  def get_config(self):
    return {"config": self.config.to_dict()}

  @classmethod
  def from_config(cls, config):
    return cls(ModelConfig.from_dict(config["config"]))

  def _stage(self, t):
    return (self.encoders[min(t, len(self.encoders) - 1)],
            self.decoders[min(t, len(self.decoders) - 1)])

  def _unroll(self, x, iterations, codes=None, noise=None, training=False):
    """(reconstructions, bits) of ``iterations`` stages (section 3.1).

    With ``codes`` given (decoding) the encoder is not run.
    """
    shape = tf.shape(x)
    batch, height, width = shape[0], shape[1], shape[2]
    s = self.code_stride
    enc_states = [e.initial_state(batch, height, width)
                  for e in self.encoders]
    dec_states = [d.initial_state(batch, height // s, width // s)
                  for d in self.decoders]
    residual, recon = x, tf.zeros_like(x)
    recons, all_bits = [], []
    for t in range(iterations):
      e = min(t, len(self.encoders) - 1)
      if codes is None:
        bits, enc_states[e] = self.encoders[e](
            residual, enc_states[e], training=training,
            noise=noise[:, t] if training else None)
      else:
        bits = codes[t]
      out, dec_states[e] = self.decoders[e](bits, dec_states[e])
      if self.residual:
        # eq 2: x^_t = x^_{t-1} + (-1)^{t} F_t, r_t = F_t - r_{t-1}.
        recon = recon + out if t % 2 == 0 else recon - out
        residual = out - residual
      else:
        # eq 3: every stage predicts the image; r_t = F_t - r_0.
        recon = out
        residual = out - x
      recons.append(recon)
      all_bits.append(bits)
    return recons, all_bits

  def call(self, x, iterations=None, noise=None, training=False):
    """Reconstructions x^_1..x^_n (network range); H, W multiples of 8."""
    return self._unroll(x, iterations or self.config.iterations, noise=noise,
                        training=training)[0]

  def code_shape(self, batch, height, width, iterations=None):
    """Shape of the training noise / codes for a batch of padded images."""
    s = self.code_stride
    return (batch, iterations or self.config.iterations, height // s,
            width // s, self.config.bits)

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, 3], tf.uint8),
      tf.TensorSpec([], tf.int32)])
  def compress(self, image, iterations):
    """uint8 H x W x 3 -> (bits [iterations, H'/s, W'/s, bits], float pixels).

    All of the model's stages run (thumbnails are small); the codes and the
    reconstruction of the first ``iterations`` are returned.
    """
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    x = model_lib.pad_to_block(self.to_network(image), BLOCK)[None]
    recons, bits = self._unroll(x, self.config.iterations)
    codes = tf.cast(tf.stack([b[0] for b in bits]) > 0, tf.uint8)
    recon = tf.gather(tf.stack([r[0] for r in recons]), iterations - 1)
    return codes[:iterations], self.to_pixels(recon[:height, :width])

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, None], tf.uint8),
      tf.TensorSpec([], tf.int32),
      tf.TensorSpec([], tf.int32)])
  def decompress(self, bits, height, width):
    """(bits [n, h, w, bits], H, W) -> uint8 pixels H x W x 3."""
    return model_lib.pixels_to_uint8(
        self._decode(bits, height, width)[tf.shape(bits)[0] - 1])

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, None], tf.uint8),
      tf.TensorSpec([], tf.int32),
      tf.TensorSpec([], tf.int32)])
  def decompress_progressive(self, bits, height, width):
    """Like ``decompress`` but returns every iteration's image [n, H, W, 3]."""
    return model_lib.pixels_to_uint8(
        self._decode(bits, height, width)[:tf.shape(bits)[0]])

  def _decode(self, bits, height, width):
    """Float pixels of every stage; stages past the codes decode zeros."""
    n_max = self.config.iterations
    n = tf.shape(bits)[0]
    codes = tf.cast(bits, tf.float32) * 2.0 - 1.0
    codes = tf.pad(codes, [[0, n_max - n], [0, 0], [0, 0], [0, 0]])
    codes = tf.ensure_shape(codes[:, None], [n_max, 1, None, None,
                                             self.config.bits])
    h, w = tf.shape(bits)[1], tf.shape(bits)[2]
    s = self.code_stride
    x = tf.zeros(tf.stack([1, h * s, w * s, 3]))
    recons, _ = self._unroll(x, n_max, codes=tf.unstack(codes, n_max))
    return tf.stack([self.to_pixels(r[0, :height, :width]) for r in recons])
