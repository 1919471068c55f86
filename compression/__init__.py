"""The codec users call: file format, Python API, CLI, metrics.

  import compression
  data = compression.compress("photo.png", iterations=8)
  image = compression.decompress(data)
"""

from compression.api import compress, decompress, info, truncate
from compression.errors import (CodecError, FormatError, ImageTooLargeError,
                                InputError, UnknownModelError,
                                UnsupportedVersionError)

__all__ = ["compress", "decompress", "info", "truncate", "CodecError",
           "FormatError", "ImageTooLargeError", "InputError",
           "UnknownModelError", "UnsupportedVersionError"]
