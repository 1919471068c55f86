"""Where an image network's codes live: the size of each iteration's code map.

Every network here codes an image as one binary map per iteration: the 2017
network one 32-bit vector per 16x16 block of the image padded to a multiple
of 32 (section 2 of the 2017 paper), the 2016 thumbnail networks 8 bits per
8x8 patch (fully connected) or ``bits`` per 4x4 block (convolutional), the
image padded to a multiple of 8 (section 4.1 of the 2016 paper). Files store
these maps packed, so the container needs the geometry to split a raw payload
into iterations. No TensorFlow here: reading a file's header needs none.

One vocabulary for an iteration's codes, in the image networks, the entropy
coder and the container alike:
  code map  one iteration's output of the binarizer, h x w positions of
            ``bits`` values each (its size: ``CodeGeometry.map_size``);
  bits      code maps as uint8 {0, 1}, [iterations, h, w, bits] (1 stands for
            +1): what ``compress`` returns and ``decompress`` takes;
  codes     the same values as +-1 floats, the paper's b_t, where a network
            reads them (the decoder, the entropy coder's BinaryRNN);
  segment   one iteration's code map packed into bytes (MSB first, or range
            coded) in a file. The reference's .npz and the SavedModel keep
            their published key "codes" for the packed form.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class CodeGeometry:
  block: int   # the image is padded to a multiple of this
  stride: int  # pixels per code position along each side
  bits: int    # bits per code position and iteration

  def map_size(self, width, height):
    """(h, w) of the code map of a width x height image."""
    return (-(-height // self.block) * self.block // self.stride,
            -(-width // self.block) * self.block // self.stride)

  def segment_bytes(self, width, height):
    """Bytes of one iteration's packed code map."""
    h, w = self.map_size(width, height)
    return -(-h * w * self.bits // 8)

  def nominal_bpp(self, iterations):
    """Bits per pixel of ``iterations`` iterations, padding aside."""
    return iterations * self.bits / float(self.stride * self.stride)


FULL_RESOLUTION = CodeGeometry(block=32, stride=16, bits=32)
THUMBNAIL_BLOCK = 8
THUMBNAIL_STRIDES = {"fc_residual": 8, "fc_lstm": 8, "conv_residual": 4,
                     "conv_lstm": 4, "conv_autoencoder": 4}


def geometry(model_config):
  """The CodeGeometry of a ModelConfig or its dict."""
  if not isinstance(model_config, dict):
    model_config = model_config.to_dict()
  architecture = model_config.get("architecture", "full_resolution")
  bits = int(model_config.get("bits", 32))
  if architecture == "full_resolution":
    return dataclasses.replace(FULL_RESOLUTION, bits=bits)
  return CodeGeometry(THUMBNAIL_BLOCK, THUMBNAIL_STRIDES[architecture], bits)
