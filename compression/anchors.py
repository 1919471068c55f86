"""The codecs we compare against, each swept over a fixed grid of its knob.

Every function takes an H x W x 3 uint8 array and a knob value and returns
(the encoded bytes, the decoded H x W x 3 uint8 array), so bpp comes from
real file sizes.

* jpeg: libjpeg through Pillow, 4:2:0 chroma, optimized Huffman tables.
* webp: libwebp through Pillow, lossy, method 4 (fixed).
* jpeg2000: OpenJPEG through Pillow, irreversible 9/7 wavelet, colour
  transform on, one quality layer at a target compression ratio.
* avif: libavif through Pillow, speed 6 (so a Kodak sweep stays short).
* jpegxl: libjxl through imagecodecs, by Butteraugli distance, effort 7.
"""

import io

import numpy as np
from PIL import Image

GRIDS = {
    "jpeg": [1, 2, 3, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 85, 90, 95],
    "webp": [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100],
    # Target bits per pixel, turned into OpenJPEG's compression ratio.
    "jpeg2000": [0.08, 0.12, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.3, 1.7, 2.2,
                 2.8, 3.5],
    "avif": [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100],
    "jpegxl": [25.0, 15.0, 10.0, 7.0, 5.0, 3.5, 2.5, 1.8, 1.2, 0.8, 0.5, 0.3],
}


def _pillow(image, fmt, **options):
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format=fmt, **options)
  data = buf.getvalue()
  with Image.open(io.BytesIO(data)) as im:
    return data, np.asarray(im.convert("RGB"))


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


def jpegxl(image, distance):
  import imagecodecs
  data = imagecodecs.jpegxl_encode(image, distance=float(distance), effort=7)
  return data, np.asarray(imagecodecs.jpegxl_decode(data))[..., :3]


CODECS = {"jpeg": jpeg, "webp": webp, "jpeg2000": jpeg2000, "avif": avif,
          "jpegxl": jpegxl}
