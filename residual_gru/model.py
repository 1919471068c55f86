"""The 2017 paper's iterative codec: encoder, binarizer, decoder, and framework.

One iteration (Figure 1, section 2):
  b_t = B(E_t(r_{t-1})),  x^_t = D_t(b_t) + gamma x^_{t-1},  r_t = x - x^_t
with gamma = 0 ("one_shot"), gamma = 1 ("additive"), or the content-dependent
gain of Figure 2 ("scaled_additive"). The encoder always sees the previous
residual; the decoder sees only bits, so ``decompress`` rebuilds the exact
reconstruction the encoder tracked.

``compress``/``decompress`` are ``tf.function``s with input signatures (dynamic
height, width and iteration count) in the style of tensorflow_compression's
bls2017.py, so the model exports as a SavedModel.
"""

import keras
import numpy as np
import tensorflow as tf

from residual_gru import frameworks, layers
from residual_gru.config import ModelConfig

BLOCK = 32  # Images are padded to a multiple of this (4 stride-2 layers and
            # the gain estimator's 5 stride-2 layers).
CODE_STRIDE = 16  # One 32-bit code vector per 16x16 pixel block.


class ConfiguredLayer(keras.layers.Layer):
  """A layer built from a config dataclass, which its Keras config carries."""

  config_class = ModelConfig

  def get_config(self):
    return {**super().get_config(), "config": self.config.to_dict()}

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    return cls(cls.config_class.from_dict(config.pop("config")), **config)


@keras.saving.register_keras_serializable(package="residual_gru")
class Encoder(ConfiguredLayer):
  """E-Conv and E-RNN#1-3 of Figure 1 followed by the binarizer."""

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    c = config
    self.conv = keras.layers.Conv2D(c.depth(64), 3, strides=2,
                                    padding="same", name="e_conv")
    self.rnns = [
        layers.make_cell(c.encoder_cell, c.depth(256), 3, 2, 1, "e_rnn_1"),
        layers.make_cell(c.encoder_cell, c.depth(512), 3, 2, 1, "e_rnn_2"),
        layers.make_cell(c.encoder_cell, c.depth(512), 3, 2, 1, "e_rnn_3"),
    ]
    self.binarizer = layers.Binarizer(c.bits, name="binarizer")

  def initial_state(self, batch, height, width):
    states, h, w = [], -(-height // 2), -(-width // 2)
    for rnn in self.rnns:
      states.append(rnn.initial_state(batch, h, w))
      h, w = -(-h // 2), -(-w // 2)
    return tuple(states)

  def call(self, residual, state, noise=None, training=False):
    x = self.conv(residual)
    new_state = []
    for rnn, s in zip(self.rnns, state):
      x, s = rnn(x, s)
      new_state.append(s)
    return self.binarizer(x, noise=noise, training=training), tuple(new_state)


@keras.saving.register_keras_serializable(package="residual_gru")
class Decoder(ConfiguredLayer):
  """D-Conv#1, D-RNN#1-4 with depth-to-space, and D-Conv#2 of Figure 1."""

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    c, cell = config, config.decoder_cell_type
    depth = c.decoder_depth
    self.conv_in = keras.layers.Conv2D(depth(512), 1, name="d_conv_1")
    self.rnns = [
        layers.make_cell(cell, depth(512), c.d_rnn1_kernel, 1, 1, "d_rnn_1"),
        layers.make_cell(cell, depth(512), 3, 1, 1, "d_rnn_2"),
        layers.make_cell(cell, depth(256), 3, 1, 3, "d_rnn_3"),
        layers.make_cell(cell, depth(128), 3, 1, 3, "d_rnn_4"),
    ]
    activation = None if c.output_activation == "linear" else "tanh"
    self.conv_out = keras.layers.Conv2D(3, 1, activation=activation,
                                        name="d_conv_2")

  def initial_state(self, batch, height, width):
    """State for a code map of height x width (pixels / 16)."""
    states, h, w = [], height, width
    for rnn in self.rnns:
      states.append(rnn.initial_state(batch, h, w))
      h, w = 2 * h, 2 * w
    return tuple(states)

  def call(self, bits, state):
    x = self.conv_in(bits)
    new_state = []
    for rnn, s in zip(self.rnns, state):
      x, s = rnn(x, s)
      new_state.append(s)
      x = tf.nn.depth_to_space(x, 2)
    return self.conv_out(x), tuple(new_state)


def pad_to_block(image, block=BLOCK):
  """Pads H and W up to a multiple of ``block`` by repeating the edge pixels.

  Edge replication (not reflection) works for any size, 1x1 included, and
  adds no new edges for the encoder to spend bits on.
  """
  shape = tf.shape(image)
  h, w = shape[-3], shape[-2]
  ph = (h + block - 1) // block * block
  pw = (w + block - 1) // block * block
  rows = tf.minimum(tf.range(ph), h - 1)
  cols = tf.minimum(tf.range(pw), w - 1)
  image = tf.gather(image, rows, axis=-3)
  return tf.gather(image, cols, axis=-2)


class PixelRange:
  """Scaling between uint8 pixels and a network's range (``config.input_scale``)."""

  def to_network(self, pixels):
    """[0, 255] -> [-input_scale, input_scale] (2016 paper, section 3)."""
    scale = self.config.input_scale
    return (tf.cast(pixels, tf.float32) / 255.0 - 0.5) * (2.0 * scale)

  def to_pixels(self, x):
    """Inverse of ``to_network``: float pixels in [0, 255], not rounded."""
    scale = self.config.input_scale
    return (x / (2.0 * scale) + 0.5) * 255.0


@keras.saving.register_keras_serializable(package="residual_gru")
class RNNCompressionModel(PixelRange, keras.Model):
  """The iterative codec; ``call`` unrolls it for training."""

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    if isinstance(config, dict):
      config = ModelConfig.from_dict(config)
    if config.architecture != "full_resolution":
      raise ValueError(f"{config.architecture} is a 2016 thumbnail network "
                       "(residual_gru.thumbnail_models).")
    self.config = config
    self.encoder = Encoder(config, name="encoder")
    self.decoder = Decoder(config, name="decoder")
    self.progress = None  # callback(t) of the *_reporting functions
    self.framework = frameworks.get(config.framework)
    self.gain = (layers.GainEstimator(name="gain")
                 if self.framework.uses_gain else None)
    # Build every variable now so the tf.while_loops below never create one.
    self(tf.zeros((1, BLOCK, BLOCK, 3)), iterations=1)

  def get_config(self):
    return {"config": self.config.to_dict()}

  @classmethod
  def from_config(cls, config):
    return cls(ModelConfig.from_dict(config["config"]))

  # -- one iteration, shared by training, compress and decompress ------------

  def initial_carry(self, batch, height, width):
    """(reconstruction x^_0 = 0, gain g_0 = 1) for padded height x width."""
    recon = tf.zeros(tf.stack([batch, height, width, 3]))
    gain = tf.ones(tf.stack([batch, height // BLOCK, width // BLOCK, 1]))
    return recon, gain

  def encode_step(self, x, recon, gain, state, noise=None, training=False):
    residual = self.framework.encoder_input(x, recon, gain)
    return self.encoder(residual, state, noise=noise, training=training)

  def prime(self, bits, state):
    """Decoder hidden-state priming (Johnston et al. 2018, section 3.1).

    ``priming_steps`` extra decoder steps on the first iteration's codes,
    whose outputs are dropped, before the step that reconstructs: the
    hidden state gathers wider spatial context for no extra bits.
    """
    for _ in range(self.config.priming_steps):
      _, state = self.decoder(bits, state)
    return state

  def _prime_first(self, t, bits, state):
    """``prime`` at iteration 0 of a tf.range loop, identity after it."""
    if not self.config.priming_steps:
      return state
    return tf.cond(tf.equal(t, 0), lambda: self.prime(bits, state),
                   lambda: state)

  def decode_step(self, bits, recon, gain, state, keep=None):
    """One decoder iteration. ``keep`` ([B, H, W, 1], 1 where the block's
    codes of this iteration were sent): a stopped block holds the
    reconstruction it stopped at (spatially adaptive bits, issue #16)."""
    out, state = self.decoder(bits, state)
    new = self.framework.reconstruct(recon, out, gain)
    recon = new if keep is None else keep * new + (1.0 - keep) * recon
    if self.gain is not None:
      gain = self.gain(recon)
    return recon, gain, state

  def call(self, x, iterations=None, noise=None, training=False, kept=None):
    """Unrolls the codec; x in network range, H and W multiples of 32.

    Returns the list of reconstructions x^_1..x^_n (network range). With
    ``training=True`` the binarizer is stochastic, driven by ``noise``:
    uniform [0, 1) of shape [B, n, H/16, W/16, bits] (see ``code_shape``).
    ``kept`` (int [B, H/16, W/16], optional): iterations whose codes each
    position sends; later codes are 0 ("nothing sent") and the block holds
    its reconstruction (``keep_masks``; stop-code tolerant training).
    """
    iterations = iterations or self.config.iterations
    shape = tf.shape(x)
    batch, height, width = shape[0], shape[1], shape[2]
    recon, gain = self.initial_carry(batch, height, width)
    enc_state = self.encoder.initial_state(batch, height, width)
    dec_state = self.decoder.initial_state(batch, height // CODE_STRIDE,
                                           width // CODE_STRIDE)
    outputs = []
    for t in range(iterations):
      bits, enc_state = self.encode_step(
          x, recon, gain, enc_state, training=training,
          noise=noise[:, t] if training else None)
      keep = None
      if kept is not None:
        code_mask, keep = keep_masks(kept, t)
        bits = bits * code_mask
      if t == 0:
        dec_state = self.prime(bits, dec_state)
      recon, gain, dec_state = self.decode_step(bits, recon, gain, dec_state,
                                                keep)
      outputs.append(recon)
    return outputs

  def code_shape(self, batch, height, width, iterations=None):
    """Shape of the training noise / codes for a batch of padded images."""
    return (batch, iterations or self.config.iterations,
            height // CODE_STRIDE, width // CODE_STRIDE, self.config.bits)

  # -- exported inference -----------------------------------------------------

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, 3], tf.uint8),
      tf.TensorSpec([], tf.int32)])
  def compress(self, image, iterations):
    """uint8 H x W x 3 image -> (bits, reconstruction).

    bits: uint8 {0, 1} of shape [iterations, ceil(H/32)*2, ceil(W/32)*2, 32]
    (bit 1 stands for code +1); reconstruction: float32 pixels H x W x 3 of
    the last iteration, not rounded: ``decompress`` of these bits is
    exactly ``pixels_to_uint8`` of it.
    """
    return self._encode(image, iterations, report=False)

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, 3], tf.uint8),
      tf.TensorSpec([], tf.int32)])
  def compress_reporting(self, image, iterations):
    """``compress`` that calls ``self.progress(t)`` as iteration t ends (for
    a progress bar; not exported: the hook runs Python). Same bits:
    the loop's operations are those of ``compress``."""
    return self._encode(image, iterations, report=True)

  def _report(self, t):
    if self.progress is not None:
      self.progress(int(t))
    return np.int32(0)

  def _after(self, t, tensor, report):
    """``tensor``, after reporting iteration t done when ``report``."""
    if not report:
      return tensor
    with tf.control_dependencies([tensor]):
      done = tf.numpy_function(self._report, [t + 1], tf.int32,
                               stateful=True)
    with tf.control_dependencies([done]):
      return tf.identity(tensor)

  def _encode(self, image, iterations, report):
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    x = pad_to_block(self.to_network(image))[None]
    ph, pw = tf.shape(x)[1], tf.shape(x)[2]
    recon, gain = self.initial_carry(1, ph, pw)
    enc_state = self.encoder.initial_state(1, ph, pw)
    dec_state = self.decoder.initial_state(1, ph // CODE_STRIDE,
                                           pw // CODE_STRIDE)
    codes = tf.TensorArray(tf.uint8, size=iterations)
    for t in tf.range(iterations):
      bits, enc_state = self.encode_step(x, recon, gain, enc_state)
      dec_state = self._prime_first(t, bits, dec_state)
      recon, gain, dec_state = self.decode_step(bits, recon, gain, dec_state)
      codes = codes.write(t, self._after(t, tf.cast(bits[0] > 0, tf.uint8),
                                         report))
    pixels = self.to_pixels(recon[0, :height, :width])
    return codes.stack(), pixels

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, None], tf.uint8),
      tf.TensorSpec([], tf.int32),
      tf.TensorSpec([], tf.int32)])
  def decompress(self, bits, height, width):
    """(bits [n, h, w, 32], H, W) -> uint8 pixels H x W x 3.

    Rounded as the reference decoder rounds (``pixels_to_uint8``) from the
    float reconstruction that ``compress`` returns for the same bits.
    """
    return pixels_to_uint8(self._decode(bits, height, width,
                                        keep_all=False)[-1])

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, None], tf.uint8),
      tf.TensorSpec([], tf.int32),
      tf.TensorSpec([], tf.int32)])
  def decompress_progressive(self, bits, height, width):
    """Like ``decompress`` but returns every iteration's image [n, H, W, 3]."""
    return pixels_to_uint8(self._decode(bits, height, width, keep_all=True))

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, None], tf.uint8),
      tf.TensorSpec([], tf.int32),
      tf.TensorSpec([], tf.int32)])
  def decompress_reporting(self, bits, height, width):
    """``decompress`` calling ``self.progress(t)`` as iteration t ends."""
    return pixels_to_uint8(self._decode(bits, height, width, keep_all=False,
                                        report=True)[-1])

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, None], tf.uint8),
      tf.TensorSpec([None, None], tf.int32),
      tf.TensorSpec([], tf.int32),
      tf.TensorSpec([], tf.int32)])
  def decompress_adaptive(self, bits, kept, height, width):
    """``decompress`` of a spatially adaptive code map: ``kept`` [h, w] is
    the iterations each code position sent; later codes there read as 0 and
    its block holds the image it stopped at (``compress_adaptive``)."""
    return pixels_to_uint8(self._decode(bits, height, width, keep_all=False,
                                        kept=kept)[-1])

  def compress_adaptive(self, image, plan, block=2, progress=None):
    """Spatially adaptive encoding (issue #16), run eagerly.

    ``plan`` (int [blocks down, blocks across], >= 1): how many iterations
    each block of ``block`` x ``block`` code positions sends (the codec
    chooses it: compression.codec.AdaptivePlan). Encoder and decoder run in
    step, so the encoder always codes the residual of what the decoder
    holds; a block that stopped sends nothing more (zeros) and holds its
    image. Returns (bits uint8 [n, h, w, 32], zero where not sent, n the
    plan's largest count; kept int32 [h, w]).
    """
    image = np.asarray(image)
    x = pad_to_block(self.to_network(image))[None]
    ph, pw = int(x.shape[1]), int(x.shape[2])
    h, w = ph // CODE_STRIDE, pw // CODE_STRIDE
    plan = np.asarray(plan)
    if plan.shape != (-(-h // block), -(-w // block)) or plan.min() < 1:
      raise ValueError(f"plan must hold counts >= 1 for the image's "
                       f"{-(-h // block)}x{-(-w // block)} blocks.")
    kept = np.repeat(np.repeat(plan, block, 0), block,
                     1)[:h, :w].astype(np.int32)
    recon, gain = self.initial_carry(1, ph, pw)
    enc_state = self.encoder.initial_state(1, ph, pw)
    dec_state = self.decoder.initial_state(1, h, w)
    codes = []
    for t in range(int(plan.max())):
      bits, enc_state = self.encode_step(x, recon, gain, enc_state)
      # 1 where the position sends its codes of iteration t
      mask, pixels_mask = keep_masks(tf.constant(kept[None], tf.int32), t)
      bits = bits * mask
      if t == 0:
        dec_state = self.prime(bits, dec_state)
      recon, gain, dec_state = self.decode_step(bits, recon, gain, dec_state,
                                                pixels_mask)
      codes.append((bits[0] > 0).numpy().astype(np.uint8))
      if progress is not None:
        progress(t + 1)
    return np.stack(codes), kept

  def _decode(self, bits, height, width, keep_all, report=False, kept=None):
    n, h, w = tf.shape(bits)[0], tf.shape(bits)[1], tf.shape(bits)[2]
    codes = tf.cast(bits, tf.float32)[:, None] * 2.0 - 1.0
    recon, gain = self.initial_carry(1, h * CODE_STRIDE, w * CODE_STRIDE)
    dec_state = self.decoder.initial_state(1, h, w)
    images = tf.TensorArray(tf.float32, size=n if keep_all else 1)
    for t in tf.range(n):
      # Each decoder level depends only on its own last state and the level
      # below, so with the executor's default of 10 iterations in flight the
      # cheap low-resolution levels ran ahead and their outputs waited in
      # memory (1.76 KB per pixel at 16 iterations); 2 in flight hold 0.64
      # KB at the same speed, 1 holds 0.43 KB but decodes 12 % slower
      # (BUILD-notes.md, "Memory per pixel").
      tf.autograph.experimental.set_loop_options(parallel_iterations=2)
      code, keep = codes[t], None
      if kept is not None:
        code_mask, keep = keep_masks(kept[None], t)
        code = code * code_mask
      dec_state = self._prime_first(t, code, dec_state)
      recon, gain, dec_state = self.decode_step(code, recon, gain,
                                                dec_state, keep)
      recon = self._after(t, recon, report)
      if keep_all:
        images = images.write(t, self.to_pixels(recon[0, :height, :width]))
    if not keep_all:
      images = images.write(0, self.to_pixels(recon[0, :height, :width]))
    return images.stack()


def keep_masks(kept, t):
  """Masks of iteration t (0-based) from ``kept`` (int [B, h, w], iterations
  each code position sends): (codes [B, h, w, 1], pixels [B, 16h, 16w, 1]),
  1 where the position's codes of iteration t are sent."""
  codes = tf.cast(t < kept, tf.float32)[..., None]
  pixels = tf.repeat(tf.repeat(codes, CODE_STRIDE, 1), CODE_STRIDE, 2)
  return codes, pixels


def named_variables(model):
  """{path below the model: variable}, the keys of checkpoints and releases.

  Keras 3 layers are not checkpoint dependencies of their model, so the
  variables are checkpointed by name; the model's own (auto-numbered) name
  is left out so that any instance of one config reads any other's weights.
  """
  named = {v.path.split("/", 1)[1]: v for v in model.weights}
  if len(named) != len(model.weights):
    raise ValueError("Two variables of the model share a path.")
  return named


def pixels_to_uint8(pixels):
  """Rounds float pixels to uint8 as the reference decoder does."""
  return tf.cast(tf.clip_by_value(tf.round(pixels), 0, 255), tf.uint8)


def iteration_losses(x, reconstructions):
  """Mean |r_t| per iteration; their mean is the paper's beta-weighted L1.

  With beta = 1/(s n), s = B H W C and n iterations (section 4),
  beta * sum_t sum |r_t| equals the mean over t of mean |r_t|.
  """
  return tf.stack([tf.reduce_mean(tf.abs(x - r)) for r in reconstructions])
