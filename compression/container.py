"""The container file format (FORMAT.md): the one module that reads and writes it.

A file is a compact header followed by one segment per iteration, each with
its own CRC-16, so a prefix of segments is itself a complete coarser image
(``truncate``) and a damaged byte is caught rather than decoded into a wrong
picture.

  magic       3 bytes  b"RNC"
  version     1 byte   1 (one tile: the whole image) or 2 (tiled)
  flags       1 byte   bits 0-1 payload type (0 raw bits, 1 entropy coded);
                       bits 2-7 reserved, must be 0
  model_id    varint   which image model made the codes
  entropy_id  varint   only when the payload is entropy coded
  width       varint   original image width in pixels (>= 1)
  height      varint   original image height in pixels (>= 1)
  tile_size   varint   only in version 2: the side of the square tiles the
                       image was coded in, independently (a multiple of 32)
  iterations  varint   number of segments that follow (1..MAX_ITERATIONS)
  map_block   varint   only in version 3 (spatially adaptive): code
                       positions per side of a stop-map cell (1..8)
  map_length  varint   only in version 3: bytes of the coded stop map
  map         bytes    only in version 3: iterations each cell sent
                       (compression.stop_map; the largest is ``iterations``)
  lengths     varints  only when entropy coded: each segment's byte length
                       (a positive multiple of 4: whole range-coder words)
  header_crc  2 bytes  CRC-16/CCITT-FALSE of every header byte above
  segments    for each iteration: its bytes, then their CRC-16 (2 bytes)

A raw segment is the iteration's bits, shape [ceil(H/32)*2, ceil(W/32)*2, 32]
in row-major order, packed with numpy.packbits (most significant bit first;
bit 1 is code +1), so its length follows from the image size. The 2016
thumbnail networks' code maps have their own shape (residual_gru.codes:
the model id says which network, and so which geometry).

A spatially adaptive file (version 3, never tiled) stores in segment t
only the codes of the positions whose cell sent more than t iterations:
raw, their bits in row-major order of positions; entropy coded, the range
coder skips the other positions (entropy_coder.coding).

A tiled file (version 2) has the same segments: tiles are multiples of 32
pixels, so their code maps put side by side are exactly the whole image's
code map; each tile's codes were made (and are decoded) without its
neighbours, which bounds memory by the tile, not the image.
"""

import binascii
import dataclasses

import numpy as np

from compression import errors
from compression import stop_map as stop_map_lib
from residual_gru import codes

MAGIC = b"RNC"
VERSION = 1          # untiled files (every file before tiled coding)
TILED_VERSION = 2    # adds the tile_size field
ADAPTIVE_VERSION = 3  # adds the stop map (spatially adaptive bits)
VERSIONS = (VERSION, TILED_VERSION, ADAPTIVE_VERSION)
MAX_MAP_BLOCK = 8
# Tile sides are multiples of every network's padding block (32 and 8), so
# the tiles' code maps tile the image's code map exactly.
TILE_GRID = 32
RAW, ENTROPY_CODED = 0, 1
PAYLOAD_NAMES = {RAW: "raw", ENTROPY_CODED: "entropy-coded"}
MAX_ITERATIONS = 64
MAX_SIDE = 1 << 16
# 134 megapixels: tiled coding bounds the networks' memory by the tile; the
# image, its codes and the decoded pixels (about 8 bytes per pixel at 16
# iterations) are what grow with it (see README, "Limits").
MAX_PIXELS = 1 << 27
BITS = 32
FULL_RESOLUTION = codes.FULL_RESOLUTION


def crc16(data):
  """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF)."""
  return binascii.crc_hqx(bytes(data), 0xFFFF)


def code_map_size(width, height, geometry=FULL_RESOLUTION):
  """(h, w) of the code map: one 32-bit vector per 16x16 block, padded to 32
  (or the geometry of another network)."""
  return geometry.map_size(width, height)


def raw_segment_bytes(width, height, geometry=FULL_RESOLUTION):
  return geometry.segment_bytes(width, height)


def check_size(width, height):
  """Refuses sizes beyond the limits before anything is allocated."""
  if width < 1 or height < 1:
    raise errors.InputError(f"Empty image ({width}x{height}).")
  if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
    raise errors.ImageTooLargeError(
        f"A {width}x{height} image is over the limit of {MAX_PIXELS:,} "
        f"pixels ({MAX_SIDE} per side).")


def check_tile_size(tile_size):
  """0 (the whole image) or a positive multiple of TILE_GRID up to MAX_SIDE."""
  if isinstance(tile_size, bool) or not isinstance(tile_size,
                                                   (int, np.integer)):
    raise errors.CodecError(f"tile_size must be a whole number of pixels, "
                            f"not {tile_size!r}.")
  if tile_size and (tile_size < 0 or tile_size % TILE_GRID or
                    tile_size > MAX_SIDE):
    raise errors.CodecError(
        f"tile_size must be a multiple of {TILE_GRID} from {TILE_GRID} to "
        f"{MAX_SIDE} (or 0 for the whole image), not {tile_size}.")
  return int(tile_size)


def tiles(width, height, tile_size):
  """(x, y, w, h) of each tile in row-major order: one box, the whole
  image, when tile_size is 0 or the image fits in one tile."""
  if not tile_size:
    return [(0, 0, width, height)]
  return [(x, y, min(tile_size, width - x), min(tile_size, height - y))
          for y in range(0, height, tile_size)
          for x in range(0, width, tile_size)]


def _put_varint(out, value):
  if value < 0:
    raise ValueError("varints are unsigned")
  while True:
    byte = value & 0x7F
    value >>= 7
    out.append(byte | (0x80 if value else 0))
    if not value:
      return


class _Reader:
  """Reads header fields, turning running off the end into a FormatError."""

  def __init__(self, data):
    self.data = data
    self.pos = 0

  def take(self, n, what):
    if self.pos + n > len(self.data):
      raise errors.FormatError(f"The file ends inside its {what}: truncated.")
    chunk = self.data[self.pos:self.pos + n]
    self.pos += n
    return chunk

  def varint(self, what):
    value, shift = 0, 0
    while True:
      byte = self.take(1, what)[0]
      value |= (byte & 0x7F) << shift
      if not byte & 0x80:
        return value
      shift += 7
      if shift > 35:
        raise errors.FormatError(f"The {what} field is malformed.")


@dataclasses.dataclass
class Container:
  """A parsed file: header fields plus one bytes object per iteration."""
  model_id: int
  width: int
  height: int
  segments: list
  payload_type: int = RAW
  entropy_id: int = 0
  tile_size: int = 0   # 0: coded whole (version 1)
  # Not stored: the model id implies it (residual_gru.codes).
  geometry: codes.CodeGeometry = FULL_RESOLUTION
  # Spatially adaptive files (version 3): iterations each cell of
  # map_block x map_block code positions sent, int [cells down, across].
  stop_map: np.ndarray = None
  map_block: int = 0

  def __eq__(self, other):
    """Field by field; the stop map (an array) by its values."""
    if not isinstance(other, Container):
      return NotImplemented
    for field in dataclasses.fields(self):
      a, b = getattr(self, field.name), getattr(other, field.name)
      if field.name == "stop_map":
        if (a is None) != (b is None) or (
            a is not None and not np.array_equal(a, b)):
          return False
      elif a != b:
        return False
    return True

  @property
  def iterations(self):
    return len(self.segments)

  @property
  def version(self):
    if self.stop_map is not None:
      return ADAPTIVE_VERSION
    return TILED_VERSION if self.tile_size else VERSION

  def kept(self):
    """Iterations each code position sent, int32 [h, w] (None: all)."""
    if self.stop_map is None:
      return None
    return positions_kept(self.stop_map, self.map_block, self.width,
                          self.height, self.geometry)

  def header_bytes(self):
    out = bytearray(MAGIC)
    out.append(self.version)
    out.append(self.payload_type)
    _put_varint(out, self.model_id)
    if self.payload_type == ENTROPY_CODED:
      _put_varint(out, self.entropy_id)
    _put_varint(out, self.width)
    _put_varint(out, self.height)
    if self.tile_size:
      _put_varint(out, self.tile_size)
    _put_varint(out, self.iterations)
    if self.stop_map is not None:
      coded = stop_map_lib.encode(self.stop_map, self.iterations)
      _put_varint(out, self.map_block)
      _put_varint(out, len(coded))
      out += coded
    if self.payload_type == ENTROPY_CODED:
      for segment in self.segments:
        _put_varint(out, len(segment))
    out += crc16(out).to_bytes(2, "big")
    return bytes(out)

  def to_bytes(self):
    self._validate()
    out = bytearray(self.header_bytes())
    for segment in self.segments:
      out += segment
      out += crc16(segment).to_bytes(2, "big")
    return bytes(out)

  def truncated(self, iterations):
    """The same image cut to its first ``iterations`` segments."""
    if isinstance(iterations, bool) or not isinstance(iterations,
                                                      (int, np.integer)):
      raise errors.CodecError(f"iterations must be a whole number, not "
                              f"{iterations!r}.")
    if not 1 <= iterations <= self.iterations:
      raise errors.CodecError(
          f"Can keep 1 to {self.iterations} iterations, not {iterations}.")
    stops = (None if self.stop_map is None else
             np.minimum(self.stop_map, iterations))
    return dataclasses.replace(self, segments=self.segments[:iterations],
                               stop_map=stops)

  def size_report(self):
    header = len(self.header_bytes())
    total = len(self.to_bytes())
    return {"header_bytes": header, "payload_bytes": total - header,
            "total_bytes": total,
            "bpp": 8.0 * total / (self.width * self.height),
            "payload_bpp": 8.0 * (total - header) / (self.width * self.height)}

  def _validate(self):
    check_size(self.width, self.height)
    check_tile_size(self.tile_size)
    if not 1 <= self.iterations <= MAX_ITERATIONS:
      raise errors.CodecError(
          f"A file holds 1 to {MAX_ITERATIONS} iterations, not "
          f"{self.iterations}.")
    if self.stop_map is not None:
      if self.tile_size:
        raise errors.CodecError("A spatially adaptive file is not tiled.")
      check_stop_map(self.stop_map, self.map_block, self.width, self.height,
                     self.iterations, self.geometry)
    if self.payload_type == RAW:
      want = raw_segment_lengths(self.width, self.height, self.geometry,
                                 self.kept(), self.iterations)
      if [len(s) for s in self.segments] != want:
        raise errors.CodecError("Raw segments must be exactly the packed "
                                "code map of the image.")
    elif any(len(s) < 4 or len(s) % 4 for s in self.segments):
      raise errors.CodecError("Entropy-coded segments are whole 32-bit "
                              "words, at least one.")


def map_cells(width, height, map_block, geometry=FULL_RESOLUTION):
  """(rows, columns) of the stop map of an image."""
  h, w = code_map_size(width, height, geometry)
  return -(-h // map_block), -(-w // map_block)


def positions_kept(stops, map_block, width, height,
                   geometry=FULL_RESOLUTION):
  """A stop map -> iterations each code position sent, int32 [h, w]."""
  h, w = code_map_size(width, height, geometry)
  return np.repeat(np.repeat(np.asarray(stops, np.int32), map_block, 0),
                   map_block, 1)[:h, :w]


def check_stop_map(stops, map_block, width, height, iterations,
                   geometry=FULL_RESOLUTION):
  """A stop map fits the image and says which iterations the file holds."""
  if not 1 <= map_block <= MAX_MAP_BLOCK:
    raise errors.CodecError(f"A stop-map cell is 1 to {MAX_MAP_BLOCK} code "
                            f"positions across, not {map_block}.")
  stops = np.asarray(stops)
  if stops.shape != map_cells(width, height, map_block, geometry):
    raise errors.CodecError("The stop map does not fit the image.")
  if stops.size > stop_map_lib.MAX_CELLS:
    raise errors.CodecError(f"A stop map holds at most "
                            f"{stop_map_lib.MAX_CELLS} cells.")
  if stops.min() < 1 or stops.max() != iterations:
    raise errors.CodecError(f"Stop-map values must be 1..{iterations}, the "
                            f"largest {iterations}.")


def raw_segment_lengths(width, height, geometry=FULL_RESOLUTION, kept=None,
                        iterations=1):
  """Bytes of each raw segment: the packed codes of the positions sent."""
  if kept is None:
    return [raw_segment_bytes(width, height, geometry)] * iterations
  return [-(-int((kept > t).sum()) * geometry.bits // 8)
          for t in range(iterations)]


def parse(data, geometry_for=None):
  """bytes -> Container, or a FormatError saying what is wrong.

  ``geometry_for(model_id)`` gives the code geometry of the model a raw
  file names (default: the 2017 network's, that of every bundled model).
  """
  data = bytes(data)
  if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
    raise errors.FormatError("Not a file of this codec (bad magic bytes).")
  r = _Reader(data)
  r.take(len(MAGIC), "magic")
  version = r.take(1, "version")[0]
  if version not in VERSIONS:
    raise errors.UnsupportedVersionError(
        f"Format version {version} is not supported (this codec reads "
        f"versions {VERSION} to {ADAPTIVE_VERSION}); upgrade the codec.")
  flags = r.take(1, "flags")[0]
  payload_type = flags & 0x03
  if flags & ~0x03 or payload_type not in PAYLOAD_NAMES:
    raise errors.FormatError(f"Unknown flags 0x{flags:02x} in the header.")
  model_id = r.varint("model id")
  entropy_id = r.varint("entropy model id") if payload_type else 0
  width = r.varint("width")
  height = r.varint("height")
  tile_size = r.varint("tile size") if version == TILED_VERSION else 0
  iterations = r.varint("iteration count")
  # Check the size claims before reading (or allocating) anything else.
  try:
    check_size(width, height)
    if version == TILED_VERSION and not tile_size:
      raise errors.CodecError("a tiled file with tile size 0.")
    check_tile_size(tile_size)
  except errors.CodecError as e:
    raise errors.FormatError(f"The header is invalid: {e}")
  if not 1 <= iterations <= MAX_ITERATIONS:
    raise errors.FormatError(f"The header claims {iterations} iterations.")
  geometry = geometry_for(model_id) if geometry_for else FULL_RESOLUTION
  stops, map_block = None, 0
  if version == ADAPTIVE_VERSION:
    map_block = r.varint("stop-map cell size")
    if not 1 <= map_block <= MAX_MAP_BLOCK:
      raise errors.FormatError(f"The header claims stop-map cells of "
                               f"{map_block} code positions.")
    cells = map_cells(width, height, map_block, geometry)
    if cells[0] * cells[1] > stop_map_lib.MAX_CELLS:
      raise errors.FormatError(f"The header claims a stop map of "
                               f"{cells[0]}x{cells[1]} cells.")
    coded = r.take(r.varint("stop-map length"), "stop map")
    try:
      stops = stop_map_lib.decode(coded, cells, iterations)
      if stops.max() != iterations:
        raise errors.CodecError("no cell sent the last iteration.")
    except (stop_map_lib.StopMapError, errors.CodecError) as e:
      raise errors.FormatError(f"The stop map is invalid: {e}")
  if payload_type == RAW:
    kept = None if stops is None else positions_kept(
        stops, map_block, width, height, geometry)
    lengths = raw_segment_lengths(width, height, geometry, kept, iterations)
  else:
    lengths = [r.varint("segment length") for _ in range(iterations)]
    # The range coder writes whole 32-bit words, at least one for any code
    # map: an empty segment would let a few bytes claim a large image.
    if any(n < 4 or n % 4 for n in lengths):
      raise errors.FormatError("An entropy-coded segment length is not a positive "
                         "multiple of 4 bytes.")
  header_end = r.pos
  stored = int.from_bytes(r.take(2, "header checksum"), "big")
  if stored != crc16(data[:header_end]):
    raise errors.FormatError("The header is corrupted (checksum mismatch).")
  segments = []
  for i, length in enumerate(lengths):
    if r.pos + length + 2 > len(data):
      raise errors.FormatError(
          f"The file is truncated: the header promises {iterations} "
          f"iterations but only {i} are complete (use the `truncate` "
          f"command to make a valid shorter file).")
    segment = r.take(length, "segment")
    crc = int.from_bytes(r.take(2, "segment checksum"), "big")
    if crc != crc16(segment):
      raise errors.FormatError(
          f"Iteration {i + 1} is corrupted (checksum mismatch).")
    segments.append(segment)
  if r.pos != len(data):
    raise errors.FormatError(
        f"{len(data) - r.pos} unexpected bytes after the last iteration.")
  return Container(model_id=model_id, width=width, height=height,
                   segments=segments, payload_type=payload_type,
                   entropy_id=entropy_id, tile_size=tile_size,
                   geometry=geometry, stop_map=stops, map_block=map_block)


def pack_bits(bits, kept=None):
  """uint8 {0,1} [n, h, w, 32] -> one packed raw segment per iteration
  (with ``kept``, only the positions that sent iteration t)."""
  bits = np.asarray(bits, np.uint8)
  if kept is None:
    return [np.packbits(b.reshape(-1)).tobytes() for b in bits]
  return [np.packbits(b[kept > t].reshape(-1)).tobytes()
          for t, b in enumerate(bits)]


def unpack_bits(segments, width, height, geometry=FULL_RESOLUTION,
                kept=None):
  """Raw segments -> uint8 {0,1} [n, h, w, bits] (0 where not sent)."""
  h, w = code_map_size(width, height, geometry)
  out = np.zeros((len(segments), h, w, geometry.bits), np.uint8)
  for i, s in enumerate(segments):
    sent = np.ones((h, w), bool) if kept is None else kept > i
    out[i][sent] = np.unpackbits(
        np.frombuffer(s, np.uint8),
        count=int(sent.sum()) * geometry.bits).reshape(-1, geometry.bits)
  return out
