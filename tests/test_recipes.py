"""The recipe-study features: widening, priming, SSIM-weighted L1, schedules."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from residual_gru import config as config_lib
from residual_gru import model as model_lib
from residual_gru import train
from residual_gru import widen


def _image(h=64, w=96, seed=0):
  rng = np.random.default_rng(seed)
  base = rng.integers(0, 256, (h // 8, w // 8, 3)).astype(np.float32)
  smooth = np.kron(base, np.ones((8, 8, 1)))
  return np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(
      np.uint8)


def _train_a_little(model, steps=3):
  """A few steps of Adam so that biases are non-zero and units differ."""
  opt = keras.optimizers.Adam(1e-2)
  x = model.to_network(_image(32, 32)[None])

  @tf.function  # Keras 3 variables are watched inside tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(model_lib.iteration_losses(
          x, model(x, iterations=2)))
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))
  for _ in range(steps):
    step()


@pytest.mark.parametrize("cell,change", [
    ("residual_gru", {"width": 0.25}),
    ("residual_gru", {"decoder_width": 0.25}),
    ("lstm", {"width": 0.25}),
])
def test_widened_network_decodes_the_same_codes_to_the_same_image(cell, change):
  old = model_lib.RNNCompressionModel(config_lib.ModelConfig(
      cell=cell, width=0.125, iterations=3))
  _train_a_little(old)
  new_config = dataclasses.replace(old.config, **change)
  new = widen.widen(old, new_config, seed=3)
  assert len(new.trainable_variables[0].shape)  # built
  assert sum(int(np.prod(v.shape)) for v in new.weights) > sum(
      int(np.prod(v.shape)) for v in old.weights)
  image = _image()
  bits, _ = old.compress(image, 3)
  old_pixels = old.decompress_progressive(bits, 64, 96).numpy()
  new_pixels = new.decompress_progressive(bits, 64, 96).numpy()
  np.testing.assert_allclose(new_pixels, old_pixels, atol=1e-3)
  # The widened encoder makes the same codes (float rounding may flip a
  # bit whose pre-activation is ~0; none does on this image).
  new_bits, _ = new.compress(image, 3)
  assert np.mean(new_bits.numpy() != bits.numpy()) < 1e-3


def test_widened_v1_decodes_v1_codes_to_v1_image():
  """The bundled v1 widened to a decoder of width 0.5, before any training."""
  from compression import registry
  v1 = registry.get("v1").network
  wide = widen.widen(v1, dataclasses.replace(v1.config, decoder_width=0.5))
  image = _image(64, 64, seed=5)
  bits, _ = v1.compress(image, 8)
  want = v1.decompress(bits, 64, 64).numpy()
  got = wide.decompress(bits, 64, 64).numpy()
  assert np.abs(got - want).max() < 0.05  # pixels of 0..255
  assert np.array_equal(model_lib.pixels_to_uint8(got).numpy(),
                        model_lib.pixels_to_uint8(want).numpy()) or (
      np.abs(got - want).max() < 0.05)


def test_widening_refuses_other_changes():
  old = model_lib.RNNCompressionModel(config_lib.ModelConfig(
      width=0.125, iterations=2))
  with pytest.raises(ValueError, match="only in width"):
    widen.widen(old, dataclasses.replace(old.config, iterations=3))
  with pytest.raises(ValueError, match="narrow"):
    widen.widen(old, dataclasses.replace(old.config, width=0.0625))


def test_split_fractions_sum_to_one_per_unit():
  m = widen.UnitMap.random(5, 12, np.random.default_rng(0))
  sums = np.zeros(5)
  np.add.at(sums, m.index, m.fraction)
  np.testing.assert_allclose(sums, 1.0)
  assert list(m.index[:5]) == list(range(5))
  assert len(set(np.round(m.fraction, 6))) > 2  # not an even split


def test_priming_runs_extra_decoder_steps_and_round_trips():
  config = config_lib.ModelConfig(width=0.125, iterations=3, priming_steps=2)
  model = model_lib.RNNCompressionModel(config)
  _train_a_little(model)
  image = _image()
  bits, recon = model.compress(image, 3)
  # Decoding the same bits rebuilds the encoder's reconstruction.
  np.testing.assert_allclose(model.decompress(bits, 64, 96).numpy(),
                             recon.numpy(), atol=1e-4)
  # Priming changes the first reconstruction (the same weights unprimed).
  plain = model_lib.RNNCompressionModel(
      dataclasses.replace(config, priming_steps=0))
  for a, b in zip(plain.weights, model.weights):
    a.assign(b)
  primed_first = model.decompress(bits[:1], 64, 96).numpy()
  plain_first = plain.decompress(bits[:1], 64, 96).numpy()
  assert np.abs(primed_first - plain_first).max() > 1e-3
  # The training unroll primes the same way as inference.
  x = model.to_network(image)[None]
  unrolled = model(x, iterations=1)[0]
  x_bits, _ = model.compress(image, 1)
  np.testing.assert_allclose(
      model.to_pixels(unrolled)[0].numpy(),
      model.decompress(x_bits, 64, 96).numpy(), atol=1e-3)


def test_new_config_fields_at_their_defaults_are_not_written():
  assert "priming_steps" not in config_lib.ModelConfig().to_dict()
  assert "lr_schedule" not in config_lib.TrainConfig().to_dict()
  d = config_lib.ModelConfig(priming_steps=2).to_dict()
  assert config_lib.ModelConfig.from_dict(d).priming_steps == 2


def test_ssim_weights_favour_badly_rendered_blocks():
  x = tf.constant(_image(32, 32)[None] / 255.0, tf.float32)
  y = x.numpy().copy()
  y[:, :8, :8] = 0.5  # one block rendered flat
  w = train.ssim_dissimilarity_weights(x, tf.constant(y)).numpy()
  assert w.shape == (1, 32, 32, 1)
  np.testing.assert_allclose(w.mean(), 1.0, rtol=1e-5)
  assert w[0, :8, :8].mean() > 3 * w[0, 8:, 8:].mean()
  same = train.ssim_dissimilarity_weights(x, x).numpy()
  np.testing.assert_allclose(same, 1.0, rtol=1e-3)


def test_ssim_l1_loss_has_gradients_only_through_the_residual():
  model = model_lib.RNNCompressionModel(config_lib.ModelConfig(
      width=0.125, iterations=2))
  tc = config_lib.TrainConfig(loss="ssim_l1")
  x = model.to_network(_image(32, 32)[None])

  @tf.function
  def grads_of(loss_name):
    c = dataclasses.replace(tc, loss=loss_name)
    with tf.GradientTape() as tape:
      losses = train.iteration_losses(c, model, x, model(x, iterations=2))
      loss = tf.reduce_mean(losses)
    return losses, tape.gradient(loss, model.trainable_variables)
  losses, grads = grads_of("ssim_l1")
  assert losses.shape == (2,)
  assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
  # Different from plain L1 (the weights are not uniform) but close in scale.
  l1_losses, _ = grads_of("l1")
  ratio = losses.numpy() / l1_losses.numpy()
  assert np.all((ratio > 0.5) & (ratio < 2.0)) and np.any(
      np.abs(ratio - 1) > 1e-3)


def test_cosine_schedule_with_warmup():
  tc = config_lib.TrainConfig(learning_rate=1e-3, lr_schedule="cosine",
                              schedule_start=100, max_steps=1100,
                              warmup_steps=10)
  assert train.learning_rate_at(tc, 100) == pytest.approx(1e-4)
  assert train.learning_rate_at(tc, 109) == pytest.approx(1e-3, rel=1e-3)
  assert train.learning_rate_at(tc, 600) == pytest.approx(5e-4)
  assert train.learning_rate_at(tc, 1100) == pytest.approx(0.0)
  staircase = config_lib.TrainConfig(learning_rate=5e-4, decay_rate=0.5,
                                     decay_steps=10000)
  assert train.learning_rate_at(staircase, 27243) == pytest.approx(1.25e-4)
