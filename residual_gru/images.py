"""The one image loader: what a file, bytes, PIL image or array holds, as
H x W x 3 uint8 RGB, the same pixels for training, evaluation, code
building and the codec.

Conversions (README.md, "Input images"):
* EXIF orientation is applied, so an image is used as it is displayed.
* Grayscale, palette, CMYK and YCbCr images are converted to RGB.
* 16-bit images are scaled to 8 bits (value >> 8 for 16-bit grayscale).
* An alpha channel is dropped only if it is fully opaque; a transparent
  image is refused, since nothing downstream stores alpha.

It lives in the image package because training reads images too; the codec
(compression.images) adds its pixel limit and its own exception type.
"""

import io
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's own decompression-bomb guard would fire with its own exception
# type; callers pass check_size to apply their limit before any pixel is
# decoded.
Image.MAX_IMAGE_PIXELS = None


class UnusableImage(ValueError):
  """The input is missing, unreadable or cannot be made RGB; the message
  says which and why."""


def files_in(folder, extensions, recursive=False):
  """Sorted paths of the files in ``folder`` (and below it, if recursive)
  whose names end with one of ``extensions`` (lower-case, with the dot):
  the one folder lister of training, evaluation and the CLI."""
  if not recursive:
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if f.lower().endswith(extensions))
  return sorted(os.path.join(root, f) for root, _, files in os.walk(folder)
                for f in files if f.lower().endswith(extensions))


def _no_limit(width, height):
  del width, height


def _from_pil(im, name, check_size):
  try:
    im = ImageOps.exif_transpose(im)
  except Exception:  # A broken EXIF block is no reason to refuse pixels.
    pass
  check_size(im.width, im.height)
  if im.mode in ("I;16", "I;16B", "I;16L", "I"):
    a = np.asarray(im, dtype=np.int64)
    if a.min(initial=0) < 0 or a.max(initial=0) > 65535:
      raise UnusableImage(
          f"{name} holds values {a.min()} to {a.max()}; only 8- and 16-bit "
          "images (0 to 65535) can be coded. Scale it to 8 or 16 bits first.")
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
      raise UnusableImage(
          f"{name} has transparent pixels; the codec stores no alpha "
          "channel. Flatten it onto a background first.")
  return np.asarray(im.convert("RGB"), dtype=np.uint8)


def from_array(a, check_size=_no_limit):
  """An H x W (x 1, 3 or opaque 4) uint8 array -> H x W x 3 uint8."""
  a = np.asarray(a)
  if a.dtype != np.uint8:
    raise UnusableImage(f"Arrays must be uint8, not {a.dtype}.")
  if a.ndim == 2:
    a = np.repeat(a[..., None], 3, axis=-1)
  if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
    raise UnusableImage(f"Arrays must be H x W x 3, not {a.shape}.")
  check_size(a.shape[1], a.shape[0])
  if a.shape[-1] == 1:
    a = np.repeat(a, 3, axis=-1)
  if a.shape[-1] == 4:
    if a[..., 3].min() < 255:
      raise UnusableImage("The array has transparent pixels; the codec "
                          "stores no alpha channel.")
    a = a[..., :3]
  return np.ascontiguousarray(a)


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by IHDR colour type
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
          (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def png_data_is_complete(data):
  """Whether a PNG's image data holds every row its header promises.

  Pillow fills rows with zeros, silently, when the compressed data ends
  early but the file goes on to IEND (seen: a 128-byte PNG claiming
  4096x4096 "decodes"). This inflates the IDAT stream, counting bytes
  without keeping them, and compares with what the header implies.
  """
  if data[:8] != b"\x89PNG\r\n\x1a\n":
    return True
  pos, header, inflate, got = 8, None, zlib.decompressobj(), 0
  while pos + 8 <= len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    pos += 12 + length
    if kind == b"IHDR" and len(body) >= 13:
      header = struct.unpack(">IIBBBBB", body[:13])
    elif kind == b"IDAT" and header:
      chunk = body
      while chunk:
        try:
          got += len(inflate.decompress(chunk, 1 << 20))
        except zlib.error:
          return False  # corrupt compressed data
        chunk = inflate.unconsumed_tail
    elif kind == b"IEND":
      break
  if header is None:
    return True  # not ours to judge: Pillow refuses it or reads it
  width, height, depth, colour, _, _, interlace = header
  bits = depth * _PNG_CHANNELS.get(colour, 4)
  row = lambda w: 1 + (w * bits + 7) // 8 if w else 0
  if interlace:
    want = sum(row(-(-(width - x0) // dx)) * -(-(height - y0) // dy)
               for x0, y0, dx, dy in _ADAM7 if width > x0 and height > y0)
  else:
    want = row(width) * height
  try:
    got += len(inflate.flush())
  except zlib.error:
    return False
  return got >= want


def load(image, name=None, check_size=_no_limit):
  """A path, bytes, PIL image or array -> H x W x 3 uint8 RGB array.

  check_size(width, height) is called before pixels are decoded (and may
  raise); UnusableImage is raised for anything that is not a usable image.
  """
  if isinstance(image, np.ndarray):
    return from_array(image, check_size)
  if isinstance(image, Image.Image):
    return _from_pil(image, name or "the image", check_size)
  if isinstance(image, (bytes, bytearray)):
    source, name = io.BytesIO(image), name or "the image data"
  elif isinstance(image, (str, os.PathLike)):
    source = name = os.fspath(image)
    if not os.path.exists(source):
      raise UnusableImage(f"{source}: no such file.")
    if os.path.isdir(source):
      raise UnusableImage(f"{source} is a folder, not an image.")
  else:
    raise UnusableImage(
        f"Cannot read an image from a {type(image).__name__}; give a path, "
        "bytes, a PIL image or an H x W x 3 uint8 array.")
  try:
    with Image.open(source) as im:
      check_size(im.width, im.height)
      if im.format == "PNG":
        if isinstance(source, io.BytesIO):
          complete = png_data_is_complete(source.getvalue())
        else:
          with open(source, "rb") as f:
            complete = png_data_is_complete(f.read())
        if not complete:
          raise UnusableImage(f"{name} could not be read: its image data "
                              "ends before the last row (truncated or "
                              "corrupt).")
      frames = getattr(im, "n_frames", 1)
      if frames > 1:
        raise UnusableImage(
            f"{name} is animated ({frames} frames); the codec codes still "
            "images. Save the frame you want as a PNG first.")
      im.load()
      return _from_pil(im, name, check_size)
  except UnusableImage:
    raise
  except UnidentifiedImageError:
    raise UnusableImage(f"{name} is not an image Pillow can read.")
  except (OSError, ValueError, SyntaxError) as e:
    raise UnusableImage(f"{name} could not be read: {e}")


def box_downscale(pixels, factor):
  """Averages factor x factor blocks (PIL's BOX filter), dropping the
  remainder rows and columns, as the training sets are made smaller."""
  if factor <= 1:
    return pixels
  h, w = pixels.shape[0] // factor, pixels.shape[1] // factor
  return np.asarray(Image.fromarray(pixels).resize((w, h),
                                                   Image.Resampling.BOX),
                    dtype=np.uint8)


def load_downscaled(path, downscale=1):
  """An image file as RGB uint8, box-downscaled by an integer factor."""
  return box_downscale(load(path), downscale)
