"""Every public function answers wrong types and values with a CodecError.

A property test: each argument of compress, decompress, truncate and info
is drawn from values of every kind (None, bools, ints of any size, floats
with nan and inf, strings, bytes, containers, arrays of other dtypes and
shapes), the others kept valid; the call must return normally or raise a
CodecError subclass, never another exception.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

import compression
from compression import errors

ANY = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.binary(max_size=40), st.lists(st.integers(0, 300), max_size=5),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([np.zeros((4, 4, 3), np.float32),
                     np.zeros((4, 4), np.uint8), np.zeros((0, 0, 3), np.uint8),
                     np.zeros((2, 2, 5), np.uint8), np.zeros(3, np.int64),
                     np.array("x"), object(), 1j, Ellipsis]))

_PIXELS = np.random.default_rng(0).integers(0, 256, (20, 24, 3), np.uint8)
_FILE = None


def _file():
  global _FILE
  if _FILE is None:
    _FILE = compression.compress(_PIXELS, 2)
  return _FILE


def _clean(call):
  try:
    call()
  except errors.CodecError:
    pass


SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    derandomize=True, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(value=ANY, which=st.sampled_from(
    ["image", "iterations", "model", "target_bpp", "target_msssim",
     "entropy_coding", "tile_size", "progress"]))
def test_compress_arguments(value, which):
  kwargs = {"image": _PIXELS, "iterations": 2}
  kwargs[which] = value
  if which.startswith("target") and value is not None:
    kwargs.pop("iterations")
  _clean(lambda: compression.compress(**kwargs))


@SETTINGS
@given(value=ANY, which=st.sampled_from(
    ["data", "iterations", "model", "progressive"]))
def test_decompress_arguments(value, which):
  kwargs = {"data": _file()}
  kwargs[which] = value
  _clean(lambda: compression.decompress(**kwargs))


@SETTINGS
@given(value=ANY, which=st.sampled_from(["data", "iterations", "model"]))
def test_truncate_arguments(value, which):
  kwargs = {"data": _file(), "iterations": 1}
  kwargs[which] = value
  _clean(lambda: compression.truncate(**kwargs))


@SETTINGS
@given(value=ANY, which=st.sampled_from(["data", "model"]))
def test_info_arguments(value, which):
  kwargs = {"data": _file()}
  kwargs[which] = value
  _clean(lambda: compression.info(**kwargs))


@pytest.mark.parametrize("path", ["a\0b", "\0", "x" * 5000])
def test_unusable_paths_are_input_errors(path):
  """Found by the property test: a NUL in a path made open() raise
  ValueError."""
  for call in (compression.decompress, compression.info,
               lambda p: compression.truncate(p, 1), compression.compress):
    with pytest.raises(errors.CodecError):
      call(path)
