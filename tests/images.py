"""Deterministic synthetic test images (the tests never read ../shared)."""

import numpy as np


def synthetic_image(height, width, seed=0):
  """A photo-like uint8 RGB image: smooth gradients, a disc, stripes, grain."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[0:height, 0:width].astype(np.float64)
  y /= max(height - 1, 1)
  x /= max(width - 1, 1)
  phase = rng.uniform(0, 2 * np.pi, 3)
  image = np.stack([
      0.5 + 0.35 * np.sin(2.0 * x + phase[0]) * np.cos(1.5 * y),
      0.45 + 0.3 * np.cos(2.5 * y + phase[1]),
      0.4 + 0.3 * np.sin(1.7 * (x + y) + phase[2]),
  ], axis=-1)
  cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), 0.2
  disc = (y - cy) ** 2 + (x - cx) ** 2 < r * r
  image[disc] = 0.85 * image[disc] + 0.15
  stripes = (np.sin(40 * x) > 0) & (y > 0.75)
  image[stripes] *= 0.7
  image += rng.normal(scale=0.01, size=image.shape)
  return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
