"""Loss against CPU seconds for the progressive thumbnail rows (Table 1).

Why a curve: each row got a fixed CPU budget, and whether a row is still
improving when its budget ends is what says if its Table 1 score is the
architecture's or this machine's. Reads the committed histories
(runs/thumbnails/<row>/history.jsonl, and <row>/beyond_budget/ where a run
went on past its budget as an experiment) and writes losses.png beside
this file. The one-rate autoencoders are left out: their loss is one
stage's, not the mean over unrolled stages (section 4.1).

    python runs/thumbnails/plot_losses.py
"""

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = ["fc_residual_shared", "fc_residual_distinct", "fc_lstm",
        "conv_residual_shared", "conv_residual_distinct", "conv_lstm"]


def read_history(path):
  """(cpu_secs, training loss) and (cpu_secs, validation loss) pairs."""
  train, val = [], []
  if not os.path.exists(path):
    return train, val
  with open(path) as f:
    for line in f:
      record = json.loads(line)
      if "loss" in record:
        train.append((record["cpu_secs"], record["loss"]))
      if "val_loss" in record:
        val.append((record["cpu_secs"], record["val_loss"]))
  return train, val


def smoothed(points, window=5):
  """Running mean over ``window`` log records (the per-batch loss is noisy)."""
  out = []
  for i in range(len(points)):
    chunk = points[max(0, i - window + 1):i + 1]
    out.append((points[i][0], sum(p[1] for p in chunk) / len(chunk)))
  return out


def main():
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
  for ax, family in zip(axes, ("fc", "conv")):
    for i, row in enumerate(r for r in ROWS if r.startswith(family)):
      colour = f"C{i}"
      for sub, style in (("", "-"), ("beyond_budget", ":")):
        train, val = read_history(os.path.join(HERE, row, sub,
                                               "history.jsonl"))
        if sub:  # a copy of the run: keep only what came after the budget
          budget_end = read_history(os.path.join(HERE, row,
                                                 "history.jsonl"))[0][-1][0]
          train = [p for p in train if p[0] > budget_end]
          val = [p for p in val if p[0] > budget_end]
        label = row + (" (past its budget)" if sub else "")
        if train:
          ax.plot(*zip(*smoothed(train)), style, color=colour, lw=1,
                  label=label + ", training")
        if val:
          ax.plot(*zip(*val), "o" if not sub else "s", color=colour, ms=5,
                  mfc="none" if sub else colour,
                  label=label + ", held-out")
    ax.set_title(f"{family} rows")
    ax.set_xlabel("CPU seconds (one thread)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  axes[0].set_ylabel("L2 loss, mean over stages (section 4.1)")
  axes[0].set_ylim(top=0.06)
  fig.tight_layout()
  path = os.path.join(HERE, "losses.png")
  fig.savefig(path, dpi=100)
  print(f"Wrote {path}")


if __name__ == "__main__":
  main()
