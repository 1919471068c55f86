"""HE tiles, the step-indexed input, losses, and exact resumption of training."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from residual_gru import build_dataset, config as config_lib, data, harness, metrics, train
from tests import processes
from tests.images import synthetic_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_noise_tiles_rank_above_flat_tiles():
  rng = np.random.default_rng(0)
  flat = np.full((32, 32, 3), 120, np.uint8)
  smooth = synthetic_image(32, 32)
  noise = rng.integers(0, 256, (32, 32, 3), np.uint8)
  tiles = np.stack([flat, noise, smooth, flat])
  index, ratios = data.select_tiles(tiles, 0.25, "he", rng)
  assert list(index) == [1]
  assert ratios[1] > ratios[2] > ratios[0]
  index, _ = data.select_tiles(tiles, 0.5, "random", rng)
  assert len(index) == 2


def test_cut_tiles_are_non_overlapping_blocks():
  image = synthetic_image(70, 100)
  tiles = data.cut_tiles(image, 32)
  assert tiles.shape == (2 * 3, 32, 32, 3)
  np.testing.assert_array_equal(tiles[4], image[32:64, 32:64])


def _image_folder(folder, n=6, size=(96, 128)):
  folder.mkdir(parents=True, exist_ok=True)
  for i in range(n):
    Image.fromarray(synthetic_image(*size, seed=i)).save(folder / f"{i}.png")
  return folder


def _build(tmp_path, **kw):
  src = _image_folder(tmp_path / "images")
  paths = data.list_images([str(src)])
  counts = {"unreadable": 0}
  images = build_dataset._folder_images(paths, 1, counts)
  args = dict(tile_size=32, keep_fraction=0.5, selection="he",
              validation_fraction=0.2, shards=2, seed=0)
  args.update(kw)
  return build_dataset.build(images, len(paths), str(tmp_path / "he"),
                              counts=counts, **args)


def test_build_dataset_writes_shards_and_a_held_out_split(tmp_path):
  stats = _build(tmp_path)
  assert stats["train_tiles"] + stats["val_tiles"] == 6 * 12 // 2
  assert stats["val_images"] >= 1 and stats["train_images"] >= 1
  tiles = data.load_tiles(str(tmp_path / "he" / "train-*"))
  assert tiles.shape == (stats["train_tiles"], 32, 32, 3)
  assert json.loads((tmp_path / "he" / "dataset.json").read_text())


@pytest.mark.slow
def test_build_dataset_errors_and_unreadable_files(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "residual_gru.build_dataset",
       f"--input_dir={tmp_path}", f"--output_dir={tmp_path / 'out'}"],
      capture_output=True, text=True, cwd=ROOT, timeout=120)
  assert proc.returncode != 0 and "No PNG or JPEG images" in proc.stderr
  src = _image_folder(tmp_path / "imgs", n=3)
  (src / "broken.png").write_bytes(b"not an image")
  proc = subprocess.run(
      [sys.executable, "-m", "residual_gru.build_dataset",
       f"--input_dir={src}", f"--output_dir={tmp_path / 'out'}",
       "--validation_fraction=0"],
      capture_output=True, text=True, cwd=ROOT, timeout=120)
  assert proc.returncode == 0, proc.stderr
  assert json.loads(proc.stdout)["unreadable"] == 1


def test_batches_are_a_pure_function_of_seed_and_step():
  tiles = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3),
                                            np.uint8)
  a = data.batch_for_step(tiles, 4, seed=3, step=7)
  b = data.batch_for_step(tiles, 4, seed=3, step=7)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, data.batch_for_step(tiles, 4, 3, 8))
  # Five steps of 4 = two epochs of 10: each tile appears twice (flipped or
  # not), i.e. a permutation per epoch.
  seen = np.concatenate([data.batch_for_step(tiles, 4, 3, s)
                         for s in range(5)])
  keys = sorted(int(t.astype(np.int64).sum()) for t in seen)
  assert keys == sorted(2 * [int(t.astype(np.int64).sum()) for t in tiles])
  n1 = data.noise_for_step((2, 3, 1, 1, 4), 3, 7)
  np.testing.assert_array_equal(n1, data.noise_for_step((2, 3, 1, 1, 4), 3,
                                                        7))


def test_training_msssim_matches_tensorflow_and_has_finite_gradients():
  a = synthetic_image(64, 64, 1)[None].astype(np.float32) / 255
  rng = np.random.default_rng(0)
  b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1).astype(np.float32)
  weights = np.array((0.0448, 0.2856, 0.3001))
  want = float(tf.image.ssim_multiscale(a, b, 1.0,
                                        power_factors=weights / weights.sum())[0])
  got = float(train.msssim_loss_terms(tf.constant(a), tf.constant(b), 3)[0])
  assert got == pytest.approx(want, abs=1e-4)
  z = tf.Variable(np.zeros_like(a))
  with tf.GradientTape() as tape:
    loss = train.msssim_loss_terms(tf.constant(a), z, 3)
  assert np.all(np.isfinite(tape.gradient(loss, z).numpy()))
  assert metrics.msssim_scales(32) == 2 and metrics.msssim_scales(64) == 3
  assert metrics.msssim_scales(175) == 4 and metrics.msssim_scales(176) == 5


def test_staircase_learning_rate():
  cfg = config_lib.TrainConfig(learning_rate=1.0, decay_rate=0.5,
                               decay_steps=10)
  assert [train.learning_rate_at(cfg, s) for s in (0, 9, 10, 25)] == [
      1.0, 1.0, 0.5, 0.25]


@pytest.fixture(scope="module")
def he_dir(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("he")
  _build(tmp)
  return tmp / "he"


def _train_cmd(he_dir, train_dir, steps, *extra):
  return [sys.executable, "-m", "residual_gru.train",
          f"--config={ROOT}/configs/tiny.json", f"--train_dir={train_dir}",
          f"--train_data={he_dir}/train-*", f"--val_data={he_dir}/val.tfrecord",
          f"--max_steps={steps}", "--log_steps=1", "--val_steps=3",
          "--batch_size=4", "--seed=5", "--threads=1", *extra]


def _weights(train_dir):
  path = tf.train.latest_checkpoint(os.path.join(train_dir, "checkpoints"))
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name)
          for name, _ in tf.train.list_variables(path)
          if name.startswith("weights/") or name.startswith("optimizer/")}


@pytest.mark.slow
def test_resume_after_sigkill_matches_an_uninterrupted_run(he_dir, tmp_path):
  steps = 6
  straight = tmp_path / "straight"
  subprocess.run(_train_cmd(he_dir, straight, steps), check=True, cwd=ROOT,
                 capture_output=True, timeout=300)
  killed = tmp_path / "killed"
  reached = processes.sigkill_after_checkpoints(
      _train_cmd(he_dir, killed, 1000, "--checkpoint_steps=2"),
      killed / "checkpoints", ROOT)
  assert 4 <= reached < steps, reached
  subprocess.run(_train_cmd(he_dir, killed, steps), check=True, cwd=ROOT,
                 capture_output=True, timeout=300)
  a, b = _weights(straight), _weights(killed)
  assert a.keys() == b.keys() and len(a) > 20
  for name in a:
    np.testing.assert_allclose(a[name], b[name], atol=1e-6, err_msg=name)
  history = [json.loads(l) for l in
             (killed / "history.jsonl").read_text().splitlines()]
  assert any("val_loss" in h for h in history)
  assert os.listdir(killed / "train")  # TensorBoard event files


@pytest.mark.slow
def test_mirrored_strategy_matches_a_single_device(he_dir, tmp_path):
  single, mirrored = tmp_path / "single", tmp_path / "mirrored"
  subprocess.run(_train_cmd(he_dir, single, 3), check=True, cwd=ROOT,
                 capture_output=True, timeout=300)
  proc = subprocess.run(
      _train_cmd(he_dir, mirrored, 3, "--strategy=mirrored",
                 "--cpu_devices=2"), cwd=ROOT, capture_output=True,
      text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  a, b = _weights(single), _weights(mirrored)
  for name in a:
    if name.startswith("weights/"):
      np.testing.assert_allclose(a[name], b[name], atol=1e-5, err_msg=name)


@pytest.mark.slow
def test_refuses_to_resume_a_different_model(he_dir, tmp_path):
  run_dir = tmp_path / "run"
  subprocess.run(_train_cmd(he_dir, run_dir, 1), check=True, cwd=ROOT,
                 capture_output=True, timeout=300)
  cfg = json.loads(open(f"{ROOT}/configs/tiny.json").read())
  cfg["model"]["cell"] = "lstm"
  other = tmp_path / "lstm.json"
  other.write_text(json.dumps(cfg))
  cmd = _train_cmd(he_dir, run_dir, 2)
  cmd[3] = f"--config={other}"
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode != 0 and "different model config" in proc.stderr


def _free_ports(n):
  import socket
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


@pytest.mark.slow
def test_multi_worker_strategy_runs_two_workers(he_dir, tmp_path):
  ports = _free_ports(2)
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  procs = []
  for index in range(2):
    env = dict(os.environ, TF_CONFIG=json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": index}}))
    procs.append(subprocess.Popen(
        _train_cmd(he_dir, tmp_path / "run", 3, "--strategy=multi_worker"),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True))
  outs = [p.communicate(timeout=300) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  assert "step 3/3" in outs[0][1] and "step 3/3" in outs[1][1]
  path = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
  assert path and path.endswith("-3")
  # Only the chief writes the run's files: one history record per event
  # and no temporary files or worker folders left behind.
  records = [json.loads(line) for line in
             (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
  keys = [(r["step"], "val_loss" in r) for r in records]
  assert keys and len(keys) == len(set(keys))
  assert sorted(os.listdir(tmp_path / "run")) == [
      "checkpoints", "config.json", "history.jsonl", "train", "val"]


@pytest.mark.slow
def test_sigterm_checkpoints_and_stops(he_dir, tmp_path):
  run_dir = tmp_path / "run"
  proc = subprocess.Popen(_train_cmd(he_dir, run_dir, 100000), cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
  for line in proc.stderr:  # wait until training is under way
    if line.startswith("step 2/"):
      break
  proc.send_signal(signal.SIGTERM)
  proc.communicate(timeout=120)
  assert proc.returncode == 0
  path = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
  assert path and 2 <= int(path.rsplit("-", 1)[1]) < 100000


@pytest.mark.slow
def test_cpu_budget_adds_up_over_resumed_sessions(he_dir, tmp_path):
  """--stop_after_cpu_secs counts the CPU of earlier sessions too."""
  run_dir = tmp_path / "run"
  history = run_dir / "history.jsonl"
  subprocess.run(_train_cmd(he_dir, run_dir, 4), check=True, cwd=ROOT,
                 capture_output=True, timeout=300)
  first = harness.recorded_cpu_secs(str(history))
  assert first > 0
  # A budget already spent: the resumed run stops after one step.
  subprocess.run(_train_cmd(he_dir, run_dir, 1000,
                            f"--stop_after_cpu_secs={first}"),
                 check=True, cwd=ROOT, capture_output=True, timeout=300)
  records = [json.loads(l) for l in history.read_text().splitlines()]
  assert records[-1]["step"] == 5
  cpu = [r["cpu_secs"] for r in records]
  assert cpu == sorted(cpu) and cpu[-1] > first


def test_tfds_source_offline(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  pictures = np.stack([synthetic_image(96, 128, seed=i) for i in range(4)])

  def as_dataset(self, *args, **kwargs):
    del self, args, kwargs
    return tf.data.Dataset.from_tensor_slices(
        {"image": pictures, "label": np.zeros(4, np.int64)})

  with tfds.testing.mock_data(num_examples=4, as_dataset_fn=as_dataset):
    images = build_dataset._tfds_images("oxford_flowers102", "train")
    stats = build_dataset.build(images, None, str(tmp_path / "he"), 32, 0.25,
                                "he", 0.0, 1, 0)
  assert stats["images"] == 4 and stats["train_tiles"] == 4 * 3


@pytest.mark.slow
def test_release_and_model_card_of_two_steps(he_dir, tmp_path):
  """Freezing a run and its card: the table holds the measured numbers."""
  from compression import evaluation
  run = tmp_path / "run"
  (tmp_path / "img").mkdir()
  Image.fromarray(synthetic_image(64, 96, seed=4)).save(
      tmp_path / "img" / "a.png")
  subprocess.run(_train_cmd(he_dir, run, 4, "--checkpoint_steps=2"),
                 check=True, cwd=ROOT, capture_output=True, timeout=300)
  evals = []
  for steps in (2, 4):
    folder = tmp_path / f"model{steps}"
    subprocess.run([sys.executable, "-m", "compression.release",
                    f"--train_dir={run}", f"--output_dir={folder}",
                    f"--checkpoint={run}/checkpoints/ckpt-{steps}",
                    "--model_id=1000", f"--name=m{steps}"],
                   check=True, cwd=ROOT, capture_output=True, timeout=120)
    evals.append(evaluation.evaluate(
        [str(tmp_path / "img" / "a.png")], ["ours"],
        str(tmp_path / f"eval{steps}"), model=str(folder), workers=0))
  assert [e["model"]["step"] for e in evals] == [2, 4]
  subprocess.run([sys.executable, "-m", "compression.model_card",
                  f"--model_dir={tmp_path / 'model4'}", f"--train_dir={run}",
                  f"--eval_json={tmp_path / 'eval4'}/results.json,"
                  f"{tmp_path / 'eval2'}/results.json",
                  "--command=python -m residual_gru.train ..."],
                 check=True, cwd=ROOT, capture_output=True, timeout=120)
  card = (tmp_path / "model4" / "MODEL_CARD.md").read_text()
  assert "Training steps: 4;" in card and "MS-SSIM at step 2 (eval2)" in card
  (row,) = [l for l in card.splitlines() if l.startswith("| 1 |")]
  cells = [c.strip() for c in row.strip("|").split("|")]
  final = evals[1]["summary"]["ours@nominal"]
  early = evals[0]["summary"]["ours@nominal"]
  assert cells[1] == "0.125"
  assert cells[2] == f"{final['msssim']['mean'][0]:.4f}"
  assert cells[3] == f"{final['psnr']['mean'][0]:.2f}"
  assert cells[4] == f"{early['msssim']['mean'][0]:.4f}"
  assert final["msssim"]["mean"] != early["msssim"]["mean"]
  assert (tmp_path / "model4" / "loss.png").exists()
  assert (tmp_path / "model4" / "rd.png").exists()

  # The release pipeline: stages run in order, are recorded, and a rerun
  # skips the recorded ones (resumable); the golden file decodes.
  release = [sys.executable, "-m", "compression.release",
             f"--train_dir={run}", f"--output_dir={tmp_path / 'm'}",
             "--model_id=1001", "--name=m", "--stages=golden,release",
             f"--golden_dir={tmp_path / 'golden'}",
             f"--work_dir={tmp_path / 'work'}"]
  first = subprocess.run(release, cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
  assert first.returncode == 0, first.stderr[-2000:]
  assert first.stdout.index("[release]") < first.stdout.index("[golden]")
  assert json.loads((tmp_path / "work" / "stages.json").read_text()) == [
      "release", "golden"]
  import compression
  data = (tmp_path / "golden" / "m.rnc").read_bytes()
  decoded = compression.decompress(data, model=str(tmp_path / "m"))
  np.testing.assert_array_equal(
      decoded, np.asarray(Image.open(tmp_path / "golden" / "m.png")))
  again = subprocess.run(release, cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
  assert again.returncode == 0 and "[golden] done earlier" in again.stdout
  bad = subprocess.run(release[:-3] + ["--stages=publish"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
  assert bad.returncode != 0 and "Unknown stages" in bad.stderr


def test_loss_trend_rule_and_forecast(tmp_path):
  from residual_gru import loss_trend
  # A held-out loss exactly linear in log(step): 0.2 - 0.01 ln(step).
  steps = np.arange(1000, 20001, 1000)
  with open(tmp_path / "history.jsonl", "w") as f:
    for s in steps:
      f.write(json.dumps({"step": int(s), "loss": 1.0}) + "\n")
      f.write(json.dumps({"step": int(s),
                          "val_loss": 0.2 - 0.01 * np.log(s)}) + "\n")
  points = loss_trend.held_out(str(tmp_path))
  assert len(points) == 20
  rule = loss_trend.stopping_rule(points, 0.2)
  expected = (0.01 * np.log(20000 / 16000)) / (0.2 - 0.01 * np.log(16000))
  np.testing.assert_allclose(rule["improvement"], expected, rtol=1e-9)
  fit = loss_trend.log_fit(points, 0.4)
  np.testing.assert_allclose(fit["slope_per_doubling"], -0.01 * np.log(2),
                             rtol=1e-9)
  np.testing.assert_allclose(fit["predict"](40000),
                             0.2 - 0.01 * np.log(40000), rtol=1e-9)
  # Kodak results at two steps; MS-SSIM = 1 - loss at every rate.
  paths = []
  for s in (4000, 16000):
    q = 1 - (0.2 - 0.01 * np.log(s))
    path = tmp_path / f"eval{s}.json"
    path.write_text(json.dumps({"model": {"step": s}, "summary": {
        "ours@nominal": {"msssim": {"bpp": [0.125, 0.25],
                                    "mean": [q, q]}}}}))
    paths.append(str(path))
  rows, fits = loss_trend.quality_vs_loss(points, paths)
  assert [r[0] for r in rows] == [4000, 16000]
  np.testing.assert_allclose(np.polyval(fits[1], 0.05), 0.95, rtol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("argv", [
    ["compression", "eval", "--images={tmp}/img", "--output_dir={tmp}/m",
     "--codecs=ours", "--model={run}/checkpoints/ckpt-99"],
    ["compression.release", "--train_dir={run}", "--output_dir={tmp}/m",
     "--model_id=1000", "--name=m", "--checkpoint={run}/checkpoints/ckpt-99"],
    ["compression.export", "--train_dir={tmp}/nothing",
     "--export_dir={tmp}/e"],
    ["entropy_coder.build_codes", "--image_model=no_such_model",
     "--input_dir={tmp}", "--output={tmp}/c/train.tfrecord"],
])
def test_binaries_refuse_a_missing_checkpoint_or_model(tmp_path, argv):
  run = tmp_path / "run"
  (run / "checkpoints").mkdir(parents=True)
  (run / "config.json").write_text(json.dumps(
      {"model": config_lib.ModelConfig(channel_multiplier=0.125, iterations=2).to_dict(),
       "train": {}}))
  (tmp_path / "img").mkdir()
  Image.fromarray(synthetic_image(32, 32, seed=1)).save(
      tmp_path / "img" / "a.png")
  args = [a.format(run=run, tmp=tmp_path) for a in argv]
  proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode != 0
  assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
  assert "ckpt-99" in proc.stderr or "nothing" in proc.stderr or (
      "no_such_model" in proc.stderr), proc.stderr[-2000:]
  assert not (tmp_path / "m").exists() and not (tmp_path / "e").exists()


@pytest.mark.slow
def test_stop_code_training_draws_stops_from_seed_and_step():
  """stop_fraction (issue #16): the stops are a pure function of (seed,
  step), the fraction and range are as configured, and the masked L1 is the
  L1 when every block sends every iteration."""
  model_config = config_lib.ModelConfig(channel_multiplier=0.125,
                                        iterations=4)
  train_config = config_lib.TrainConfig(batch_size=4, stop_fraction=0.5)
  trainer = train.Trainer(model_config, train_config, "/nonexistent", 3,
                          tf.distribute.get_strategy())
  trainer.step.assign(11)
  a = trainer._stop_iterations(64, 4, 8, 8).numpy()
  b = trainer._stop_iterations(64, 4, 8, 8).numpy()
  np.testing.assert_array_equal(a, b)
  trainer.step.assign(12)
  assert (trainer._stop_iterations(64, 4, 8, 8).numpy() != a).any()
  assert set(np.unique(a)) == {1, 2, 3, 4}
  assert 0.4 < (a < 4).mean() < 0.6
  x = tf.random.stateless_uniform([2, 32, 32, 3], [1, 2])
  recons = [x * 0.5, x * 0.9]
  l1 = np.array([np.abs(x - r).mean() for r in recons])
  np.testing.assert_allclose(
      train.masked_l1_losses(x, recons, tf.fill([2, 2, 2], 2)).numpy(), l1,
      rtol=1e-5)
  half = train.masked_l1_losses(x, recons, tf.constant(
      [[[1, 2], [1, 2]]] * 2)).numpy()
  assert half[0] == pytest.approx(l1[0], rel=1e-5)
  assert half[1] < l1[1] * 0.75
  with pytest.raises(ValueError, match="l1"):
    config_lib.TrainConfig(stop_fraction=0.5, loss="msssim")
  images = np.zeros((4, 32, 32, 3), np.uint8)
  noise = data.noise_for_step(trainer.model.code_shape(4, 32, 32), 3, 12)
  per_iter = trainer.train_step(images, noise, tf.constant(1e-4)).numpy()
  assert per_iter.shape == (4,) and np.all(np.isfinite(per_iter))
