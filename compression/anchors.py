"""The one table of codecs: every codec the benchmarks run, ours among them.

One entry per codec holds what `rnn-codec eval`, `speed` and `thumbnails`
need of it: its knob grid for rate-distortion sweeps, the setting `speed`
times, how to encode and decode at a knob, and (for the 32x32 thumbnail
benchmark) the header-less size rule and knob grid. Encoders take an
H x W x 3 uint8 array and a knob and return (the encoded bytes, the decoded
H x W x 3 uint8 array), so bpp comes from real file sizes.

* jpeg: libjpeg through Pillow, 4:2:0 chroma, optimized Huffman tables.
* webp: libwebp through Pillow, lossy, method 4 (fixed).
* jpeg2000: OpenJPEG through Pillow, irreversible 9/7 wavelet, colour
  transform on, one quality layer at a target compression ratio.
* avif: libavif through Pillow, speed 6 (so a Kodak sweep stays short).
* jpegxl: libjxl through imagecodecs, by Butteraugli distance, effort 7.
* ours: the model's iterations; the codec object codes it (compression.codec),
  so its entry has no encode function, only its settings.

Header-less sizes for thumbnails, as the 2016 paper counts them:
* JPEG: the entropy-coded data between the end of the SOS segment and the
  EOI marker (standard Huffman tables, 4:2:0; the tables a decoder would
  need are the standard ones, so they are not counted).
* JPEG 2000 (raw J2K codestream): the bytes after the first SOD marker, up
  to the EOC marker; the rate knob is searched over 40 compression ratios.
* WebP: the VP8 chunk's payload minus its 10-byte key-frame header.
* Ours: the code bits only, 16 bytes per iteration (compression.thumbnails).
"""

import dataclasses
import io
from typing import Callable, Optional

import numpy as np
from PIL import Image

OURS = "ours"


def _pillow_bytes(image, fmt, **options):
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format=fmt, **options)
  return buf.getvalue()


def pillow_decode(data):
  with Image.open(io.BytesIO(data)) as im:
    return np.asarray(im.convert("RGB"))


def _pillow(image, fmt, **options):
  data = _pillow_bytes(image, fmt, **options)
  return data, pillow_decode(data)


def jpeg(image, quality):
  return _pillow(image, "JPEG", quality=int(quality), subsampling=2,
                 optimize=True)


def webp(image, quality):
  return _pillow(image, "WEBP", quality=int(quality), method=4)


def jpeg2000(image, bpp):
  ratio = 24.0 / float(bpp)
  return _pillow(image, "JPEG2000", quality_mode="rates",
                 quality_layers=[ratio], irreversible=True, mct=1)


def avif(image, quality):
  return _pillow(image, "AVIF", quality=int(quality), speed=6)


def jpegxl_decode(data):
  import imagecodecs
  return np.asarray(imagecodecs.jpegxl_decode(data))[..., :3]


def jpegxl(image, distance):
  import imagecodecs
  data = imagecodecs.jpegxl_encode(image, distance=float(distance), effort=7)
  return data, jpegxl_decode(data)


# Thumbnail encoders: bytes only; JPEG with the standard Huffman tables
# (their bytes are not counted) and JPEG 2000 as a raw codestream.
def jpeg_thumbnail(thumb, quality):
  return _pillow_bytes(thumb, "JPEG", quality=quality, subsampling=2)


def webp_thumbnail(thumb, quality):
  return _pillow_bytes(thumb, "WEBP", quality=quality, method=4)


def j2k_thumbnail(thumb, ratio):
  return _pillow_bytes(thumb, "JPEG2000", no_jp2=True, quality_mode="rates",
                       quality_layers=[ratio], irreversible=True, mct=1)


def jpeg_headerless(data):
  sos = data.index(b"\xff\xda")
  length = int.from_bytes(data[sos + 2:sos + 4], "big")
  end = data.rindex(b"\xff\xd9")
  return end - (sos + 2 + length)


def j2k_headerless(data):
  return data.rindex(b"\xff\xd9") - (data.index(b"\xff\x93") + 2)


def webp_headerless(data):
  pos = data.index(b"VP8 ")
  size = int.from_bytes(data[pos + 4:pos + 8], "little")
  return size - 10


@dataclasses.dataclass(frozen=True)
class Thumbnails:
  """How a codec is scored at a byte budget on 32x32 thumbnails."""
  encode: Callable  # (thumb, knob) -> bytes
  headerless_bytes: Callable  # bytes -> the bytes the paper counts
  knobs: tuple  # searched from the smallest files up


@dataclasses.dataclass(frozen=True)
class CodecEntry:
  name: str
  grid: tuple  # knobs of a rate-distortion sweep
  speed_settings: tuple  # what `rnn-codec speed` times
  code: Optional[Callable] = None  # (image, knob) -> (bytes, decoded)
  decode: Optional[Callable] = None  # bytes -> H x W x 3 uint8
  thumbnails: Optional[Thumbnails] = None


TABLE = {e.name: e for e in (
    # Ours sweeps its model's iterations, 1 to its maximum.
    CodecEntry(OURS, (), (2, 8, 16)),
    CodecEntry("jpeg", (1, 2, 3, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80,
                        85, 90, 95), (75,), jpeg, pillow_decode,
               Thumbnails(jpeg_thumbnail, jpeg_headerless,
                          tuple(range(1, 101)))),
    CodecEntry("webp", (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100),
               (75,), webp, pillow_decode,
               Thumbnails(webp_thumbnail, webp_headerless,
                          tuple(range(0, 101)))),
    # Target bits per pixel, turned into OpenJPEG's compression ratio; for
    # thumbnails the compression ratio itself, small files first.
    CodecEntry("jpeg2000", (0.08, 0.12, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.3,
                            1.7, 2.2, 2.8, 3.5), (0.5,), jpeg2000,
               pillow_decode,
               Thumbnails(j2k_thumbnail, j2k_headerless,
                          tuple(np.geomspace(400, 3, 40)))),
    CodecEntry("avif", (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100),
               (60,), avif, pillow_decode),
    CodecEntry("jpegxl", (25.0, 15.0, 10.0, 7.0, 5.0, 3.5, 2.5, 1.8, 1.2, 0.8,
                          0.5, 0.3), (1.5,), jpegxl, jpegxl_decode),
)}

ANCHORS = tuple(n for n in TABLE if n != OURS)
THUMBNAIL_CODECS = (OURS,) + tuple(n for n, e in TABLE.items()
                                   if e.thumbnails is not None)


def unknown(codecs, allowed=tuple(TABLE)):
  """A one-line complaint about names not in allowed, or None."""
  bad = sorted(set(codecs) - set(allowed))
  if bad:
    return f"Unknown codecs {bad}; choose from {', '.join(allowed)}."
  return None
