"""The one evaluation harness (`rnn-codec eval`) on a training run's held-out images."""

import json
import os

import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from residual_gru import config as config_lib, data, metrics, networks
from tests.images import synthetic_image


def _save(network, run, step):
  """A checkpoint as the training harness names it (ckpt-<step>)."""
  from residual_gru import model as model_lib
  checkpoint = tf.train.Checkpoint(weights=model_lib.named_variables(network),
                                   step=tf.Variable(step, dtype=tf.int64))
  tf.train.CheckpointManager(checkpoint, str(run / "checkpoints"),
                             max_to_keep=None).save(checkpoint_number=step)


@pytest.mark.slow
def test_codec_eval_scores_a_pinned_checkpoint_of_a_run_on_held_out_images(
    tmp_path):
  """`rnn-codec eval --model=RUN --held_out_fraction --downscale`: only the
  held-out images, box-downscaled, scored as the network codes them; the run
  is pinned to the checkpoint newest at the start ({step} names it), so a
  checkpoint written meanwhile changes nothing."""
  from compression import cli, evaluation, registry
  from residual_gru.images import load_downscaled
  src = tmp_path / "images"
  src.mkdir()
  for i in range(8):
    Image.fromarray(synthetic_image(128, 192, seed=i)).save(src / f"{i}.png")
  held = [p for p, _ in data.list_images([str(src)], 0.5)]
  assert 0 < len(held) < 8
  keras.utils.set_random_seed(11)
  network = networks.build(config_lib.ModelConfig(channel_multiplier=0.0625, iterations=2))
  run = tmp_path / "run"
  (run / "checkpoints").mkdir(parents=True)
  (run / "config.json").write_text(json.dumps(
      {"model": network.config.to_dict(), "train": {}}))
  _save(network, run, 3)
  pinned = evaluation.pin(str(run))
  assert pinned == str(run / "checkpoints" / "ckpt-3")
  # The run trains on: step 5 has other weights; the pinned spec keeps 3.
  later = networks.build(network.config)
  later(np.zeros((1, 32, 32, 3), np.float32))
  for v in later.trainable_variables:
    v.assign(v + 0.05)
  _save(later, run, 5)
  assert registry.get(pinned).step == 3 and registry.get(str(run)).step == 5
  assert cli.main(["eval", "--images", str(src), "--output_dir",
                   str(tmp_path / "eval-{step}"), "--codecs", "ours",
                   "--workers", "0", "--model", pinned,
                   "--held_out_fraction", "0.5", "--downscale", "2"]) == 0
  out = tmp_path / "eval-3"
  result = json.loads((out / "results.json").read_text())
  assert result["model"]["step"] == 3
  assert {r["image"] for r in result["rows"]} == {
      os.path.basename(p) for p in held}
  curve = evaluation.iteration_curve(str(out / "results.json"))
  assert curve["step"] == 3 and curve["bpp"] == [0.125, 0.25]
  msssim = np.zeros((len(held), 2))
  psnr = np.zeros_like(msssim)
  for i, path in enumerate(held):
    image = load_downscaled(path, 2)
    bits, _ = network.compress(image, 2)
    every = network.decompress_progressive(bits, *image.shape[:2]).numpy()
    for t in range(2):
      msssim[i, t] = metrics.msssim(image, every[t])
      psnr[i, t] = metrics.psnr(image, every[t])
  np.testing.assert_allclose(curve["msssim"], msssim.mean(0), atol=1e-9)
  np.testing.assert_allclose(curve["psnr"], psnr.mean(0), atol=1e-9)


def test_iteration_curve_reads_older_records(tmp_path):
  """Records of the retired residual_gru.evaluate still tabulate."""
  from compression import evaluation
  old = {"step": 7, "images": ["a.png"], "bpp": [0.125], "msssim": [0.9],
         "psnr": [25.0], "psnr_hvs": [24.0], "msssim_per_image": [[0.9]]}
  (tmp_path / "eval-7-x.json").write_text(json.dumps(old))
  curve = evaluation.iteration_curve(str(tmp_path / "eval-7-x.json"))
  assert curve == {k: old[k] for k in ("step", "images", "bpp", "msssim",
                                        "psnr", "psnr_hvs")}
  (tmp_path / "none.json").write_text(json.dumps(
      {"images": [], "rows": [{"codec": "jpeg", "knob": 5}]}))
  with pytest.raises(ValueError, match="no rows of our codec"):
    evaluation.iteration_curve(str(tmp_path / "none.json"))
