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


@pytest.mark.slow
@pytest.mark.parametrize("cell,change", [
    ("residual_gru", {"channel_multiplier": 0.25}),
    ("residual_gru", {"decoder_channel_multiplier": 0.25}),
    ("lstm", {"channel_multiplier": 0.25}),
])
def test_widened_network_decodes_the_same_codes_to_the_same_image(cell, change):
  old = model_lib.RNNCompressionModel(config_lib.ModelConfig(
      cell=cell, channel_multiplier=0.125, iterations=3))
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
  # uint8 images: float rounding may move a value sitting on .5 by one.
  diff = np.abs(new_pixels.astype(int) - old_pixels.astype(int))
  assert diff.max() <= 1 and diff.mean() < 1e-3
  # The widened encoder makes the same codes (float rounding may flip a
  # bit whose pre-activation is ~0; none does on this image).
  new_bits, _ = new.compress(image, 3)
  assert np.mean(new_bits.numpy() != bits.numpy()) < 1e-3


def test_widened_v1_decodes_v1_codes_to_v1_image():
  """The bundled v1 widened to a decoder of width 0.5, before any training."""
  from compression import registry
  v1 = registry.get("v1").network
  wide = widen.widen(v1, dataclasses.replace(v1.config, decoder_channel_multiplier=0.5))
  image = _image(64, 64, seed=5)
  bits, _ = v1.compress(image, 8)
  want = v1.decompress(bits, 64, 64).numpy().astype(int)
  got = wide.decompress(bits, 64, 64).numpy().astype(int)
  assert np.abs(got - want).max() <= 1 and np.mean(got != want) < 1e-3


def test_widening_refuses_other_changes():
  old = model_lib.RNNCompressionModel(config_lib.ModelConfig(
      channel_multiplier=0.125, iterations=2))
  with pytest.raises(ValueError, match="only in width"):
    widen.widen(old, dataclasses.replace(old.config, iterations=3))
  with pytest.raises(ValueError, match="narrow"):
    widen.widen(old, dataclasses.replace(old.config, channel_multiplier=0.0625))


def test_split_fractions_sum_to_one_per_unit():
  m = widen.UnitMap.random(5, 12, np.random.default_rng(0))
  sums = np.zeros(5)
  np.add.at(sums, m.index, m.fraction)
  np.testing.assert_allclose(sums, 1.0)
  assert list(m.index[:5]) == list(range(5))
  assert len(set(np.round(m.fraction, 6))) > 2  # not an even split


@pytest.mark.slow
def test_priming_runs_extra_decoder_steps_and_round_trips():
  config = config_lib.ModelConfig(channel_multiplier=0.125, iterations=3, priming_steps=2)
  model = model_lib.RNNCompressionModel(config)
  _train_a_little(model)
  image = _image()
  bits, recon = model.compress(image, 3)
  # Decoding the same bits rebuilds the encoder's reconstruction.
  np.testing.assert_array_equal(model.decompress(bits, 64, 96).numpy(),
                                model_lib.pixels_to_uint8(recon).numpy())
  # Priming changes the first reconstruction (the same weights unprimed).
  plain = model_lib.RNNCompressionModel(
      dataclasses.replace(config, priming_steps=0))
  for a, b in zip(plain.weights, model.weights):
    a.assign(b)
  primed_first = model.decompress(bits[:1], 64, 96).numpy()
  plain_first = plain.decompress(bits[:1], 64, 96).numpy()
  assert np.any(primed_first != plain_first)
  # The training unroll primes the same way as inference.
  x = model.to_network(image)[None]
  unrolled = model(x, iterations=1)[0]
  x_bits, _ = model.compress(image, 1)
  diff = np.abs(model_lib.pixels_to_uint8(model.to_pixels(unrolled))[0]
                .numpy().astype(int) -
                model.decompress(x_bits, 64, 96).numpy().astype(int))
  assert diff.max() <= 1


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
      channel_multiplier=0.125, iterations=2))
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


def _write_eval(run_dir, step, name, msssim, psnr, images, legacy=False):
  """A held-out evaluation as `rnn-codec eval` writes it (results.json: a
  row per image and iteration), or as the retired binary did (legacy)."""
  import json
  names = [f"{i}.png" for i in range(images)]
  if legacy:
    (run_dir / f"eval-{step}-{name}.json").write_text(json.dumps(
        {"step": step, "images": names, "msssim": msssim, "psnr": psnr}))
    return
  rows = [{"codec": "ours", "image": image, "knob": k + 1,
           "nominal_bpp": (k + 1) / 8, "msssim": m, "psnr": p,
           "psnr_hvs": p} for image in names
          for k, (m, p) in enumerate(zip(msssim, psnr))]
  folder = run_dir / f"eval-{step}-{name}"
  folder.mkdir()
  (folder / "results.json").write_text(json.dumps(
      {"images": names, "model": {"step": step}, "rows": rows}))


def test_study_table_pools_held_out_sets_and_forecasts_in_log_steps(tmp_path):
  import json
  from compression import study
  start = tmp_path / "v1src"
  start.mkdir()
  base = [0.8 + 0.01 * k for k in range(16)]
  for name, n in (("heldout_a", 1), ("heldout_b", 3)):  # older records
    _write_eval(start, 1000, name, base, [20.0] * 16, n, legacy=True)
  run = tmp_path / "cand"
  run.mkdir()
  (run / "config.json").write_text(json.dumps({"model": {}, "train": {}}))
  (run / "history.jsonl").write_text("\n".join(json.dumps(r) for r in [
      {"step": 500, "loss": 1.0},  # before the warm start: ignored
      {"step": 2000, "loss": 0.9, "cpu_secs": 1800.0},
      {"step": 3000, "loss": 0.8, "cpu_secs": 3600.0}]) + "\n")
  # Set a is 0.02 better than set b; pooled by image count (1 : 3).
  for name, d in (("heldout_a", 0.02), ("heldout_b", 0.0)):
    _write_eval(run, 3000, name, [v + 0.01 + d for v in base], [21.0] * 16,
                1 if name == "heldout_a" else 3)
  _write_eval(run, 2000, "heldout_a", base, [20.0] * 16, 1)  # one set only
  # The newest decode timing at 16 iterations is the one reported
  # (`rnn-codec speed --output`, or an older decode-<step>.json).
  (run / "decode-2000.json").write_text(json.dumps(
      {"step": 2000, "iterations": 16, "decode_secs": 9.0}))
  (run / "speed-3000.json").write_text(json.dumps({"summary": [
      {"codec": "ours", "setting": 8, "decode_s": 2.0},
      {"codec": "ours", "setting": 16, "decode_s": 4.5}]}))
  start_evals = study.pooled_evals(str(start))
  assert list(start_evals) == [1000] and start_evals[1000]["images"] == 4
  row = study.candidate(str(run), start_evals[1000], 1000, 3600, 20 * 3600)
  assert row["step"] == 3000 and row["images"] == 4
  assert row["steps_per_cpu_sec"] == pytest.approx(2000 / 3600)
  assert row["msssim"][8] == pytest.approx(base[7] + 0.01 + 0.005)
  # Line through (1000, m) and (3000, m + 0.015) in log(step), read at the
  # step 20 CPU hours reach: 1000 + 20 * 2000 = 41000.
  gain = 0.015 * np.log(41.0) / np.log(3.0)
  assert row["msssim_forecast"][8] == pytest.approx(base[7] + gain)
  assert row["forecast_points"] == 2
  assert row["decode_secs"] == 4.5
  text = study.table([row], {"step": 1000, "images": 4,
                             **{m: {k: start_evals[1000][m][k - 1]
                                    for k in study.ITERATIONS}
                                for m in ("msssim", "psnr")}}, 3600, 20)
  assert "| cand | 0.556 | 3000 | 1.00 |" in text
  assert text.splitlines()[-1].endswith("| 2 | 4.50 |")
  assert text.splitlines()[-2].endswith("| – | – | – |")  # start: not timed


def test_networks_round_trip_through_keras_serialization():
  """Encoder, Decoder, the model and the entropy layers rebuild from configs."""
  import keras as k
  from entropy_coder import config as ec_config
  from entropy_coder import model as ec_model
  config = config_lib.ModelConfig(channel_multiplier=0.125, iterations=2, priming_steps=1)
  model = model_lib.RNNCompressionModel(config)
  for layer in (model.encoder, model.decoder, model):
    again = k.saving.deserialize_keras_object(
        k.saving.serialize_keras_object(layer))
    assert type(again) is type(layer)
    assert again.get_config() == layer.get_config()
  ec = ec_config.EntropyModelConfig(layer_depth=4, layer_count=2)
  ec_net = ec_model.ProgressiveBinaryRNN(ec)
  for layer in (ec_net.predictors[0], ec_net.updates[0],
                ec_net.predictors[0].short, ec_net):
    again = k.saving.deserialize_keras_object(
        k.saving.serialize_keras_object(layer))
    assert type(again) is type(layer)
    assert again.get_config() == layer.get_config()
