"""The 2016 paper's thumbnail networks: stage loops, code sizes, layers, data."""

import json
import os

import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from residual_gru import build_dataset, config as config_lib, data, layers
from residual_gru import networks, thumbnail_models, train, weights
from tests.images import synthetic_image

ROWS = {  # architecture, shared_weights, bits, iterations
    "fc_residual_shared": ("fc_residual", True, 8, 4),
    "fc_residual_distinct": ("fc_residual", False, 8, 4),
    "fc_lstm": ("fc_lstm", False, 8, 4),
    "conv_residual_shared": ("conv_residual", True, 2, 4),
    "conv_residual_distinct": ("conv_residual", False, 2, 4),
    "conv_lstm": ("conv_lstm", False, 2, 8),
    "conv_autoencoder": ("conv_autoencoder", False, 8, 1),
}


def _config(row, multiplier=0.0625):
  arch, shared, bits, iterations = ROWS[row]
  return config_lib.ModelConfig(architecture=arch, shared_weights=shared,
                                bits=bits, iterations=iterations,
                                channel_multiplier=multiplier)


@pytest.fixture(scope="module")
def models():
  keras.utils.set_random_seed(3)
  return {row: networks.build(_config(row)) for row in ROWS}


@pytest.mark.parametrize("row", sorted(ROWS))
def test_decoding_the_codes_gives_the_encoders_reconstruction(models, row):
  model = models[row]
  image = synthetic_image(32, 32, seed=1)
  n = model.config.iterations
  for k in sorted({1, n}):
    codes, pixels = model.compress(tf.constant(image), tf.constant(k))
    # Section 4.1: 16 bytes per stage for a 32x32 image (the autoencoder's
    # 8 bits per position make one 64-byte stage).
    per_stage = 64 if row == "conv_autoencoder" else 16
    assert codes.shape[0] == k
    assert np.prod(codes.shape[1:]) == per_stage * 8
    decoded = model.decompress(codes, 32, 32).numpy()
    np.testing.assert_array_equal(
        decoded, np.clip(np.round(pixels.numpy()), 0, 255).astype(np.uint8))
  # Progressive: a prefix of the codes decodes to the shorter encoding.
  codes, _ = model.compress(tf.constant(image), tf.constant(n))
  steps = model.decompress_progressive(codes, 32, 32).numpy()
  first, _ = model.compress(tf.constant(image), tf.constant(1))
  np.testing.assert_array_equal(steps[0], model.decompress(first, 32, 32))


def test_odd_sizes_are_padded_and_cropped(models):
  model = models["conv_lstm"]
  image = synthetic_image(13, 21, seed=2)
  codes, pixels = model.compress(tf.constant(image), tf.constant(2))
  assert codes.shape == (2, 4, 6, 2)  # padded to 16 x 24, code stride 4
  assert model.decompress(codes, 13, 21).shape == (13, 21, 3)


def test_shared_weights_hold_one_stage_and_distinct_weights_one_per_stage(
    models):
  shared, distinct = models["fc_residual_shared"], models["fc_residual_distinct"]
  assert len(shared.encoders) == len(shared.decoders) == 1
  assert len(distinct.encoders) == len(distinct.decoders) == 4
  assert len(distinct.trainable_variables) == 4 * len(
      shared.trainable_variables)
  assert len(models["fc_lstm"].encoders) == 1  # recurrence shares weights


def test_residual_stages_follow_eq_2_and_lstm_stages_eq_3(models):
  # eq 2: x^_t is the alternating sum of the stages' outputs, so stage t's
  # own output is +-(x^_t - x^_{t-1}); eq 3: each LSTM stage is the image.
  x = tf.constant(np.random.default_rng(0).uniform(
      -0.9, 0.9, (2, 32, 32, 3)), tf.float32)
  model = models["conv_residual_distinct"]
  recons, bits = model._unroll(x, 4)
  for t in range(1, 4):
    out, _ = model.decoders[t](bits[t], ())
    sign = 1.0 if t % 2 == 0 else -1.0
    np.testing.assert_allclose(recons[t] - recons[t - 1], sign * out,
                               atol=1e-5)
  # The stage's input is r_{t-1} = F_{t-1} - r_{t-2}: for stage 2, F_1 - x.
  out1, _ = model.decoders[0](bits[0], ())
  b2, _ = model.encoders[1](out1 - x, ())
  np.testing.assert_array_equal(b2, bits[1])


@pytest.mark.parametrize("row", ["fc_lstm", "conv_residual_shared"])
def test_keras_serialization_round_trip(models, row):
  model = models[row]
  clone = keras.saving.deserialize_keras_object(
      keras.saving.serialize_keras_object(model))
  assert isinstance(clone, thumbnail_models.ThumbnailModel)
  assert clone.config == model.config
  for a, b in zip(clone.weights, model.weights):
    a.assign(b)
  image = tf.constant(synthetic_image(32, 32, seed=4))
  np.testing.assert_array_equal(clone.compress(image, tf.constant(2))[0],
                                model.compress(image, tf.constant(2))[0])


def test_deconvolution_upsamples_and_its_lstm_state_is_upsampled():
  x = tf.random.stateless_uniform((1, 4, 5, 6), (1, 2))
  assert layers.Deconv2D(7, 3, 2)(x).shape == (1, 8, 10, 7)
  cell = layers.DeconvLSTM(3, 3, 2, 1)
  state = cell.initial_state(1, 4, 5)
  assert state[0].shape == (1, 8, 10, 3)
  out, new = cell(x, state)
  assert out.shape == (1, 8, 10, 3) and new[1].shape == (1, 8, 10, 3)
  assert layers.DeconvLSTM.from_config(cell.get_config()).strides == 2


def test_deconv_lstm_tracks_only_the_layers_it_uses():
  # Its gates' input term is a deconvolution only: a Conv2D left behind by
  # ConvLSTM made Keras warn "build() was called ... unbuilt state" each
  # time a conv_lstm model was built (so on every CLI run).
  cell = layers.DeconvLSTM(3, 3, 2, 1)
  assert [type(l).__name__ for l in cell._layers] == ["Conv2D", "Deconv2D"]
  assert [l.name for l in cell._layers] == ["u_fioj", "w_d_fioj"]
  assert [type(l).__name__ for l in layers.ConvLSTM(3)._layers] == [
      "Conv2D", "Conv2D"]


def test_config_rules():
  with pytest.raises(ValueError, match="shared_weights"):
    config_lib.ModelConfig(architecture="fc_lstm", shared_weights=True)
  with pytest.raises(ValueError, match="one-rate"):
    config_lib.ModelConfig(architecture="conv_autoencoder", iterations=4)
  with pytest.raises(ValueError, match="architecture"):
    config_lib.ModelConfig(architecture="mlp")
  # Configs written before the field existed read and compare as before.
  assert "architecture" not in config_lib.ModelConfig().to_dict()
  with pytest.raises(ValueError, match="thumbnail"):
    networks.model_lib.RNNCompressionModel(_config("fc_lstm"))


def test_every_thumbnail_config_reads_and_fills_the_budgets():
  import glob
  from residual_gru import codes
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  paths = sorted(glob.glob(os.path.join(root, "configs/thumbnails/*.json")))
  assert len(paths) == 8
  archs = set()
  for path in paths:
    model_config, train_config = config_lib.load(path)
    archs.add((model_config.architecture, model_config.shared_weights))
    assert train_config.loss == "l2"
    stage = codes.geometry(model_config).segment_bytes(32, 32)
    if model_config.architecture == "conv_autoencoder":
      assert stage == (64 if path.endswith("_64.json") else 128)
    else:  # 16 bytes per stage; 8 stages reach 128 bytes (section 4.1)
      assert stage == 16 and model_config.iterations == 8
  assert len(archs) == 7


def test_thumbnails_of_an_image_follow_section_4_3():
  rng = np.random.default_rng(0)
  image = np.full((300, 400, 3), 77, np.uint8)
  thumbs = data.thumbnails(image, 32, 4, rng)
  # whole + 4 at 1/2 (150x200) + 4 at 1/4 (75x100); 1/8 (37x50) is under
  # 2 x 32 and skipped.
  assert thumbs.shape == (9, 32, 32, 3)
  assert (thumbs == 77).all()  # box filter: a flat image stays flat
  image = synthetic_image(300, 400, seed=5)
  whole = data.thumbnails(image, 32, 0, rng)[0]
  expected = np.asarray(Image.fromarray(image).resize((32, 32), Image.BOX))
  np.testing.assert_array_equal(whole, expected)
  assert len(data.thumbnails(np.zeros((30, 90, 3), np.uint8), 32, 4, rng)) == 0


def test_build_dataset_writes_thumbnails(tmp_path):
  src = tmp_path / "images"
  src.mkdir()
  for i in range(5):
    Image.fromarray(synthetic_image(150, 200, seed=i)).save(src / f"{i}.png")
  paths = data.list_images([str(src)])
  counts = {"unreadable": 0}
  stats = build_dataset.build(
      build_dataset._folder_images(paths, 1, counts), len(paths),
      str(tmp_path / "thumbs"), 32, 0.1, "he", 0.2, 2, 0, counts,
      thumbnail_crops=3)
  # Each image: whole + 3 crops at 1/2 (75x100); smaller scales skipped.
  assert stats["train_tiles"] + stats["val_tiles"] == 5 * 4
  assert json.loads((tmp_path / "thumbs" / "dataset.json").read_text())[
      "thumbnail_crops"] == 3


@pytest.mark.slow
def test_training_binary_trains_and_resumes_a_thumbnail_network(tmp_path):
  rng = np.random.default_rng(1)
  tiles = np.stack([synthetic_image(32, 32, seed=i) for i in range(8)])
  path = str(tmp_path / "t.tfrecord")
  with tf.io.TFRecordWriter(path) as w:
    for t in tiles:
      w.write(data.tile_example(t, 0.5, "x").SerializeToString())
  model_config = _config("fc_lstm")
  train_config = config_lib.TrainConfig(batch_size=4, loss="l2",
                                        max_steps=3)
  train.train(model_config, train_config, str(tmp_path / "run"), path,
              path, seed=2, log_steps=1, val_steps=3)
  model, step = weights.load_checkpoint(str(tmp_path / "run"))
  assert step == 3 and isinstance(model, thumbnail_models.ThumbnailModel)
  del rng


def _thumbnail_run(folder, row):
  """A training run folder (config + checkpoint) of a small thumbnail net."""
  from residual_gru import model as model_lib
  keras.utils.set_random_seed(7)
  network = networks.build(_config(row))
  (folder / "checkpoints").mkdir(parents=True)
  (folder / "config.json").write_text(json.dumps(
      {"model": network.config.to_dict(), "train": {}}))
  step = tf.Variable(5, dtype=tf.int64)
  tf.train.Checkpoint(weights=model_lib.named_variables(network),
                      step=step).save(str(folder / "checkpoints" / "ckpt"))
  return network


@pytest.mark.parametrize("row", ["conv_residual_distinct"])
def test_api_files_of_a_thumbnail_network(tmp_path, row):
  import compression
  network = _thumbnail_run(tmp_path / "run", row)
  run = str(tmp_path / "run")
  image = synthetic_image(32, 32, seed=6)
  data = compression.compress(image, iterations=3, model=run)
  info = compression.info(data, model=run)
  # 16 bytes of codes per iteration, each segment with its 2-byte CRC.
  assert info["payload_bytes"] == 3 * (16 + 2)
  assert info["nominal_bpp"] == 3 * 0.125
  decoded = compression.decompress(data, model=run)
  codes, _ = network.compress(tf.constant(image), tf.constant(3))
  np.testing.assert_array_equal(decoded, network.decompress(codes, 32, 32))
  shorter = compression.truncate(data, 1, model=run)
  np.testing.assert_array_equal(
      compression.decompress(shorter, model=run),
      network.decompress(codes[:1], 32, 32))


def test_table1_rows_from_thumbnail_records(tmp_path, capsys):
  from compression import cli
  _thumbnail_run(tmp_path / "conv_lstm", "conv_lstm")
  auto = tmp_path / "conv_autoencoder_64"
  _thumbnail_run(auto, "conv_autoencoder")
  path = str(tmp_path / "val.tfrecord")
  with tf.io.TFRecordWriter(path) as w:
    for i in range(3):
      w.write(data.tile_example(synthetic_image(32, 32, seed=i), 0.5,
                                "x").SerializeToString())
  out_json = tmp_path / "t.json"
  assert cli.main(["thumbnails", "--records", path, "--codecs", "jpeg",
                   "--models", f"{tmp_path / 'conv_lstm'},{auto}",
                   "--output", str(out_json)]) == 0
  results = json.loads(out_json.read_text())
  assert set(results) == {"jpeg", "conv_lstm", "conv_autoencoder_64"}
  assert results["conv_lstm"]["64"]["mean_bytes"] == 64
  assert results["conv_lstm"]["128"]["mean_bytes"] == 128
  # The one-rate 64-byte autoencoder has no 128-byte entry.
  assert set(results["conv_autoencoder_64"]) == {"64"}
  assert results["jpeg"]["64"]["mean_bytes"] >= 64
  printed = capsys.readouterr().out
  assert "0.77 / 0.87" in printed and "0.76 / -" in printed


def test_cli_with_a_thumbnail_run_defaults_to_its_iterations(tmp_path, capsys):
  from compression import cli
  _thumbnail_run(tmp_path / "fc", "fc_residual_distinct")  # 4 iterations
  image = tmp_path / "t.png"
  Image.fromarray(synthetic_image(32, 32, seed=9)).save(image)
  rnc, cut = tmp_path / "t.rnc", tmp_path / "cut.rnc"
  model = str(tmp_path / "fc")
  assert cli.main(["encode", str(image), "-o", str(rnc), "--model",
                   model]) == 0
  assert cli.main(["info", str(rnc), "--json", "--model", model]) == 0
  report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert report["iterations"] == 4 and report["payload_bytes"] == 4 * 18
  assert cli.main(["truncate", str(rnc), "-o", str(cut), "--iterations",
                   "2", "--model", model]) == 0
  assert cli.main(["decode", str(cut), "-o", str(tmp_path / "d.png"),
                   "--model", model]) == 0
  assert Image.open(tmp_path / "d.png").size == (32, 32)
  # Without --model the file's id (1000) is not bundled: say what to do.
  assert cli.main(["decode", str(cut), "-o", str(tmp_path / "e.png")]) != 0
  assert "--model FOLDER" in capsys.readouterr().err

