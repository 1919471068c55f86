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

import contextlib
import dataclasses
import os
import threading

import numpy as np

from compression import container, errors
from residual_gru import codes

# Memory that coding holds per pixel, for a network of channel multiplier
# 0.25 (v0, v1), scaled by the model's: the whole image's recurrent states
# at once, until tiled coding exists. Measured peak resident memory above
# the loaded model at 16 iterations: decoding 1.05 KB per pixel (256x256 and
# 512x512), encoding 0.7 KB; `rnn-codec speed` saw 1.9 KB for an encode and
# a decode of a Kodak image (BUILD-notes.md, "Memory"). 2 KB keeps a margin.
BYTES_PER_PIXEL = 2048
MEMORY_LIMIT_ENV = "RNN_CODEC_MEMORY_LIMIT_MB"


def memory_limit_mb():
  """What coding may use: $RNN_CODEC_MEMORY_LIMIT_MB, else the memory the
  system has available now (Linux's MemAvailable), else None (no check)."""
  value = os.environ.get(MEMORY_LIMIT_ENV)
  if value:
    try:
      return float(value)
    except ValueError:
      raise errors.CodecError(f"{MEMORY_LIMIT_ENV} must be a number of MB, "
                              f"not {value!r}.")
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) / 1024.0
  except OSError:
    pass
  return None


class Codec:
  """A released image model with its entropy engine, if it has one."""

  def __init__(self, model_id, name, network, entropy=None):
    self.model_id = int(model_id)
    self.name = name
    self.network = network
    # (entropy id, IntegerBinaryRNN) or None
    self.entropy = entropy
    self._progress_lock = threading.Lock()  # one progress hook at a time

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

  def memory_needed_mb(self, width, height):
    """Estimated memory to encode or decode a width x height image."""
    config = getattr(self.network, "config", None)
    scale = 1.0
    if config is not None and hasattr(config, "decoder_depth"):
      scale = config.decoder_depth(512) / 128.0  # 128 at multiplier 0.25
    return width * height * BYTES_PER_PIXEL * scale / 2**20

  def check_memory(self, width, height, what="Coding"):
    """Refuses, before anything is allocated, an image whose coding would
    not fit in memory_limit_mb()."""
    limit = memory_limit_mb()
    need = self.memory_needed_mb(width, height)
    if limit is not None and need > limit:
      raise errors.ImageTooLargeError(
          f"{what} a {width}x{height} image needs about {need:,.0f} MB of "
          f"memory; {limit:,.0f} MB are available (set {MEMORY_LIMIT_ENV} "
          "to change the limit, or code a smaller image).")

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

  @contextlib.contextmanager
  def _reporting(self, name, progress):
    """Yields the network's ``name`` function, or its reporting twin wired
    to ``progress(t)`` when one is asked for and the network has one."""
    net = self.network
    if progress is None or not hasattr(net, name + "_reporting"):
      yield getattr(net, name)
      return
    with self._progress_lock:
      net.progress = progress
      try:
        yield getattr(net, name + "_reporting")
      finally:
        net.progress = None

  def encode(self, pixels, iterations, progress=None):
    """uint8 H x W x 3 -> uint8 {0,1} codes [iterations, h, w, 32].

    ``progress(t)``, if given, is called as iteration t ends (the same bits).
    """
    self.check_memory(pixels.shape[1], pixels.shape[0], "Encoding")
    with self._reporting("compress", progress) as fn:
      bits, _ = fn(pixels, np.int32(iterations))
    return bits.numpy()

  def decode(self, bits, width, height, progressive=False, progress=None):
    """Codes [n, h, w, 32] -> uint8 H x W x 3 (or [n, H, W, 3] if progressive);
    ``progress(t)`` as in ``encode`` (single images only)."""
    self.check_memory(width, height, "Decoding")
    name = "decompress_progressive" if progressive else "decompress"
    with self._reporting(name, progress) as fn:
      return fn(np.asarray(bits, np.uint8), np.int32(height),
                np.int32(width)).numpy()

  # -- files ------------------------------------------------------------------

  def _uses_entropy(self, bits, entropy_coding):
    if entropy_coding and self.entropy is None:
      raise errors.CodecError(f"Model {self.name} has no entropy coder.")
    return (self.entropy is not None and entropy_coding is not False and
            len(bits) <= self.entropy[1].config.coded_layers)

  def _raw(self, bits, width, height):
    return container.Container(
        model_id=self.model_id, width=width, height=height,
        segments=container.pack_bits(bits), geometry=self.geometry)

  def entropy_coded(self, bits, width, height):
    """The range-coded Container of the codes, whatever its size (``pack``
    writes it only when it is smaller than raw)."""
    from entropy_coder import coding
    entropy_id, engine = self.entropy
    return container.Container(
        model_id=self.model_id, width=width, height=height,
        segments=coding.encode(engine, np.asarray(bits, np.uint8)),
        payload_type=container.ENTROPY_CODED, entropy_id=entropy_id)

  def pack(self, bits, width, height, entropy_coding=None):
    """Codes [n, h, w, 32] -> file bytes, range coded when the model can
    and that is smaller: never an entropy-coded file larger than raw."""
    raw = self._raw(bits, width, height).to_bytes()
    if not self._uses_entropy(bits, entropy_coding):
      return raw
    coded = self.entropy_coded(bits, width, height).to_bytes()
    return coded if len(coded) <= len(raw) else raw

  def file_sizes(self, bits, width, height, entropy_coding=None):
    """Bytes of the file ``pack`` writes for each prefix of the codes:
    [size with 1 iteration, ..., with len(bits)]. The range coder codes
    each iteration given the earlier ones only, so one encode of all of
    them gives every prefix's segments."""
    raw = self._raw(bits, width, height)
    sizes = [len(dataclasses.replace(raw, segments=raw.segments[:k])
                 .to_bytes()) for k in range(1, len(bits) + 1)]
    if self._uses_entropy(bits, entropy_coding):
      coded = self.entropy_coded(bits, width, height)
      for k in range(1, len(bits) + 1):
        prefix = dataclasses.replace(coded, segments=coded.segments[:k])
        sizes[k - 1] = min(sizes[k - 1], len(prefix.to_bytes()))
    return sizes

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

  def compress(self, pixels, iterations, entropy_coding=None, progress=None):
    """uint8 H x W x 3 -> the bytes of a container file."""
    iterations = self.check_iterations(iterations)
    height, width = pixels.shape[:2]
    return self.pack(self.encode(pixels, iterations, progress), width,
                     height, entropy_coding)

  def decompress(self, data, progressive=False, progress=None):
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
    self.check_memory(c.width, c.height, "Decoding")  # before entropy decoding
    return self.decode(self.unpack(c), c.width, c.height, progressive,
                       progress)
