"""The Python API on a tiny user model: round trips, rate control, errors."""

import concurrent.futures
import io

import keras
import numpy as np
from PIL import Image
import pytest

import compression
from compression import container, errors, images, metrics, registry
from tests.images import synthetic_image


@pytest.fixture(scope="module")
def photo():
  return synthetic_image(50, 70, seed=1)


def test_round_trip_shape_and_size(photo, tiny_model_dir):
  data = compression.compress(photo, iterations=3, model=tiny_model_dir)
  info = compression.info(data)
  assert info["iterations"] == 3 and info["model_id"] == 1000
  assert (info["width"], info["height"]) == (70, 50)
  out = compression.decompress(data, model=tiny_model_dir)
  assert out.shape == photo.shape and out.dtype == np.uint8
  # Codes are exactly 1/8 bpp per iteration of the padded image.
  assert info["payload_bytes"] == 3 * (4 * 6 * 4 + 2)


def test_inputs_path_pil_array_agree(photo, tiny_model_dir, tmp_path):
  path = tmp_path / "p.png"
  Image.fromarray(photo).save(path)
  a = compression.compress(str(path), 2, model=tiny_model_dir)
  b = compression.compress(Image.fromarray(photo), 2, model=tiny_model_dir)
  c = compression.compress(photo, 2, model=tiny_model_dir)
  d = compression.compress(path.read_bytes(), 2, model=tiny_model_dir)
  assert a == b == c == d


def test_decoding_fewer_iterations_equals_truncating(photo, tiny_model_dir):
  data = compression.compress(photo, 4, model=tiny_model_dir)
  short = compression.truncate(data, 2)
  np.testing.assert_array_equal(
      compression.decompress(data, iterations=2, model=tiny_model_dir),
      compression.decompress(short, model=tiny_model_dir))
  np.testing.assert_array_equal(
      compression.decompress(short, model=tiny_model_dir),
      compression.decompress(compression.compress(photo, 2,
                                                  model=tiny_model_dir),
                             model=tiny_model_dir))


def test_target_bpp_picks_the_most_iterations_that_fit(photo, tiny_model_dir):
  for target in (0.5, 1.0, 1.7):
    data = compression.compress(photo, model=tiny_model_dir,
                                target_bpp=target)
    bpp = 8 * len(data) / (50 * 70)
    assert bpp <= target
    n = compression.info(data)["iterations"]
    if n < 4:
      more = compression.compress(photo, n + 1, model=tiny_model_dir)
      assert 8 * len(more) / (50 * 70) > target
  with pytest.raises(errors.CodecError, match="below one iteration"):
    compression.compress(photo, model=tiny_model_dir, target_bpp=0.01)


def test_target_msssim_picks_the_fewest_iterations(photo, tiny_model_dir):
  full = compression.compress(photo, 4, model=tiny_model_dir)
  every = compression.decompress(full, model=tiny_model_dir,
                                 progressive=True)
  scores = [metrics.msssim(photo, e) for e in every]
  target = scores[1] - 1e-9
  data = compression.compress(photo, model=tiny_model_dir,
                              target_msssim=target)
  want = next(k + 1 for k, s in enumerate(scores) if s >= target)
  assert compression.info(data)["iterations"] == want


def test_threads_give_the_same_bytes(photo, tiny_model_dir):
  one = compression.compress(photo, 3, model=tiny_model_dir)
  with concurrent.futures.ThreadPoolExecutor(4) as pool:
    many = list(pool.map(
        lambda _: compression.compress(photo, 3, model=tiny_model_dir),
        range(6)))
  assert all(m == one for m in many)


def test_float16_release_decodes_like_float32(photo, tmp_path):
  # A network whose float32 weights are not float16 values, saved both ways.
  from residual_gru import config as config_lib
  from residual_gru import model as model_lib
  keras.utils.set_random_seed(11)
  network = model_lib.RNNCompressionModel(config_lib.ModelConfig(
      channel_multiplier=0.125, iterations=4))
  f32 = registry.save_model_dir(network, str(tmp_path / "f32"), 1001, "f32",
                                dtype=np.float32)
  f16 = registry.save_model_dir(network, str(tmp_path / "f16"), 1002, "f16",
                                dtype=np.float16)
  w32 = f32.network.weights[0].numpy()
  w16 = f16.network.weights[0].numpy()
  assert not np.array_equal(w32, w16)  # the rounding is really there
  np.testing.assert_allclose(w16, w32, rtol=1e-3, atol=1e-4)
  a = compression.decompress(compression.compress(photo, 3, model=f32),
                             model=f32)
  b = compression.decompress(compression.compress(photo, 3, model=f16),
                             model=f16)
  assert abs(metrics.psnr(photo, a) - metrics.psnr(photo, b)) < 0.5


@pytest.mark.parametrize("bad", [
    np.zeros((0, 5, 3), np.uint8), np.zeros((5, 5, 3), np.float32),
    np.zeros((5, 5, 2), np.uint8), "no/such/file.png", 12,
])
def test_bad_images_raise_input_errors(bad, tiny_model_dir):
  with pytest.raises(errors.InputError):
    compression.compress(bad, 1, model=tiny_model_dir)


def test_bad_iterations(photo, tiny_model_dir):
  for bad in (0, 5, 2.5, True):
    with pytest.raises(errors.CodecError, match="iterations"):
      compression.compress(photo, bad, model=tiny_model_dir)
  data = compression.compress(photo, 2, model=tiny_model_dir)
  with pytest.raises(errors.CodecError, match="only 2"):
    compression.decompress(data, iterations=3, model=tiny_model_dir)


def test_unknown_model_is_a_clear_error(photo, tiny_model_dir):
  data = compression.compress(photo, 1, model=tiny_model_dir)
  with pytest.raises(errors.UnknownModelError, match="1000"):
    compression.decompress(data)  # not bundled, and no folder given
  c = container.parse(data)
  c.model_id = 999
  with pytest.raises(errors.UnknownModelError, match="999"):
    compression.decompress(c.to_bytes())


def _png(mode, size=(40, 30), **kw):
  im = Image.new(mode, size, **kw)
  buf = io.BytesIO()
  im.save(buf, format="TIFF" if mode == "CMYK" else "PNG")
  return buf.getvalue()


@pytest.mark.parametrize("mode,color", [
    ("L", 128), ("P", 3), ("I;16", 40000), ("CMYK", (0, 128, 255, 0)),
    ("RGBA", (10, 20, 30, 255)), ("LA", (100, 255)),
])
def test_image_modes_are_converted(mode, color):
  pixels = images.load(_png(mode, color=color))
  assert pixels.shape == (30, 40, 3) and pixels.dtype == np.uint8
  if mode == "I;16":
    assert pixels[0, 0, 0] == 40000 >> 8


@pytest.mark.parametrize("value", [70000, -5])
def test_32_bit_images_out_of_16_bit_range_are_refused_not_wrapped(value):
  im = Image.new("I", (8, 8), value)
  with pytest.raises(errors.InputError, match="8- and 16-bit"):
    images.load(im)


def test_write_errors_name_the_users_path(tmp_path):
  target = tmp_path / "missing_folder" / "out.rnc"
  with pytest.raises(OSError) as caught:
    images.write_atomic(str(target), b"x")
  assert caught.value.filename == str(target)


def test_transparent_images_are_refused():
  with pytest.raises(errors.InputError, match="transparent"):
    images.load(_png("RGBA", color=(1, 2, 3, 100)))


def test_exif_orientation_is_applied():
  im = Image.new("RGB", (40, 20), (200, 0, 0))
  exif = Image.Exif()
  exif[0x0112] = 6  # rotate 90 degrees on display
  buf = io.BytesIO()
  im.save(buf, format="JPEG", exif=exif.tobytes())
  assert images.load(buf.getvalue()).shape == (40, 20, 3)


def test_not_an_image_and_too_large(tmp_path):
  p = tmp_path / "x.png"
  p.write_text("hello")
  with pytest.raises(errors.InputError, match="not an image"):
    images.load(str(p))
  big = tmp_path / "big.png"
  Image.new("1", (12000, 12000)).save(big)  # 144 MP: over 2**27 pixels
  with pytest.raises(errors.ImageTooLargeError, match="limit"):
    images.load(str(big))


def test_write_atomic_leaves_nothing_on_failure(tmp_path):
  target = tmp_path / "out.bin"
  with pytest.raises(TypeError):
    images.write_atomic(str(target), object())
  assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_umask_mode(tmp_path):
  import os
  target = tmp_path / "out.bin"
  images.write_atomic(str(target), b"x")
  umask = os.umask(0)
  os.umask(umask)
  assert (target.stat().st_mode & 0o777) == 0o666 & ~umask


@pytest.mark.parametrize("call", [
    lambda d, m: compression.compress(d, model=m, target_bpp="1"),
    lambda d, m: compression.compress(d, model=m, target_msssim=-0.5),
    lambda d, m: compression.truncate(compression.compress(
        d, 2, model=m), 1.5),
])
def test_wrong_argument_types_are_codec_errors(call, photo, tiny_model_dir):
  with pytest.raises(errors.CodecError):
    call(photo, tiny_model_dir)


def test_target_bpp_counts_the_entropy_coded_sizes_it_writes():
  """With entropy coding the same budget buys more iterations, and the file
  written fits it; no entropy-coded file is larger than its raw form."""
  from compression import container, registry
  pixels = images.load(images.SAMPLE_IMAGE)[:64, :96]
  budget = 0.9
  raw = compression.compress(pixels, target_bpp=budget, entropy_coding=False)
  coded = compression.compress(pixels, target_bpp=budget)
  pixels_n = 64 * 96
  assert 8 * len(raw) / pixels_n <= budget and 8 * len(coded) / pixels_n <= budget
  assert compression.info(coded)["payload"] == "entropy-coded"
  assert compression.info(coded)["iterations"] > compression.info(raw)["iterations"]
  codec = registry.get(None).codec
  bits = codec.encode(pixels, 4)
  sizes = codec.file_sizes(bits, 96, 64)
  assert sizes == [len(codec.pack(bits[:k], 96, 64)) for k in range(1, 5)]
  # Noise does not compress: the coder's file would be larger, raw is written.
  noise = np.random.default_rng(1).integers(0, 2, bits.shape, np.uint8)
  packed = codec.pack(noise, 96, 64, entropy_coding=True)
  assert len(packed) <= len(codec.pack(noise, 96, 64, entropy_coding=False))
  assert container.parse(packed).payload_type == container.RAW


def test_progress_reports_every_iteration_and_changes_no_bit():
  """The reporting twins of compress/decompress run the same loop with a
  hook: identical bits and pixels, one call per iteration, in order."""
  from compression import registry
  codec = registry.get(None).codec
  pixels = images.load(images.SAMPLE_IMAGE)[:96, :128]
  seen = []
  report = lambda done, total: seen.append((done, total))
  bits = codec.encode(pixels, 5, progress=report)
  assert seen == [(t, 5) for t in range(1, 6)]
  np.testing.assert_array_equal(bits, codec.encode(pixels, 5))
  seen.clear()
  decoded = codec.decode(bits, 128, 96, progress=report)
  assert seen == [(t, 5) for t in range(1, 6)]
  np.testing.assert_array_equal(decoded, codec.decode(bits, 128, 96))
  assert codec.network.progress is None  # unhooked afterwards
  # In tiles: every iteration of every tile, counted over the whole image.
  seen.clear()
  codec.encode(pixels, 2, progress=report, tile_size=64)
  assert seen == [(t, 8) for t in range(1, 9)]


def test_the_api_prints_nothing_unless_asked(capsys):
  data = compression.compress(images.load(images.SAMPLE_IMAGE)[:64, :64], 3)
  compression.decompress(data)
  out, err = capsys.readouterr()
  assert out == "" and err == ""
  compression.decompress(data, progress=True)  # fast: under the 2 s delay
  with pytest.raises(errors.CodecError, match="True or False"):
    compression.decompress(data, progress="yes")
