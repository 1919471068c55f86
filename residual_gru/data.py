"""High-Entropy (HE) tiles: scoring, TFRecord storage, and the training input.

Section 4 of the 2017 paper: cut each image into non-overlapping 32x32 tiles
and keep those PNG compresses worst ("hard-to-compress" data). The training
input is a pure function of (seed, step), so a resumed run sees exactly the
batches an uninterrupted one would have seen.

TFRecord schema (one tf.train.Example per tile):
  tile       bytes   raw uint8 pixels, row-major, size x size x 3
  size       int64   tile side in pixels
  png_ratio  float   PNG (compress_level 9) bytes / raw bytes; higher = harder
  source     bytes   file name of the image the tile came from
"""

import io
import os
import zlib

import numpy as np
import tensorflow as tf
from PIL import Image

from residual_gru import images

SELECTIONS = ("he", "random")


def png_ratio(tile):
  """PNG size over raw size of a uint8 tile (compress_level 9)."""
  buf = io.BytesIO()
  Image.fromarray(tile).save(buf, format="PNG", compress_level=9)
  return buf.tell() / tile.nbytes


def cut_tiles(image, size):
  """Non-overlapping size x size tiles of an H x W x 3 array (edges dropped)."""
  h, w = image.shape[0] // size, image.shape[1] // size
  tiles = image[:h * size, :w * size].reshape(h, size, w, size, 3)
  return tiles.transpose(0, 2, 1, 3, 4).reshape(h * w, size, size, 3)


THUMBNAIL_SCALES = (0.5, 0.25, 0.125)


def thumbnails(image, size, crops_per_scale, rng, scales=THUMBNAIL_SCALES):
  """The 2016 paper's 32x32 data (section 4.3) made from one image.

  The whole image downsampled to size x size (aspect ratio not kept), then
  ``crops_per_scale`` random crops at each of ``scales`` (a fraction of the
  image's height and width) downsampled the same way. Only crops of at
  least 2 x size pixels on both axes are taken, so every thumbnail is
  downsampled by 2 or more (which hides JPEG sources' block artefacts);
  the paper's own rule kept images of more than 32 pixels per axis.
  Returns [n, size, size, 3] uint8 (box filter: the mean of each area).
  """
  h, w = image.shape[:2]
  out = []
  if min(h, w) > size:
    out.append(Image.fromarray(image).resize((size, size), Image.BOX))
  for scale in scales:
    ch, cw = int(h * scale), int(w * scale)
    if min(ch, cw) < 2 * size:
      continue
    for _ in range(crops_per_scale):
      y = int(rng.integers(0, h - ch + 1))
      x = int(rng.integers(0, w - cw + 1))
      crop = Image.fromarray(image[y:y + ch, x:x + cw])
      out.append(crop.resize((size, size), Image.BOX))
  if not out:
    return np.zeros((0, size, size, 3), np.uint8)
  return np.stack([np.asarray(t, np.uint8) for t in out])


def select_tiles(tiles, fraction, selection, rng):
  """Indices of the tiles to keep: the worst-compressing ``fraction`` (HE).

  At least one tile is kept from every image that has one. ``random`` keeps
  the same number chosen at random, for comparison with HE.
  """
  if selection not in SELECTIONS:
    raise ValueError(f"selection must be one of {SELECTIONS}")
  n = len(tiles)
  keep = min(n, max(1, int(round(n * fraction)))) if n else 0
  if selection == "random":
    return rng.choice(n, size=keep, replace=False), None
  ratios = np.array([png_ratio(t) for t in tiles])
  order = np.argsort(-ratios, kind="stable")[:keep]
  return order, ratios


def tile_example(tile, ratio, source):
  feature = {
      "tile": tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[tile.tobytes()])),
      "size": tf.train.Feature(int64_list=tf.train.Int64List(
          value=[tile.shape[0]])),
      "png_ratio": tf.train.Feature(float_list=tf.train.FloatList(
          value=[float(ratio)])),
      "source": tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[source.encode()])),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature))


_FEATURES = {
    "tile": tf.io.FixedLenFeature([], tf.string),
    "size": tf.io.FixedLenFeature([], tf.int64),
}


def load_tiles(pattern):
  """All tiles of the files matching ``pattern`` (comma-separated globs).

  HE datasets built here hold tens of thousands of tiles (tens of MB), so the
  whole set is held in memory; that is what makes step-indexed sampling, and
  so exact resumption, cheap.
  """
  files = sorted(f for p in pattern.split(",") for f in tf.io.gfile.glob(p))
  if not files:
    raise FileNotFoundError(f"No TFRecord files match {pattern!r}.")
  tiles = []
  for record in tf.data.TFRecordDataset(files):
    ex = tf.io.parse_single_example(record, _FEATURES)
    size = int(ex["size"])
    tiles.append(np.frombuffer(ex["tile"].numpy(), np.uint8).reshape(
        size, size, 3))
  if not tiles:
    raise ValueError(f"The TFRecord files matching {pattern!r} are empty.")
  return np.stack(tiles)


def batch_for_step(tiles, batch_size, seed, step, flips=True):
  """The batch of training step ``step``: a pure function of its inputs.

  Samples walk through a fresh permutation of the tiles each epoch (shuffle),
  then (with ``flips``) each is flipped left-right and up-down at random.
  """
  n = len(tiles)
  positions = np.arange(step * batch_size, (step + 1) * batch_size)
  epochs, offsets = np.divmod(positions, n)
  index = np.empty(batch_size, np.int64)
  for epoch in np.unique(epochs):
    perm = np.random.default_rng([seed, int(epoch)]).permutation(n)
    mask = epochs == epoch
    index[mask] = perm[offsets[mask]]
  batch = tiles[index]
  if not flips:
    return batch
  flips = np.random.default_rng([seed, 1 << 30, step]).integers(
      0, 2, size=(batch_size, 2)).astype(bool)
  batch[flips[:, 0]] = batch[flips[:, 0], :, ::-1]
  batch[flips[:, 1]] = batch[flips[:, 1], ::-1]
  return batch


def noise_for_step(code_shape, seed, step):
  """Uniform [0, 1) noise of the stochastic binarizer for one step."""
  rng = np.random.default_rng([seed, 2 << 30, step])
  return rng.random(code_shape, dtype=np.float32)


def training_dataset(tiles, batch_size, code_shape, seed, start_step,
                     end_step):
  """tf.data pipeline of (uint8 batch, binarizer noise) per step, prefetched.

  Element i is the input of step start_step + i; both parts are pure
  functions of (seed, step), so resuming is starting at a later step.
  """
  size = tiles.shape[1]

  def gen():
    for step in range(start_step, end_step):
      yield (batch_for_step(tiles, batch_size, seed, step),
             noise_for_step(code_shape, seed, step))

  ds = tf.data.Dataset.from_generator(
      gen, output_signature=(
          tf.TensorSpec([batch_size, size, size, 3], tf.uint8),
          tf.TensorSpec(code_shape, tf.float32)))
  return ds.prefetch(2)


def is_validation(name, fraction):
  """Whether the image ``name`` (path below its input folder) is held out.

  A hash of the name decides, so the split is the same on every machine and
  for every tile size, and an evaluation binary can list the held-out images.
  """
  return zlib.crc32(str(name).encode()) % 10000 < fraction * 10000


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def list_images(dirs, held_out_fraction=None, held_out=True):
  """Sorted (path, name) of the PNG/JPEG images below each folder of ``dirs``.

  ``name`` is the path below its folder, so the train/held-out split
  (``is_validation``) does not depend on where the folder lives. With
  ``held_out_fraction`` only the held-out images (``held_out=True``) or
  only the others are listed.
  """
  pairs = []
  for d in dirs:
    if not os.path.isdir(d):
      raise FileNotFoundError(f"{d!r} is not a folder.")
    pairs += [(path, os.path.relpath(path, d)) for path in
              images.files_in(d, IMAGE_EXTENSIONS, recursive=True)]
  if held_out_fraction:
    pairs = [(p, n) for p, n in pairs
             if is_validation(n, held_out_fraction) == held_out]
  return sorted(pairs)
