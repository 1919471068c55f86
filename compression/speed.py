"""Encode/decode speed and peak memory of every codec (`rnn-codec speed`).

Each (codec, setting, image) runs in a fresh subprocess, so its peak RSS
minus the RSS after imports (and, for ours, after the model is loaded and
traced once on a tiny image) is the memory that coding that image needs.
Times are medians of --repeats runs after one warm-up run.
"""

import json
import os
import statistics
import subprocess
import sys
import time

from tqdm import tqdm

from compression import anchors, api, images, registry
from residual_gru import quiet


def _status_mb(field):
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1]) / 1024.0
  return 0.0


def rss_mb():
  return _status_mb("VmRSS")


def peak_rss_mb():
  """VmHWM, not getrusage's ru_maxrss: on Linux a child started by fork +
  exec inherits its parent's maxrss (measured: 661 MB for a JPEG run whose
  own peak was 113 MB, under a parent that had loaded TensorFlow)."""
  return _status_mb("VmHWM")


def measure(codec, setting, path, repeats, model=None, warmup=True):
  """Runs in the child process."""
  original = images.load(path)
  if codec == "ours":
    quiet.import_tensorflow()
    chosen = registry.get(model)
    tiny = original[:32, :32]
    api.decompress(api.compress(tiny, int(setting), model=chosen),
                   model=chosen)
    base = rss_mb()
    encode = lambda: api.compress(original, int(setting), model=chosen)
    data = encode()
    decode = lambda: api.decompress(data, model=chosen)
  else:
    base = rss_mb()
    entry = anchors.TABLE[codec]
    encode = lambda: entry.code(original, setting)
    data = encode()[0]
    decode = lambda: entry.decode(data)
  times = {}
  for name, run_once in (("encode", encode), ("decode", decode)):
    if warmup:
      run_once()
    runs = []
    for _ in range(repeats):
      t = time.perf_counter()
      run_once()
      runs.append(time.perf_counter() - t)
    times[name] = statistics.median(runs)
  peak = peak_rss_mb()
  height, width = original.shape[:2]
  return {"codec": codec, "setting": setting,
          "image": os.path.basename(path), "pixels": width * height,
          "bytes": len(data),
          "encode_s": times["encode"], "decode_s": times["decode"],
          "peak_mb": peak, "work_mb": peak - base}


def run(paths, codecs, repeats=3, model=None, threads=0, iterations=None,
        warmup=True):
  """Parent: one subprocess per measurement -> rows. ``iterations``: ours
  at these instead of its speed_settings; ``warmup``: one untimed run
  first (tracing is done on a tiny image either way)."""
  def settings(codec):
    if codec == "ours" and iterations:
      return tuple(iterations)
    return anchors.TABLE[codec].speed_settings
  jobs = [(c, s, p) for c in codecs for s in settings(c) for p in paths]
  rows = []
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  if threads:
    env.update(OMP_NUM_THREADS=str(threads),
               TF_NUM_INTRAOP_THREADS=str(threads))
  for codec, setting, path in tqdm(jobs, unit="run", file=sys.stderr):
    code = ("import json, sys; from compression import speed; "
            f"print(json.dumps(speed.measure({codec!r}, {setting!r}, "
            f"{path!r}, {repeats}, {model!r}, {warmup!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, env=env)
    if out.returncode:
      raise RuntimeError(f"{codec} on {path}: {out.stderr[-500:]}")
    rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
  return rows


def summarize(rows):
  """Median over images per (codec, setting), times also per megapixel."""
  groups = {}
  for r in rows:
    groups.setdefault((r["codec"], r["setting"]), []).append(r)
  return [{"codec": c, "setting": s,
           **{k: statistics.median(r[k] for r in rs)
              for k in ("encode_s", "decode_s", "peak_mb", "work_mb")},
           **{k + "_per_mp": statistics.median(
               r[k] / r["pixels"] * 1e6 for r in rs if "pixels" in r)
              for k in ("encode_s", "decode_s") if all("pixels" in r
                                                       for r in rs)},
           "images": len(rs)} for (c, s), rs in groups.items()]
