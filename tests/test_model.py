"""The codec network: Figure 1's shapes, exact decoding, any image size, export."""

import functools
import json
import os

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
import tensorflow as tf

from residual_gru import config as config_lib
from residual_gru import frameworks
from residual_gru import model as model_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CELLS = ["gru", "residual_gru", "lstm", "associative_lstm"]


@functools.lru_cache(maxsize=None)
def tiny_model(cell="residual_gru", framework="one_shot"):
  return model_lib.RNNCompressionModel(config_lib.ModelConfig(
      cell=cell, framework=framework, channel_multiplier=0.125, iterations=3))


def _image(h, w, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


@pytest.mark.parametrize("framework", frameworks.NAMES)
@pytest.mark.parametrize("cell", CELLS)
def test_decode_equals_encoder_reconstruction_bit_for_bit(cell, framework):
  model = tiny_model(cell, framework)
  image = _image(40, 72)
  bits, recon = model.compress(image, 3)
  assert bits.dtype == tf.uint8 and bits.shape == (3, 4, 6, 32)
  assert set(np.unique(bits.numpy())) <= {0, 1}
  decoded = model.decompress(bits, 40, 72)
  assert decoded.dtype == tf.uint8
  np.testing.assert_array_equal(decoded.numpy(),
                                model_lib.pixels_to_uint8(recon).numpy())


@settings(max_examples=12, deadline=None)
@given(h=st.integers(1, 70), w=st.integers(1, 70))
def test_any_image_size_round_trips(h, w):
  model = tiny_model()
  bits, recon = model.compress(_image(h, w, h * 100 + w), 2)
  assert bits.shape == (2, -(-h // 32) * 2, -(-w // 32) * 2, 32)
  assert recon.shape == (h, w, 3)
  np.testing.assert_array_equal(model.decompress(bits, h, w).numpy(),
                                model_lib.pixels_to_uint8(recon).numpy())


def test_a_prefix_of_iterations_decodes_to_the_shorter_encoding():
  model = tiny_model("gru", "additive")
  image = _image(33, 31, 5)
  bits, _ = model.compress(image, 3)
  bits2, recon2 = model.compress(image, 2)
  np.testing.assert_array_equal(bits[:2].numpy(), bits2.numpy())
  recon2 = model_lib.pixels_to_uint8(recon2).numpy()
  np.testing.assert_array_equal(model.decompress(bits[:2], 33, 31).numpy(),
                                recon2)
  every = model.decompress_progressive(bits, 33, 31).numpy()
  assert every.shape == (3, 33, 31, 3)
  np.testing.assert_array_equal(every[1], recon2)


def test_padding_replicates_edges():
  x = tf.reshape(tf.range(6.0), (1, 2, 3, 1))
  padded = model_lib.pad_to_block(x, 4).numpy()[0, ..., 0]
  np.testing.assert_array_equal(padded, [[0, 1, 2, 2], [3, 4, 5, 5],
                                         [3, 4, 5, 5], [3, 4, 5, 5]])


def _kernel(layer):
  return tuple(layer.kernel.shape)


def test_paper_config_has_figure_1_shapes():
  model_config, train_config = config_lib.load(
      os.path.join(ROOT, "configs", "paper.json"))
  assert train_config.batch_size == 32 and model_config.iterations == 16
  model = model_lib.RNNCompressionModel(model_config)
  enc, dec = model.encoder, model.decoder
  assert _kernel(enc.conv) == (3, 3, 3, 64) and enc.conv.strides == (2, 2)
  want = [(3, 64, 256, 1), (3, 256, 512, 1), (3, 512, 512, 1)]
  for rnn, (k, cin, cout, hk) in zip(enc.rnns, want):
    assert rnn.strides == 2 and rnn.residual
    assert _kernel(rnn.conv_x) == (k, k, cin, 3 * cout)
    assert _kernel(rnn.conv_h_gates) == (hk, hk, cout, 2 * cout)
    assert _kernel(rnn.conv_x_skip) == (1, 1, cin, cout)  # stride-2 1x1 W_ox
  assert _kernel(enc.binarizer.conv) == (1, 1, 512, 32)
  assert _kernel(dec.conv_in) == (1, 1, 32, 512)
  want = [(2, 512, 512, 1), (3, 128, 512, 1), (3, 128, 256, 3),
          (3, 64, 128, 3)]
  for rnn, (k, cin, cout, hk) in zip(dec.rnns, want):
    assert rnn.strides == 1
    assert _kernel(rnn.conv_x) == (k, k, cin, 3 * cout)
    assert _kernel(rnn.conv_h_candidate) == (hk, hk, cout, cout)
  assert _kernel(dec.conv_out) == (1, 1, 32, 3)
  # 32x32 -> 2x2x32 bits per iteration: 1/8 bpp.
  bits, _ = model.compress(_image(32, 32), 1)
  assert bits.shape == (1, 2, 2, 32)


def test_width_scales_depths_but_not_bits():
  config = config_lib.ModelConfig(channel_multiplier=0.25)
  model = model_lib.RNNCompressionModel(config)
  assert model.encoder.rnns[0].filters == 64
  assert model.decoder.rnns[3].filters == 32
  assert model.encoder.binarizer.bits == 32


def test_associative_lstm_is_decoder_only():
  model = tiny_model("associative_lstm")
  assert type(model.encoder.rnns[0]).__name__ == "ConvLSTM"
  assert type(model.decoder.rnns[0]).__name__ == "AssociativeLSTM"


def test_configs_load_and_reject_unknown_keys(tmp_path):
  for name in ("paper", "default", "tiny"):
    config_lib.load(os.path.join(ROOT, "configs", f"{name}.json"))
  bad = tmp_path / "bad.json"
  bad.write_text(json.dumps({"model": {"cells": "gru"}}))
  with pytest.raises(ValueError, match="Unknown ModelConfig keys"):
    config_lib.load(str(bad))
  with pytest.raises(ValueError, match="framework"):
    config_lib.ModelConfig(framework="multiplicative")


def test_model_config_round_trip():
  model = tiny_model("lstm", "scaled_additive")
  again = model_lib.RNNCompressionModel.from_config(model.get_config())
  assert again.config == model.config


@pytest.mark.slow
def test_saved_model_export_and_reload_on_odd_size(tmp_path):
  model = tiny_model("residual_gru", "scaled_additive")
  image = _image(45, 19, 9)
  bits, recon = model.compress(image, 2)
  tf.saved_model.save(model, str(tmp_path), signatures={
      "compress": model.compress, "decompress": model.decompress})
  loaded = tf.saved_model.load(str(tmp_path))
  bits2, recon2 = loaded.compress(tf.constant(image), tf.constant(2))
  np.testing.assert_array_equal(bits2.numpy(), bits.numpy())
  np.testing.assert_array_equal(recon2.numpy(), recon.numpy())
  out = loaded.signatures["decompress"](bits=bits, height=tf.constant(45),
                                        width=tf.constant(19))
  np.testing.assert_array_equal(list(out.values())[0].numpy(),
                                model_lib.pixels_to_uint8(recon).numpy())


def test_frameworks_reconstruct_as_section_2_2():
  """One-shot takes the output, additive adds it, scaled-additive divides it
  by the held gain and feeds the encoder the gain-scaled residual."""
  x = tf.fill([1, 64, 64, 3], 0.5)
  recon = tf.fill([1, 64, 64, 3], 0.2)
  out = tf.fill([1, 64, 64, 3], 0.1)
  gain = tf.constant([[[[2.0], [4.0]], [[1.0], [1.0]]]])  # per 32x32 block
  f = {n: frameworks.get(n) for n in frameworks.NAMES}
  np.testing.assert_allclose(f["one_shot"].reconstruct(recon, out, gain), 0.1)
  np.testing.assert_allclose(f["additive"].reconstruct(recon, out, gain),
                             0.3, rtol=1e-6)
  scaled = f["scaled_additive"].reconstruct(recon, out, gain).numpy()
  assert scaled[0, 0, 0, 0] == pytest.approx(0.25)
  assert scaled[0, 0, 40, 0] == pytest.approx(0.225)
  assert scaled[0, 40, 40, 0] == pytest.approx(0.3)
  given = f["scaled_additive"].encoder_input(x, recon, gain).numpy()
  assert given[0, 0, 40, 0] == pytest.approx(1.2)
  assert f["one_shot"].encoder_input(x, recon, gain).numpy()[0, 0, 40, 0] == (
      pytest.approx(0.3))
  assert [n for n in frameworks.NAMES if f[n].uses_gain] == ["scaled_additive"]
  with pytest.raises(ValueError, match="framework must be one of"):
    config_lib.ModelConfig(framework="multiplicative")


def test_channel_multiplier_is_stored_under_the_released_key():
  """The field says what it holds; files keep the key 'width' of the first
  releases, so every bundled model's config reads and writes unchanged."""
  import glob
  import json
  import os
  import compression
  models = os.path.join(os.path.dirname(compression.__file__), "models")
  paths = glob.glob(os.path.join(models, "*", "model.json"))
  assert paths
  for path in paths:
    with open(path) as f:
      stored = json.load(f)["model"]
    config = config_lib.ModelConfig.from_dict(stored)
    assert config.to_dict() == stored
    assert config.channel_multiplier == stored["width"]
  config = config_lib.ModelConfig(channel_multiplier=0.5,
                                  decoder_channel_multiplier=1.0)
  assert config.to_dict()["width"] == 0.5
  assert config.to_dict()["decoder_width"] == 1.0
  assert "channel_multiplier" not in config.to_dict()
  assert config.decoder_depth(512) == 512 and config.depth(512) == 256


def test_stopped_blocks_hold_their_reconstruction_and_send_no_codes():
  """Stop-code tolerant unrolling (issue #16): ``kept`` = n is the plain
  unroll; a block that stops after k iterations keeps iteration k's pixels,
  and the others' later reconstructions see zeros in its codes."""
  model = tiny_model()
  x = model.to_network(_image(32, 64, 3)[None])
  plain = model(x)
  everything = model(x, kept=tf.fill([1, 2, 4], 3))
  for a, b in zip(plain, everything):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
  kept = np.full((1, 2, 4), 3, np.int32)
  kept[0, 1, 2] = 1
  masked = model(x, kept=tf.constant(kept))
  block = (slice(None), slice(16, 32), slice(32, 48))
  np.testing.assert_array_equal(masked[0].numpy()[block],
                                masked[2].numpy()[block])
  np.testing.assert_allclose(masked[0].numpy(), plain[0].numpy(), atol=1e-6)
  assert np.abs(masked[2].numpy() - plain[2].numpy()).max() > 1e-4
  codes, pixels = model_lib.keep_masks(tf.constant(kept), 1)
  assert codes.shape == (1, 2, 4, 1) and pixels.shape == (1, 32, 64, 1)
  assert float(tf.reduce_sum(codes)) == 7
  assert float(tf.reduce_sum(pixels)) == 7 * 256


def test_adaptive_coding_stops_blocks_and_decodes_what_it_sent():
  """compress_adaptive (issue #16): a plan where every block sends all
  iterations gives the uniform bits; blocks send only what their plan
  says (zeros after); decompress_adaptive reads a map where blocks stopped
  at different iterations as the masked unroll does."""
  model = tiny_model()
  image = _image(40, 72, 9)
  uniform, _ = model.compress(image, 3)
  bits, kept = model.compress_adaptive(image, np.full((2, 3), 3))
  assert (kept == 3).all() and bits.shape == (3, 4, 6, 32)
  assert (bits != uniform.numpy()).mean() < 0.01
  bits, kept = model.compress_adaptive(image, np.array([[1, 2, 2]] * 2))
  assert bits.shape[0] == 2 and (kept[:, :2] == 1).all()
  assert (kept[:, 2:] == 2).all()
  assert not bits[1, :, :2].any() and bits[1, :, 2:].any()
  with pytest.raises(ValueError, match="plan"):
    model.compress_adaptive(image, np.zeros((2, 3), int))
  kept = np.array([[1, 1, 2, 2, 3, 3]] * 4, np.int32)
  full, _ = model.compress(image, 3)
  decoded = model.decompress_adaptive(full, kept, 40, 72).numpy()
  assert decoded.shape == (40, 72, 3)
  # the first two columns of positions stopped after one iteration
  first = model.decompress(full[:1], 40, 72).numpy()
  np.testing.assert_array_equal(decoded[:, :32], first[:, :32])
  assert (decoded[:, 64:] != first[:, 64:]).any()
  everything = model.decompress_adaptive(full, np.full((4, 6), 3, np.int32),
                                         40, 72).numpy()
  np.testing.assert_array_equal(everything,
                                model.decompress(full, 40, 72).numpy())
