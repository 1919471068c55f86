"""The codec's exception types: one family, each with a message a user can act on."""


class CodecError(Exception):
  """Base class of every error the codec raises on purpose."""


class InputError(CodecError):
  """The input image is missing, unreadable or not usable."""


class FormatError(CodecError):
  """The data is not a valid file of this codec (wrong magic, corrupt...)."""


class UnsupportedVersionError(FormatError):
  """The file was written by a newer version of the format."""


class UnknownModelError(CodecError):
  """The file names a model this installation does not have."""


class ImageTooLargeError(CodecError):
  """The image exceeds the documented pixel limit."""
