"""Memory per pixel of the network: peak RSS above the loaded model.

  python runs/tiles/memory.py [--model v1] [--sizes 256 512] [--iterations 16]

One fresh process per (size, what): the model is loaded and traced on a
32x32 image first, then it encodes random pixels, or decodes random codes
(the last image, or every iteration's: progressive), once; the process's
peak RSS (VmHWM) less its RSS before coding is the work. Prints a Markdown
table of MB and bytes per pixel.
"""

import argparse
import json
import os
import subprocess
import sys

WHATS = ("encode", "decode", "progressive")


def measure(model, size, what, iterations):
  """In the child process."""
  import numpy as np
  from residual_gru import quiet
  quiet.import_tensorflow(1)
  from compression import registry, speed
  codec = registry.get(model).codec
  rng = np.random.default_rng(0)
  codec.decode(codec.encode(rng.integers(0, 256, (32, 32, 3), np.uint8),
                            iterations), 32, 32)
  if what == "encode":
    pixels = rng.integers(0, 256, (size, size, 3), np.uint8)
    base = speed.rss_mb()
    codec.encode(pixels, iterations)
  else:
    bits = rng.integers(0, 2, (iterations,) + codec.geometry.map_size(
        size, size) + (codec.geometry.bits,), np.uint8)
    base = speed.rss_mb()
    codec.decode(bits, size, size, progressive=what == "progressive")
  return speed.peak_rss_mb() - base


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default=None)
  parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
  parser.add_argument("--iterations", type=int, default=16)
  args = parser.parse_args()
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  print(f"| work | " + " | ".join(f"{s}x{s} MB (B/px)" for s in args.sizes)
        + " |")
  print("|---" * (1 + len(args.sizes)) + "|")
  for what in WHATS:
    cells = []
    for size in args.sizes:
      code = (f"import json, sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); "
              f"import memory; print(json.dumps(memory.measure({args.model!r}, "
              f"{size}, {what!r}, {args.iterations})))")
      out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                           text=True, env=env, check=True)
      mb = json.loads(out.stdout.strip().splitlines()[-1])
      cells.append(f"{mb:.0f} ({mb * 2**20 / size / size:.0f})")
    print(f"| {what}, {args.iterations} iterations | " + " | ".join(cells)
          + " |")


if __name__ == "__main__":
  main()
