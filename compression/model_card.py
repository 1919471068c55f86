r"""Writes a released model's card: provenance, loss curve and measured RD.

  python -m compression.model_card --model_dir=compression/models/v0 \
      --train_dir=/tmp/run --eval_json=/tmp/kodak/results.json \
      --command="python -m residual_gru.train ..."

Everything in the card is read from files the training and evaluation
binaries wrote (config.json, history.jsonl, results.json of `rnn-codec
eval`), so the card can be regenerated and checked.
"""

import json
import os

from absl import app
from absl import flags

from compression.evaluation import REFERENCE_MSSSIM, iteration_curve

FLAGS = flags.FLAGS


def define_flags():
  """Flags of this binary (defined on demand, so binaries can share a process)."""
  flags.DEFINE_string("model_dir", None, "Released model folder.")
  flags.DEFINE_string("train_dir", None, "The training run it came from.")
  flags.DEFINE_list("eval_json", [], "Kodak results to tabulate and plot: "
                    "results.json of `rnn-codec eval` (or an older "
                    "eval-*.json record). The first is the released model; "
                    "later ones (earlier steps) become extra MS-SSIM columns.")
  flags.DEFINE_string("hardware", "one intra-op thread on a 2-core CPU, no "
                      "GPU", "How it was trained (for the card).")
  flags.DEFINE_multi_string("command", [], "An exact command that made the "
                            "model or its numbers (repeat the flag).")
  flags.DEFINE_string("notes", "", "Extra markdown (e.g. the loss choice).")


def read_history(train_dir):
  rows = []
  with open(os.path.join(train_dir, "history.jsonl")) as f:
    for line in f:
      rows.append(json.loads(line))
  return rows


def cpu_hours(rows):
  """Wall time spent training, summed over sessions (gaps > 20 min cut)."""
  times = sorted(r["time"] for r in rows)
  total = 0.0
  for a, b in zip(times, times[1:]):
    if b - a < 1200:
      total += b - a
  return total / 3600.0


def plot_loss(rows, path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
  val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
  fig, ax = plt.subplots(figsize=(6, 3.5))
  if train:
    ax.plot(*zip(*train), lw=0.6, alpha=0.6, label="training batch")
  if val:
    ax.plot(*zip(*val), "o-", ms=3, label="held-out tiles")
  ax.set_xlabel("step")
  ax.set_ylabel("loss (mean over 16 iterations)")
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def plot_rd(evals, path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, e in evals:
    ax.plot(e["bpp"], e["msssim"], "o-", ms=3,
            label=f"{name} (step {e['step']})")
  ax.plot([(k + 1) / 8 for k in range(16)], REFERENCE_MSSSIM, "k--",
          label="reference model (published, Kodak)")
  ax.set_xlabel("bits per pixel (nominal, k/8)")
  ax.set_ylabel("MS-SSIM (RGB, per channel)")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv):
  del argv
  with open(os.path.join(FLAGS.model_dir, "model.json")) as f:
    meta = json.load(f)
  released = meta["provenance"]["step"]
  rows = [r for r in read_history(FLAGS.train_dir) if r["step"] <= released]
  with open(os.path.join(FLAGS.train_dir, "config.json")) as f:
    config = json.load(f)
  plot_loss(rows, os.path.join(FLAGS.model_dir, "loss.png"))
  evals = []
  for path in FLAGS.eval_json:
    e = iteration_curve(path)
    e["step"] = e.get("step") or meta["provenance"]["step"]
    evals.append((os.path.basename(os.path.dirname(path)) or path, e))
  if evals:
    plot_rd(evals, os.path.join(FLAGS.model_dir, "rd.png"))
  lines = [
      f"# Model card: {meta['name']} (id {meta['id']})", "",
      meta.get("description", ""), "",
      "## Provenance", "",
      f"- Training steps: {released}; {cpu_hours(rows):.2f} h of training "
      f"wall time (pauses over 20 minutes excluded) with {FLAGS.hardware}.",
      f"- Released from step {meta['provenance']['step']} at commit "
      f"`{meta['provenance']['release_commit']}`.",
      "- Command(s):", ""]
  lines += [f"      {c}" for c in FLAGS.command] + [
      "", "- Config:", "", "```json", json.dumps(config, indent=1), "```", "",
      "- Training data: High-Entropy 32x32 tiles (residual_gru."
      "build_dataset) of BSDS500 (all 500 images, downscaled by 2; UC "
      "Berkeley, for non-commercial research and educational use) and "
      "Urban100 (100 images, full size and downscaled by 2), minus the "
      "images held out by name hash (5 %). Never Kodak.",
      f"- Weights stored as {meta.get('weights_dtype', 'float32')}.", "",
      "## Loss curve", "", "![loss](loss.png)", ""]
  if evals:
    # One table: the first evaluation (the released step) in full, earlier
    # steps' MS-SSIM beside it, so the table shows what training gave.
    name, e = evals[0]
    others = evals[1:]
    lines += [f"## Rate-distortion: {name} (step {e['step']}, "
              f"{len(e['images'])} images)", "",
              "| iterations | bpp (nominal) | MS-SSIM | PSNR (dB) | " +
              "".join(f"MS-SSIM at step {o['step']} ({n}) | "
                      for n, o in others) + "reference MS-SSIM |",
              "|---|---|---|---|" + "---|" * len(others) + "---|"]
    for k, (b, m, p) in enumerate(zip(e["bpp"], e["msssim"], e["psnr"])):
      lines.append(f"| {k + 1} | {b:.3f} | {m:.4f} | {p:.2f} | " +
                   "".join(f"{o['msssim'][k]:.4f} | " for _, o in others) +
                   f"{REFERENCE_MSSSIM[k]:.4f} |")
    lines.append("")
  if evals:
    lines += ["![rate-distortion](rd.png)", ""]
  if FLAGS.notes:
    lines += ["## Notes", "", FLAGS.notes, ""]
  with open(os.path.join(FLAGS.model_dir, "MODEL_CARD.md"), "w") as f:
    f.write("\n".join(lines))
  print(f"Wrote {FLAGS.model_dir}/MODEL_CARD.md")


if __name__ == "__main__":
  define_flags()
  app.run(main)
