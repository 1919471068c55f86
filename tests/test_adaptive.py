"""Spatially adaptive files (issue #16): the stop map's coding, format
version 3 (round trip, truncation, refusing bad maps), and the codec's
adaptive encode and decode."""

import dataclasses

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from compression import codec as codec_lib
from compression import container, errors, registry, stop_map
from tests.images import synthetic_image


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 12), cols=st.integers(1, 12),
       iterations=st.integers(1, 16), seed=st.integers(0, 1000),
       smooth=st.booleans())
def test_stop_maps_round_trip(rows, cols, iterations, seed, smooth):
  rng = np.random.default_rng(seed)
  values = rng.integers(1, iterations + 1, (rows, cols))
  if smooth:
    values[:] = values[0, 0]
  data = stop_map.encode(values, iterations)
  assert len(data) % 4 == 0
  np.testing.assert_array_equal(
      stop_map.decode(data, (rows, cols), iterations), values)


def test_a_smooth_map_costs_less_than_a_noisy_one():
  rng = np.random.default_rng(0)
  noisy = rng.integers(1, 17, (16, 24))
  smooth = np.repeat(np.arange(1, 17), 24).reshape(16, 24)
  assert len(stop_map.encode(smooth, 16)) * 4 < len(
      stop_map.encode(noisy, 16))
  with pytest.raises(ValueError):
    stop_map.encode(np.zeros((2, 2), int), 4)


def _adaptive(width=100, height=70, iterations=4, seed=0):
  """A version-3 container of random codes, every cell a random count."""
  rng = np.random.default_rng(seed)
  cells = container.map_cells(width, height, 2)
  stops = rng.integers(1, iterations + 1, cells)
  stops.flat[0] = iterations
  kept = container.positions_kept(stops, 2, width, height)
  h, w = container.code_map_size(width, height)
  bits = rng.integers(0, 2, (iterations, h, w, 32), np.uint8)
  bits *= (np.arange(iterations)[:, None, None] < kept)[..., None].astype(
      np.uint8)
  return container.Container(
      model_id=7, width=width, height=height,
      segments=container.pack_bits(bits, kept), stop_map=stops,
      map_block=2), bits


def test_version_3_round_trips_and_truncates():
  c, bits = _adaptive()
  data = c.to_bytes()
  assert data[3] == container.ADAPTIVE_VERSION
  parsed = container.parse(data)
  assert parsed == c and parsed != dataclasses.replace(
      c, stop_map=np.minimum(c.stop_map, 3))
  np.testing.assert_array_equal(parsed.stop_map, c.stop_map)
  assert parsed.segments == c.segments and parsed.map_block == 2
  np.testing.assert_array_equal(
      container.unpack_bits(parsed.segments, 100, 70, kept=parsed.kept()),
      bits)
  # fewer positions sent in later iterations: shorter segments
  lengths = [len(s) for s in c.segments]
  assert lengths == sorted(lengths, reverse=True) and lengths[-1] < lengths[0]
  short = container.parse(parsed.truncated(2).to_bytes())
  assert short.iterations == 2 and short.stop_map.max() == 2
  np.testing.assert_array_equal(short.stop_map, np.minimum(c.stop_map, 2))
  np.testing.assert_array_equal(
      container.unpack_bits(short.segments, 100, 70, kept=short.kept()),
      bits[:2])


def test_version_3_refuses_bad_maps():
  c, _ = _adaptive()
  with pytest.raises(errors.CodecError):
    dataclasses.replace(c, stop_map=c.stop_map * 0 + 1).to_bytes()
  with pytest.raises(errors.CodecError):
    dataclasses.replace(c, stop_map=c.stop_map[:, :-1]).to_bytes()
  with pytest.raises(errors.CodecError):
    dataclasses.replace(c, tile_size=64).to_bytes()
  data = bytearray(c.to_bytes())
  data[3] = 4
  with pytest.raises(errors.UnsupportedVersionError):
    container.parse(bytes(data))
  # a header claiming a map of more cells than a decoder walks
  huge = dataclasses.replace(c, width=4096, height=4096,
                             stop_map=np.ones((128, 128), int), segments=[])
  with pytest.raises(errors.CodecError):
    huge.to_bytes()


@settings(max_examples=60, deadline=None)
@given(position=st.integers(0, 10 ** 6), value=st.integers(0, 255))
def test_damaged_version_3_files_are_format_errors(position, value):
  c, _ = _adaptive(seed=3)
  data = bytearray(c.to_bytes())
  data[position % len(data)] = value
  try:
    container.parse(bytes(data))
  except errors.CodecError:
    pass


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
  return registry.get(tiny_model_dir).codec


def test_codec_adaptive_files_decode_to_what_the_network_decodes(tiny):
  image = synthetic_image(70, 100, seed=5)
  plan = tiny.adaptive_plan(image, 4)
  # a negative price: every cell sends everything, the uniform image
  data = tiny.compress_adaptive(image, 4, -1e9, plan=plan)
  c = container.parse(data)
  assert c.version == container.ADAPTIVE_VERSION and (c.stop_map == 4).all()
  np.testing.assert_array_equal(tiny.decompress(data),
                                tiny.decompress(tiny.compress(image, 4)))
  # a huge price: every cell keeps the iterations no cell may stop before
  floor = codec_lib.ADAPTIVE_MIN_ITERATIONS
  data = tiny.compress_adaptive(image, 4, 1e9, plan=plan)
  c = container.parse(data)
  assert c.iterations == floor and (c.stop_map == floor).all()
  data = tiny.compress_adaptive(image, 4, 1e9, plan=tiny.adaptive_plan(
      image, 4, min_iterations=1))
  assert (container.parse(data).stop_map == 1).all()
  bits, stops = tiny.encode_adaptive(image, 4, 0.1, plan=plan)
  data = tiny.pack(bits, 100, 70, stops=stops)
  c = container.parse(data)
  assert c.map_block == plan.map_block == 1  # 16x16 cells (MAP_BLOCKS)
  decoded = tiny.decompress(data)
  kept = container.positions_kept(stops, 1, 100, 70)
  want = tiny.network.decompress_adaptive(bits, kept, 70, 100).numpy()
  np.testing.assert_array_equal(decoded, want)
  frames = tiny.decompress(data, progressive=True)
  assert frames.shape == (len(bits), 70, 100, 3)
  np.testing.assert_array_equal(frames[-1], decoded)
  np.testing.assert_array_equal(
      tiny.decompress(c.truncated(1)), frames[0])



def test_api_adaptive_meets_its_targets(tiny_model_dir):
  import compression
  from compression import metrics
  image = synthetic_image(70, 100, seed=6)
  data = compression.compress(image, model=tiny_model_dir, target_bpp=1.0,
                              adaptive=True)
  assert data[3] == container.ADAPTIVE_VERSION
  assert 8 * len(data) / (70 * 100) <= 1.0
  decoded = compression.decompress(data, model=tiny_model_dir)
  target = metrics.msssim(image, decoded)
  data = compression.compress(image, model=tiny_model_dir,
                              target_msssim=target, adaptive=True)
  assert metrics.msssim(image, compression.decompress(
      data, model=tiny_model_dir)) >= target
  with pytest.raises(errors.CodecError, match="target"):
    compression.compress(image, model=tiny_model_dir, adaptive=True)
  with pytest.raises(errors.CodecError, match="below"):
    compression.compress(image, model=tiny_model_dir, target_bpp=0.01,
                         adaptive=True)


def test_stop_map_cells_are_the_finest_the_map_may_hold(tiny):
  """16x16-pixel cells up to stop_map.MAX_CELLS of them (a megapixel),
  then 32x32 and so on: finer cells saved more on Kodak (README step 5)."""
  from compression import stop_map
  assert stop_map.MAX_CELLS == 64 * 64
  assert tiny.map_block_for(100, 70) == 1
  assert tiny.map_block_for(1024, 1024) == 1
  assert tiny.map_block_for(1040, 1024) == 2
  assert tiny.map_block_for(2048, 2048) == 2
  assert tiny.map_block_for(2049, 2048) == 4
  assert tiny.map_block_for(1 << 14, 1 << 14) == codec_lib.MAP_BLOCKS[-1]


def test_adaptive_plan_is_the_lagrangian_allocation():
  """Each cell keeps the k maximising share(k) - lambda * bits(k): a cell
  whose second iteration gains little but whose third gains much is not
  stopped at one (what the greedy rule it replaced did), and a cell whose
  iterations cost little keeps more of them at the same price."""
  shares = np.array([[[0.80, 0.80]], [[0.81, 0.90]], [[0.95, 0.95]]])
  costs = np.array([[[100.0, 100.0]], [[100.0, 10.0]], [[100.0, 10.0]]])
  plan = codec_lib.AdaptivePlan(shares, costs)
  # cell 0: +0.15 over two iterations of 100 bits; cell 1: +0.15 for 20
  np.testing.assert_array_equal(plan.iterations(1e-4), [[3, 3]])
  np.testing.assert_array_equal(plan.iterations(1e-3), [[1, 3]])
  np.testing.assert_array_equal(plan.iterations(1.0), [[1, 1]])
  assert plan.predicted_bits(1e-3) == 100.0 + 120.0
  # with pixels per cell the multiplier is a slope per bit per pixel
  np.testing.assert_array_equal(codec_lib.AdaptivePlan(
      shares, costs, pixels_per_cell=10).iterations(1e-2), [[1, 3]])
  # no cell stops before min_iterations (capped at the iterations there are)
  at_least_two = codec_lib.AdaptivePlan(shares, costs, min_iterations=2)
  # (cell 0: past its second iteration's 200 bits, the third pays)
  np.testing.assert_array_equal(at_least_two.iterations(1e-3), [[3, 3]])
  np.testing.assert_array_equal(at_least_two.iterations(1.0), [[2, 2]])
  np.testing.assert_array_equal(codec_lib.AdaptivePlan(
      shares, costs, min_iterations=9).iterations(1.0), [[3, 3]])


def test_per_scale_plan_maximises_msssim_not_its_linear_shares():
  """With per-scale shares the plan weighs each scale by MS-SSIM's gradient
  at its own operating point. On small random problems (three cells, two
  scales, three iterations), checked against every allocation: it finds
  the allocation maximising cells * MS-SSIM - lambda * bits nearly always
  (the linear weighted shares miss it far more often, by far more)."""
  import itertools
  weights, cells = np.array([0.3, 0.7]), 3
  hits, regret = {"scale": 0, "linear": 0}, {"scale": 0.0, "linear": 0.0}
  for seed in range(100):
    rng = np.random.default_rng(seed)
    shares = np.minimum(
        np.array([0.2, 0.6])[None, :, None, None] +
        np.cumsum(rng.uniform(0.02, 0.3, (3, 2, 1, cells)), 0), 0.99)
    costs = rng.uniform(50, 150, (3, 1, cells))
    bits = np.cumsum(costs, 0)
    plans = {"scale": codec_lib.AdaptivePlan(shares, costs, 2, weights),
             "linear": codec_lib.AdaptivePlan(
                 np.tensordot(shares, weights, ([1], [0])), costs, 2)}

    def value(k, lam):
      means = np.take_along_axis(shares, k[None, None] - 1, 0)[0]
      msssim = np.prod(means.reshape(2, -1).mean(1) ** weights)
      return cells * msssim - lam * np.take_along_axis(bits, k[None] - 1,
                                                       0).sum()

    for lam in (1e-4, 3e-4, 1e-3):
      best = max(value(np.array(a).reshape(1, cells), lam)
                 for a in itertools.product((1, 2, 3), repeat=cells))
      for name, plan in plans.items():
        got = value(plan.iterations(lam), lam)
        hits[name] += bool(got >= best - 1e-12)
        regret[name] += best - got
  assert hits["scale"] >= 285 and hits["linear"] <= 270, hits
  assert regret["scale"] * 10 < regret["linear"], regret
  plan = plans["scale"]
  means = np.take_along_axis(shares, plan.iterations(1e-4)[None, None] - 1,
                             0)[0].reshape(2, -1).mean(1)
  assert plan.predicted_msssim(1e-4) == pytest.approx(
      np.prod(means ** weights))
  with pytest.raises(ValueError, match="scale weights"):
    codec_lib.AdaptivePlan(shares, costs)
