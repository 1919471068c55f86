"""Writes tests/golden/<model>.rnc and .png for a newly released model.

  python -m tests.make_golden v0

Run once per release; never to refresh an existing golden file.
"""

import os
import sys

import compression
from compression import images

HERE = os.path.dirname(os.path.abspath(__file__))


def main(name):
  out = os.path.join(HERE, "golden")
  os.makedirs(out, exist_ok=True)
  rnc = os.path.join(out, f"{name}.rnc")
  if os.path.exists(rnc):
    sys.exit(f"{rnc} exists: golden files are never rewritten.")
  source = images.load(os.path.join(HERE, "..", "compression", "data",
                                    "kodim23_crop.png"))[64:160, 32:160]
  data = compression.compress(source, iterations=6, model=name)
  images.write_atomic(rnc, data)
  images.save_png(os.path.join(out, f"{name}.png"),
                  compression.decompress(data))
  print(f"Wrote {rnc} ({len(data)} bytes) and its decoded PNG.")


if __name__ == "__main__":
  main(sys.argv[1])
