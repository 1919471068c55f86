"""The one evaluation harness (`rnn-codec eval`) on a training run's held-out images."""

import json
import os

import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from residual_gru import config as config_lib, data, networks
from tests.images import synthetic_image


def test_codec_eval_on_held_out_images_matches_the_training_evaluation(
    tmp_path):
  """`rnn-codec eval --held_out_fraction --downscale` scores a training run
  on the same images and pixels as residual_gru.evaluate does."""
  from compression import cli
  from residual_gru import evaluate as run_evaluate
  from residual_gru import model as model_lib
  from residual_gru.images import load_downscaled
  src = tmp_path / "images"
  src.mkdir()
  for i in range(8):
    Image.fromarray(synthetic_image(128, 192, seed=i)).save(src / f"{i}.png")
  held = [p for p, _ in data.list_images([str(src)], 0.5)]
  assert 0 < len(held) < 8
  keras.utils.set_random_seed(11)
  network = networks.build(config_lib.ModelConfig(width=0.0625, iterations=2))
  run = tmp_path / "run"
  (run / "checkpoints").mkdir(parents=True)
  (run / "config.json").write_text(json.dumps(
      {"model": network.config.to_dict(), "train": {}}))
  tf.train.Checkpoint(weights=model_lib.named_variables(network),
                      step=tf.Variable(3, dtype=tf.int64)).save(
                          str(run / "checkpoints" / "ckpt"))
  out = tmp_path / "eval"
  assert cli.main(["eval", "--images", str(src), "--output_dir", str(out),
                   "--codecs", "ours", "--workers", "0", "--model", str(run),
                   "--held_out_fraction", "0.5", "--downscale", "2"]) == 0
  result = json.loads((out / "results.json").read_text())
  images = {r["image"] for r in result["rows"]}
  assert images == {os.path.basename(p) for p in held}
  msssim, psnr, _ = run_evaluate.rate_distortion(
      network, [load_downscaled(p, 2) for p in held], 2)
  for k in (1, 2):
    rows = [r for r in result["rows"] if r["knob"] == k]
    assert np.mean([r["msssim"] for r in rows]) == pytest.approx(
        msssim[:, k - 1].mean(), abs=1e-9)
    assert np.mean([r["psnr"] for r in rows]) == pytest.approx(
        psnr[:, k - 1].mean(), abs=1e-9)
