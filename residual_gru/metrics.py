"""Image quality metrics: the one place they are computed.

They live in the image-network package because training and its held-out
evaluation need them too (the training loss shares MSSSIM_WEIGHTS and
``msssim_scales``); the codec publishes them as ``compression.metrics``.

All take uint8 H x W x 3 RGB arrays of the same size (the decoded image is
cropped to the original size before it gets here).

* ``msssim``: MS-SSIM as the 2017 paper evaluates it (section 4): each RGB
  channel separately, then averaged; this is tf.image.ssim_multiscale on the
  RGB image with max_val 255 (Gaussian 11x11, sigma 1.5, five scales, the
  weights of Wang et al.). The headline metric.
* ``msssim_reference``: the released reference msssim.py's variant, where the
  SSIM statistics are averaged over the channels within each scale (and
  over a 'valid' FFT convolution, with 2x2 box downsampling); use it to
  compare with numbers computed by that script.
* ``msssim_shares``: each block's share of MS-SSIM (spatially adaptive
  bits: the Lagrangian plan of compression.codec, issue #16).
* ``psnr``: over all RGB values.
* ``psnr_hvs``: PSNR-HVS (Egiazarian et al. 2006) as Ponomarenko's
  psnrhvsm.m computes it (its CSF table, 8x8 orthonormal DCT blocks at step
  8, remainders at the right and bottom edges dropped), on BT.601 full-range
  luma Y = 0.299 R + 0.587 G + 0.114 B. One named variant: the luma one.
"""

import numpy as np
from scipy import ndimage
from scipy import fft
from scipy import signal

from residual_gru import quiet

MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _check(a, b):
  a, b = np.asarray(a), np.asarray(b)
  if a.shape != b.shape or a.ndim != 3 or a.shape[-1] != 3:
    raise ValueError(f"Need two H x W x 3 images of one size, got {a.shape} "
                     f"and {b.shape}.")
  return a, b


def msssim_scales(size, filter_size=11):
  """How many MS-SSIM scales fit an image of ``size`` pixels (its short side).

  Scale s sees the image downsampled s - 1 times, which must still hold
  the 11x11 window: five scales need 176 pixels, a 32-pixel patch has two.
  """
  scales = 5
  while scales > 1 and size // 2 ** (scales - 1) < filter_size:
    scales -= 1
  return scales


def msssim(a, b):
  """Mean over RGB channels of each channel's MS-SSIM (max_val 255).

  Images under 176 pixels on a side have too few pixels for five scales of
  an 11x11 window; for them only the scales that fit are used.
  """
  a, b = _check(a, b)
  weights = MSSSIM_WEIGHTS[:msssim_scales(min(a.shape[:2]))]
  tf = quiet.import_tensorflow()
  return float(tf.image.ssim_multiscale(
      tf.constant(a, tf.float32), tf.constant(b, tf.float32), 255.0,
      power_factors=weights))


def psnr(a, b):
  a, b = _check(a, b)
  mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
  return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def _fspecial_gauss(size, sigma):
  radius = size // 2
  offset = 0.0 if size % 2 else 0.5
  y, x = np.mgrid[-radius + offset:radius + offset + (size % 2),
                  -radius + offset:radius + offset + (size % 2)]
  g = np.exp(-((x ** 2 + y ** 2) / (2.0 * sigma ** 2)))
  return g / g.sum()


def _ssim_reference(img1, img2, max_val=255, filter_size=11,
                    filter_sigma=1.5, k1=0.01, k2=0.03):
  """(ssim, cs) of [B, H, W, C] float64 batches, reference style."""
  _, height, width, _ = img1.shape
  size = min(filter_size, height, width)
  sigma = size * filter_sigma / filter_size if filter_size else 0
  if filter_size:
    window = np.reshape(_fspecial_gauss(size, sigma), (1, size, size, 1))
    mu1 = signal.fftconvolve(img1, window, mode="valid")
    mu2 = signal.fftconvolve(img2, window, mode="valid")
    sigma11 = signal.fftconvolve(img1 * img1, window, mode="valid")
    sigma22 = signal.fftconvolve(img2 * img2, window, mode="valid")
    sigma12 = signal.fftconvolve(img1 * img2, window, mode="valid")
  else:
    mu1, mu2 = img1, img2
    sigma11, sigma22, sigma12 = img1 * img1, img2 * img2, img1 * img2
  mu11, mu22, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
  sigma11 -= mu11
  sigma22 -= mu22
  sigma12 -= mu12
  c1 = (k1 * max_val) ** 2
  c2 = (k2 * max_val) ** 2
  v1 = 2.0 * sigma12 + c2
  v2 = sigma11 + sigma22 + c2
  ssim = np.mean((((2.0 * mu12 + c1) * v1) / ((mu11 + mu22 + c1) * v2)))
  cs = np.mean(v1 / v2)
  return ssim, cs


def msssim_reference(a, b):
  """MS-SSIM exactly as the reference msssim.py computes it (see module doc)."""
  a, b = _check(a, b)
  img1 = a[None].astype(np.float64)
  img2 = b[None].astype(np.float64)
  weights = np.array(MSSSIM_WEIGHTS)
  box = np.ones((1, 2, 2, 1)) / 4.0
  mssim, mcs = [], []
  for _ in range(len(weights)):
    ssim, cs = _ssim_reference(img1, img2)
    mssim.append(ssim)
    mcs.append(cs)
    img1, img2 = [ndimage.convolve(im, box, mode="reflect")[:, ::2, ::2, :]
                  for im in (img1, img2)]
  mssim, mcs = np.array(mssim), np.array(mcs)
  return float(np.prod(mcs[:-1] ** weights[:-1]) *
               mssim[-1] ** weights[-1])


# CSF weights of psnrhvsm.m (Ponomarenko et al.), row = vertical frequency.
PSNR_HVS_CSF = np.array([
    [1.608443, 2.339554, 2.573509, 1.608443, 1.072295, 0.643377, 0.504610,
     0.421887],
    [2.144591, 2.144591, 1.838221, 1.354478, 0.989811, 0.443708, 0.428918,
     0.467911],
    [1.838221, 1.979622, 1.608443, 1.072295, 0.643377, 0.451493, 0.372972,
     0.459555],
    [1.838221, 1.513829, 1.169777, 0.887417, 0.504610, 0.295806, 0.321689,
     0.415082],
    [1.429727, 1.169777, 0.695543, 0.459555, 0.378457, 0.236102, 0.249855,
     0.334222],
    [1.072295, 0.735288, 0.467911, 0.402111, 0.317717, 0.247453, 0.227744,
     0.279729],
    [0.525206, 0.402111, 0.329937, 0.295806, 0.249855, 0.212687, 0.214459,
     0.254803],
    [0.357432, 0.279729, 0.270896, 0.262603, 0.229778, 0.257351, 0.249855,
     0.259950]])


def luma(image):
  """BT.601 full-range Y of uint8 RGB, as float64."""
  rgb = np.asarray(image, np.float64)
  return rgb @ np.array([0.299, 0.587, 0.114])


def psnr_hvs(a, b):
  """PSNR-HVS on luma (see the module docstring), in dB."""
  a, b = _check(a, b)
  ya, yb = luma(a), luma(b)
  h, w = (ya.shape[0] // 8) * 8, (ya.shape[1] // 8) * 8
  if not h or not w:
    raise ValueError("PSNR-HVS needs images of at least 8x8 pixels.")
  def blocks(y):
    return y[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
  diff = fft.dctn(blocks(ya) - blocks(yb), axes=(2, 3), norm="ortho")
  mse = np.mean((diff * PSNR_HVS_CSF) ** 2)
  return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def block_ssim(a, b, block=8, k1=0.01, k2=0.03, dynamic_range=255.0):
  """SSIM of the 2016 paper's thumbnail benchmark (Table 1).

  Each colour channel separately, on each non-overlapping block x block
  patch, from that patch's global statistics (no Gaussian window; means,
  variances and covariance over the patch's pixels, population form),
  L = 255, K1 = 0.01, K2 = 0.03; the mean over patches and channels.
  """
  a, b = _check(a, b)
  h, w = (a.shape[0] // block) * block, (a.shape[1] // block) * block
  if not h or not w:
    raise ValueError(f"Need at least {block}x{block} pixels.")
  def patches(x):
    x = x[:h, :w].astype(np.float64)
    return x.reshape(h // block, block, w // block, block, 3).transpose(
        0, 2, 4, 1, 3).reshape(-1, block * block)
  x, y = patches(a), patches(b)
  mx, my = x.mean(1), y.mean(1)
  vx, vy = x.var(1), y.var(1)
  cov = ((x - mx[:, None]) * (y - my[:, None])).mean(1)
  c1 = (k1 * dynamic_range) ** 2
  c2 = (k2 * dynamic_range) ** 2
  ssim = ((2 * mx * my + c1) * (2 * cov + c2) /
          ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
  return float(ssim.mean())


def msssim_shares(a, b, block=32, per_scale=False):
  """Each block x block block's share of MS-SSIM -> [ceil(H/b), ceil(W/b)].

  MS-SSIM is a product over scales s of mean maps M_s (contrast-structure,
  SSIM at the coarsest), so d log MS-SSIM = sum_s w_s dM_s / M_s. A block's
  share is sum_s w_s * (the mean of scale s's map over the block): the
  same with M_s taken as 1 (it is 0.8-1 at the rates that matter), so a
  block's gain from one more iteration does not depend on the others. The
  maps are the reference's (11-tap Gaussian, sigma 1.5, 2x2 box
  downsampling) with reflected borders, so every block has every scale;
  the RGB channels are averaged. ``block`` must be a multiple of 16.
  ``per_scale``: the unweighted block means of every scale's map instead,
  [scales, ceil(H/b), ceil(W/b)] (codec.AdaptivePlan weighs them by the
  gradient of MS-SSIM at its operating point).
  """
  a, b = _check(a, b)
  x, y = a.astype(np.float64), b.astype(np.float64)
  h, w = a.shape[:2]
  hb, wb = -(-h // block), -(-w // block)
  c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

  def blur(im):
    return ndimage.gaussian_filter(im, (1.5, 1.5, 0), mode="reflect",
                                   truncate=5 / 1.5)

  out = np.zeros((len(MSSSIM_WEIGHTS), hb, wb))
  for s in range(len(MSSSIM_WEIGHTS)):
    mu1, mu2 = blur(x), blur(y)
    s11 = blur(x * x) - mu1 * mu1
    s22 = blur(y * y) - mu2 * mu2
    s12 = blur(x * y) - mu1 * mu2
    value = (2 * s12 + c2) / (s11 + s22 + c2)
    if s == len(MSSSIM_WEIGHTS) - 1:
      value = value * (2 * mu1 * mu2 + c1) / (mu1 * mu1 + mu2 * mu2 + c1)
    value = value.mean(-1)
    side = block >> s
    ph, pw = hb * side, wb * side
    value = np.pad(value, ((0, max(0, ph - value.shape[0])),
                           (0, max(0, pw - value.shape[1]))), mode="edge")
    out[s] = value[:ph, :pw].reshape(hb, side, wb, side).mean((1, 3))
    if s < len(MSSSIM_WEIGHTS) - 1:
      x, y = [ndimage.convolve(im, np.ones((2, 2, 1)) / 4,
                               mode="reflect")[::2, ::2] for im in (x, y)]
  if per_scale:
    return out
  return np.tensordot(np.asarray(MSSSIM_WEIGHTS, np.float64), out, 1)

