"""Keras layers of the 2017 paper's codec (Toderici et al., CVPR 2017, section 2).

Every recurrent cell is a stateless Keras layer: ``cell(x, state) -> (output,
new_state)``. The encoder and decoder own the state and carry it from one
iteration to the next, which keeps the cells usable inside ``tf.while_loop``
(the exported ``compress``/``decompress``) and in the unrolled training graph.

The convolutions ``W`` (on the input) and ``U`` (on the state) are separate
Conv2D layers so that each has the kernel the paper names: the "input kernel"
with its stride and the "hidden kernel" (1x1 or 3x3, Figure 1 and section 2).
"""

import keras
import numpy as np
import tensorflow as tf


def _conv(filters, kernel_size, strides=1, use_bias=True, name=None,
          activation=None):
  return keras.layers.Conv2D(
      filters, kernel_size, strides=strides, padding="same",
      use_bias=use_bias, activation=activation, name=name)


class _RecurrentCell(keras.layers.Layer):
  """Shared constructor and config of the convolutional recurrent cells."""

  def __init__(self, filters, kernel_size=3, strides=1, hidden_kernel_size=1,
               **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self.strides = int(strides)
    self.hidden_kernel_size = int(hidden_kernel_size)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size,
                  strides=self.strides,
                  hidden_kernel_size=self.hidden_kernel_size)
    return config

  def initial_state(self, batch, height, width):
    """Zero state for an input of the given (dynamic) spatial size."""
    h = -(-height // self.strides)
    w = -(-width // self.strides)
    return tuple(tf.zeros(tf.stack([batch, h, w, d]), self.compute_dtype)
                 for d in self.state_depths)


@keras.saving.register_keras_serializable(package="residual_gru")
class ConvGRU(_RecurrentCell):
  """Convolutional GRU, eqs 11-13; with ``residual=True`` the residual GRU of eq 14.

  z = sigma(W_z x + U_z h), r = sigma(W_r x + U_r h),
  h' = (1 - z) h + z tanh(W x + U(r h))  [+ alpha_h W_h h for the residual GRU]
  output = h'  [+ alpha_x W_ox x for the residual GRU; W_ox is 1x1 with the
  cell's stride: the released frozen graph holds a 1x1 convolution with
  stride 2, which TF versions before 0.10 reject, tensorflow/models#500]. The state carried to the next
  iteration is h', never the output.
  """

  def __init__(self, filters, kernel_size=3, strides=1, hidden_kernel_size=1,
               residual=False, alpha_x=0.1, alpha_h=0.1, **kwargs):
    super().__init__(filters, kernel_size, strides, hidden_kernel_size,
                     **kwargs)
    self.residual = bool(residual)
    self.alpha_x = float(alpha_x)
    self.alpha_h = float(alpha_h)
    f, k, hk = self.filters, self.kernel_size, self.hidden_kernel_size
    # W_z, W_r and W stacked in one convolution (one kernel read per step).
    self.conv_x = _conv(3 * f, k, self.strides, name="w_zrx")
    self.conv_h_gates = _conv(2 * f, hk, use_bias=False, name="u_zr")
    self.conv_h_candidate = _conv(f, hk, use_bias=False, name="u")
    if self.residual:
      self.conv_h_skip = _conv(f, hk, use_bias=False, name="w_h")
      self.conv_x_skip = _conv(f, 1, self.strides, use_bias=False, name="w_ox")

  state_depths = property(lambda self: (self.filters,))

  def call(self, x, state):
    (h,) = state
    xz, xr, xh = tf.split(self.conv_x(x), 3, axis=-1)
    hz, hr = tf.split(self.conv_h_gates(h), 2, axis=-1)
    z = tf.sigmoid(xz + hz)
    r = tf.sigmoid(xr + hr)
    candidate = tf.tanh(xh + self.conv_h_candidate(r * h))
    new_h = (1.0 - z) * h + z * candidate
    if not self.residual:
      return new_h, (new_h,)
    new_h = new_h + self.alpha_h * self.conv_h_skip(h)
    output = new_h + self.alpha_x * self.conv_x_skip(x)
    return output, (new_h,)

  def get_config(self):
    config = super().get_config()
    config.update(residual=self.residual, alpha_x=self.alpha_x,
                  alpha_h=self.alpha_h)
    return config


@keras.saving.register_keras_serializable(package="residual_gru")
class ResidualGRU(ConvGRU):
  """The residual GRU of the 2017 paper (eq 14): a ConvGRU whose new state
  adds alpha_h W_h h and whose output adds alpha_x W_ox x (alpha = 0.1)."""

  def __init__(self, filters, kernel_size=3, strides=1, hidden_kernel_size=1,
               alpha_x=0.1, alpha_h=0.1, **kwargs):
    kwargs.pop("residual", None)  # always residual (kept in its config)
    super().__init__(filters, kernel_size, strides, hidden_kernel_size,
                     residual=True, alpha_x=alpha_x, alpha_h=alpha_h,
                     **kwargs)


@keras.saving.register_keras_serializable(package="residual_gru")
class ConvLSTM(_RecurrentCell):
  """Convolutional LSTM as written in the 2017 paper (section 2.1).

  [f, i, o, j] = [sigma, sigma, sigma, tanh](W x + U h + b),
  c' = f c + i j, h' = o tanh(c'); the output is h'. The forget-gate bias
  starts at 1, as in the reference entropy coder's LSTMs.
  """

  def __init__(self, filters, kernel_size=3, strides=1, hidden_kernel_size=1,
               **kwargs):
    super().__init__(filters, kernel_size, strides, hidden_kernel_size,
                     **kwargs)
    f = self.filters
    if not self.input_deconvolved:
      self.conv_x = _conv(4 * f, self.kernel_size, self.strides,
                          name="w_fioj")
    self.conv_h = _conv(4 * f, self.hidden_kernel_size, use_bias=False,
                        name="u_fioj")

  # DeconvLSTM makes its own conv_x after conv_h (that order is in its
  # training checkpoints' optimizer slots).
  input_deconvolved = False
  state_depths = property(lambda self: (self.filters, self.filters))

  def call(self, x, state):
    h, c = state
    gates = self.conv_x(x) + self.conv_h(h)
    f, i, o, j = tf.split(gates, 4, axis=-1)
    new_c = tf.sigmoid(f + 1.0) * c + tf.sigmoid(i) * tf.tanh(j)
    new_h = tf.sigmoid(o) * tf.tanh(new_c)
    return new_h, (new_h, new_c)


@keras.saving.register_keras_serializable(package="residual_gru")
class Deconv2D(keras.layers.Layer):
  """The 2016 paper's deconvolution (eqs 11-12): W (/)_k x = W (x)_1 T_k(x).

  The transpose of a stride-k convolution: inflating by k (zeros between
  the inputs, T_k) and convolving with stride 1 is the operator that
  ``Conv2DTranspose`` computes without multiplying the zeros (measured: the
  inflate-then-convolve form made a conv LSTM training step 4x slower).
  """

  def __init__(self, filters, kernel_size=3, strides=2, activation=None,
               use_bias=True, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self.strides = int(strides)
    self.activation = activation
    self.use_bias = bool(use_bias)
    self.conv = keras.layers.Conv2DTranspose(
        self.filters, self.kernel_size, strides=self.strides, padding="same",
        use_bias=use_bias, activation=activation, name="w")

  def call(self, x):
    return self.conv(x)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size,
                  strides=self.strides, activation=self.activation,
                  use_bias=self.use_bias)
    return config


@keras.saving.register_keras_serializable(package="residual_gru")
class DeconvLSTM(ConvLSTM):
  """The 2016 paper's deconvolutional LSTM (section 3.6, eq 14).

  T(h^{l-1}_t, h^l_{t-1}) = W_d (/)_k h^{l-1}_t + W_c (x)_1 h^l_{t-1} + b:
  the input is deconvolved (upsampled by k), the recurrent term is a
  stride-1 convolution, so the state has the upsampled size.
  """

  input_deconvolved = True

  def __init__(self, filters, kernel_size=3, strides=2, hidden_kernel_size=3,
               **kwargs):
    super().__init__(filters, kernel_size, 1, hidden_kernel_size, **kwargs)
    self.strides = int(strides)
    # Made here only: a Conv2D made by ConvLSTM and then replaced stayed
    # tracked, unbuilt, and Keras warned about it on every build.
    self.conv_x = Deconv2D(4 * self.filters, self.kernel_size, self.strides,
                           name="w_d_fioj")

  def initial_state(self, batch, height, width):
    """Zero state for an input of height x width (the state is k times larger)."""
    h, w = height * self.strides, width * self.strides
    return tuple(tf.zeros(tf.stack([batch, h, w, d]), self.compute_dtype)
                 for d in self.state_depths)


def bound(re, im):
  """bnd(z) of the 2017 paper: z if |z| <= 1 else z / |z|, on (Re, Im) pairs."""
  # sqrt(max(1, |z|^2)) rather than max(1, sqrt(|z|^2)): the gradient of
  # sqrt at z = 0 (a zero initial cell) is infinite and would turn into NaN.
  scale = tf.sqrt(tf.maximum(1.0, re * re + im * im))
  return re / scale, im / scale


@keras.saving.register_keras_serializable(package="residual_gru")
class AssociativeLSTM(_RecurrentCell):
  """Associative LSTM (Danihelka et al.) as written in the 2017 paper.

  [f, i, o, j, r_i, r_o] = [sigma, sigma, sigma, bnd, bnd, bnd](W x + U h + b)
  c' = f c + r_i i j,   h = o bnd(r_o c'),   output = (Re h, Im h).
  j, r_i, r_o, c and h are complex: ``filters`` real output channels hold
  ``filters / 2`` complex units. The paper used it only in the decoder.
  """

  def __init__(self, filters, kernel_size=3, strides=1, hidden_kernel_size=1,
               **kwargs):
    super().__init__(filters, kernel_size, strides, hidden_kernel_size,
                     **kwargs)
    if self.filters % 2:
      raise ValueError("AssociativeLSTM needs an even number of filters.")
    n = self.filters // 2
    # Real gates f, i, o (n each) and complex j, r_i, r_o (2n each). The keys
    # r_i and r_o start at 1 + 0i (their real parts' bias is 1): with zero
    # bias the cell's output is cubic in its input (o bnd(r_o r_i i j)) and
    # the signal vanishes through the stacked decoder layers (measured: the
    # std falls from 4e-2 to 0 over D-RNN#1-4 at initialisation).
    bias = np.zeros(9 * n, np.float32)
    bias[5 * n:6 * n] = 1.0  # Re r_i
    bias[7 * n:8 * n] = 1.0  # Re r_o
    self.conv_x = keras.layers.Conv2D(
        9 * n, self.kernel_size, strides=self.strides, padding="same",
        bias_initializer=keras.initializers.Constant(bias), name="w")
    self.conv_h = _conv(9 * n, self.hidden_kernel_size, use_bias=False,
                        name="u")

  # State: the real view of h (filters) and the complex cell as (Re, Im).
  state_depths = property(lambda self: (self.filters, self.filters))

  def call(self, x, state):
    h, c = state
    n = self.filters // 2
    pre = self.conv_x(x) + self.conv_h(h)
    f, i, o, j_re, j_im, ri_re, ri_im, ro_re, ro_im = tf.split(
        pre, 9, axis=-1)
    f = tf.sigmoid(f + 1.0)
    i = tf.sigmoid(i)
    o = tf.sigmoid(o)
    j_re, j_im = bound(j_re, j_im)
    ri_re, ri_im = bound(ri_re, ri_im)
    ro_re, ro_im = bound(ro_re, ro_im)
    c_re, c_im = c[..., :n], c[..., n:]
    # r_i * j (complex product), scaled by the real input gate.
    c_re = f * c_re + i * (ri_re * j_re - ri_im * j_im)
    c_im = f * c_im + i * (ri_re * j_im + ri_im * j_re)
    h_re, h_im = bound(ro_re * c_re - ro_im * c_im,
                       ro_re * c_im + ro_im * c_re)
    new_h = tf.concat([o * h_re, o * h_im], axis=-1)
    return new_h, (new_h, tf.concat([c_re, c_im], axis=-1))


CELLS = {"gru": ConvGRU, "residual_gru": ResidualGRU, "lstm": ConvLSTM,
         "associative_lstm": AssociativeLSTM}


def make_cell(cell_type, filters, kernel_size, strides, hidden_kernel_size,
              name):
  """Builds the recurrent cell named by a config's ``cell`` field."""
  if cell_type not in CELLS:
    raise ValueError(f"Unknown cell type {cell_type!r}; "
                     f"choose one of {sorted(CELLS)}.")
  return CELLS[cell_type](filters, kernel_size=kernel_size, strides=strides,
                          hidden_kernel_size=hidden_kernel_size, name=name)


def binarize_inference(x):
  """Eq 7 of the 2016 paper: -1 if x < 0 else +1 (tf.sign would give 0 at 0)."""
  return tf.where(x < 0, tf.constant(-1.0, x.dtype), tf.constant(1.0, x.dtype))


def binarize_stochastic(x, noise):
  """+1 with probability (1 + x) / 2, else -1, given uniform [0, 1) noise.

  The noise comes from the caller (the training input draws it from
  (seed, step)), so a resumed or distributed run replays the same bits.
  """
  return tf.where(noise < (1.0 + x) / 2.0, tf.constant(1.0, x.dtype),
                  tf.constant(-1.0, x.dtype))


@keras.saving.register_keras_serializable(package="residual_gru")
class Binarizer(keras.layers.Layer):
  """1x1 conv -> tanh -> {-1, +1} (2016 paper section 3.1; 2017 Figure 1).

  Training draws the stochastic bit from the given uniform noise, so a run
  resumed from a checkpoint replays the same bits; the gradient passes
  straight through the quantizer (d b / d x = 1).
  """

  def __init__(self, bits=32, **kwargs):
    super().__init__(**kwargs)
    self.bits = int(bits)
    self.conv = _conv(self.bits, 1, name="w_bin")

  def call(self, x, noise=None, training=False):
    x = tf.tanh(self.conv(x))
    if training:
      if noise is None:
        raise ValueError("The stochastic binarizer needs noise in training.")
      b = binarize_stochastic(x, noise)
    else:
      b = binarize_inference(x)
    # b + (x - x) is exactly b forward (x + (b - x) is not, in floats) and
    # has the gradient of x.
    return b + (x - tf.stop_gradient(x))

  def get_config(self):
    config = super().get_config()
    config.update(bits=self.bits)
    return config


@keras.saving.register_keras_serializable(package="residual_gru")
class GainEstimator(keras.layers.Layer):
  """G of section 2.2 (Figure 2): the content-dependent residual gain.

  Five stride-2 convolutions: four 3x3 with 32 channels and ELU, a last 2x2
  with one channel and ELU; +2 maps ELU's (-1, inf) to gains in (1, inf).
  The gain lives at H/32 x W/32 and is applied by zero-order hold.
  """

  def __init__(self, filters=32, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.convs = [_conv(self.filters, 3, 2, activation="elu",
                        name=f"gain_conv_{i}") for i in range(4)]
    self.convs.append(_conv(1, 2, 2, activation="elu", name="gain_conv_4"))

  def call(self, x):
    for conv in self.convs:
      x = conv(x)
    return x + 2.0

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters)
    return config


def zero_order_hold(gain, factor=32):
  """Repeats each gain value over its factor x factor block of pixels."""
  gain = tf.repeat(gain, factor, axis=1)
  return tf.repeat(gain, factor, axis=2)
