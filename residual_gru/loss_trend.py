r"""Where a training run stands: the stopping rule and what more steps would give.

  python -m residual_gru.loss_trend --train_dir=/work/runs/v1 \
      --eval_json=runs/benchmarks/v1_progress/step05459/results.json,...

Reads the run's held-out losses (history.jsonl) and prints
- the stopping rule of the v1 run: the relative improvement of the
  held-out loss over the last 20 % of steps (stop when under 1 %);
- a fit of the held-out loss against log(step) over the last 40 % of steps,
  extrapolated to 2x and 4x the steps (a straight line in log(step) is what
  the run's own curve looks like; a power law toward a floor would promise
  less, so this is an upper estimate of the gain);
- with --eval_json (Kodak results of checkpoints of this run at different
  steps), a least-squares line from held-out loss to MS-SSIM at each nominal
  rate, applied to the extrapolated losses.
"""

import json
import os

from absl import app
from absl import flags
import numpy as np

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("train_dir", None, "The training run.")
  flags.DEFINE_list("eval_json", [], "`rnn-codec eval` results.json of "
                    "releases of this run at different steps.")
  flags.DEFINE_float("window", 0.2, "Fraction of steps of the stopping rule.")
  flags.DEFINE_float("fit_window", 0.4, "Fraction of steps fitted.")
  flags.DEFINE_string("output", None, "Also write the numbers as JSON.")


def held_out(train_dir):
  """[(step, loss)] of the run's validations, last value per step."""
  by_step = {}
  with open(os.path.join(train_dir, "history.jsonl")) as f:
    for line in f:
      r = json.loads(line)
      if "val_loss" in r:
        by_step[r["step"]] = r["val_loss"]
  return sorted(by_step.items())


def loss_at(points, step):
  """Held-out loss interpolated at step (linear in log step)."""
  steps, losses = zip(*points)
  return float(np.interp(np.log(step), np.log(steps), losses))


def stopping_rule(points, window):
  last = points[-1][0]
  start = last * (1 - window)
  before = loss_at(points, max(start, points[0][0]))
  return {"from_step": start, "to_step": last, "from_loss": before,
          "to_loss": points[-1][1],
          "improvement": (before - points[-1][1]) / before}


def log_fit(points, fit_window):
  last = points[-1][0]
  chosen = [(s, l) for s, l in points if s >= last * (1 - fit_window)]
  if len(chosen) < 3:
    chosen = points[-3:]
  s, l = np.array(chosen, dtype=float).T
  slope, intercept = np.polyfit(np.log(s), l, 1)
  return {"slope_per_doubling": float(slope * np.log(2)),
          "points": len(chosen),
          "predict": lambda step: float(intercept + slope * np.log(step))}


def quality_vs_loss(points, eval_paths):
  """Per nominal rate: MS-SSIM as a line in the held-out loss."""
  rows = []
  for path in eval_paths:
    with open(path) as f:
      e = json.load(f)
    step = (e.get("model") or {}).get("step")
    if step is None:
      raise app.UsageError(f"{path} does not say which step it measured "
                           "(results of an older `rnn-codec eval`).")
    ours = e["summary"]["ours@nominal"]["msssim"]
    rows.append((step, loss_at(points, step), ours["bpp"], ours["mean"]))
  rows.sort()
  if len(rows) < 2:
    return rows, None
  losses = np.array([r[1] for r in rows])
  quality = np.array([r[3] for r in rows])  # [evals, rates]
  fits = [np.polyfit(losses, quality[:, k], 1) for k in range(
      quality.shape[1])]
  return rows, fits


def main(argv):
  del argv
  if not FLAGS.train_dir:
    raise app.UsageError("--train_dir is required.")
  points = held_out(FLAGS.train_dir)
  if len(points) < 3:
    raise app.UsageError("The run has fewer than 3 validations.")
  rule = stopping_rule(points, FLAGS.window)
  fit = log_fit(points, FLAGS.fit_window)
  last = points[-1][0]
  print(f"Held-out loss at step {last}: {points[-1][1]:.5f}")
  print(f"Stopping rule: {100 * rule['improvement']:.2f} % better over the "
        f"last {100 * FLAGS.window:.0f} % of steps (from step "
        f"{rule['from_step']:.0f}, loss {rule['from_loss']:.5f}); "
        + ("met (< 1 %)." if rule["improvement"] < 0.01 else "not met."))
  print(f"Fit over the last {100 * FLAGS.fit_window:.0f} % of steps "
        f"({fit['points']} validations): {fit['slope_per_doubling']:+.5f} "
        "per doubling of steps.")
  out = {"step": last, "val_loss": points[-1][1], "rule": rule,
         "slope_per_doubling": fit["slope_per_doubling"], "forecast": []}
  rows, fits = quality_vs_loss(points, FLAGS.eval_json)
  for step, loss, bpp, quality in rows:
    print(f"Kodak at step {step} (held-out loss {loss:.5f}): " + "  ".join(
        f"{q:.4f}@{b:g}" for b, q in zip(bpp, quality) if b in (
            0.125, 0.25, 0.5, 1.0, 2.0)))
  for factor in (2, 4):
    step = last * factor
    loss = fit["predict"](step)
    entry = {"step": step, "val_loss": loss}
    line = f"Forecast at step {step} ({factor}x): held-out loss {loss:.5f}"
    if fits:
      bpp = rows[-1][2]
      entry["msssim"] = [float(np.polyval(p, loss)) for p in fits]
      entry["bpp"] = bpp
      line += "; Kodak MS-SSIM " + "  ".join(
          f"{q:.4f}@{b:g}" for b, q in zip(bpp, entry["msssim"])
          if b in (0.125, 0.25, 0.5, 1.0, 2.0))
    print(line)
    out["forecast"].append(entry)
  if FLAGS.output:
    with open(FLAGS.output, "w") as f:
      json.dump(out, f, indent=1)


if __name__ == "__main__":
  define_flags()
  app.run(main)
