r"""Builds a High-Entropy (HE) tile dataset as sharded TFRecords (paper section 4).

  python -m residual_gru.build_dataset \
      --input_dir=data/bsds500/train --downscale=2 --output_dir=/tmp/he

Each image is cut into non-overlapping tiles, every tile is scored by its PNG
compression ratio, and the worst-compressing fraction per image is kept (the
paper kept 100 of about 880 tiles, ~11 %). Whole images are held out for
validation (by a hash of their file name, never mixed with training tiles).
Output: train-NNNNN-of-NNNNN.tfrecord, val-....tfrecord and dataset.json.

With --thumbnail_crops=N it builds the 2016 paper's 32x32 thumbnails
(section 4.3) instead: each image downsampled whole, plus N random crops per
scale downsampled the same way (``data.thumbnails``), in the same format.
"""

import json
import os
import sys

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from residual_gru import data
from residual_gru.images import load_downscaled

FLAGS = flags.FLAGS
def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_list("input_dir", [], "Folders of PNG/JPEG images (comma-separated).")
  flags.DEFINE_string("tfds_name", None,
                      "Instead of folders: a TFDS dataset with an 'image' "
                      "feature (needs network access, or prepared data).")
  flags.DEFINE_string("tfds_split", "train", "TFDS split to read.")
  flags.DEFINE_integer("downscale", 1,
                       "Box-downscale every image by this integer first (use "
                       ">= 2 for JPEG sources, to hide their block artefacts).")
  flags.DEFINE_string("output_dir", None, "Where the TFRecords are written.")
  flags.DEFINE_integer("tile_size", 32, "Tile side in pixels (multiple of 32).")
  flags.DEFINE_float("keep_fraction", 0.11,
                     "Fraction of each image's tiles to keep.")
  flags.DEFINE_enum("selection", "he", data.SELECTIONS,
                    "he: keep the worst-compressing tiles; random: a random "
                    "subset of the same size, for comparison.")
  flags.DEFINE_float("validation_fraction", 0.05,
                     "Fraction of images held out for validation.")
  flags.DEFINE_integer("shards", 4, "Number of training shards.")
  flags.DEFINE_integer("seed", 0, "Seed of the random selection.")
  flags.DEFINE_integer("thumbnail_crops", 0,
                       "Instead of HE tiles: the 2016 paper's thumbnails "
                       "(section 4.3): every image downsampled whole to "
                       "tile_size x tile_size, plus this many random crops "
                       "per scale (1/2, 1/4, 1/8 of each side) downsampled "
                       "the same way.")

def _tfds_images(name, split):
  import tensorflow_datasets as tfds  # Optional extra: pip install .[tfds]
  ds = tfds.load(name, split=split, shuffle_files=False)
  for i, ex in enumerate(tfds.as_numpy(ds)):
    yield f"{name}/{split}/{i:08d}", ex["image"]


def _folder_images(paths, downscale, counts):
  for path, name in paths:
    try:
      yield name, load_downscaled(path, downscale)
    except (OSError, ValueError) as e:
      counts["unreadable"] += 1
      logging.warning("Skipping unreadable image %s: %s", path, e)


def build(images, total, output_dir, tile_size, keep_fraction, selection,
          validation_fraction, shards, seed, counts=None, thumbnail_crops=0):
  """Writes the dataset; returns its summary (also saved as dataset.json).

  With ``thumbnail_crops`` > 0 every image gives thumbnails
  (``data.thumbnails``), all kept, instead of its HE tiles.
  """
  counts = counts if counts is not None else {"unreadable": 0}
  tf.io.gfile.makedirs(output_dir)
  names = [f"train-{i:05d}-of-{shards:05d}.tfrecord" for i in range(shards)]
  tmp = [os.path.join(output_dir, n + ".tmp") for n in names]
  val_tmp = os.path.join(output_dir, "val.tfrecord.tmp")
  writers = [tf.io.TFRecordWriter(p) for p in tmp]
  val_writer = tf.io.TFRecordWriter(val_tmp)
  rng = np.random.default_rng(seed)
  stats = {"images": 0, "train_images": 0, "val_images": 0, "train_tiles": 0,
           "val_tiles": 0, "tiles_seen": 0, "too_small": 0}
  ratios_kept = []
  for source, image in tqdm(images, total=total, unit="img",
                            desc="HE tiles", file=sys.stderr):
    stats["images"] += 1
    if thumbnail_crops:
      tiles = data.thumbnails(image, tile_size, thumbnail_crops, rng)
    else:
      tiles = data.cut_tiles(image, tile_size)
    if not len(tiles):
      stats["too_small"] += 1
      continue
    stats["tiles_seen"] += len(tiles)
    if thumbnail_crops:
      index, ratios = np.arange(len(tiles)), None
    else:
      index, ratios = data.select_tiles(tiles, keep_fraction, selection, rng)
    is_val = data.is_validation(source, validation_fraction)
    kind = "val" if is_val else "train"
    stats[f"{kind}_images"] += 1
    for i in index:
      ratio = ratios[i] if ratios is not None else data.png_ratio(tiles[i])
      ratios_kept.append(ratio)
      example = data.tile_example(tiles[i], ratio, source).SerializeToString()
      if is_val:
        val_writer.write(example)
      else:
        writers[stats["train_tiles"] % shards].write(example)
      stats[f"{kind}_tiles"] += 1
  for w in writers + [val_writer]:
    w.close()
  if stats["train_tiles"] == 0:
    for p in tmp + [val_tmp]:
      tf.io.gfile.remove(p)
    raise ValueError("No training tiles: the input has no image of at least "
                     f"{tile_size}x{tile_size} pixels (after downscaling), or "
                     "every image was held out for validation.")
  for p, n in zip(tmp, names):
    tf.io.gfile.rename(p, os.path.join(output_dir, n), overwrite=True)
  tf.io.gfile.rename(val_tmp, os.path.join(output_dir, "val.tfrecord"),
                     overwrite=True)
  stats.update(
      unreadable=counts["unreadable"], tile_size=tile_size,
      keep_fraction=keep_fraction, selection=selection,
      thumbnail_crops=thumbnail_crops,
      mean_png_ratio_kept=float(np.mean(ratios_kept)),
      train_bytes=sum(tf.io.gfile.stat(os.path.join(output_dir, n)).length
                      for n in names))
  with open(os.path.join(output_dir, "dataset.json"), "w") as f:
    json.dump(stats, f, indent=2)
  return stats


def main(argv):
  del argv
  if not FLAGS.output_dir:
    raise app.UsageError("--output_dir is required.")
  if FLAGS.tile_size % 32:
    raise app.UsageError("--tile_size must be a multiple of 32.")
  counts = {"unreadable": 0}
  if FLAGS.tfds_name:
    images, total = _tfds_images(FLAGS.tfds_name, FLAGS.tfds_split), None
  else:
    if not FLAGS.input_dir:
      raise app.UsageError("Give --input_dir or --tfds_name.")
    try:
      paths = data.list_images(FLAGS.input_dir)
    except FileNotFoundError as e:
      raise app.UsageError(f"--input_dir {e}")
    if not paths:
      raise app.UsageError(f"No PNG or JPEG images in {FLAGS.input_dir}.")
    images = _folder_images(paths, FLAGS.downscale, counts)
    total = len(paths)
  try:
    stats = build(images, total, FLAGS.output_dir, FLAGS.tile_size,
                  FLAGS.keep_fraction, FLAGS.selection,
                  FLAGS.validation_fraction, FLAGS.shards, FLAGS.seed, counts,
                  FLAGS.thumbnail_crops)
  except ValueError as e:
    raise app.UsageError(str(e))
  print(json.dumps(stats, indent=2))


if __name__ == "__main__":
  define_flags()
  app.run(main)
