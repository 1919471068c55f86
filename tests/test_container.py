"""The container format: round trips, compactness, and refusing bad files."""

import dataclasses

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from compression import container, errors


def _container(width=100, height=70, iterations=3, seed=0):
  rng = np.random.default_rng(seed)
  h, w = container.code_map_size(width, height)
  bits = rng.integers(0, 2, (iterations, h, w, 32), np.uint8)
  return container.Container(model_id=1, width=width, height=height,
                             segments=container.pack_bits(bits)), bits


@settings(max_examples=30, deadline=None)
@given(width=st.integers(1, 300), height=st.integers(1, 300),
       iterations=st.integers(1, 16), model_id=st.integers(1, 100000))
def test_round_trip(width, height, iterations, model_id):
  c, bits = _container(width, height, iterations)
  c.model_id = model_id
  parsed = container.parse(c.to_bytes())
  assert parsed == c
  np.testing.assert_array_equal(
      container.unpack_bits(parsed.segments, width, height), bits)


def test_entropy_coded_segments_round_trip():
  c = container.Container(model_id=3, width=64, height=64,
                          segments=[b"abcd", b"\x01" * 4, b"\x00" * 300],
                          payload_type=container.ENTROPY_CODED, entropy_id=9)
  assert container.parse(c.to_bytes()) == c
  # Whole range-coder words, at least one: neither written nor read.
  for bad in (b"", b"abc"):
    with pytest.raises(errors.CodecError, match="32-bit words"):
      dataclasses.replace(c, segments=[bad]).to_bytes()


def test_thumbnail_header_is_small():
  c, _ = _container(32, 32, 1)
  report = c.size_report()
  assert report["header_bytes"] <= 12
  assert report["payload_bytes"] == 16 + 2  # 128 bits + segment CRC


def test_truncated_file_is_refused_and_truncate_makes_a_valid_one():
  c, _ = _container(iterations=4)
  data = c.to_bytes()
  with pytest.raises(errors.FormatError, match="truncated.*only 3"):
    container.parse(data[:-5])
  shorter = container.parse(c.truncated(2).to_bytes())
  assert shorter.iterations == 2 and shorter.segments == c.segments[:2]


@settings(max_examples=60, deadline=None)
@given(position=st.integers(0, 10**6), flip=st.integers(1, 255))
def test_any_corrupted_byte_is_refused(position, flip):
  data = bytearray(_container(40, 40, 2)[0].to_bytes())
  data[position % len(data)] ^= flip
  with pytest.raises(errors.FormatError):
    container.parse(bytes(data))


@pytest.mark.parametrize("data,message", [
    (b"", "magic"), (b"PNG\x89junk", "magic"), (b"RNC", "truncated"),
    (b"RNC\x07\x00", "version 7"), (b"RNC\x01\x80", "flags"),
])
def test_not_our_file(data, message):
  with pytest.raises(errors.FormatError, match=message):
    container.parse(data)


def test_version_error_is_its_own_type():
  with pytest.raises(errors.UnsupportedVersionError):
    container.parse(b"RNC\x04\x00\x01")


def _header(width, height, iterations):
  out = bytearray(b"RNC\x01\x00\x01")
  for v in (width, height, iterations):
    container._put_varint(out, v)
  out += container.crc16(out).to_bytes(2, "big")
  return bytes(out)


def test_absurd_dimensions_are_refused_before_allocating():
  with pytest.raises(errors.FormatError, match="over the limit"):
    container.parse(_header(10**9, 10**9, 1))
  with pytest.raises(errors.FormatError, match="Empty"):
    container.parse(_header(0, 5, 1))
  with pytest.raises(errors.FormatError, match="iterations"):
    container.parse(_header(32, 32, 10**6))


def test_trailing_bytes_are_refused():
  with pytest.raises(errors.FormatError, match="unexpected bytes"):
    container.parse(_container()[0].to_bytes() + b"x")
