"""Writes tests/golden/<model>.rnc and .png for a newly released model.

  python -m tests.make_golden v0
  python -m tests.make_golden v0 --entropy   # after its entropy model ships

--entropy writes <model>_entropy<id>.rnc: the raw golden file's bits range
coded with the model's entropy model, so any machine can check that it
decodes them exactly. Run once per release; never to refresh an existing
golden file.
"""

import os
import sys

import compression
from compression import images

HERE = os.path.dirname(os.path.abspath(__file__))


def entropy_golden(name):
  from compression import container, registry
  model = registry.get(name)
  if model.entropy is None:
    sys.exit(f"Model {name} has no entropy model.")
  out = os.path.join(HERE, "golden", f"{name}_entropy{model.entropy[0]}.rnc")
  if os.path.exists(out):
    sys.exit(f"{out} exists: golden files are never rewritten.")
  with open(os.path.join(HERE, "golden", f"{name}.rnc"), "rb") as f:
    raw = container.parse(f.read())
  data = model.codec.pack(model.codec.unpack(raw), raw.width, raw.height,
                          entropy_coding=True)
  images.write_atomic(out, data)
  print(f"Wrote {out} ({len(data)} bytes; raw {len(raw.to_bytes())}).")


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
  if sys.argv[2:] == ["--entropy"]:
    entropy_golden(sys.argv[1])
  else:
    main(sys.argv[1])
