"""Tiled coding: tiles' codes in their place of the image's code map, format
version 2, truncation, the automatic choice and the memory it bounds."""

import dataclasses

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

import compression
from compression import codec as codec_lib, container, errors, registry
from tests.images import synthetic_image


@pytest.fixture(scope="module")
def photo():
  return synthetic_image(70, 100, seed=3)  # 100 x 70: 2 x 2 tiles of 64


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
  return registry.get(tiny_model_dir).codec


@settings(max_examples=40, deadline=None)
@given(width=st.integers(1, 300), height=st.integers(1, 300),
       tile=st.sampled_from([32, 64, 96, 256]))
def test_tiles_cover_the_image_once_and_their_code_maps_tile_its_map(
    width, height, tile):
  covered = np.zeros((height, width), int)
  geometry = container.FULL_RESOLUTION
  map_h, map_w = geometry.map_size(width, height)
  cells = np.zeros((map_h, map_w), int)
  for x, y, w, h in container.tiles(width, height, tile):
    assert x % tile == 0 and y % tile == 0 and 0 < w <= tile and 0 < h <= tile
    covered[y:y + h, x:x + w] += 1
    th, tw = geometry.map_size(w, h)
    cells[y // 16:y // 16 + th, x // 16:x // 16 + tw] += 1
  assert (covered == 1).all() and (cells == 1).all()


def test_tiled_codes_are_each_tiles_own_codes_in_place(photo, tiny):
  bits = tiny.encode(photo, 3, tile_size=64)
  assert bits.shape == (3, 6, 8, 32)  # the whole image's code map
  corner = tiny.encode(photo[64:, 64:], 3)  # the 36 x 6 bottom-right tile
  np.testing.assert_array_equal(bits[:, 4:, 4:], corner)
  decoded = tiny.decode(bits, 100, 70, tile_size=64)
  k = codec_lib.BORDER_BLEND  # the border smoothing reaches k pixels in
  np.testing.assert_array_equal(decoded[64 + k:, 64 + k:],
                                tiny.decode(corner, 36, 6)[k:, k:])
  every = tiny.decode(bits, 100, 70, progressive=True, tile_size=64)
  assert every.shape == (3, 70, 100, 3)
  np.testing.assert_array_equal(every[-1], decoded)
  # Tiles do not see each other: the whole image codes differently.
  assert not np.array_equal(bits, tiny.encode(photo, 3))


def test_tiled_file_is_version_2_and_round_trips(photo, tiny,
                                                 tiny_model_dir):
  data = compression.compress(photo, 3, model=tiny_model_dir, tile_size=64)
  assert data[3] == container.TILED_VERSION
  info = compression.info(data)
  assert info["tile_size"] == 64
  # The same payload as untiled: the code map has the same shape.
  whole = compression.compress(photo, 3, model=tiny_model_dir, tile_size=0)
  assert whole[3] == container.VERSION
  assert info["payload_bytes"] == compression.info(whole)["payload_bytes"]
  out = compression.decompress(data, model=tiny_model_dir)
  np.testing.assert_array_equal(
      out, tiny.decode(tiny.encode(photo, 3, tile_size=64), 100, 70,
                       tile_size=64))
  # The progressive cut works on tiled files as on any other.
  cut = compression.truncate(data, 2, model=tiny_model_dir)
  assert compression.info(cut)["tile_size"] == 64
  np.testing.assert_array_equal(
      compression.decompress(cut, model=tiny_model_dir),
      compression.decompress(data, iterations=2, model=tiny_model_dir))


def test_one_tile_over_the_whole_image_is_the_untiled_file(photo,
                                                           tiny_model_dir):
  whole = compression.compress(photo, 2, model=tiny_model_dir, tile_size=0)
  for tile in (128, 512):
    assert compression.compress(photo, 2, model=tiny_model_dir,
                                tile_size=tile) == whole


def test_the_default_codes_small_images_whole_and_large_ones_in_tiles(
    photo, tiny, monkeypatch):
  assert tiny.tile_size_for(100, 70) == 0
  assert tiny.tile_size_for(6000, 4000) == codec_lib.DEFAULT_TILE_SIZE
  monkeypatch.setattr(codec_lib, "UNTILED_MAX_PIXELS", 50 * 50)
  monkeypatch.setattr(codec_lib, "DEFAULT_TILE_SIZE", 64)
  assert tiny.tile_size_for(100, 70) == 64
  # A small image that would not fit whole in the memory limit is tiled.
  monkeypatch.setattr(codec_lib, "UNTILED_MAX_PIXELS", 1 << 20)
  whole = tiny.memory_needed_mb(100, 70)
  monkeypatch.setenv(codec_lib.MEMORY_LIMIT_ENV, str(whole * 0.9))
  assert tiny.tile_size_for(100, 70) == 64


def test_tiles_bound_the_memory_estimate(monkeypatch):
  model = registry.get(None).codec
  whole = model.memory_needed_mb(6000, 4000)
  tiled = model.memory_needed_mb(6000, 4000, tile_size=512)
  assert whole > 20000 and tiled < 1000
  monkeypatch.setenv(codec_lib.MEMORY_LIMIT_ENV, "2000")
  with pytest.raises(errors.ImageTooLargeError, match="in tiles"):
    model.check_memory(6000, 4000, "Encoding")
  model.check_memory(6000, 4000, "Encoding", tile_size=512)


def test_entropy_coded_tiled_file_round_trips():
  """The bundled model's range coder codes the tiled code map whole."""
  image = synthetic_image(80, 112, seed=4)
  data = compression.compress(image, 3, tile_size=64, entropy_coding=True)
  c = container.parse(data)
  assert c.payload_type == container.ENTROPY_CODED and c.tile_size == 64
  codec = registry.get(None).codec
  bits = codec.encode(image, 3, tile_size=64)
  np.testing.assert_array_equal(codec.unpack(c), bits)
  np.testing.assert_array_equal(compression.decompress(data),
                                codec.decode(bits, 112, 80, tile_size=64))


@pytest.mark.parametrize("tile", [-32, 16, 33, 1 << 17, 1.5, True, "64"])
def test_bad_tile_sizes_are_refused(photo, tiny_model_dir, tile):
  with pytest.raises(errors.CodecError, match="tile_size"):
    compression.compress(photo, 2, model=tiny_model_dir, tile_size=tile)


def _tiled_header(tile_size):
  out = bytearray(b"RNC\x02\x00\x01")
  for v in (100, 70, tile_size, 1):
    container._put_varint(out, v)
  out += container.crc16(out).to_bytes(2, "big")
  return bytes(out)


@pytest.mark.parametrize("tile", [0, 31, 48, 1 << 20])
def test_a_version_2_header_with_a_bad_tile_size_is_refused(tile):
  with pytest.raises(errors.FormatError, match="header is invalid"):
    container.parse(_tiled_header(tile))


def test_container_round_trip_keeps_the_tile_size():
  h, w = container.code_map_size(100, 70)
  bits = np.ones((2, h, w, 32), np.uint8)
  c = container.Container(model_id=1, width=100, height=70,
                          segments=container.pack_bits(bits), tile_size=64)
  data = c.to_bytes()
  assert container.parse(data) == c
  untiled = dataclasses.replace(c, tile_size=0).to_bytes()
  assert data[3] == 2 and untiled[3] == 1
  assert len(data) == len(untiled) + 1  # one varint byte


def test_border_smoothing_touches_only_pixels_near_tile_borders():
  rng = np.random.default_rng(5)
  image = rng.integers(0, 256, (70, 100, 3), np.uint8)
  smoothed = codec_lib.smooth_tile_borders(image.copy(), 32)
  k = codec_lib.BORDER_BLEND
  near = np.zeros((70, 100), bool)
  for b in (32, 64, 96):
    near[max(0, b - k):b + k] = True
    near[:, max(0, b - k):b + k] = True
  np.testing.assert_array_equal(smoothed[~near], image[~near])
  assert (smoothed[near] != image[near]).mean() > 0.5
  # A flat image stays flat; a step at a border becomes a ramp.
  flat = np.full((64, 64, 3), 77, np.uint8)
  assert (codec_lib.smooth_tile_borders(flat.copy(), 32) == 77).all()
  step = np.zeros((64, 64, 3), np.uint8)
  step[32:] = 200
  column = codec_lib.smooth_tile_borders(step.copy(), 32)[:, 10, 0]
  assert column[28] == 0 and column[36] == 200
  assert 0 < column[31] < column[32] < 200 and np.all(np.diff(column) >= 0)
  # Progressive stacks are smoothed frame by frame; 0 means untiled.
  frames = codec_lib.smooth_tile_borders(np.stack([image, image]), 32)
  np.testing.assert_array_equal(frames[1], smoothed)
  np.testing.assert_array_equal(codec_lib.smooth_tile_borders(image, 0),
                                image)
