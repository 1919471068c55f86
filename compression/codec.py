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

from compression import container, errors, stop_map
from residual_gru import codes

# Memory that the network holds per pixel of what it codes at once (the
# whole image, or one tile), for a network of channel multiplier 0.25 (v0,
# v1), scaled by the model's. Measured peak resident memory above the loaded
# model at 16 iterations, 512x512 (`python runs/tiles/memory.py`): encoding
# 655 bytes per pixel, decoding 592, decoding every iteration's image 827
# (BUILD-notes.md, "Memory per pixel"). 1 KB keeps a margin.
BYTES_PER_PIXEL = 1024
# What grows with the whole image however it is tiled: the pixels in and
# out (3 + 3 bytes), the codes (iterations * bits / stride^2 / 8 bytes, 2 at
# 16 iterations), the tile being copied out, and a margin.
IMAGE_BYTES_PER_PIXEL = 12
MEMORY_LIMIT_ENV = "RNN_CODEC_MEMORY_LIMIT_MB"
# Images up to this many pixels are coded whole (version-1 files, every
# result and golden file from before tiled coding); larger ones in tiles of
# DEFAULT_TILE_SIZE (BUILD-notes.md, "Tiled coding": what the borders cost).
UNTILED_MAX_PIXELS = 1 << 20
DEFAULT_TILE_SIZE = 512
# Spatially adaptive files: code positions per side of a stop-map cell, the
# finest of these whose map has at most stop_map.MAX_CELLS cells (1: 16x16
# pixels, up to a megapixel; runs/adaptive/README.md, step 5: 16x16 cells
# saved 1.8 points of BD-rate more than 32x32 ones on Kodak).
MAP_BLOCKS = (1, 2, 4, 8)
# No cell of a spatially adaptive file stops before this many iterations: a
# cell stopped after the first decodes far below what the plan expected
# once its neighbours go on (runs/adaptive/README.md, step 4).
ADAPTIVE_MIN_ITERATIONS = 2


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


# Tile borders: each tile is coded as if it were a whole image, so both
# sides of a border carry the network's image-edge error and the step
# across it is about 2.7 times the image's (runs/tiles/seam.md). The decoder
# smooths the BORDER_BLEND rows (and columns) on each side of every tile
# border: it blends each pixel with a Gaussian (sigma BORDER_SIGMA) across
# the border, fully at the border and linearly less with distance
# (FORMAT.md, "Tiles"; BUILD-notes.md, "Tiled coding").
BORDER_BLEND = 3
BORDER_SIGMA = 1.5


def _border_kernel():
  radius = 3 * int(np.ceil(BORDER_SIGMA))
  taps = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * BORDER_SIGMA**2))
  return taps / taps.sum()


def smooth_tile_borders(image, tile_size):
  """Blends uint8 image [H, W, 3] (or [n, H, W, 3]) across the borders of
  its tile_size tiles, in place: rows first, then columns (image edges
  repeated where the Gaussian reaches past them)."""
  if not tile_size:
    return image
  taps = _border_kernel()
  offsets = np.arange(len(taps)) - len(taps) // 2
  k = BORDER_BLEND
  for axis in (-3, -2):  # rows, then columns
    n = image.shape[axis]
    view = np.moveaxis(image, axis, 0)  # the border's axis first
    for b in range(tile_size, n, tile_size):
      rows = np.arange(max(0, b - k), min(n, b + k))
      source = np.clip(rows[:, None] + offsets[None, :], 0, n - 1)
      smooth = np.einsum("t,rt...->r...", taps,
                         view[source].astype(np.float64))
      w = (1.0 - np.abs(rows - b + 0.5) / k).reshape(
          (-1,) + (1,) * (smooth.ndim - 1))
      blended = view[rows].astype(np.float64) * (1 - w) + smooth * w
      view[rows] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
  return image


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

  def memory_needed_mb(self, width, height, tile_size=0, frames=1):
    """Estimated memory to encode or decode a width x height image, whole
    or in tiles of tile_size (``frames`` decoded images kept: the
    progressive decode keeps one per iteration)."""
    config = getattr(self.network, "config", None)
    scale = 1.0
    if config is not None and hasattr(config, "decoder_depth"):
      scale = config.decoder_depth(512) / 128.0  # 128 at multiplier 0.25
    box = width * height
    if tile_size:
      box = min(tile_size, width) * min(tile_size, height)
    image = width * height * (IMAGE_BYTES_PER_PIXEL + 3 * (frames - 1))
    return (box * BYTES_PER_PIXEL * scale + image) / 2**20

  def check_memory(self, width, height, what="Coding", tile_size=0,
                   frames=1):
    """Refuses, before anything is allocated, an image whose coding would
    not fit in memory_limit_mb()."""
    limit = memory_limit_mb()
    need = self.memory_needed_mb(width, height, tile_size, frames)
    if limit is not None and need > limit:
      hint = "code a smaller image"
      if not tile_size:
        hint = "code it in tiles, or a smaller image"
      raise errors.ImageTooLargeError(
          f"{what} a {width}x{height} image needs about {need:,.0f} MB of "
          f"memory; {limit:,.0f} MB are available (set {MEMORY_LIMIT_ENV} "
          f"to change the limit, or {hint}).")

  def tile_size_for(self, width, height, tile_size=None):
    """The tile size to code an image with: ``tile_size`` if given (0: the
    whole image), else the whole image when it is small enough
    (UNTILED_MAX_PIXELS) and fits in memory, else DEFAULT_TILE_SIZE."""
    if tile_size is None:
      limit = memory_limit_mb()
      whole = width * height <= UNTILED_MAX_PIXELS and (
          limit is None or self.memory_needed_mb(width, height) <= limit)
      tile_size = 0 if whole else DEFAULT_TILE_SIZE
    else:
      tile_size = container.check_tile_size(tile_size)
    # One tile covering the image is the whole image (a version-1 file).
    return 0 if tile_size >= max(width, height) else tile_size

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
  def _reporting(self, name, progress, parts=1, iterations=1):
    """Yields a function running the network's ``name`` function once per
    tile, or its reporting twin wired to ``progress(done, total)`` when one
    is asked for and the network has one (``parts`` tiles of
    ``iterations`` each)."""
    net = self.network
    if progress is None or not hasattr(net, name + "_reporting"):
      yield getattr(net, name)
      return
    fn = getattr(net, name + "_reporting")
    total = parts * iterations
    finished = [0]  # tiles done

    def run(*args):
      result = fn(*args)
      finished[0] += 1
      return result

    with self._progress_lock:
      net.progress = lambda t: progress(finished[0] * iterations + t, total)
      try:
        yield run
      finally:
        net.progress = None

  def encode(self, pixels, iterations, progress=None, tile_size=0):
    """uint8 H x W x 3 -> uint8 {0,1} codes [iterations, h, w, bits], the
    whole image at once or tile by tile (each tile's codes made without its
    neighbours, in its place in the code map).

    ``progress(done, total)``, if given, is called as each iteration of
    each tile ends (the same bits).
    """
    height, width = pixels.shape[:2]
    self.check_memory(width, height, "Encoding", tile_size)
    boxes = container.tiles(width, height, tile_size)
    stride = self.geometry.stride
    out = None
    with self._reporting("compress", progress, len(boxes),
                         iterations) as run:
      for x, y, w, h in boxes:
        bits, _ = run(pixels[y:y + h, x:x + w], np.int32(iterations))
        if len(boxes) == 1:
          return bits.numpy()
        if out is None:
          map_h, map_w = self.geometry.map_size(width, height)
          out = np.empty((iterations, map_h, map_w, bits.shape[-1]),
                         np.uint8)
        out[:, y // stride:y // stride + bits.shape[1],
            x // stride:x // stride + bits.shape[2]] = bits.numpy()
    return out

  def decode(self, bits, width, height, progressive=False, progress=None,
             tile_size=0):
    """Codes [n, h, w, bits] -> uint8 H x W x 3 (or [n, H, W, 3] if
    progressive), tile by tile when the codes were made so; ``progress``
    as in ``encode``."""
    bits = np.asarray(bits, np.uint8)
    self.check_memory(width, height, "Decoding", tile_size,
                      len(bits) if progressive else 1)
    boxes = container.tiles(width, height, tile_size)
    stride = self.geometry.stride
    name = "decompress_progressive" if progressive else "decompress"
    shape = (len(bits), height, width, 3) if progressive else (height, width,
                                                                3)
    out = None
    with self._reporting(name, progress, len(boxes), len(bits)) as run:
      for x, y, w, h in boxes:
        map_h, map_w = self.geometry.map_size(w, h)
        part = bits[:, y // stride:y // stride + map_h,
                    x // stride:x // stride + map_w]
        pixels = run(part, np.int32(h), np.int32(w)).numpy()
        if len(boxes) == 1:
          return pixels
        if out is None:
          out = np.empty(shape, np.uint8)
        out[..., y:y + h, x:x + w, :] = pixels
    return smooth_tile_borders(out, tile_size)

  # -- files ------------------------------------------------------------------

  def _uses_entropy(self, bits, entropy_coding):
    if entropy_coding and self.entropy is None:
      raise errors.CodecError(f"Model {self.name} has no entropy coder.")
    return (self.entropy is not None and entropy_coding is not False and
            len(bits) <= self.entropy[1].config.coded_layers)

  def map_block_for(self, width, height):
    """Code positions per stop-map cell side for an image (MAP_BLOCKS)."""
    for block in MAP_BLOCKS:
      cells = container.map_cells(width, height, block, self.geometry)
      if cells[0] * cells[1] <= stop_map.MAX_CELLS:
        return block
    return MAP_BLOCKS[-1]

  def _stop_cells(self, stops, width, height, map_block):
    """(cell side, iterations each code position sent) of a stop map:
    (0, None) without one; the side ``map_block`` or ``map_block_for``."""
    if stops is None:
      return 0, None
    map_block = map_block or self.map_block_for(width, height)
    return map_block, container.positions_kept(stops, map_block, width,
                                               height, self.geometry)

  def _raw(self, bits, width, height, tile_size=0, stops=None,
           map_block=None):
    map_block, kept = self._stop_cells(stops, width, height, map_block)
    return container.Container(
        model_id=self.model_id, width=width, height=height,
        segments=container.pack_bits(bits, kept), geometry=self.geometry,
        tile_size=tile_size, stop_map=stops, map_block=map_block)

  def entropy_coded(self, bits, width, height, tile_size=0, stops=None,
                    map_block=None):
    """The range-coded Container of the codes, whatever its size (``pack``
    writes it only when it is smaller than raw). A tiled image's code map
    is coded whole, like any other: the BinaryRNN's context crosses tile
    borders, and its memory is that of the code map (1/256 of the pixels)."""
    from entropy_coder import coding
    entropy_id, engine = self.entropy
    map_block, kept = self._stop_cells(stops, width, height, map_block)
    return container.Container(
        model_id=self.model_id, width=width, height=height,
        segments=coding.encode(engine, np.asarray(bits, np.uint8), kept),
        payload_type=container.ENTROPY_CODED, entropy_id=entropy_id,
        tile_size=tile_size, stop_map=stops,
        map_block=map_block)

  def pack(self, bits, width, height, entropy_coding=None, tile_size=0,
           stops=None, map_block=None):
    """Codes [n, h, w, 32] -> file bytes, range coded when the model can
    and that is smaller: never an entropy-coded file larger than raw.
    ``tile_size``: the tiles ``encode`` made the codes in (0: whole);
    ``stops``: the stop map of spatially adaptive codes (``encode_adaptive``),
    one entry per ``map_block`` x ``map_block`` code positions (default:
    ``map_block_for`` the image)."""
    raw = self._raw(bits, width, height, tile_size, stops,
                    map_block).to_bytes()
    if not self._uses_entropy(bits, entropy_coding):
      return raw
    coded = self.entropy_coded(bits, width, height, tile_size, stops,
                               map_block).to_bytes()
    return coded if len(coded) <= len(raw) else raw

  def file_sizes(self, bits, width, height, entropy_coding=None,
                 tile_size=0):
    """Bytes of the file ``pack`` writes for each prefix of the codes:
    [size with 1 iteration, ..., with len(bits)]. The range coder codes
    each iteration given the earlier ones only, so one encode of all of
    them gives every prefix's segments."""
    raw = self._raw(bits, width, height, tile_size)
    sizes = [len(dataclasses.replace(raw, segments=raw.segments[:k])
                 .to_bytes()) for k in range(1, len(bits) + 1)]
    if self._uses_entropy(bits, entropy_coding):
      coded = self.entropy_coded(bits, width, height, tile_size)
      for k in range(1, len(bits) + 1):
        prefix = dataclasses.replace(coded, segments=coded.segments[:k])
        sizes[k - 1] = min(sizes[k - 1], len(prefix.to_bytes()))
    return sizes

  def unpack(self, c):
    """A parsed container -> codes [n, h, w, 32] (0 where not sent)."""
    if c.payload_type == container.RAW:
      return container.unpack_bits(c.segments, c.width, c.height,
                                   self.geometry, c.kept())
    if self.entropy is None or self.entropy[0] != c.entropy_id:
      raise errors.UnknownModelError(
          f"The file is entropy coded with entropy model {c.entropy_id}, "
          f"which model {self.name} does not have.")
    from entropy_coder import coding
    h, w = container.code_map_size(c.width, c.height, self.geometry)
    try:
      return coding.decode(self.entropy[1], c.segments, h, w, c.kept())
    except (ValueError, RuntimeError, AssertionError) as e:
      # constriction's range decoder asserts on data no encoder could write.
      raise errors.FormatError(f"The entropy-coded payload is invalid: {e}")

  def compress(self, pixels, iterations, entropy_coding=None, progress=None,
               tile_size=None):
    """uint8 H x W x 3 -> the bytes of a container file (``tile_size``: as
    ``tile_size_for`` chooses)."""
    iterations = self.check_iterations(iterations)
    height, width = pixels.shape[:2]
    tile_size = self.tile_size_for(width, height, tile_size)
    return self.pack(self.encode(pixels, iterations, progress, tile_size),
                     width, height, entropy_coding, tile_size)

  def adaptive_plan(self, pixels, iterations, progress=None,
                    map_block=None, raw_costs=False,
                    min_iterations=ADAPTIVE_MIN_ITERATIONS, first_pass=None):
    """The first pass of spatially adaptive coding (issue #16): the image
    coded uniformly once -> an AdaptivePlan of every stop-map cell's
    rate-quality curve. A plan serves every multiplier, so a search for a
    target rate or quality runs the first pass once. ``map_block``: code
    positions per cell side (default ``map_block_for`` the image);
    ``raw_costs``: price every code bit at 1 bit even when the model has an
    entropy coder (a measurement's baseline); ``min_iterations``: no cell
    stops before it; ``first_pass``: (codes, every prefix's image) of the
    uniform coding, when the caller has them already."""
    if not hasattr(self.network, "compress_adaptive"):
      raise errors.CodecError(f"Model {self.name} cannot code adaptively "
                              f"(a 2016 thumbnail network).")
    from residual_gru import metrics  # noqa: PLC0415 (scipy, only here)
    height, width = pixels.shape[:2]
    map_block = map_block or self.map_block_for(width, height)
    cells = container.map_cells(width, height, map_block, self.geometry)
    if cells[0] * cells[1] > stop_map.MAX_CELLS:
      raise errors.ImageTooLargeError(
          f"Adaptive coding takes images up to {stop_map.MAX_CELLS} cells "
          f"of a stop map; this one has {cells[0] * cells[1]} (cells of "
          f"{16 * map_block}x{16 * map_block} pixels).")
    if first_pass is None:
      # the first pass holds every iteration's image
      self.check_memory(width, height, "Encoding", 0, iterations)
      bits = np.asarray(self.encode(pixels, iterations, progress))
      every = self.decode(bits, width, height, progressive=True)
    else:
      bits, every = np.asarray(first_pass[0])[:iterations], first_pass[1]
    shares = np.stack([metrics.msssim_shares(pixels, image, 16 * map_block,
                                             per_scale=True)
                       for image in every[:len(bits)]])
    # Cells of the code map's padding alone (the network codes images in
    # multiples of its stride) gain nothing from any iteration: they stop
    # as soon as cells may.
    shares = np.pad(shares, ((0, 0), (0, 0), (0, cells[0] - shares.shape[2]),
                             (0, cells[1] - shares.shape[3])),
                    constant_values=1.0)
    if self._uses_entropy(bits, None) and not raw_costs:
      from entropy_coder import coding  # noqa: PLC0415
      costs = coding.position_costs(self.entropy[1], bits)
    else:
      costs = np.full(bits.shape[:3], float(bits.shape[3]))
    return AdaptivePlan(shares, _cell_sums(costs, cells, map_block),
                        map_block, metrics.MSSSIM_WEIGHTS, min_iterations,
                        pixels_per_cell=width * height / (cells[0] * cells[1]))

  def encode_adaptive(self, pixels, iterations, multiplier, progress=None,
                      plan=None):
    """Spatially adaptive codes (issue #16) -> (codes, stop map): every
    cell of the stop map (``plan.map_block`` code positions a side) sends the
    iterations ``plan.iterations(multiplier)`` gives it (``plan``: from
    ``adaptive_plan``, made here if not given), coded in a second pass
    where stopped cells hold their image."""
    if plan is None:
      plan = self.adaptive_plan(pixels, iterations)
    report = None if progress is None else (
        lambda t: progress(t, iterations))
    block = plan.map_block
    bits, kept = self.network.compress_adaptive(
        pixels, np.minimum(plan.iterations(multiplier), iterations),
        block=block, progress=report)
    return bits, kept[::block, ::block]

  def compress_adaptive(self, pixels, iterations, multiplier,
                        entropy_coding=None, progress=None, plan=None):
    """uint8 H x W x 3 -> the bytes of a spatially adaptive file."""
    iterations = self.check_iterations(iterations)
    height, width = pixels.shape[:2]
    if plan is None:
      plan = self.adaptive_plan(pixels, iterations)
    bits, stops = self.encode_adaptive(pixels, iterations, multiplier,
                                       progress, plan)
    return self.pack(bits, width, height, entropy_coding, 0, stops,
                     plan.map_block)

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
    # Before entropy decoding:
    self.check_memory(c.width, c.height, "Decoding", c.tile_size,
                      c.iterations if progressive else 1)
    if c.stop_map is not None:
      return self._decode_adaptive(c, progressive)
    return self.decode(self.unpack(c), c.width, c.height, progressive,
                       progress, c.tile_size)

  def _decode_adaptive(self, c, progressive):
    """A version-3 file -> image (progressive: the image of every prefix,
    each decoded on its own)."""
    if not hasattr(self.network, "decompress_adaptive"):
      raise errors.FormatError(f"Model {self.name} has no adaptive decoder.")
    bits, kept = self.unpack(c), c.kept()
    h, w = np.int32(c.height), np.int32(c.width)
    if not progressive:
      return self.network.decompress_adaptive(bits, kept, h, w).numpy()
    return np.stack([self.network.decompress_adaptive(
        bits[:k], np.minimum(kept, k), h, w).numpy()
                     for k in range(1, len(bits) + 1)])


def _cell_sums(values, cells, map_block):
  """[n, h, w] per code position -> sums over stop-map cells [n, *cells]."""
  n, h, w = values.shape
  padded = np.zeros((n, cells[0] * map_block, cells[1] * map_block))
  padded[:, :h, :w] = values
  return padded.reshape(n, cells[0], map_block, cells[1], map_block).sum(
      (2, 4))


class AdaptivePlan:
  """Every stop-map cell's rate-quality curve, from uniform coding.

  ``costs[k - 1]``: the bits each cell's codes of iteration k cost (the
  entropy model's -log2 P of each bit, else 32 per code position).
  ``shares[k - 1]``: each cell's block means of MS-SSIM's maps after k
  iterations, per scale ([K, scales, cells down, across],
  ``metrics.msssim_shares(per_scale=True)``, with ``scale_weights`` the
  MS-SSIM exponents), or one weighted share per cell ([K, cells down,
  across]). For a multiplier lambda each cell keeps the k that maximises
  gain(k) - lambda * (bits of its first k iterations): the Lagrangian
  allocation on the convex hull of every cell's curve (runs/adaptive/
  README.md, step 3: it beat stopping a cell the first time one iteration
  gained little, and pricing iterations in entropy-coded bits beat raw
  bits). With per-scale shares, gain is MS-SSIM's gradient at the plan's
  own operating point: MS-SSIM = prod_s M_s ** w_s over the scales' mean
  maps, so a cell's means count w_s * MS-SSIM / M_s each, not w_s (the
  linear shares overvalue coarse scales at low rates, where the fine
  scales' M_s are far below 1: step 4). The operating point is found by
  iterating allocation and gradient to a fixed point.

  ``pixels_per_cell`` (what ``RNNCompressionModel.adaptive_plan`` passes)
  makes the multiplier a slope of the image's MS-SSIM per bit per pixel: a
  cell's gain counts 1/cells of the image's MS-SSIM and its bits
  1/pixels of its bpp, so one multiplier means one slope at any image and
  cell size (on Kodak, 3e-3 keeps about 14 of 16 iterations, 2.6 the floor).
  """

  FIXED_POINT_ROUNDS = 8

  def __init__(self, shares, costs, map_block=1, scale_weights=None,
               min_iterations=1, pixels_per_cell=1.0):
    self.pixels_per_cell = float(pixels_per_cell)
    self.shares = np.asarray(shares, np.float64)
    self.min_iterations = int(min(min_iterations, len(self.shares)))
    self.cumulative_bits = np.cumsum(np.asarray(costs, np.float64), 0)
    self.map_block = map_block
    self.scale_weights = (None if scale_weights is None else
                          np.asarray(scale_weights, np.float64))
    if (self.scale_weights is None) != (self.shares.ndim == 3):
      raise ValueError("Per-scale shares need their scale weights, and only "
                       "they take them.")

  def _best(self, gains, multiplier):
    objective = gains - (multiplier / self.pixels_per_cell) * \
        self.cumulative_bits
    objective[:self.min_iterations - 1] = -np.inf
    return (objective.argmax(0) + 1).astype(np.int32)

  def _scale_means(self, k):
    """Each scale's mean map over the cells when cell c keeps k[c]."""
    chosen = np.take_along_axis(self.shares, k[None, None] - 1, 0)[0]
    return np.maximum(chosen.reshape(chosen.shape[0], -1).mean(1), 1e-3)

  def iterations(self, multiplier):
    """Iterations per cell (int32 [cells down, across], 1..n)."""
    if self.scale_weights is None:
      return self._best(self.shares, multiplier)
    w = self.scale_weights
    k = self._best(np.tensordot(self.shares, w, ([1], [0])), multiplier)
    for _ in range(self.FIXED_POINT_ROUNDS):
      means = self._scale_means(k)
      gradient = np.prod(means ** w) * w / means
      new_k = self._best(np.tensordot(self.shares, gradient, ([1], [0])),
                         multiplier)
      if np.array_equal(new_k, k):
        break
      k = new_k
    return k

  def predicted_msssim(self, multiplier):
    """MS-SSIM the plan expects at this multiplier (the product over scales
    of the chosen cells' mean maps; per-scale shares only)."""
    means = self._scale_means(self.iterations(multiplier))
    return float(np.prod(means ** self.scale_weights))

  def predicted_bits(self, multiplier):
    """What the first pass says the cells' codes cost at this multiplier."""
    k = self.iterations(multiplier)
    return float(np.take_along_axis(self.cumulative_bits, k[None] - 1,
                                    0).sum())
