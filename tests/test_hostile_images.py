"""Hostile and unusual input images: refused with one line, or converted as
README.md ("Input images") says; never decoded into garbage or wrapped."""

import io
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
from PIL import Image
import pytest

from compression import errors, images
from tests.images import synthetic_image


def _chunk(kind, data):
  return (struct.pack(">I", len(data)) + kind + data +
          struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_claiming(width, height, rows=4):
  """A PNG whose header claims width x height but holds only ``rows`` rows."""
  raw = b"".join(b"\0" + bytes(width * 3) for _ in range(rows))
  return (b"\x89PNG\r\n\x1a\n" +
          _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
          + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


def _encoded(fmt, size=(48, 32), **kw):
  buf = io.BytesIO()
  Image.fromarray(synthetic_image(size[1], size[0], seed=2)).save(
      buf, format=fmt, **kw)
  return buf.getvalue()


def test_png_bomb_headers_are_refused_before_decoding():
  t0 = time.perf_counter()
  with pytest.raises(errors.ImageTooLargeError, match="limit"):
    images.load(png_claiming(70000, 70000, rows=1))
  with pytest.raises(errors.ImageTooLargeError, match="limit"):
    images.load(png_claiming(100000, 10, rows=1))
  assert time.perf_counter() - t0 < 1


def test_jpeg_bomb_header_is_refused_before_decoding():
  data = bytearray(_encoded("JPEG"))
  sof = data.index(b"\xff\xc0")  # baseline frame header: height, width
  data[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)
  t0 = time.perf_counter()
  with pytest.raises(errors.ImageTooLargeError, match="limit"):
    images.load(bytes(data))
  assert time.perf_counter() - t0 < 1


def test_a_four_row_png_claiming_4096_squared_is_refused(tmp_path):
  """Pillow would fill the missing rows with zeros; the loader refuses."""
  with pytest.raises(errors.InputError, match="ends before the last row"):
    images.load(png_claiming(4096, 4096))
  path = tmp_path / "short.png"
  path.write_bytes(png_claiming(64, 48, rows=47))
  with pytest.raises(errors.InputError, match="ends before the last row"):
    images.load(str(path))
  path.write_bytes(png_claiming(64, 48, rows=48))  # complete: loads
  assert images.load(str(path)).shape == (48, 64, 3)


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "I;16", "1", "RGBA"])
def test_complete_pngs_of_every_layout_pass_the_row_check(mode):
  from residual_gru import images as loader
  im = Image.fromarray(synthetic_image(37, 29, seed=1)).convert(mode)
  buf = io.BytesIO()
  im.save(buf, format="PNG")
  assert loader.png_data_is_complete(buf.getvalue())
  assert not loader.png_data_is_complete(buf.getvalue()[:-30])


def _adam7_png(pixels, drop_last_pass_rows=0):
  """An interlaced (Adam7) 8-bit RGB PNG, written by hand (Pillow writes
  none), optionally missing rows of the last pass."""
  from residual_gru import images as loader
  h, w, _ = pixels.shape
  raw = b""
  for k, (x0, y0, dx, dy) in enumerate(loader._ADAM7):
    rows = [b"\0" + pixels[y, x0::dx].tobytes() for y in range(y0, h, dy)
            if w > x0]
    if k == 6 and drop_last_pass_rows:
      rows = rows[:-drop_last_pass_rows]
    raw += b"".join(rows)
  return (b"\x89PNG\r\n\x1a\n" +
          _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)) +
          _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


def test_interlaced_pngs_are_checked_pass_by_pass():
  pixels = synthetic_image(29, 37, seed=4)
  good = _adam7_png(pixels)
  np.testing.assert_array_equal(images.load(good), pixels)  # Pillow agrees
  with pytest.raises(errors.InputError, match="ends before the last row"):
    images.load(_adam7_png(pixels, drop_last_pass_rows=2))


@pytest.mark.slow
def test_cli_refuses_the_four_row_png_in_one_line_and_writes_nothing(tmp_path):
  bomb = tmp_path / "bomb.png"
  bomb.write_bytes(png_claiming(4096, 4096))
  out = tmp_path / "out.rnc"
  proc = subprocess.run([sys.executable, "-m", "compression", "encode",
                         str(bomb), "-o", str(out)], capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode != 0
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and str(bomb) in lines[0], proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr
  assert not out.exists()


@pytest.mark.parametrize("fmt,kw", [("PNG", {}), ("JPEG", {"quality": 90}),
                                    ("WEBP", {"quality": 80})])
def test_truncated_images_are_refused_not_decoded(fmt, kw):
  data = _encoded(fmt, size=(96, 64), **kw)
  for cut in (len(data) // 2, len(data) - 40):
    with pytest.raises(errors.InputError):
      images.load(data[:cut])


def test_corrupt_png_checksum_is_refused():
  data = bytearray(_encoded("PNG"))
  idat = data.index(b"IDAT")
  data[idat + 10] ^= 0xFF
  with pytest.raises(errors.InputError):
    images.load(bytes(data))


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animated_images_are_refused(fmt):
  frames = [Image.fromarray(synthetic_image(32, 32, seed=s)) for s in (1, 2)]
  buf = io.BytesIO()
  frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:])
  with pytest.raises(errors.InputError, match="animated"):
    images.load(buf.getvalue())
  single = io.BytesIO()
  frames[0].save(single, format=fmt)
  assert images.load(single.getvalue()).shape == (32, 32, 3)


def test_cmyk_jpeg_is_converted_to_rgb():
  buf = io.BytesIO()
  Image.new("CMYK", (24, 16), (0, 255, 255, 0)).save(buf, format="JPEG")
  pixels = images.load(buf.getvalue())
  assert pixels.shape == (16, 24, 3)
  assert pixels[..., 0].mean() > 200 and pixels[..., 1:].mean() < 60  # red


def test_palette_with_transparency_is_refused_only_when_used():
  im = Image.new("P", (8, 8), 0)
  im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
  im.putpixel((0, 0), 1)
  buf = io.BytesIO()
  im.save(buf, format="PNG", transparency=1)  # index 1 is transparent
  with pytest.raises(errors.InputError, match="transparent"):
    images.load(buf.getvalue())
  buf = io.BytesIO()
  im.save(buf, format="PNG", transparency=2)  # an unused index
  assert images.load(buf.getvalue())[0, 0].tolist() == [255, 0, 0]


def test_icc_profiles_leave_the_stored_pixels_as_they_are():
  """No colour management: the codec codes the stored values (README)."""
  from PIL import ImageCms
  profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
  pixels = synthetic_image(16, 16, seed=3)
  buf = io.BytesIO()
  Image.fromarray(pixels).save(buf, format="PNG", icc_profile=profile)
  np.testing.assert_array_equal(images.load(buf.getvalue()), pixels)
