"""Writes tests/golden/<model>.rnc and .png for a newly released model.

  python -m compression.golden v0
  python -m compression.golden v0 --entropy   # after its entropy model ships
  python -m compression.golden v1 --adaptive  # a spatially adaptive file (version 3)

(Also the ``golden`` and ``golden_entropy`` stages of
``python -m compression.release``.) Golden files are decoded by
tests/test_registry.py on every machine.

--entropy writes <model>_entropy<id>.rnc: the raw golden file's bits range
coded with the model's entropy model, so any machine can check that it
decodes them exactly. Run once per release; never to refresh an existing
golden file.
"""

import os
import sys

from compression import container, images, registry
import compression

GOLDEN_DIR = os.path.join("tests", "golden")  # of the repository root


class Exists(Exception):
  """A golden file is there already: golden files are never rewritten."""


def entropy_golden(name, folder=GOLDEN_DIR):
  model = registry.get(name)
  if model.entropy is None:
    raise ValueError(f"Model {name} has no entropy model.")
  out = os.path.join(folder, f"{name}_entropy{model.entropy[0]}.rnc")
  if os.path.exists(out):
    raise Exists(f"{out} exists: golden files are never rewritten.")
  with open(os.path.join(folder, f"{name}.rnc"), "rb") as f:
    raw = container.parse(f.read())
  data = model.codec.pack(model.codec.unpack(raw), raw.width, raw.height,
                          entropy_coding=True)
  images.write_atomic(out, data)
  print(f"Wrote {out} ({len(data)} bytes; raw {len(raw.to_bytes())}).")
  return out


# The adaptive golden file's multiplier (codec.compress_adaptive): on the
# golden crop its cells stop after different numbers of iterations. (v1's
# file was written in session 10 by the equal-slope rule that the
# Lagrangian plan replaced; the decoder reads both alike. The multiplier
# became a slope per bit per pixel in session 13: 1e-4 per bit of a 32x32
# cell then is 0.1 now.)
ADAPTIVE_MULTIPLIER = 0.1


def adaptive_golden(name, folder=GOLDEN_DIR):
  """<model>_adaptive.rnc: the golden crop coded spatially adaptively
  (format version 3, entropy coded when the model can), and its PNG."""
  out = os.path.join(folder, f"{name}_adaptive.rnc")
  if os.path.exists(out):
    raise Exists(f"{out} exists: golden files are never rewritten.")
  codec = registry.get(name).codec
  source = images.load(images.SAMPLE_IMAGE)[64:160, 32:160]
  data = codec.compress_adaptive(source, min(6, codec.max_iterations),
                                 ADAPTIVE_MULTIPLIER)
  images.write_atomic(out, data)
  images.save_png(out[:-4] + ".png", compression.decompress(data, model=name))
  c = container.parse(data)
  print(f"Wrote {out} ({len(data)} bytes; stop map {c.stop_map.tolist()}) "
        f"and its decoded PNG.")
  return out


def golden(name, folder=GOLDEN_DIR):
  """The raw golden file of model ``name`` and its decoded PNG."""
  os.makedirs(folder, exist_ok=True)
  rnc = os.path.join(folder, f"{os.path.basename(os.path.normpath(name))}.rnc")
  if os.path.exists(rnc):
    raise Exists(f"{rnc} exists: golden files are never rewritten.")
  source = images.load(images.SAMPLE_IMAGE)[64:160, 32:160]
  # 6 iterations (fewer for a model that makes fewer).
  iterations = min(6, registry.get(name).codec.max_iterations)
  data = compression.compress(source, iterations=iterations, model=name)
  images.write_atomic(rnc, data)
  images.save_png(rnc[:-4] + ".png", compression.decompress(data, model=name))
  print(f"Wrote {rnc} ({len(data)} bytes) and its decoded PNG.")
  return rnc


if __name__ == "__main__":
  try:
    if sys.argv[2:] == ["--entropy"]:
      entropy_golden(sys.argv[1])
    elif sys.argv[2:] == ["--adaptive"]:
      adaptive_golden(sys.argv[1])
    else:
      golden(sys.argv[1])
  except (Exists, ValueError) as e:
    sys.exit(str(e))
