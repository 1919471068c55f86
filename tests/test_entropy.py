"""Entropy coder: integer twin of the BinaryRNN, causality, exact range coding."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import given, settings, strategies as st
import keras
import numpy as np
import pytest

from entropy_coder import coding, config as config_lib, integer
from entropy_coder import model as model_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _network(progressive=True, layers=3, depth=8, seed=0):
  keras.utils.set_random_seed(seed)
  return model_lib.ProgressiveBinaryRNN(config_lib.EntropyModelConfig(
      layer_depth=depth, layer_count=layers, progressive=progressive))


@pytest.fixture(scope="module")
def engine():
  return integer.IntegerBinaryRNN(_network())


def _bits(shape, p=0.3, seed=0):
  return (np.random.default_rng(seed).uniform(size=shape) < p).astype(
      np.uint8)


def test_lookup_tables():
  tanh, sigmoid = integer.tables()
  assert np.all(np.diff(tanh) >= 0) and np.all(np.diff(sigmoid) >= 0)
  mid = integer.LIMIT
  assert tanh[mid] == 0 and sigmoid[mid] == integer.ONE // 2
  np.testing.assert_array_equal(tanh[mid + 1:], -tanh[mid - 1:0:-1])
  assert tanh[-1] == integer.ONE and tanh[0] == -integer.ONE


def test_integer_twin_tracks_the_float_network(engine):
  net = _network()
  bits = _bits((3, 9, 11, 8))
  p_int = integer.probability_of_one(engine.probabilities(bits))
  p_float = integer.float_probabilities(net, bits)
  assert np.abs(p_int - p_float).max() < 5e-3
  assert p_int.min() > 0 and p_int.max() < 1  # both symbols keep mass


@pytest.mark.parametrize("progressive", [True, False])
def test_exact_decoding_and_prefixes(progressive):
  eng = integer.IntegerBinaryRNN(_network(progressive))
  bits = _bits((3, 10, 7, 8), seed=1)
  segments = coding.encode(eng, bits)
  np.testing.assert_array_equal(coding.decode(eng, segments, 10, 7), bits)
  np.testing.assert_array_equal(coding.decode(eng, segments[:1], 10, 7),
                                bits[:1])


@pytest.mark.parametrize("progressive", [True, False])
def test_positions_that_stopped_are_not_coded(progressive):
  """Spatially adaptive files (issue #16): with a map of iterations per
  position, later bits there are not coded (any values give the same
  segments, which are shorter) and decode as 0; prefixes still decode."""
  eng = integer.IntegerBinaryRNN(_network(progressive))
  bits = _bits((3, 10, 7, 8), seed=1)
  kept = np.random.default_rng(4).integers(1, 4, (10, 7))
  kept[0, 0] = 3
  segments = coding.encode(eng, bits, kept)
  sent = np.arange(3)[:, None, None] < kept[None]
  want = bits * sent[..., None]
  np.testing.assert_array_equal(coding.decode(eng, segments, 10, 7, kept),
                                want)
  other = np.where(sent[..., None], bits, 1 - bits).astype(np.uint8)
  assert coding.encode(eng, other, kept) == segments
  full = coding.encode(eng, bits)
  assert all(len(a) <= len(b) for a, b in zip(segments, full))
  assert sum(map(len, segments)) < sum(map(len, full))
  np.testing.assert_array_equal(
      coding.decode(eng, segments[:2], 10, 7, kept), want[:2])
  ideal = coding.ideal_bits(eng, bits, kept)
  assert np.all(ideal <= coding.ideal_bits(eng, bits))
  assert np.all(8 * np.array(list(map(len, segments))) >= ideal)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(0, 2), y=st.integers(0, 5), x=st.integers(0, 6),
       d=st.integers(0, 7))
def test_causality(engine, k, y, x, d):
  """Flipping a bit leaves unchanged every probability coded before it:
  earlier layers, and earlier rows of its layer (a row is coded at once)."""
  bits = _bits((3, 6, 7, 8), seed=2)
  before = engine.probabilities(bits)
  flipped = bits.copy()
  flipped[k, y, x, d] ^= 1
  after = engine.probabilities(flipped)
  np.testing.assert_array_equal(after[:k], before[:k])
  np.testing.assert_array_equal(after[k, :y + 1], before[k, :y + 1])


def test_range_coder_overhead_is_small(engine):
  bits = _bits((3, 24, 32, 8), p=0.2, seed=3)
  segments = coding.encode(engine, bits)
  coded = 8 * sum(len(s) for s in segments)
  ideal = coding.ideal_bits(engine, bits).sum()
  assert coded < ideal * 1.005 + 32 * len(segments)


_SCRIPT = """
import sys, json, numpy as np, keras
sys.path.insert(0, {root!r})
from tests.test_entropy import _network, _bits
from entropy_coder import coding, integer
eng = integer.IntegerBinaryRNN(_network())
segs = coding.encode(eng, _bits((3, 10, 7, 8), seed=4))
print(json.dumps([s.hex() for s in segs]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("env", [
    {"TF_ENABLE_ONEDNN_OPTS": "0"},
    {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
     "TF_NUM_INTRAOP_THREADS": "1"},
])
def test_same_bytes_under_other_kernels_and_thread_counts(engine, env):
  here = [s.hex() for s in coding.encode(engine, _bits((3, 10, 7, 8),
                                                       seed=4))]
  out = subprocess.run(
      [sys.executable, "-c", _SCRIPT.format(root=ROOT)], capture_output=True,
      text=True, env={**os.environ, **env, "TF_CPP_MIN_LOG_LEVEL": "2"},
      timeout=120, cwd=ROOT)
  assert out.returncode == 0, out.stderr[-2000:]
  assert json.loads(out.stdout.strip().splitlines()[-1]) == here


def test_a_segment_of_the_wrong_length_is_an_error(engine):
  with pytest.raises(coding.EntropyDecodeError):
    coding.decode(engine, [b"abc"], 4, 4)


def test_a_claimed_code_map_needs_segments_long_enough_to_code_it(engine):
  """The cheapest bits the model can code cost MIN_BITS_PER_SYMBOL each: a
  segment of n such bits is longer than the bound asks, and a short segment
  claiming a huge map is refused before anything is allocated."""
  import constriction
  for n in (1000, 100_000, 3_000_000):
    encoder = constriction.stream.queue.RangeEncoder()
    p_one = np.full(n, 4 / 8192)  # the integer model's most confident P
    encoder.encode(np.zeros(n, np.int32), coding._FAMILY, p_one)
    size = 4 * len(encoder.get_compressed())
    assert coding.can_hold(size, n)
    assert 8 * size >= n * coding.MIN_BITS_PER_SYMBOL - 64
  assert not coding.can_hold(4, 4096 * 4096 * 8)
  t0 = time.perf_counter()
  with pytest.raises(coding.EntropyDecodeError, match="too short"):
    coding.decode(engine, [b"\0" * 8], 8192, 8192)
  assert time.perf_counter() - t0 < 0.5


@pytest.fixture(scope="module")
def entropy_model_dir(tmp_path_factory):
  """A tiny image model (id 1002) with a tiny untrained entropy model."""
  from compression import registry
  from residual_gru import config as rg_config
  from residual_gru import model as rg_model
  keras.utils.set_random_seed(3)
  image_net = rg_model.RNNCompressionModel(rg_config.ModelConfig(
      channel_multiplier=0.125, iterations=4))
  folder = str(tmp_path_factory.mktemp("models") / "with_entropy")
  registry.save_model_dir(image_net, folder, 1002, "with-entropy")
  registry.save_entropy_dir(_network(layers=4, depth=32), folder, 1002)
  return folder


def test_api_entropy_coded_files_decode_like_raw_ones(entropy_model_dir):
  import compression
  from compression import container, errors
  from tests.images import synthetic_image
  from compression import registry
  image = synthetic_image(40, 70, seed=9)
  # This fixture's entropy model is untrained: its files come out larger
  # than raw, so compress writes raw ones; the coded form is built here.
  codec = registry.get(entropy_model_dir).codec
  coded = codec.entropy_coded(codec.encode(image, 4), 70, 40).to_bytes()
  raw = compression.compress(image, 4, model=entropy_model_dir,
                             entropy_coding=False)
  assert compression.compress(image, 4, model=entropy_model_dir) == raw
  info = compression.info(coded)
  assert info["payload"] == "entropy-coded" and info["iterations"] == 4
  np.testing.assert_array_equal(
      compression.decompress(coded, model=entropy_model_dir),
      compression.decompress(raw, model=entropy_model_dir))
  short = compression.truncate(coded, 2)
  np.testing.assert_array_equal(
      compression.decompress(short, model=entropy_model_dir),
      compression.decompress(raw, iterations=2, model=entropy_model_dir))
  data = bytearray(coded)
  data[-5] ^= 0x10
  with pytest.raises(errors.FormatError):
    compression.decompress(bytes(data), model=entropy_model_dir)
  for cut in (len(coded) - 1, len(coded) // 2, 20):
    with pytest.raises(errors.FormatError):
      compression.decompress(coded[:cut], model=entropy_model_dir)
  c = container.parse(coded)
  c.entropy_id = 77
  with pytest.raises(errors.UnknownModelError, match="77"):
    compression.decompress(c.to_bytes(), model=entropy_model_dir)


@pytest.mark.slow
def test_damaged_payloads_with_valid_crcs_are_codec_errors():
  """A damaged entropy-coded segment is an image or a CodecError, never a
  foreign exception.

  constriction's range decoder raises AssertionError on data no encoder
  could have written; with v0's trained entropy model 2 of these 200 damaged
  files (seed 0: a flipped bit and/or a cut in one segment, CRCs
  recomputed) did so before the codec caught it.
  """
  import dataclasses
  import compression
  from compression import container, errors, fuzz
  from tests.images import synthetic_image
  from compression import registry
  codec = registry.get("v0").codec
  c = codec.entropy_coded(codec.encode(synthetic_image(32, 32, seed=4), 4),
                          32, 32)
  rng = np.random.default_rng(0)
  outcomes = {"image": 0, "codec error": 0}
  for _ in range(200):
    segments = list(c.segments)
    k = rng.integers(0, len(segments))
    damaged = bytearray(segments[k])
    if damaged:
      damaged[rng.integers(0, len(damaged))] ^= 1 << int(rng.integers(0, 8))
    if rng.random() < 0.5:
      damaged = damaged[:rng.integers(0, len(damaged) + 1)]
    segments[k] = bytes(damaged)
    # Written field by field: the container's writer refuses cut segments
    # (not whole words) that a damaged file may still hold.
    damaged_c = dataclasses.replace(c, segments=segments)
    junk = fuzz.build(fuzz._header_fields(damaged_c), segments)
    try:
      image = compression.decompress(junk)
      assert image.shape == (32, 32, 3)
      outcomes["image"] += 1
    except errors.CodecError:
      outcomes["codec error"] += 1
  assert outcomes["codec error"] > 0 and outcomes["image"] > 0


def _ec_cmd(tmp, train_dir, steps, *extra):
  from entropy_coder import gen_synthetic_dataset
  data = tmp / "codes.tfrecord"
  if not data.exists():
    from entropy_coder import dataset
    rng = np.random.default_rng(0)
    dataset.write(str(data), [gen_synthetic_dataset.synthetic_codes(
        rng, (12, 16, 8)) for _ in range(12)])
  (tmp / "input.json").write_text(json.dumps({"data": str(data)}))
  return [sys.executable, "-m", "entropy_coder.train",
          f"--train_dir={train_dir}", "--model=progressive",
          f"--model_config={ROOT}/configs/entropy_coder/synthetic_model.json",
          f"--input_config={tmp / 'input.json'}",
          f"--train_config={ROOT}/configs/entropy_coder/synthetic_train.json",
          f"--val_data={data}", f"--max_steps={steps}", "--log_steps=1",
          "--val_steps=2", "--threads=1", *extra]


def _ckpt_tensors(train_dir):
  import tensorflow as tf
  path = tf.train.latest_checkpoint(os.path.join(train_dir, "checkpoints"))
  reader = tf.train.load_checkpoint(path)
  return {n: reader.get_tensor(n) for n, _ in tf.train.list_variables(path)
          if n.startswith("weights/")}


@pytest.mark.slow
def test_training_binary_resumes_after_sigkill(tmp_path):
  from tests import processes
  steps = 6
  straight = tmp_path / "straight"
  out = subprocess.run(_ec_cmd(tmp_path, straight, steps), cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  assert f"step {steps}/{steps}  bits/bit" in out.stderr
  killed = tmp_path / "killed"
  reached = processes.sigkill_after_checkpoints(
      _ec_cmd(tmp_path, killed, 1000, "--checkpoint_steps=2"),
      killed / "checkpoints", ROOT)
  assert 4 <= reached < steps, reached
  subprocess.run(_ec_cmd(tmp_path, killed, steps), cwd=ROOT, check=True,
                 capture_output=True, timeout=300)
  a, b = _ckpt_tensors(straight), _ckpt_tensors(killed)
  assert a.keys() == b.keys() and a
  for name in a:
    np.testing.assert_allclose(a[name], b[name], atol=1e-6, err_msg=name)
  assert os.listdir(straight / "train")


@pytest.mark.slow
def test_code_builder_scales_orientations_and_held_out_split(
    tiny_model_dir, tmp_path):
  from PIL import Image
  from entropy_coder import dataset
  from residual_gru import data
  from tests.images import synthetic_image
  names = [f"img_{i}.png" for i in range(8)]
  held = [n for n in names if data.is_validation(n, 0.3)]
  assert held and len(held) < len(names)  # both splits get images
  for i, name in enumerate(names):
    Image.fromarray(synthetic_image(300, 520, seed=i)).save(tmp_path / name)
  Image.fromarray(synthetic_image(200, 200, seed=9)).save(tmp_path / "s.png")
  out = subprocess.run(
      [sys.executable, "-m", "entropy_coder.build_codes",
       f"--image_model={tiny_model_dir}", f"--input_dir={tmp_path}",
       "--scales=1,1.15", "--crops_per_image=1", "--iterations=2",
       "--held_out_fraction=0.3", f"--output={tmp_path}/c/train.tfrecord.gz",
       f"--val_output={tmp_path}/c/val.tfrecord.gz"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  # 300x520 fits 1x2 crops of 256 at scale 1 and 1x1 at 1.15 (261x452);
  # the 200x200 image fits none.
  train = dataset.load(f"{tmp_path}/c/train.tfrecord.gz")
  val = dataset.load(f"{tmp_path}/c/val.tfrecord.gz")
  assert len(train) == 3 * (len(names) - len(held))
  assert len(val) == 3 * len(held)
  assert train.shape[1:] == (16, 16, 2 * 32)
  assert set(np.unique(train)) == {-1.0, 1.0}
  config = json.loads((tmp_path / "c" / "input.json").read_text())
  assert dataset.load(config["data"]).shape == train.shape


@pytest.mark.slow
def test_benchmark_checks_exact_decoding_and_reports_bytes(
    entropy_model_dir, tmp_path):
  from PIL import Image
  from tests.images import synthetic_image
  for i, (h, w) in enumerate([(40, 70), (64, 32)]):
    Image.fromarray(synthetic_image(h, w, seed=i)).save(tmp_path / f"{i}.png")
  out = subprocess.run(
      [sys.executable, "-m", "compression.entropy_benchmark",
       f"--images={tmp_path}", f"--model={entropy_model_dir}",
       "--iterations=4", "--repeats=1", f"--output={tmp_path}/r.json"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  assert "2 images, 4 iterations" in out.stdout
  assert "all decoded exactly" in out.stdout
  report = json.loads((tmp_path / "r.json").read_text())
  s = report["summary"]
  assert s["all_exact"] and s["images"] == 2
  for row in report["images"]:
    h, w = -(-row["height"] // 32) * 2, -(-row["width"] // 32) * 2
    assert row["raw_segment_bytes"] == [h * w * 32 // 8] * 4
    assert len(row["coded_segment_bytes"]) == 4
    # A real coder never beats the model's own cross-entropy.
    assert 8 * sum(row["coded_segment_bytes"]) >= sum(
        row["ideal_segment_bits"])
  assert s["time_bar"]["range_decode_s"] > 0
  assert (tmp_path / "r.png").stat().st_size > 10000


@pytest.mark.slow
def test_compare_reports_static_and_trained_models(tmp_path):
  steps = 2
  train_dir = tmp_path / "prog"
  subprocess.run(_ec_cmd(tmp_path, train_dir, steps), cwd=ROOT, check=True,
                 capture_output=True, timeout=300)
  data = tmp_path / "codes.tfrecord"
  out = subprocess.run(
      [sys.executable, "-m", "entropy_coder.compare",
       f"--train_codes={data}", f"--val_codes={data}",
       f"--checkpoints=prog:{train_dir}", "--max_maps=3", "--coded_maps=2",
       f"--output={tmp_path}/c.json"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  report = json.loads((tmp_path / "c.json").read_text())
  assert report["maps"] == 3
  layers = len(report["static"]["float"])
  prog = report["prog"]
  assert prog["progressive"] and len(prog["float"]) == layers
  assert prog["coded_maps"] == 2
  assert (tmp_path / "c.png").stat().st_size > 5000
  # The integer twin is within quantization of the float network.
  assert abs(prog["integer_mean"] - prog["float_mean_coded_maps"]) < 0.01
  assert prog["coded_mean"] >= prog["integer_mean"]
  assert 0 < report["static"]["float_mean"] < 1.01  # smoothed, fitted here


@pytest.mark.slow
def test_training_can_start_from_released_weights(tmp_path):
  """--init_from: a new run starts from an entropy folder's weights."""
  from compression import registry
  from residual_gru import model as rg_model
  cfg = config_lib.EntropyModelConfig.from_json(
      f"{ROOT}/configs/entropy_coder/synthetic_model.json")
  net = model_lib.ProgressiveBinaryRNN(cfg)
  for v in net.weights:
    v.assign(np.full(v.shape, 0.5, np.float32))
  registry.save_entropy_dir(net, str(tmp_path / "release"), 7)
  run = tmp_path / "run"
  out = subprocess.run(
      _ec_cmd(tmp_path, run, 1, f"--init_from={tmp_path}/release/entropy"),
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  weights = _ckpt_tensors(run)
  assert len(weights) == len(rg_model.named_variables(net))
  for name, value in weights.items():
    # One Adam step of lr 0.1 moves a weight by at most about 0.1.
    np.testing.assert_allclose(value, 0.5, atol=0.11, err_msg=name)


def test_cli_encode_raw_flag(tmp_path):
  """The bundled model's trained entropy model makes photos smaller, so
  they are entropy coded by default; --raw stores the bits as they are."""
  from PIL import Image
  import compression
  from compression import cli, images
  src = tmp_path / "a.png"
  Image.fromarray(images.load(images.SAMPLE_IMAGE)[:47, :33]).save(src)
  for flag, payload in (([], "entropy-coded"), (["--raw"], "raw")):
    out = tmp_path / f"a{len(flag)}.rnc"
    assert cli.main(["encode", str(src), "-o", str(out), "--iterations", "2",
                     *flag]) == 0
    assert compression.info(str(out))["payload"] == payload


@pytest.mark.slow
def test_eval_entropy_rows_match_raw_quality(entropy_model_dir, tmp_path):
  """rnn-codec eval --entropy: entropy coding is lossless, so each
  iteration's scores equal the raw rows'; only the sizes differ."""
  from PIL import Image
  from compression import cli
  from tests.images import synthetic_image
  (tmp_path / "img").mkdir()
  Image.fromarray(synthetic_image(48, 64, seed=2)).save(
      tmp_path / "img" / "a.png")
  out = tmp_path / "eval"
  assert cli.main(["eval", "--images", str(tmp_path / "img"), "--codecs",
                   "ours", "--entropy", "--workers", "1", "--model",
                   entropy_model_dir, "--output_dir", str(out)]) == 0
  result = json.loads((out / "results.json").read_text())
  meta = json.loads((Path(entropy_model_dir) / "model.json").read_text())
  entropy_meta = json.loads(
      (Path(entropy_model_dir) / "entropy" / "model.json").read_text())
  # The results say which model (and step) the numbers of "ours" are from.
  assert result["model"] == {
      "id": meta["id"], "name": meta["name"],
      "step": meta.get("provenance", {}).get("step"),
      "entropy_id": entropy_meta["id"]}
  # table.md: iteration k at k/8 bpp with the measured mean MS-SSIM.
  table = (out / "table.md").read_text().splitlines()
  assert table[0].startswith("| iterations | bpp | with-entropy MS-SSIM |")
  nominal = result["summary"]["ours@nominal"]["msssim"]
  for k in range(4):
    cells = [c.strip() for c in table[2 + k].strip("|").split("|")]
    assert cells[:3] == [str(k + 1), f"{(k + 1) / 8:.3f}",
                         f"{nominal['mean'][k]:.4f}"]
  rows = result["rows"]
  raw = {r["knob"]: r for r in rows if r["codec"] == "ours"}
  coded = {r["knob"]: r for r in rows if r["codec"] == "ours-entropy"}
  assert sorted(raw) == sorted(coded) == [1, 2, 3, 4]
  for k in raw:
    assert coded[k]["msssim"] == raw[k]["msssim"]
    assert coded[k]["psnr"] == raw[k]["psnr"]
    assert coded[k]["bytes"] <= raw[k]["bytes"]  # never larger than raw


@pytest.mark.slow
def test_training_keeps_the_best_validation_and_stops_on_sigterm(tmp_path):
  import signal
  import time
  import tensorflow as tf
  run = tmp_path / "run"
  proc = subprocess.Popen(_ec_cmd(tmp_path, run, 100000, "--val_steps=1"),
                          cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  history = run / "history.jsonl"
  deadline = time.time() + 240
  while time.time() < deadline and not (
      history.exists() and history.read_text().count("val_bits") >= 4):
    time.sleep(0.1)
  proc.send_signal(signal.SIGTERM)
  assert proc.wait(timeout=120) == 0
  vals = [json.loads(l) for l in history.read_text().splitlines()
          if "val_bits" in l]
  best = json.loads((run / "best" / "best.json").read_text())
  winner = min(vals, key=lambda v: v["val_bits_per_bit"])
  assert best["step"] == winner["step"]
  assert tf.train.latest_checkpoint(str(run / "best")).endswith(
      f"-{best['step']}")
  assert (run / "best" / "config.json").exists()
  # SIGTERM checkpointed the step it stopped at.
  last = tf.train.latest_checkpoint(str(run / "checkpoints"))
  assert int(last.rsplit("-", 1)[1]) >= vals[-1]["step"]
