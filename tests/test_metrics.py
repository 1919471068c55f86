"""Metrics against hand computation, TensorFlow, and the reference algorithm."""

import numpy as np
import pytest
from scipy import signal
import tensorflow as tf

from compression import metrics
from tests.images import synthetic_image


def _noisy(image, sigma, seed=0):
  rng = np.random.default_rng(seed)
  return np.clip(image + rng.normal(0, sigma, image.shape), 0,
                 255).astype(np.uint8)


def test_identical_images():
  a = synthetic_image(200, 240)
  assert metrics.msssim(a, a) == pytest.approx(1.0, abs=1e-6)
  assert metrics.msssim_reference(a, a) == pytest.approx(1.0, abs=1e-9)
  assert metrics.psnr(a, a) == float("inf")


def test_hand_checked_constant_images():
  # Flat images: every contrast-structure term is 1, so MS-SSIM is the
  # coarsest luminance term (2 m1 m2 + C1) / (m1^2 + m2^2 + C1) to the
  # power 0.1333, with C1 = (0.01 * 255)^2.
  a = np.full((256, 256, 3), 100, np.uint8)
  b = np.full((256, 256, 3), 110, np.uint8)
  c1 = (0.01 * 255) ** 2
  want = ((2 * 100 * 110 + c1) / (100 ** 2 + 110 ** 2 + c1)) ** 0.1333
  assert want == pytest.approx(0.999396, abs=1e-6)
  assert metrics.msssim_reference(a, b) == pytest.approx(want, abs=1e-9)
  # TensorFlow's implementation lands within 1e-3 of the exact value here
  # (0.99935 in float32 and float64 alike, measured with TF 2.21).
  assert metrics.msssim(a, b) == pytest.approx(want, abs=1e-3)
  # PSNR of a constant error of 10: 20 log10(255 / 10).
  assert metrics.psnr(a, b) == pytest.approx(20 * np.log10(25.5))


@pytest.mark.parametrize("sigma", [3.0, 12.0, 30.0])
def test_paper_msssim_is_tf_ssim_multiscale_per_channel(sigma):
  a = synthetic_image(256, 320, seed=4)
  b = _noisy(a, sigma)
  per_channel = [float(tf.image.ssim_multiscale(
      tf.constant(a[..., c:c + 1], tf.float32),
      tf.constant(b[..., c:c + 1], tf.float32), 255.0)) for c in range(3)]
  assert metrics.msssim(a, b) == pytest.approx(np.mean(per_channel),
                                               abs=1e-5)
  # The two variants differ only in where channels are averaged.
  assert abs(metrics.msssim(a, b) - metrics.msssim_reference(a, b)) < 5e-3


def _retyped_reference(img1, img2):
  """Test-only re-typing of msssim.py with direct 2-D convolutions."""
  weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
  x = np.arange(11) - 5.0
  g = np.exp(-(x[:, None] ** 2 + x[None] ** 2) / (2 * 1.5 ** 2))
  g /= g.sum()
  a, b = img1.astype(np.float64), img2.astype(np.float64)
  c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
  values = []
  for level in range(5):
    f = lambda im: np.stack([signal.convolve2d(im[..., c], g, mode="valid")
                             for c in range(3)], -1)
    mu1, mu2 = f(a), f(b)
    s11 = f(a * a) - mu1 ** 2
    s22 = f(b * b) - mu2 ** 2
    s12 = f(a * b) - mu1 * mu2
    cs = np.mean((2 * s12 + c2) / (s11 + s22 + c2))
    ssim = np.mean((2 * mu1 * mu2 + c1) * (2 * s12 + c2) /
                   ((mu1 ** 2 + mu2 ** 2 + c1) * (s11 + s22 + c2)))
    values.append(cs if level < 4 else ssim)
    if level < 4:  # 2x2 box filter (reflect at the far edge), keep evens
      def down(im):
        p = np.pad(im, ((0, 1), (0, 1), (0, 0)), mode="symmetric")
        return ((p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:]) /
                4)[::2, ::2]
      a, b = down(a), down(b)
  return float(np.prod(np.array(values) ** np.array(weights)))


@pytest.mark.parametrize("shape,sigma", [((256, 256), 8.0),
                                         ((200, 300), 20.0)])
def test_reference_variant_matches_a_retyping(shape, sigma):
  a = synthetic_image(*shape, seed=5)
  b = _noisy(a, sigma, seed=1)
  assert metrics.msssim_reference(a, b) == pytest.approx(
      _retyped_reference(a, b), abs=1e-6)


def test_small_images_use_the_scales_that_fit():
  a = synthetic_image(32, 40, seed=6)
  b = _noisy(a, 10.0)
  value = metrics.msssim(a, b)
  assert 0 < value < 1
  # Two scales fit 32 pixels (32 / 2 >= 11 > 32 / 4): the value is
  # tf.image.ssim_multiscale with the first two weights.
  assert metrics.msssim_scales(32) == 2
  import tensorflow as tf
  two = float(tf.image.ssim_multiscale(
      tf.constant(a, tf.float32), tf.constant(b, tf.float32), 255.0,
      power_factors=metrics.MSSSIM_WEIGHTS[:2]))
  assert value == pytest.approx(two, abs=1e-6)


def test_shape_mismatch_is_an_error():
  with pytest.raises(ValueError):
    metrics.psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3),
                                                          np.uint8))


def test_psnr_hvs_hand_checked_block():
  # A constant luma difference of 1 in one 8x8 block is a DC coefficient of
  # 8 in the orthonormal DCT, weighted by the CSF's 1.608443:
  # MSE = (8 * 1.608443)^2 / 64, PSNR-HVS = 10 log10(255^2 / MSE).
  a = np.zeros((8, 8, 3), np.uint8)
  b = np.ones((8, 8, 3), np.uint8)
  want = 10 * np.log10(255 ** 2 / ((8 * 1.608443) ** 2 / 64))
  assert want == pytest.approx(44.0034, abs=1e-3)
  assert metrics.psnr_hvs(a, b) == pytest.approx(want, abs=1e-9)
  assert metrics.psnr_hvs(a, a) == float("inf")


def test_psnr_hvs_weighs_high_frequencies_less():
  a = synthetic_image(64, 64, seed=7).astype(np.int16)
  y, x = np.mgrid[0:64, 0:64]
  low = np.clip(a + (4 * np.cos(np.pi * x / 32))[..., None], 0, 255)
  high = np.clip(a + (4 * np.cos(np.pi * x))[..., None], 0, 255)
  low, high, a = (v.astype(np.uint8) for v in (low, high, a))
  assert metrics.psnr_hvs(a, high) > metrics.psnr_hvs(a, low)


def test_block_ssim_hand_checked_block():
  # One 8x8 block, one channel pattern: a = 0/200 halves, b = a + 10.
  a = np.zeros((8, 8, 3), np.uint8)
  a[:, 4:] = 200
  b = a + 10
  # means 100 and 110, both variances 10000, covariance 10000.
  c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
  want = ((2 * 100 * 110 + c1) * (2 * 10000 + c2) /
          ((100 ** 2 + 110 ** 2 + c1) * (20000 + c2)))
  assert metrics.block_ssim(a, b) == pytest.approx(want, abs=1e-12)
  assert metrics.block_ssim(a, a) == pytest.approx(1.0)


def test_msssim_shares_per_scale_are_the_weighted_shares_parts():
  from residual_gru import metrics as core
  a = synthetic_image(64, 96, seed=1)
  b = np.clip(a.astype(int) + np.random.default_rng(2).integers(
      -30, 31, a.shape), 0, 255).astype(np.uint8)
  per_scale = core.msssim_shares(a, b, 32, per_scale=True)
  assert per_scale.shape == (len(core.MSSSIM_WEIGHTS), 2, 3)
  np.testing.assert_allclose(
      np.tensordot(core.MSSSIM_WEIGHTS, per_scale, 1),
      core.msssim_shares(a, b, 32))
  assert (per_scale < 1).all()  # noise lowers every scale's map
  np.testing.assert_allclose(core.msssim_shares(a, a, 32, per_scale=True), 1)
