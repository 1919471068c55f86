"""RD arithmetic on synthetic curves with known answers."""

import numpy as np
import pytest

from compression import rd


def test_interpolation_is_linear_in_log_bpp_and_never_extrapolates():
  got = rd.interpolate([0.25, 1.0], [10.0, 20.0], [0.5, 0.1, 2.0])
  assert got[0] == pytest.approx(15.0)  # log 0.5 is midway
  assert np.isnan(got[1]) and np.isnan(got[2])


def test_mean_curve_keeps_only_targets_every_image_brackets():
  sweeps = [([0.2, 1.0], [1.0, 2.0]), ([0.4, 2.0], [3.0, 4.0])]
  targets, mean, counts = rd.mean_curve(sweeps, [0.25, 0.5, 1.0, 1.5])
  np.testing.assert_allclose(targets, [0.5, 1.0])
  q1 = rd.interpolate([0.2, 1.0], [1, 2], [0.5])[0]
  q2 = rd.interpolate([0.4, 2.0], [3, 4], [0.5])[0]
  assert mean[0] == pytest.approx((q1 + q2) / 2)
  assert list(counts) == [2, 2]


def test_auc_trapezoid():
  # quality = bpp is a line: area over [0.25, 2] = (2^2 - 0.25^2) / 2.
  bpp = np.linspace(0.125, 2.0, 16)
  assert rd.auc(bpp, bpp) == pytest.approx((4 - 0.0625) / 2)
  assert np.isnan(rd.auc([0.5, 2.0], [1, 2]))


def test_bd_rate_of_a_curve_that_needs_half_the_bits():
  bpp = np.array([0.25, 0.5, 1.0, 2.0])
  quality = 30 + 5 * np.log2(bpp)
  assert rd.bd_rate(bpp, quality, bpp / 2, quality) == pytest.approx(-50.0)
  assert rd.bd_rate(bpp, quality, bpp, quality) == pytest.approx(0.0,
                                                                  abs=1e-9)
  assert rd.bd_rate(bpp, quality, bpp * 1.2, quality) == pytest.approx(20.0)


def test_msssim_db():
  assert rd.msssim_db([0.9, 0.99])[1] == pytest.approx(20.0)


def test_per_image_bd_rates_take_each_image_alone():
  quality = [0.85, 0.9, 0.93, 0.95, 0.97]
  rows = []
  for image, factor in (("a", 0.9), ("b", 0.8)):
    for q, bpp in zip(quality, [0.2, 0.4, 0.7, 1.0, 1.5]):
      rows.append({"image": image, "mode": "uniform", "bpp": bpp, "msssim": q})
      rows.append({"image": image, "mode": "adaptive", "bpp": bpp * factor,
                   "msssim": q})
  result = rd.per_image_bd_rates(rows, "uniform", "adaptive", "msssim")
  assert result["per_image"] == pytest.approx([-10.0, -20.0])
  assert result["mean"] == pytest.approx(-15.0)
