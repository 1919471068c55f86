r"""Releases a training run: freezes it into a model folder, then measures it.

  python -m compression.release --train_dir=/tmp/run \
      --output_dir=compression/models/v1 --model_id=1 --name=v1

The ``release`` stage (the default) writes model.json (id, name,
architecture, provenance) and weights.npz (float16 by default, which halves
the package size; the network still computes in float32); with --register a
bundled release is listed in compression/models/registry.json. The whole
pipeline is --stages=all, or any of these in order:

  release          freeze the checkpoint (above)
  golden           tests/golden/<name>.rnc and .png (compression.golden)
  eval             Kodak rate-distortion beside JPEG (rnn-codec eval)
  fp16             float32 checkpoint against the float16 release on Kodak
  codes            the model's code maps for its entropy model (build_codes)
  entropy          train the entropy model (entropy_coder.train, resumable)
  entropy_release  bundle its best checkpoint (--entropy_id)
  golden_entropy   the golden file range coded with it
  eval_entropy     Kodak at real file sizes beside JPEG and WebP
  benchmark        exact-decoding and per-iteration byte benchmark
  default          make the model the default for new files

Every stage records itself in <work_dir>/stages.json when it succeeds; a
rerun skips recorded stages (--redo=STAGE to repeat one), so a stopped
release resumes where it stopped. Paths are relative to the repository
root or given by flags; nothing is specific to one machine.
"""

import json
import os
import subprocess
import sys

from absl import app
from absl import flags
import numpy as np

from compression import errors, evaluation, golden, registry
from residual_gru import weights

FLAGS = flags.FLAGS
def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("train_dir", None, "Training run to freeze.")
  flags.DEFINE_string("checkpoint", None, "A specific checkpoint instead of "
                      "the latest.")
  flags.DEFINE_string("output_dir", None, "Model folder to write.")
  flags.DEFINE_integer("model_id", None, "Id stored in every file: 1-999 for "
                       "bundled releases, >= 1000 for your own models.")
  flags.DEFINE_string("name", None, "Model name.")
  flags.DEFINE_string("description", "", "One line about the model.")
  flags.DEFINE_enum("dtype", "float16", ["float16", "float32", "int8"],
                    "Storage type of the weights (int8: a float32 scale "
                    "per output unit; for the large fully connected "
                    "thumbnail models).")
  flags.DEFINE_bool("register", False, "Add to compression/models/"
                    "registry.json (bundled releases only).")
  flags.DEFINE_bool("make_default", False, "With --register: new files use it.")
  flags.DEFINE_list("stages", ["release"], "Stages to run, in pipeline "
                    "order, or 'all' (see the module docstring).")
  flags.DEFINE_list("redo", [], "Stages to run again although recorded.")
  flags.DEFINE_string("work_dir", None, "Where stages.json, code maps and "
                      "the entropy run live (default: <train_dir>/release_<name>).")
  flags.DEFINE_string("kodak", None, "Folder of the 24 Kodak images (eval, "
                      "fp16, eval_entropy, benchmark).")
  flags.DEFINE_string("code_images", None, "Folder of training images the "
                      "entropy model's code maps are made from (codes).")
  flags.DEFINE_string("entropy_init", None, "Entropy-model weights the "
                      "fine-tuning starts from (entropy; optional).")
  flags.DEFINE_integer("entropy_secs", 3600, "Wall-time limit of the "
                       "entropy stage (it resumes when run again).")
  flags.DEFINE_integer("entropy_id", None, "Id of the entropy model "
                       "(entropy_release).")
  flags.DEFINE_string("golden_dir", os.path.join("tests", "golden"),
                      "Where golden files go.")
  flags.DEFINE_string("benchmarks_dir", os.path.join("runs", "benchmarks"),
                      "Where evaluation results go.")


STAGES = ("release", "golden", "eval", "fp16", "codes", "entropy",
          "entropy_release", "golden_entropy", "eval_entropy", "benchmark",
          "default")


def _git_commit():
  try:
    return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


def register(folder_name, model_id, make_default):
  path = os.path.join(registry.MODELS_DIR, "registry.json")
  index = {"default": None, "models": {}}
  if os.path.exists(path):
    with open(path) as f:
      index = json.load(f)
  if str(model_id) in index["models"] and (
      index["models"][str(model_id)] != folder_name):
    raise app.UsageError(f"Model id {model_id} is taken by "
                         f"{index['models'][str(model_id)]}.")
  index["models"][str(model_id)] = folder_name
  if make_default:
    index["default"] = folder_name
  with open(path, "w") as f:
    json.dump(index, f, indent=2)


def stage_release():
  try:
    network, step = weights.load_checkpoint(FLAGS.train_dir,
                                            FLAGS.checkpoint)
  except FileNotFoundError as e:
    raise app.UsageError(str(e))
  with open(os.path.join(FLAGS.train_dir, "config.json")) as f:
    train_config = json.load(f)["train"]
  model = registry.save_model_dir(
      network, FLAGS.output_dir, FLAGS.model_id, FLAGS.name,
      FLAGS.description, dtype=np.dtype(FLAGS.dtype),
      extra={"provenance": {"train_dir": os.path.abspath(FLAGS.train_dir),
                            "step": step, "train": train_config,
                            "release_commit": _git_commit()}})
  if FLAGS.register:
    if os.path.dirname(os.path.abspath(FLAGS.output_dir)) != (
        registry.MODELS_DIR):
      raise app.UsageError("--register needs --output_dir inside "
                           f"{registry.MODELS_DIR}.")
    register(os.path.basename(os.path.abspath(FLAGS.output_dir)),
             FLAGS.model_id, FLAGS.make_default)
  print(f"Wrote {model} (step {step}) to {FLAGS.output_dir}")


def _model_spec():
  """The released model as the codec names it: bundled name, else folder."""
  folder = os.path.abspath(FLAGS.output_dir)
  if os.path.dirname(folder) == registry.MODELS_DIR:
    return os.path.basename(folder)
  return FLAGS.output_dir


def _run(*args):
  """Runs a stage's command (``python -m ...``) and fails the stage on error."""
  command = [sys.executable, "-m", *args]
  print("+ " + " ".join(command), flush=True)
  if subprocess.run(command).returncode:
    raise app.UsageError(f"Stage command failed: {' '.join(args[:1])}.")


def _need(*names):
  for name in names:
    if getattr(FLAGS, name) is None:
      raise app.UsageError(f"This stage needs --{name}.")


def _codes_dir():
  return os.path.join(FLAGS.work_dir, "codes")


def _entropy_run():
  return os.path.join(FLAGS.work_dir, "entropy")


def _bench(suffix=""):
  return os.path.join(FLAGS.benchmarks_dir, f"kodak_{FLAGS.name}{suffix}")


def stage_golden():
  try:
    golden.golden(_model_spec(), FLAGS.golden_dir)
  except golden.Exists as e:
    print(f"{e} (kept)")


def stage_eval():
  _need("kodak")
  _run("compression", "eval", f"--images={FLAGS.kodak}",
       f"--output_dir={_bench()}", "--codecs=ours,jpeg", "--workers=2",
       f"--model={_model_spec()}")


def stage_fp16():
  """The float16 release against its float32 checkpoint, all of Kodak."""
  _need("kodak")
  with open(os.path.join(FLAGS.output_dir, "model.json")) as f:
    step = json.load(f)["provenance"]["step"]
  checkpoint = os.path.join(FLAGS.train_dir, "checkpoints", f"ckpt-{step}")
  if not os.path.exists(checkpoint + ".index"):
    raise app.UsageError(f"The released step's checkpoint {checkpoint} is "
                         "gone; nothing to compare the float16 release with.")
  float32_dir = os.path.join(FLAGS.work_dir, "kodak_float32")
  _run("compression", "eval", f"--images={FLAGS.kodak}",
       f"--output_dir={float32_dir}", "--codecs=ours", "--workers=2",
       f"--model={checkpoint}")
  f32 = evaluation.iteration_curve(os.path.join(float32_dir, "results.json"))
  f16 = evaluation.iteration_curve(os.path.join(_bench(), "results.json"))
  for key in ("msssim", "psnr"):
    d = [abs(a - b) for a, b in zip(f32[key], f16[key])]
    print(f"{key}: float32 checkpoint vs float16 release, largest "
          f"difference over {len(d)} iterations {max(d):.5f}")


def stage_codes():
  _need("code_images")
  out = _codes_dir()
  _run("entropy_coder.build_codes", f"--image_model={FLAGS.output_dir}",
       f"--input_dir={FLAGS.code_images}", "--scales=1,1.5,2",
       "--crops_per_image=2", f"--output={out}/train.tfrecord.gz",
       f"--val_output={out}/val.tfrecord.gz")


def stage_entropy():
  out = _codes_dir()
  _run("entropy_coder.train", f"--train_dir={_entropy_run()}",
       "--model=progressive",
       "--model_config=configs/entropy_coder/bundled_model.json",
       f"--input_config={out}/input.json",
       "--train_config=configs/entropy_coder/bundled_train.json",
       *([f"--init_from={FLAGS.entropy_init}"] if FLAGS.entropy_init else []),
       f"--val_data={out}/val.tfrecord.gz", "--val_steps=500",
       "--log_steps=100", "--threads=1",
       f"--stop_after_secs={FLAGS.entropy_secs}")


def stage_entropy_release():
  _need("entropy_id")
  _run("compression.entropy_release",
       f"--checkpoint={_entropy_run()}/best",
       f"--model_dir={FLAGS.output_dir}", f"--entropy_id={FLAGS.entropy_id}")


def stage_golden_entropy():
  try:
    golden.entropy_golden(_model_spec(), FLAGS.golden_dir)
  except golden.Exists as e:
    print(f"{e} (kept)")


def stage_eval_entropy():
  _need("kodak")
  _run("compression", "eval", f"--images={FLAGS.kodak}",
       f"--output_dir={_bench('_entropy')}", "--codecs=ours,jpeg,webp",
       "--entropy", "--workers=1", f"--model={_model_spec()}")


def stage_benchmark():
  _need("kodak")
  _run("compression.entropy_benchmark", f"--images={FLAGS.kodak}",
       f"--model={_model_spec()}",
       f"--output={FLAGS.benchmarks_dir}/entropy_{FLAGS.name}/results.json")


def stage_default():
  register(os.path.basename(os.path.abspath(FLAGS.output_dir)),
           FLAGS.model_id, True)


def main(argv):
  del argv
  for name in ("train_dir", "output_dir", "model_id", "name"):
    if getattr(FLAGS, name) is None:
      raise app.UsageError(f"--{name} is required.")
  if FLAGS.register and not 1 <= FLAGS.model_id < registry.FIRST_USER_ID:
    raise app.UsageError("Bundled releases take ids 1-999.")
  stages = list(STAGES) if FLAGS.stages == ["all"] else FLAGS.stages
  unknown = sorted({s for s in stages + FLAGS.redo if s not in STAGES})
  if unknown:
    raise app.UsageError(f"Unknown stages {unknown}; the stages are "
                         f"{', '.join(STAGES)}.")
  FLAGS.work_dir = FLAGS.work_dir or os.path.join(
      FLAGS.train_dir, f"release_{FLAGS.name}")
  os.makedirs(FLAGS.work_dir, exist_ok=True)
  state_path = os.path.join(FLAGS.work_dir, "stages.json")
  done = []
  if os.path.exists(state_path):
    with open(state_path) as f:
      done = json.load(f)
  for stage in sorted(stages, key=STAGES.index):
    if stage in done and stage not in FLAGS.redo:
      print(f"[{stage}] done earlier ({state_path}); --redo={stage} repeats it")
      continue
    print(f"[{stage}]", flush=True)
    try:
      globals()["stage_" + stage]()
    except (errors.CodecError, OSError, ValueError, KeyError) as e:
      raise app.UsageError(f"Stage {stage} failed: {e}")
    done = [s for s in done if s != stage] + [stage]
    with open(state_path, "w") as f:
      json.dump(done, f)


if __name__ == "__main__":
  define_flags()
  app.run(main)
