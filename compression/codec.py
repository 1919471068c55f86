"""The codec object: one image network and its optional entropy engine.

In the shape of tensorflow/compression's bls2017 model and CompressAI's
CompressionModel: the object that holds the networks is the API.

  codec = registry.get("v1").codec
  data = codec.compress(pixels, iterations=8)   # container bytes
  image = codec.decompress(data)                # uint8 H x W x 3

The protocol every codec here follows (the released frozen graph too,
compression.reference.FrozenGraph):
  encode(pixels, iterations) -> uint8 {0,1} codes [n, h, w, 32]
  decode(codes, width, height, progressive=False) -> uint8 image(s)
  max_iterations
"""

import numpy as np

from compression import container, errors
from residual_gru import codes


class Codec:
  """A released image model with its entropy engine, if it has one."""

  def __init__(self, model_id, name, network, entropy=None):
    self.model_id = int(model_id)
    self.name = name
    self.network = network
    # (entropy id, IntegerBinaryRNN) or None
    self.entropy = entropy

  def __repr__(self):
    return f"Codec(model_id={self.model_id}, name={self.name!r})"

  @property
  def geometry(self):
    """Shape of the network's code maps (residual_gru.codes)."""
    config = getattr(self.network, "config", None)
    if config is None or not hasattr(config, "to_dict"):
      return codes.FULL_RESOLUTION
    return codes.geometry(config)

  @property
  def max_iterations(self):
    return self.network.config.iterations

  def check_iterations(self, iterations, what="iterations"):
    limit = self.max_iterations
    if isinstance(iterations, bool) or not isinstance(iterations,
                                                      (int, np.integer)):
      raise errors.CodecError(f"{what} must be a whole number, "
                              f"not {iterations!r}.")
    if not 1 <= iterations <= limit:
      raise errors.CodecError(f"{what} must be 1 to {limit} for this model, "
                              f"not {iterations}.")
    return int(iterations)

  # -- codes ------------------------------------------------------------------

  def encode(self, pixels, iterations):
    """uint8 H x W x 3 -> uint8 {0,1} codes [iterations, h, w, 32]."""
    bits, _ = self.network.compress(pixels, np.int32(iterations))
    return bits.numpy()

  def decode(self, bits, width, height, progressive=False):
    """Codes [n, h, w, 32] -> uint8 H x W x 3 (or [n, H, W, 3] if progressive)."""
    net = self.network
    fn = net.decompress_progressive if progressive else net.decompress
    return fn(np.asarray(bits, np.uint8), np.int32(height),
              np.int32(width)).numpy()

  # -- files ------------------------------------------------------------------

  def pack(self, bits, width, height, entropy_coding=None):
    """Codes [n, h, w, 32] -> file bytes, range coded when the model can."""
    if entropy_coding and self.entropy is None:
      raise errors.CodecError(f"Model {self.name} has no entropy coder.")
    if self.entropy is not None and entropy_coding is not False:
      from entropy_coder import coding
      entropy_id, engine = self.entropy
      if len(bits) <= engine.config.coded_layers:
        return container.Container(
            model_id=self.model_id, width=width, height=height,
            segments=coding.encode(engine, np.asarray(bits, np.uint8)),
            payload_type=container.ENTROPY_CODED,
            entropy_id=entropy_id).to_bytes()
    return container.Container(
        model_id=self.model_id, width=width, height=height,
        segments=container.pack_bits(bits),
        geometry=self.geometry).to_bytes()

  def unpack(self, c):
    """A parsed container -> codes [n, h, w, 32]."""
    if c.payload_type == container.RAW:
      return container.unpack_bits(c.segments, c.width, c.height,
                                   self.geometry)
    if self.entropy is None or self.entropy[0] != c.entropy_id:
      raise errors.UnknownModelError(
          f"The file is entropy coded with entropy model {c.entropy_id}, "
          f"which model {self.name} does not have.")
    from entropy_coder import coding
    h, w = container.code_map_size(c.width, c.height)
    try:
      return coding.decode(self.entropy[1], c.segments, h, w)
    except (ValueError, RuntimeError, AssertionError) as e:
      # constriction's range decoder asserts on data no encoder could write.
      raise errors.FormatError(f"The entropy-coded payload is invalid: {e}")

  def compress(self, pixels, iterations, entropy_coding=None):
    """uint8 H x W x 3 -> the bytes of a container file."""
    iterations = self.check_iterations(iterations)
    height, width = pixels.shape[:2]
    return self.pack(self.encode(pixels, iterations), width, height,
                     entropy_coding)

  def decompress(self, data, progressive=False):
    """Container bytes (or a parsed Container) -> uint8 image(s)."""
    c = data if isinstance(data, container.Container) else container.parse(
        data, lambda model_id: self.geometry)
    if c.model_id != self.model_id:
      raise errors.UnknownModelError(
          f"The file was made with model id {c.model_id}, not with "
          f"{self.name} (id {self.model_id}).")
    if c.iterations > self.max_iterations:
      raise errors.FormatError(
          f"The file holds {c.iterations} iterations; its model makes at "
          f"most {self.max_iterations}.")
    return self.decode(self.unpack(c), c.width, c.height, progressive)
