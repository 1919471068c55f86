"""Turning what users hand the codec into H x W x 3 uint8 RGB, and writing PNGs.

The conversions are residual_gru.images's (the one loader training and
evaluation use too; README.md, "Input images"); the codec adds its pixel
limit, checked before any pixel is decoded, and its InputError.
"""

import io
import os
import tempfile

import numpy as np
from PIL import Image

from compression import container, errors
from residual_gru import images as image_loader


# A 256x256 crop of Kodak kodim23, shipped for the demo and the notebook
# (Kodak is evaluation data: no model is trained on it).
SAMPLE_IMAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "data", "kodim23_crop.png")


def load(image, name=None):
  """A path, bytes, PIL image or array -> H x W x 3 uint8 RGB array."""
  try:
    return image_loader.load(image, name, check_size=container.check_size)
  except image_loader.UnusableImage as e:
    raise errors.InputError(str(e)) from None


def from_array(a):
  try:
    return image_loader.from_array(a, check_size=container.check_size)
  except image_loader.UnusableImage as e:
    raise errors.InputError(str(e)) from None


def write_atomic(path, data):
  """Writes bytes to ``path`` via a temporary file: never a half-written file."""
  path = os.fspath(path)
  folder = os.path.dirname(os.path.abspath(path))
  try:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-",
                               suffix=os.path.basename(path))
  except OSError as e:  # name the user's path, not the temporary one
    raise OSError(e.errno, e.strerror, path) from None
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    # mkstemp creates 0600 files; give the result the usual umask mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
  except BaseException as e:
    if os.path.exists(tmp):
      os.remove(tmp)
    if isinstance(e, OSError):
      raise OSError(e.errno, e.strerror, path) from None
    raise


def png_bytes(array):
  buf = io.BytesIO()
  Image.fromarray(np.asarray(array, np.uint8)).save(buf, format="PNG")
  return buf.getvalue()


def save_png(path, array):
  write_atomic(path, png_bytes(array))
