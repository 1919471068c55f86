"""Turning what users hand the codec into H x W x 3 uint8 RGB, and writing PNGs.

Conversions (documented in README.md, "Input images"):
* EXIF orientation is applied, so the image is coded as it is displayed.
* Grayscale, palette, CMYK and YCbCr images are converted to RGB.
* 16-bit images are scaled to 8 bits (value >> 8 for 16-bit grayscale).
* An alpha channel is dropped only if it is fully opaque; a transparent
  image is refused, since the codec has nowhere to store alpha.
"""

import io
import os
import tempfile

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from compression import container, errors

# Pillow's own decompression-bomb guard would fire with its own exception
# type; the codec's limit is checked instead, before any pixel is decoded.
Image.MAX_IMAGE_PIXELS = None


# A 256x256 crop of Kodak kodim23, shipped for the demo and the notebook
# (Kodak is evaluation data: no model is trained on it).
SAMPLE_IMAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "data", "kodim23_crop.png")


def _from_pil(im, name):
  try:
    im = ImageOps.exif_transpose(im)
  except Exception:  # A broken EXIF block is no reason to refuse pixels.
    pass
  container.check_size(im.width, im.height)
  if im.mode in ("I;16", "I;16B", "I;16L", "I"):
    a = np.asarray(im, dtype=np.uint32)
    if im.mode == "I" and a.max(initial=0) < 256:
      a8 = a.astype(np.uint8)
    else:
      a8 = (a >> 8).astype(np.uint8)
    return np.repeat(a8[..., None], 3, axis=-1)
  if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and
                                         "transparency" in im.info):
    im = im.convert("RGBA")
    alpha = np.asarray(im)[..., 3]
    if alpha.min(initial=255) < 255:
      raise errors.InputError(
          f"{name} has transparent pixels; the codec stores no alpha "
          "channel. Flatten it onto a background first.")
  return np.asarray(im.convert("RGB"), dtype=np.uint8)


def load(image, name=None):
  """A path, bytes, PIL image or array -> H x W x 3 uint8 RGB array."""
  if isinstance(image, np.ndarray):
    return from_array(image)
  if isinstance(image, Image.Image):
    return _from_pil(image, name or "the image")
  if isinstance(image, (bytes, bytearray)):
    source, name = io.BytesIO(image), name or "the image data"
  elif isinstance(image, (str, os.PathLike)):
    source = name = os.fspath(image)
    if not os.path.exists(source):
      raise errors.InputError(f"{source}: no such file.")
    if os.path.isdir(source):
      raise errors.InputError(f"{source} is a folder, not an image.")
  else:
    raise errors.InputError(
        f"Cannot read an image from a {type(image).__name__}; give a path, "
        "bytes, a PIL image or an H x W x 3 uint8 array.")
  try:
    with Image.open(source) as im:
      container.check_size(im.width, im.height)
      im.load()
      return _from_pil(im, name)
  except UnidentifiedImageError:
    raise errors.InputError(f"{name} is not an image Pillow can read.")
  except errors.CodecError:
    raise
  except (OSError, ValueError, SyntaxError) as e:
    raise errors.InputError(f"{name} could not be read: {e}")


def from_array(a):
  a = np.asarray(a)
  if a.dtype != np.uint8:
    raise errors.InputError(f"Arrays must be uint8, not {a.dtype}.")
  if a.ndim == 2:
    a = np.repeat(a[..., None], 3, axis=-1)
  if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
    raise errors.InputError(f"Arrays must be H x W x 3, not {a.shape}.")
  container.check_size(a.shape[1], a.shape[0])
  if a.shape[-1] == 1:
    a = np.repeat(a, 3, axis=-1)
  if a.shape[-1] == 4:
    if a[..., 3].min() < 255:
      raise errors.InputError("The array has transparent pixels; the codec "
                              "stores no alpha channel.")
    a = a[..., :3]
  return np.ascontiguousarray(a)


def write_atomic(path, data):
  """Writes bytes to ``path`` via a temporary file: never a half-written file."""
  path = os.fspath(path)
  folder = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-",
                             suffix=os.path.basename(path))
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    # mkstemp creates 0600 files; give the result the usual umask mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def png_bytes(array):
  buf = io.BytesIO()
  Image.fromarray(np.asarray(array, np.uint8)).save(buf, format="PNG")
  return buf.getvalue()


def save_png(path, array):
  write_atomic(path, png_bytes(array))
