"""NumPy re-typings of the recurrent cells, written from the paper's equations.

They read the weights out of the Keras layers and recompute the cell with
plain NumPy, so a wrong gate order, padding or skip connection shows up as a
numeric difference.
"""

import numpy as np


def conv2d(x, conv):
  """TensorFlow's 'same' convolution of NHWC ``x`` with a Keras Conv2D."""
  kernel = conv.kernel.numpy().astype(np.float64)
  kh, kw, _, cout = kernel.shape
  s = conv.strides[0]
  n, h, w, _ = x.shape
  oh, ow = -(-h // s), -(-w // s)
  ph = max((oh - 1) * s + kh - h, 0)
  pw = max((ow - 1) * s + kw - w, 0)
  xp = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2),
                  (0, 0)))
  out = np.zeros((n, oh, ow, cout))
  for i in range(kh):
    for j in range(kw):
      patch = xp[:, i:i + s * oh:s, j:j + s * ow:s, :]
      out += patch @ kernel[i, j]
  if conv.use_bias:
    out += conv.bias.numpy()
  return out


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def gru(cell, x, h):
  """Eqs 11-13, and eq 14 when the cell is residual."""
  f = cell.filters
  wx = conv2d(x, cell.conv_x)
  uh = conv2d(h, cell.conv_h_gates)
  z = sigmoid(wx[..., :f] + uh[..., :f])
  r = sigmoid(wx[..., f:2 * f] + uh[..., f:])
  new_h = (1 - z) * h + z * np.tanh(wx[..., 2 * f:] +
                                    conv2d(r * h, cell.conv_h_candidate))
  if not cell.residual:
    return new_h, new_h
  new_h = new_h + 0.1 * conv2d(h, cell.conv_h_skip)
  return new_h + 0.1 * conv2d(x, cell.conv_x_skip), new_h


def lstm(cell, x, h, c):
  f = cell.filters
  g = conv2d(x, cell.conv_x) + conv2d(h, cell.conv_h)
  fg, ig, og, j = (g[..., k * f:(k + 1) * f] for k in range(4))
  new_c = sigmoid(fg + 1.0) * c + sigmoid(ig) * np.tanh(j)
  new_h = sigmoid(og) * np.tanh(new_c)
  return new_h, new_h, new_c


def bnd(z):
  """bnd(z) = z if |z| <= 1 else z / |z| (complex numbers)."""
  mag = np.abs(z)
  return np.where(mag > 1, z / np.maximum(mag, 1e-30), z)


def associative_lstm(cell, x, h, c):
  n = cell.filters // 2
  g = conv2d(x, cell.conv_x) + conv2d(h, cell.conv_h)
  part = lambda k: g[..., k * n:(k + 1) * n]
  f, i, o = sigmoid(part(0) + 1.0), sigmoid(part(1)), sigmoid(part(2))
  j = bnd(part(3) + 1j * part(4))
  ri = bnd(part(5) + 1j * part(6))
  ro = bnd(part(7) + 1j * part(8))
  cc = c[..., :n] + 1j * c[..., n:]
  cc = f * cc + ri * i * j
  hh = o * bnd(ro * cc)
  out = np.concatenate([hh.real, hh.imag], axis=-1)
  return out, out, np.concatenate([cc.real, cc.imag], axis=-1)
