"""Released models: each loads, and its committed golden file still decodes.

A golden file is written once, when its model is released
(``python -m compression.golden``, or the golden stage of ``python -m compression.release``), and never rewritten: if a later change
(code, TensorFlow, weights) decoded it differently, users' files made with
that model would change too.
"""

import json
import os

import numpy as np
import pytest

import compression
from compression import images, metrics, registry

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
BUNDLED = sorted(registry.bundled().items())


def test_a_default_model_is_bundled():
  assert registry.default_name() in dict(BUNDLED).values()
  assert registry.get().id in dict(BUNDLED)


def test_bundled_ids_are_release_ids_and_unique():
  folders = [f for _, f in BUNDLED]
  assert len(set(folders)) == len(folders)
  for model_id, folder in BUNDLED:
    assert 1 <= model_id < registry.FIRST_USER_ID
    meta = json.load(open(os.path.join(registry.MODELS_DIR, folder,
                                       "model.json")))
    assert meta["id"] == model_id and meta["name"] == folder


@pytest.mark.parametrize("model_id,folder", BUNDLED)
def test_golden_file_decodes(model_id, folder):
  rnc = os.path.join(GOLDEN, f"{folder}.rnc")
  png = os.path.join(GOLDEN, f"{folder}.png")
  assert os.path.exists(rnc), f"release {folder} has no golden file"
  info = compression.info(rnc)
  assert info["model_id"] == model_id
  decoded = compression.decompress(rnc)
  expected = images.load(png)
  assert decoded.shape == expected.shape
  # Bit-exact on the machine that released it; other CPUs may round a few
  # pixels differently (float kernels), never more than by one level.
  diff = np.abs(decoded.astype(int) - expected.astype(int))
  assert diff.max() <= 1 and (diff > 0).mean() < 0.01


ADAPTIVE_GOLDEN = sorted(f[:-len("_adaptive.rnc")] for f in os.listdir(GOLDEN)
                         if f.endswith("_adaptive.rnc"))


@pytest.mark.parametrize("folder", ADAPTIVE_GOLDEN)
def test_adaptive_golden_file_decodes(folder):
  """A spatially adaptive file (format version 3, issue #16): its stop map
  and entropy-coded payload decode to the image written at release."""
  from compression import container
  rnc = os.path.join(GOLDEN, f"{folder}_adaptive.rnc")
  c = container.parse(open(rnc, "rb").read())
  assert c.version == container.ADAPTIVE_VERSION
  assert c.stop_map.min() < c.stop_map.max()  # cells stopped at different
  decoded = compression.decompress(rnc)
  expected = images.load(os.path.join(GOLDEN, f"{folder}_adaptive.png"))
  diff = np.abs(decoded.astype(int) - expected.astype(int))
  assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_the_default_model_compresses_the_demo_image():
  path = os.path.join(os.path.dirname(compression.__file__), "data",
                      "kodim23_crop.png")
  original = images.load(path)
  data = compression.compress(original, iterations=4)
  decoded = compression.decompress(data)
  # A trained model, not noise: far above what an untrained network gives.
  assert metrics.msssim(original, decoded) > 0.8


def test_demo_command_runs_on_the_bundled_model(capsys):
  from compression import cli
  assert cli.main(["demo", "--iterations", "1", "2"]) == 0
  out = capsys.readouterr().out
  assert "MS-SSIM" in out and len(out.strip().splitlines()) == 4


WITH_ENTROPY = [(i, f) for i, f in BUNDLED if registry.get(f).entropy]

_DECODE_GOLDEN = """
import hashlib, sys
sys.path.insert(0, {root!r})
from compression import api, container, registry
model = registry.get({folder!r})
c = container.parse(open({path!r}, "rb").read())
print(hashlib.sha256(model.codec.unpack(c).tobytes()).hexdigest())
"""


@pytest.mark.slow
@pytest.mark.parametrize("model_id,folder", WITH_ENTROPY)
def test_entropy_golden_file_decodes_exactly(model_id, folder):
  """The bundled entropy model decodes its golden file to exactly the raw
  golden file's bits: here, with one intra-op thread, and without oneDNN."""
  import hashlib
  import subprocess
  import sys
  from compression import container
  model = registry.get(folder)
  entropy_id = model.entropy[0]
  path = os.path.join(GOLDEN, f"{folder}_entropy{entropy_id}.rnc")
  assert os.path.exists(path), f"{folder}'s entropy model has no golden file"
  coded = container.parse(open(path, "rb").read())
  raw = container.parse(open(os.path.join(GOLDEN, f"{folder}.rnc"),
                             "rb").read())
  assert coded.payload_type == container.ENTROPY_CODED
  assert coded.entropy_id == entropy_id
  assert len(coded.to_bytes()) < len(raw.to_bytes())  # it saves bytes
  bits = model.codec.unpack(raw)
  np.testing.assert_array_equal(model.codec.unpack(coded), bits)
  want = hashlib.sha256(bits.tobytes()).hexdigest()
  root = os.path.dirname(os.path.dirname(GOLDEN))
  for env in ({"TF_ENABLE_ONEDNN_OPTS": "0"},
              {"TF_NUM_INTRAOP_THREADS": "1", "OMP_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1"}):
    out = subprocess.run(
        [sys.executable, "-c", _DECODE_GOLDEN.format(
            root=root, folder=folder, path=path)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, **env, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == want, env


def test_int8_weights_load_within_half_a_step(tmp_path):
  """weights.npz in int8 (release --dtype=int8, for the large fully
  connected thumbnail models): every variable comes back within half its
  output unit's quantization step, the file is smaller than float16's, and
  int8 weights without their scales are refused."""
  from residual_gru import config as config_lib
  from residual_gru import model as model_lib
  from residual_gru import networks, weights
  config = config_lib.ModelConfig(channel_multiplier=0.0625, iterations=2)
  network = networks.build(config)
  for dtype in (np.int8, np.float16):
    weights.save_npz(network, str(tmp_path / f"{np.dtype(dtype).name}.npz"),
                     dtype)
  assert (tmp_path / "int8.npz").stat().st_size < \
      (tmp_path / "float16.npz").stat().st_size
  again = networks.build(config)
  weights.load_npz(again, str(tmp_path / "int8.npz"))
  for name, variable in model_lib.named_variables(network).items():
    value = variable.numpy()
    _, scale = weights.quantize_int8(value)
    restored = model_lib.named_variables(again)[name].numpy()
    assert np.all(np.abs(restored - value) <= scale / 2 + 1e-7), name
  with np.load(tmp_path / "int8.npz") as stored:
    kept = {k: stored[k] for k in stored.files
            if not k.endswith(weights.SCALE_SUFFIX)}
  np.savez(tmp_path / "unscaled.npz", **kept)
  with pytest.raises(ValueError, match="no scales"):
    weights.load_npz(again, str(tmp_path / "unscaled.npz"))
