"""The command line: subcommands, batch mode, reference flags, clean errors."""

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from compression import cli, reference
from tests.images import synthetic_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def photo_path(tmp_path):
  path = tmp_path / "photo.png"
  Image.fromarray(synthetic_image(48, 80, seed=2)).save(path)
  return str(path)


def run(*argv):
  return cli.main([str(a) for a in argv])


def test_encode_info_truncate_decode(photo_path, tmp_path, tiny_model_dir,
                                     capsys):
  rnc = tmp_path / "p.rnc"
  assert run("encode", photo_path, "-o", rnc, "--iterations", 3,
             "--model", tiny_model_dir) == 0
  assert run("info", "--json", rnc) == 0
  info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert info["iterations"] == 3 and info["header_bytes"] > 0
  short = tmp_path / "s.rnc"
  assert run("truncate", rnc, "-o", short, "--iterations", 1) == 0
  png = tmp_path / "out.png"
  assert run("decode", short, "-o", png, "--model", tiny_model_dir) == 0
  assert Image.open(png).size == (80, 48)


def test_encode_in_tiles(photo_path, tmp_path, tiny_model_dir, capsys):
  rnc = tmp_path / "t.rnc"
  assert run("encode", photo_path, "-o", rnc, "--iterations", 2,
             "--tile-size", 32, "--model", tiny_model_dir) == 0
  assert run("info", rnc) == 0
  assert "80x48 in 32-pixel tiles" in capsys.readouterr().out
  png = tmp_path / "t.png"
  assert run("decode", rnc, "-o", png, "--model", tiny_model_dir) == 0
  assert Image.open(png).size == (80, 48)
  bad = tmp_path / "bad.rnc"
  assert run("encode", photo_path, "-o", bad, "--tile-size", 40,
             "--model", tiny_model_dir) == 1
  assert "multiple of 32" in capsys.readouterr().err
  assert not bad.exists()


def test_adaptive_encode_and_its_map(photo_path, tmp_path, tiny_model_dir,
                                     capsys):
  """--adaptive (issue #16): a version-3 file within the target, info
  reports the stop map and writes it as an image; without a target, a
  one-line error and no file."""
  rnc = tmp_path / "a.rnc"
  assert run("encode", photo_path, "-o", rnc, "--adaptive",
             "--target-bpp", 1.5, "--model", tiny_model_dir) == 0
  assert rnc.read_bytes()[3] == 3
  assert 8 * rnc.stat().st_size / (80 * 48) <= 1.5
  png = tmp_path / "map.png"
  assert run("info", rnc, "--map", png) == 0
  assert "spatially adaptive" in capsys.readouterr().out
  # 80x48 pixels: a code map of 6x4 positions (the network codes 96x64),
  # one 16x16 cell each
  assert Image.open(png).size == (6, 4)
  assert run("decode", rnc, "-o", tmp_path / "a.png",
             "--model", tiny_model_dir) == 0
  bad = tmp_path / "b.rnc"
  assert run("encode", photo_path, "-o", bad, "--adaptive",
             "--model", tiny_model_dir) == 1
  err = capsys.readouterr().err
  assert "target" in err and len(err.strip().splitlines()) == 1
  assert not bad.exists()


def test_batch_mode_reports_bad_files_and_goes_on(tmp_path, photo_path,
                                                  tiny_model_dir, capsys):
  folder = tmp_path / "in"
  folder.mkdir()
  Image.fromarray(synthetic_image(40, 40)).save(folder / "a.png")
  (folder / "b.png").write_bytes(b"not a png")
  Image.fromarray(synthetic_image(33, 20)).save(folder / "c.png")
  out = tmp_path / "out"
  assert run("encode", folder, "-o", out, "--iterations", 1,
             "--model", tiny_model_dir) == 1
  err = capsys.readouterr().err
  assert "2 of 3 files done, 1 failed" in err
  errors = [l for l in err.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and "b.png" in errors[0]  # once, at the end
  assert err.index(errors[0]) < err.index("2 of 3 files done")
  assert sorted(os.listdir(out)) == ["a.rnc", "c.rnc"]
  assert run("decode", out, "-o", tmp_path / "dec",
             "--model", tiny_model_dir) == 0
  assert sorted(os.listdir(tmp_path / "dec")) == ["a.png", "c.png"]


def test_reference_encoder_decoder_flags(photo_path, tmp_path,
                                         tiny_model_dir):
  codes = tmp_path / "codes.npz"
  assert run("encoder", "--input_image", photo_path, "--output_codes", codes,
             "--iteration", 2, "--model", tiny_model_dir) == 0
  with np.load(codes) as f:
    assert list(f["shape"]) == [3, 1, 4, 6, 32]  # iterations 0..2
    assert list(f["original_size"]) == [48, 80]
  bits, size = reference.read_npz(str(codes))
  assert bits.shape == (3, 4, 6, 32) and size == (48, 80)
  out = tmp_path / "dec"
  assert run("decoder", "--input_codes", codes, "--output_directory", out,
             "--model", tiny_model_dir) == 0
  assert sorted(os.listdir(out)) == ["image_00.png", "image_01.png",
                                     "image_02.png"]
  assert run("decoder", "--input_codes", codes, "--output_directory",
             tmp_path / "d2", "--iteration", 0, "--model",
             tiny_model_dir) == 0
  assert os.listdir(tmp_path / "d2") == ["image_00.png"]
  assert run("encoder", "--input_image", photo_path, "--output_codes", codes,
             "--iteration", 16, "--model", tiny_model_dir) == 2


def test_msssim_command(photo_path, capsys):
  assert run("msssim", "--original_image", photo_path, "--compared_image",
             photo_path) == 0
  assert float(capsys.readouterr().out) == pytest.approx(1.0)


@pytest.mark.slow
@pytest.mark.parametrize("argv,message", [
    (["decode", "missing.rnc", "-o", "x.png"], "no such file"),
    (["info", "README.md"], "bad magic"),
    (["encode", "README.md", "-o", "x.rnc"], "not an image"),
])
def test_errors_are_one_line_without_traceback(argv, message, tmp_path):
  env = dict(os.environ, PYTHONPATH=ROOT)
  proc = subprocess.run([sys.executable, "-m", "compression", *argv],
                        capture_output=True, text=True, cwd=ROOT, env=env,
                        timeout=120)
  assert proc.returncode == 1
  assert message in proc.stderr
  assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
  assert not os.path.exists(os.path.join(ROOT, argv[-1])) or argv[-1] == (
      "README.md")


def test_output_over_the_input_is_refused(photo_path, tmp_path, capsys):
  import shutil
  same = tmp_path / "same.png"
  shutil.copy(photo_path, same)
  before = same.read_bytes()
  assert cli.main(["encode", str(same), "-o", str(same)]) != 0
  assert "is the input file" in capsys.readouterr().err
  assert same.read_bytes() == before


def test_help_explains():
  proc = subprocess.run([sys.executable, "-m", "compression", "--help"],
                        capture_output=True, text=True, cwd=ROOT, timeout=60,
                        env=dict(os.environ, PYTHONPATH=ROOT))
  assert proc.returncode == 0
  for word in ("encode", "decode", "truncate", "info", "1/8 bit per pixel"):
    assert word in proc.stdout


def test_speed_command_measures_in_fresh_processes(photo_path, tmp_path):
  out = tmp_path / "speed.json"
  assert run("speed", "--images", os.path.dirname(photo_path), "--codecs",
             "jpeg", "--repeats", 1, "--output", out) == 0
  result = json.loads(out.read_text())
  (row,) = result["rows"]
  assert row["codec"] == "jpeg" and row["encode_s"] > 0
  # The child's own peak, not its parent's (this pytest process is large).
  assert 0 <= row["work_mb"] < 200 and row["peak_mb"] < 400


@pytest.mark.slow
def test_eval_command_on_anchors(photo_path, tmp_path):
  out = tmp_path / "eval"
  assert run("eval", "--images", os.path.dirname(photo_path), "--codecs",
             "jpeg,webp", "--workers", 1, "--output_dir", out) == 0
  result = json.loads((out / "results.json").read_text())
  assert {r["codec"] for r in result["rows"]} == {"jpeg", "webp"}
  assert (out / "rd_msssim.png").exists() and (out / "summary.csv").exists()


@pytest.mark.slow
def test_threads_flag_sets_tensorflow_threads(tmp_path):
  """--threads must reach TensorFlow before its devices are set up (it used
  to fail there with a RuntimeError traceback)."""
  import subprocess
  import sys
  src = tmp_path / "a.png"
  Image.fromarray(synthetic_image(32, 32)).save(src)
  proc = subprocess.run(
      [sys.executable, "-m", "compression", "--threads=1", "encode",
       str(src), "-o", str(tmp_path / "a.rnc"), "--iterations", "1"],
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr
  code = ("from residual_gru import quiet; tf = quiet.import_tensorflow(1); "
          "print(tf.config.threading.get_intra_op_parallelism_threads())")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, timeout=300)
  assert out.stdout.strip().splitlines()[-1] == "1", out.stderr[-2000:]
