r"""The recipe study's table: candidates at equal CPU time, with a forecast.

  python -m compression.study --study_dir=/work/runs/study \
      --output_dir=runs/study [--budget_cpu_secs=3600] [--forecast_hours=20]

Every sub-folder of --study_dir that holds a training run is a candidate
(runs/study/run.sh makes them). For each it reads
- history.jsonl: steps and the run's CPU seconds (``cpu_secs``), hence
  steps per CPU-second;
- eval-<step>-heldout_*/results.json (`rnn-codec eval --model=RUN
  --held_out_fraction ...` on images that build_dataset held out, never
  Kodak; older records: eval-<step>-heldout_*.json): mean MS-SSIM and PSNR
  per iteration, pooled over the held-out sets by image count;
- speed-<step>.json (`rnn-codec speed --output`; older records:
  decode-<step>.json): seconds to decode a Kodak image at 16 iterations;
- the warm-start point (the v1 checkpoint evaluated in ``v1src``), shared by
  the candidates that start from v1's function.

The forecast of each metric is a straight line in log(step) through the
candidate's evaluations from the warm-start point on (the shape of the v1
run's own curve, see residual_gru.loss_trend), plus, for the candidates
that continue the v1 recipe unchanged, the v1 run's earlier checkpoints
(--recipe_history), read at the step that --forecast_hours of CPU at the
candidate's speed reaches. Two points make a
line, not a trend: with only the start and one evaluation it is a guess
that later evaluations will correct, and the table says how many points
each forecast stands on.
"""

import glob
import json
import os
import re

from absl import app
from absl import flags
import numpy as np

from compression import evaluation

FLAGS = flags.FLAGS
ITERATIONS = (2, 4, 8, 16)
START = "v1src"
_V1_MODEL = None  # set from the start point's config


def define_flags():
  flags.DEFINE_string("study_dir", None, "Folder of the candidates' runs.")
  flags.DEFINE_string("output_dir", None, "Writes table.md and results.json.")
  flags.DEFINE_float("budget_cpu_secs", 3600, "The equal-time budget.")
  flags.DEFINE_float("forecast_hours", 20, "CPU hours of the forecast.")
  flags.DEFINE_list("recipe_history", ["v1_7003", "v1_15053"], "Runs in "
                    "--study_dir holding earlier checkpoints of the v1 run "
                    "(evaluated like the candidates): points of the curve "
                    "of every candidate whose training config is the v1 "
                    "recipe's.")


def _eval_files(run_dir):
  """[(step, path)] of a run's held-out evaluations, either schema."""
  found = []
  for path in (glob.glob(os.path.join(run_dir, "eval-*-heldout_*.json")) +
               glob.glob(os.path.join(run_dir, "eval-*-heldout_*",
                                      "results.json"))):
    name = os.path.relpath(path, run_dir)
    found.append((int(re.match(r"eval-(\d+)-", name).group(1)), path))
  return found


def pooled_evals(run_dir):
  """{step: {"msssim": [...], "psnr": [...], "images": n}} pooled over sets."""
  by_step = {}
  for step, path in _eval_files(run_dir):
    r = evaluation.iteration_curve(path)
    n = len(r["images"])
    acc = by_step.setdefault(step, {"msssim": 0.0, "psnr": 0.0, "images": 0,
                                    "sets": 0})
    acc["msssim"] = acc["msssim"] + n * np.asarray(r["msssim"])
    acc["psnr"] = acc["psnr"] + n * np.asarray(r["psnr"])
    acc["images"] += n
    acc["sets"] += 1
  out = {}
  for step, acc in by_step.items():
    if acc["sets"] < 2:
      continue  # both held-out sets, or the pooled mean means something else
    out[step] = {"msssim": (acc["msssim"] / acc["images"]).tolist(),
                 "psnr": (acc["psnr"] / acc["images"]).tolist(),
                 "images": acc["images"]}
  return out


def cpu_by_step(run_dir):
  """[(step, cpu_secs)] of the run's history records that have both."""
  points = []
  path = os.path.join(run_dir, "history.jsonl")
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        r = json.loads(line)
        if "cpu_secs" in r:
          points.append((r["step"], r["cpu_secs"]))
  return sorted(points)


def decode_secs(run_dir, iterations=16):
  """Seconds to decode at ``iterations`` in the run's newest timing, or None:
  `rnn-codec speed --output=RUN/speed-<step>.json` (the median over its
  images of our codec's decode time), or an older decode-<step>.json."""
  newest = None
  for path in glob.glob(os.path.join(run_dir, "speed-*.json")):
    step = int(re.match(r"speed-(\d+)", os.path.basename(path)).group(1))
    with open(path) as f:
      rows = [r for r in json.load(f)["summary"]
              if r["codec"] == "ours" and int(r["setting"]) == iterations]
    if rows and (newest is None or step > newest[0]):
      newest = (step, rows[0]["decode_s"])
  for path in glob.glob(os.path.join(run_dir, "decode-*.json")):
    with open(path) as f:
      r = json.load(f)
    if r["iterations"] == iterations and (newest is None or
                                          r["step"] > newest[0]):
      newest = (r["step"], r["decode_secs"])
  return newest and newest[1]


def log_step_forecast(points, step):
  """Least-squares line in log(step) through [(step, value)], read at step."""
  s, v = np.log([p[0] for p in points]), np.array([p[1] for p in points])
  slope, intercept = np.polyfit(s, v, 1)
  return float(slope * np.log(step) + intercept)


def _recipe(config):
  """A run's training settings, without its step limit."""
  return {k: v for k, v in config["train"].items() if k != "max_steps"}


def candidate(run_dir, start_evals, start_step, budget, forecast_secs,
              history=()):
  """One row of the table; ``history`` = [(train config, {step: eval})]."""
  with open(os.path.join(run_dir, "config.json")) as f:
    config = json.load(f)
  # The warm start costs nothing; later records carry the run's CPU.
  cpu = [(start_step, 0.0)] + [p for p in cpu_by_step(run_dir)
                               if p[0] > start_step]
  evals = {s: e for s, e in pooled_evals(run_dir).items() if s > start_step}
  if len(cpu) < 2 or not evals:
    return None
  first_step = start_step
  spent = cpu[-1][1]
  steps_per_cpu_sec = (cpu[-1][0] - first_step) / max(spent, 1e-9)
  # The evaluation at (or last before) the equal-CPU budget.
  cpu_at = lambda step: float(np.interp(step, *zip(*cpu)))
  within = [s for s in evals if cpu_at(s) <= budget * 1.02]
  if not within:
    return None
  at = max(within)
  points = {start_step: start_evals, **evals}
  for train_config, earlier in history:
    if train_config == _recipe(config) and config["model"] == (
        _V1_MODEL or config["model"]):
      points.update(earlier)
  forecast_step = first_step + steps_per_cpu_sec * forecast_secs
  row = {"name": os.path.basename(run_dir), "config": config,
         "steps_per_cpu_sec": steps_per_cpu_sec, "cpu_secs": spent,
         "step": at, "cpu_secs_at_step": cpu_at(at),
         "images": evals[at]["images"], "forecast_step": forecast_step,
         "forecast_points": len(points), "decode_secs": decode_secs(run_dir)}
  for metric in ("msssim", "psnr"):
    row[metric] = {k: evals[at][metric][k - 1] for k in ITERATIONS}
    row[f"{metric}_forecast"] = {
        k: log_step_forecast([(s, p[metric][k - 1])
                              for s, p in sorted(points.items())],
                             forecast_step)
        for k in ITERATIONS}
  return row


def table(rows, start, budget, forecast_hours):
  lines = [
      f"Held-out images of the training sources ({start['images']}: "
      "BSDS500 at half size and Urban100 at full size, held out by name "
      "hash), MS-SSIM / PSNR at 2, 4, 8 and 16 iterations after "
      f"{budget / 3600:g} CPU hour(s) of training on one thread, and a "
      f"log-step forecast after {forecast_hours:g} CPU hours "
      "(`python -m compression.study`). decode s: seconds to decode one "
      "Kodak image (768x512) at 16 iterations on one thread, median of 3 "
      "(`run.sh decode_time NAME`, `rnn-codec speed`).", "",
      "| candidate | steps/CPU-s | step | CPU h | MS-SSIM @2 / 4 / 8 / 16 | "
      "PSNR @2 / 4 / 8 / 16 | forecast MS-SSIM @2 / 4 / 8 / 16 "
      f"({forecast_hours:g} h) | points | decode s |",
      "|---|---|---|---|---|---|---|---|---|"]
  secs = lambda s: "–" if s is None else f"{s:.2f}"
  fmt = lambda d, f: " / ".join(f.format(d[k]) for k in ITERATIONS)
  lines.append(f"| v1 (start) | – | {start['step']} | 0 | "
               f"{fmt(start['msssim'], '{:.4f}')} | "
               f"{fmt(start['psnr'], '{:.2f}')} | – | – | "
               f"{secs(start.get('decode_secs'))} |")
  for r in rows:
    lines.append(
        f"| {r['name']} | {r['steps_per_cpu_sec']:.3f} | {r['step']} | "
        f"{r['cpu_secs_at_step'] / 3600:.2f} | "
        f"{fmt(r['msssim'], '{:.4f}')} | {fmt(r['psnr'], '{:.2f}')} | "
        f"{fmt(r['msssim_forecast'], '{:.4f}')} | {r['forecast_points']} | "
        f"{secs(r['decode_secs'])} |")
  return "\n".join(lines) + "\n"


def main(argv):
  del argv
  if not FLAGS.study_dir or not FLAGS.output_dir:
    raise app.UsageError("--study_dir and --output_dir are required.")
  start_dir = os.path.join(FLAGS.study_dir, START)
  start_evals = pooled_evals(start_dir)
  if not start_evals:
    raise app.UsageError(f"Evaluate the warm-start point first: "
                         f"bash runs/study/run.sh eval {START}")
  start_step = max(start_evals)
  start = {"step": start_step, **start_evals[start_step],
           "decode_secs": decode_secs(start_dir)}
  start["msssim"] = {k: start["msssim"][k - 1] for k in ITERATIONS}
  start["psnr"] = {k: start["psnr"][k - 1] for k in ITERATIONS}
  global _V1_MODEL
  with open(os.path.join(start_dir, "config.json")) as f:
    _V1_MODEL = json.load(f)["model"]
  history = []
  for name in FLAGS.recipe_history:
    run_dir = os.path.join(FLAGS.study_dir, name)
    earlier = pooled_evals(run_dir)
    if earlier:
      with open(os.path.join(run_dir, "config.json")) as f:
        history.append((_recipe(json.load(f)), earlier))
  rows = []
  skip = {START, *FLAGS.recipe_history}
  for run_dir in sorted(glob.glob(os.path.join(FLAGS.study_dir, "*"))):
    if os.path.basename(run_dir) in skip or not os.path.exists(
        os.path.join(run_dir, "config.json")):
      continue
    row = candidate(run_dir, start_evals[start_step], start_step,
                    FLAGS.budget_cpu_secs, FLAGS.forecast_hours * 3600,
                    history)
    if row:
      rows.append(row)
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  text = table(rows, start, FLAGS.budget_cpu_secs, FLAGS.forecast_hours)
  with open(os.path.join(FLAGS.output_dir, "table.md"), "w") as f:
    f.write(text)
  with open(os.path.join(FLAGS.output_dir, "results.json"), "w") as f:
    json.dump({"start": start, "candidates": rows}, f, indent=1,
              default=float)
  print(text)


if __name__ == "__main__":
  define_flags()
  app.run(main)
