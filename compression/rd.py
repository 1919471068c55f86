"""Rate-distortion arithmetic: mean curves, AUC and Bjøntegaard deltas.

* ``mean_curve``: each image's (bpp, quality) sweep is interpolated linearly
  in log(bpp) at common bpp targets; a target counts only if every image's
  sweep brackets it (no extrapolation), and the number of images behind each
  target is returned.
* ``auc``: the trapezoid rule over [lo, hi] bpp of a mean curve (the
  papers rank models by the area under the RD curve, 0.25 to 2 bpp).
* ``bd_rate``: Bjøntegaard's delta rate (VCEG-M33): a cubic fit of log(rate)
  as a function of quality for each codec, integrated over the qualities
  both reach; the average rate difference in percent (negative = fewer bits
  than the anchor).
* ``per_image_bd_rates``: a BD-rate per image between two sets of rows of
  the same images, and their mean (the runs/ studies' summary; `rnn-codec
  eval` instead takes one BD-rate between the mean curves).
* ``msssim_db``: -10 log10(1 - MS-SSIM), the scale BD-rate uses for MS-SSIM.
"""

import numpy as np


def msssim_db(values):
  values = np.asarray(values, np.float64)
  return -10.0 * np.log10(np.maximum(1.0 - values, 1e-12))


def interpolate(bpp, quality, targets):
  """Quality at each target bpp, linear in log(bpp); NaN outside the sweep."""
  bpp = np.asarray(bpp, np.float64)
  quality = np.asarray(quality, np.float64)
  order = np.argsort(bpp)
  x, y = np.log(bpp[order]), quality[order]
  t = np.log(np.asarray(targets, np.float64))
  out = np.interp(t, x, y)
  out[(t < x[0] - 1e-12) | (t > x[-1] + 1e-12)] = np.nan
  return out


def mean_curve(sweeps, targets):
  """sweeps: [(bpp array, quality array)] per image -> (targets kept,
  mean quality, image count per kept target)."""
  values = np.stack([interpolate(b, q, targets) for b, q in sweeps])
  complete = ~np.isnan(values).any(axis=0)
  targets = np.asarray(targets, np.float64)[complete]
  return targets, values[:, complete].mean(axis=0), np.full(
      complete.sum(), len(sweeps))


def auc(bpp, quality, lo=0.25, hi=2.0):
  """Trapezoid area under quality(bpp) over [lo, hi] (NaN if not covered)."""
  bpp = np.asarray(bpp, np.float64)
  quality = np.asarray(quality, np.float64)
  if bpp.min() > lo + 1e-12 or bpp.max() < hi - 1e-12:
    return float("nan")
  order = np.argsort(bpp)
  x, y = bpp[order], quality[order]
  grid = np.union1d(x[(x > lo) & (x < hi)], [lo, hi])
  return float(np.trapezoid(np.interp(grid, x, y), grid))


def bd_rate(anchor_bpp, anchor_quality, test_bpp, test_quality):
  """Bjøntegaard delta rate of test vs anchor, in percent."""
  qa, qt = np.asarray(anchor_quality, float), np.asarray(test_quality, float)
  ra, rt = np.log(np.asarray(anchor_bpp, float)), np.log(
      np.asarray(test_bpp, float))
  pa, pt = np.polyfit(qa, ra, 3), np.polyfit(qt, rt, 3)
  lo, hi = max(qa.min(), qt.min()), min(qa.max(), qt.max())
  if hi <= lo:
    return float("nan")
  ia, it = np.polyint(pa), np.polyint(pt)
  avg = ((np.polyval(it, hi) - np.polyval(it, lo)) -
         (np.polyval(ia, hi) - np.polyval(ia, lo))) / (hi - lo)
  return float((np.exp(avg) - 1.0) * 100.0)


def per_image_bd_rates(rows, anchor_mode, test_mode, metric):
  """BD-rate of ``test_mode`` against ``anchor_mode`` for each image.

  ``rows`` are dicts with "image", "mode", "bpp" and ``metric``; MS-SSIM is
  taken in dB (``msssim_db``). An image whose curves do not overlap enough
  for the cubic fit is left out (said on stderr). Returns {"per_image":
  [...], "mean": float or None}.
  """
  import sys
  transform = msssim_db if metric == "msssim" else np.asarray
  images = list(dict.fromkeys(r["image"] for r in rows))
  per_image = []
  for name in images:
    anchor, test = (sorted((r for r in rows if r["image"] == name and
                            r["mode"] == mode), key=lambda r: r["bpp"])
                    for mode in (anchor_mode, test_mode))
    try:
      per_image.append(bd_rate(
          [r["bpp"] for r in anchor], transform([r[metric] for r in anchor]),
          [r["bpp"] for r in test], transform([r[metric] for r in test])))
    except Exception as e:  # too little overlap for this image
      print(f"{name} {test_mode} {metric}: no BD-rate ({e})", file=sys.stderr)
  return {"per_image": per_image,
          "mean": float(np.mean(per_image)) if per_image else None}
