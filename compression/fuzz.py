r"""Fuzzing the decoder: real files, mutated, must decode or fail cleanly.

  python -m compression.fuzz --mutants=100000 --output_dir=runs/fuzz/long

A corpus of real encodes (the bundled models, raw and entropy coded,
several image sizes and iteration counts, whole and in 32-pixel tiles) is
mutated in the ways a damaged
or hostile file differs from a good one:

  bit_flip        1-8 random bits flipped anywhere
  byte_overwrite  1-4 random bytes overwritten
  truncate        cut at a random length (``--every_length``: every length
                  of the smallest file too)
  append          1-64 junk bytes appended
  header_field    one header field (version, flags, model id, entropy id,
                  width, height, tile size, iteration count, a segment
                  length) set to
                  0, 1, its maximum or 2^31, the header CRC recomputed
  payload         bytes of one segment flipped, overwritten, dropped or
                  added, its CRC (and for entropy-coded files its length in
                  the header, with the header CRC) recomputed, so that the
                  damage reaches the entropy decoder and the network
  splice          one file's segments behind another file's header (CRCs
                  recomputed)

Every mutant goes through ``compression.decompress`` (the whole decode
path: parser, entropy decoder, network). Allowed outcomes: an image, or a
``CodecError`` subclass. Anything else is a failure: another exception
("foreign"), a decode slower than ``--time_limit`` seconds ("hang"), or the
process's peak memory over ``--memory_limit_mb``. Failures are written to
<output_dir>/failures/ (the mutant's bytes and what happened) to become
regression tests; summary.json holds the counts per mutator and outcome,
mutants per second and the peak memory.
"""

import argparse
import collections
import json
import os
import signal
import sys
import time
import traceback

import numpy as np
from tqdm import tqdm

from compression import (codec as codec_lib, container, errors, images,
                         registry, stop_map)
import compression
from residual_gru import quiet

MUTATORS = ("bit_flip", "byte_overwrite", "truncate", "append",
            "header_field", "payload", "splice")
# Sizes (width, height) and iteration counts of the corpus: small, so that a
# mutant decodes in milliseconds, and odd, so that padding is exercised.
CORPUS_SIZES = ((16, 16), (40, 24), (33, 65))
CORPUS_ITERATIONS = (1, 3, 16)
CORPUS_TILE = 32  # images over one tile are also coded in tiles (version 2)
CORPUS_MULTIPLIER = 0.1  # adaptive files' multiplier (version 3)


class Hang(Exception):
  """A decode ran past the time limit."""


def corpus(models=None):
  """[(name, bytes)]: real files of every bundled model (raw and entropy
  coded, whole and tiled) for each size and iteration count of CORPUS_*."""
  sample = images.load(images.SAMPLE_IMAGE)
  files = []
  for model in models or sorted(registry.bundled().values()):
    codec = registry.get(model).codec
    for width, height in CORPUS_SIZES:
      pixels = sample[:height, :width]
      for iterations in CORPUS_ITERATIONS:
        iterations = min(iterations, codec.max_iterations)
        tilings = (0, CORPUS_TILE) if max(width, height) > CORPUS_TILE else (0,)
        for entropy in ((False, True) if codec.entropy else (False,)):
          for tile_size in tilings:
            data = compression.compress(pixels, iterations, model=model,
                                        entropy_coding=entropy,
                                        tile_size=tile_size)
            files.append((f"{model}_{width}x{height}_{iterations}_"
                          f"{'entropy' if entropy else 'raw'}"
                          f"{'_tiled' if tile_size else ''}", data))
          # spatially adaptive (version 3), when the network can
          if hasattr(codec.network, "compress_adaptive") and iterations > 1:
            data = codec.compress_adaptive(pixels, iterations,
                                           CORPUS_MULTIPLIER, entropy)
            files.append((f"{model}_{width}x{height}_{iterations}_"
                          f"{'entropy' if entropy else 'raw'}_adaptive",
                          data))
  return files


def _parse(data):
  """A corpus file's Container (split by its model's code geometry: the
  thumbnail models' code maps have their own)."""
  return container.parse(data, registry.geometry_for())


# -- rebuilding files from their parts ------------------------------------------

def _varint(value):
  out = bytearray()
  while True:
    byte = value & 0x7F
    value >>= 7
    out.append(byte | (0x80 if value else 0))
    if not value:
      return bytes(out)


def _header_fields(c):
  """The header of a parsed container as an ordered dict of field values."""
  fields = collections.OrderedDict(version=c.version, flags=c.payload_type,
                                   model_id=c.model_id)
  if c.payload_type == container.ENTROPY_CODED:
    fields["entropy_id"] = c.entropy_id
  fields.update(width=c.width, height=c.height)
  if c.tile_size:
    fields["tile_size"] = c.tile_size
  fields["iterations"] = c.iterations
  if c.stop_map is not None:
    coded = stop_map.encode(c.stop_map, c.iterations)
    fields.update(map_block=c.map_block, map_length=len(coded), map=coded)
  if c.payload_type == container.ENTROPY_CODED:
    for i, s in enumerate(c.segments):
      fields[f"length_{i}"] = len(s)
  return fields


def build(fields, segments):
  """File bytes from header fields and segments, every CRC computed (the
  fields need not agree with the segments: that is the point)."""
  out = bytearray(container.MAGIC)
  out.append(fields["version"] & 0xFF)
  out.append(fields["flags"] & 0xFF)
  for key, value in fields.items():
    if key == "map":  # the coded stop map (version 3): bytes, not a varint
      out += value
    elif key not in ("version", "flags"):
      out += _varint(value)
  out += container.crc16(out).to_bytes(2, "big")
  for s in segments:
    out += s + container.crc16(s).to_bytes(2, "big")
  return bytes(out)


# -- mutators --------------------------------------------------------------------

def _bit_flip(rng, data, files):
  data = bytearray(data)
  for _ in range(rng.integers(1, 9)):
    i = rng.integers(len(data) * 8)
    data[i // 8] ^= 1 << (i % 8)
  return bytes(data)


def _byte_overwrite(rng, data, files):
  data = bytearray(data)
  for _ in range(rng.integers(1, 5)):
    data[rng.integers(len(data))] = rng.integers(256)
  return bytes(data)


def _truncate(rng, data, files):
  return data[:rng.integers(len(data))]


def _append(rng, data, files):
  return data + rng.integers(0, 256, rng.integers(1, 65), np.uint8).tobytes()


_FIELD_VALUES = {"version": (0, 1, 2, 3, 4, 255),
                 "flags": (0, 1, 2, 3, 4, 255),
                 "map_block": (0, 1, 2, 8, 9, 1 << 31),
                 # sizes also within the pixel limit, claimed by a small file
                 "width": (0, 1, 1024, 4096, 65536, (1 << 35) - 1, 1 << 31),
                 "height": (0, 1, 1024, 4096, 65536, (1 << 35) - 1, 1 << 31),
                 "tile_size": (0, 1, 16, 32, 64, 4096, 65536, 1 << 31)}
_VARINT_VALUES = (0, 1, (1 << 35) - 1, 1 << 31)  # 0, 1, the maximum, 2^31


def _header_field(rng, data, files):
  c = _parse(data)
  fields = _header_fields(c)
  key = list(fields)[rng.integers(len(fields))]
  if key == "map":  # random bytes of a random whole-word length
    fields[key] = rng.integers(0, 256, 4 * rng.integers(0, 5),
                               np.uint8).tobytes()
    return build(fields, c.segments)
  values = _FIELD_VALUES.get(key, _VARINT_VALUES)
  fields[key] = int(values[rng.integers(len(values))])
  if key == "iterations" and fields[key] > 64:
    fields[key] = int(rng.choice([0, 65, fields[key]]))
  return build(fields, c.segments)


def _payload(rng, data, files):
  c = _parse(data)
  segments = [bytearray(s) for s in c.segments]
  k = rng.integers(len(segments))
  s = segments[k]
  how = rng.integers(4)
  if how == 0 and s:  # flip bits
    for _ in range(rng.integers(1, 9)):
      i = rng.integers(len(s) * 8)
      s[i // 8] ^= 1 << (i % 8)
  elif how == 1 and s:  # overwrite a run with random bytes
    start = rng.integers(len(s))
    n = rng.integers(1, len(s) - start + 1)
    s[start:start + n] = rng.integers(0, 256, n, np.uint8).tobytes()
  elif how == 2:  # drop a tail, or everything
    del s[rng.integers(len(s) + 1):]
  else:  # add bytes
    s += rng.integers(0, 256, rng.integers(1, 17), np.uint8).tobytes()
  segments = [bytes(x) for x in segments]
  fields = _header_fields(c)
  if c.payload_type == container.ENTROPY_CODED:
    fields[f"length_{k}"] = len(segments[k])
  return build(fields, segments)


def _splice(rng, data, files):
  c = _parse(data)
  other = _parse(files[rng.integers(len(files))][1])
  fields = _header_fields(c)
  if other.payload_type == c.payload_type == container.ENTROPY_CODED:
    fields = collections.OrderedDict(
        (k, v) for k, v in fields.items() if not k.startswith("length_"))
    fields["iterations"] = other.iterations
    for i, s in enumerate(other.segments):
      fields[f"length_{i}"] = len(s)
  else:
    fields["iterations"] = other.iterations
  return build(fields, other.segments)


_MUTATE = {"bit_flip": _bit_flip, "byte_overwrite": _byte_overwrite,
           "truncate": _truncate, "append": _append,
           "header_field": _header_field, "payload": _payload,
           "splice": _splice}


# -- running ------------------------------------------------------------------------

def _alarm(signum, frame):
  raise Hang()


def outcome(data, time_limit):
  """("image" | "CodecError subclass name" | "foreign" | "hang", detail)."""
  previous = signal.signal(signal.SIGALRM, _alarm)
  signal.setitimer(signal.ITIMER_REAL, time_limit)
  try:
    image = compression.decompress(data)
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and
            image.ndim == 3 and image.shape[2] == 3):
      return "foreign", f"decompress returned {type(image)} {getattr(image, 'shape', '')}"
    return "image", ""
  except Hang:
    return "hang", f"over {time_limit} s"
  except errors.CodecError as e:
    return type(e).__name__, str(e)
  except Exception:  # what the harness is here to find
    return "foreign", traceback.format_exc(limit=6)
  finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def peak_rss_mb():
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024.0
  return 0.0


def run(mutants, seed=0, time_limit=5.0, every_length=True, files=None,
        output_dir=None, progress=True, codec_memory_mb=512):
  """Runs the mutants; returns the summary (see the module docstring).

  ``codec_memory_mb`` is the codec's memory limit during the run
  (compression.codec.memory_limit_mb): a mutant claiming a larger image
  must be refused by the codec's estimate, not kill the process.
  """
  saved = os.environ.get(codec_lib.MEMORY_LIMIT_ENV)
  os.environ[codec_lib.MEMORY_LIMIT_ENV] = str(codec_memory_mb)
  try:
    return _run(mutants, seed, time_limit, every_length, files, output_dir,
                progress, codec_memory_mb)
  finally:
    if saved is None:
      del os.environ[codec_lib.MEMORY_LIMIT_ENV]
    else:
      os.environ[codec_lib.MEMORY_LIMIT_ENV] = saved


def _run(mutants, seed, time_limit, every_length, files, output_dir,
         progress, codec_memory_mb):
  files = files or corpus()
  rng = np.random.default_rng(seed)
  counts = collections.defaultdict(collections.Counter)
  failures = []
  jobs = []
  if every_length:  # every prefix of the smallest file
    name, smallest = min(files, key=lambda f: len(f[1]))
    jobs += [("truncate_every", name, smallest[:n])
             for n in range(len(smallest))]
  t0 = time.perf_counter()
  bar = None
  if progress:
    bar = tqdm(total=mutants + len(jobs), unit="mutant", file=sys.stderr)
  done = 0

  def check(mutator, name, data):
    kind, detail = outcome(data, time_limit)
    counts[mutator][kind] += 1
    if kind in ("foreign", "hang"):
      failures.append({"mutator": mutator, "source": name, "outcome": kind,
                       "detail": detail, "data": data})
      if bar is not None:
        bar.write(f"{kind} ({mutator} of {name}): {detail.splitlines()[-1]}",
                  file=sys.stderr)

  for mutator, name, data in jobs:
    check(mutator, name, data)
    done += 1
    if bar is not None:
      bar.update()
  for _ in range(mutants):
    mutator = MUTATORS[rng.integers(len(MUTATORS))]
    name, original = files[rng.integers(len(files))]
    check(mutator, name, _MUTATE[mutator](rng, original, files))
    if bar is not None:
      bar.update()
  if bar is not None:
    bar.close()
  seconds = time.perf_counter() - t0
  summary = {"mutants": mutants + len(jobs), "seed": seed,
             "corpus_files": len(files), "time_limit_s": time_limit,
             "codec_memory_limit_mb": codec_memory_mb,
             "seconds": seconds,
             "mutants_per_second": (mutants + len(jobs)) / seconds,
             "peak_rss_mb": peak_rss_mb(),
             "outcomes": {m: dict(c) for m, c in sorted(counts.items())},
             "failures": len(failures)}
  if output_dir:
    os.makedirs(os.path.join(output_dir, "failures"), exist_ok=True)
    for i, f in enumerate(failures):
      stem = os.path.join(output_dir, "failures", f"{i:04d}_{f['mutator']}")
      with open(stem + ".rnc", "wb") as out:
        out.write(f["data"])
      with open(stem + ".txt", "w") as out:
        out.write(f"{f['outcome']} ({f['mutator']} of {f['source']})\n"
                  f"{f['detail']}\n")
    with open(os.path.join(output_dir, "summary.json"), "w") as out:
      json.dump(summary, out, indent=1)
  summary["failure_list"] = failures
  return summary


def main(argv=None):
  p = argparse.ArgumentParser(
      prog="python -m compression.fuzz",
      description="Mutates real files of the bundled models and decodes "
      "each: every outcome must be an image or a CodecError (see the "
      "module docstring for the mutators).")
  p.add_argument("--mutants", type=int, default=2000,
                 help="Random mutants to try (default %(default)s).")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--time_limit", type=float, default=5.0,
                 help="Seconds one decode may take (default %(default)s).")
  p.add_argument("--memory_limit_mb", type=float, default=2048,
                 help="Peak resident memory the run may reach "
                 "(default %(default)s).")
  p.add_argument("--codec_memory_mb", type=float, default=512,
                 help="The codec's memory limit during the run: larger "
                 "claimed images must be refused (default %(default)s).")
  p.add_argument("--output_dir", help="Writes summary.json and failures/.")
  p.add_argument("--threads", type=int, default=1,
                 help="TensorFlow threads (default %(default)s).")
  args = p.parse_args(argv)
  if args.mutants < 0 or args.time_limit <= 0:
    p.error("--mutants must be 0 or more and --time_limit positive.")
  quiet.import_tensorflow(args.threads)
  summary = run(args.mutants, args.seed, args.time_limit,
                output_dir=args.output_dir,
                codec_memory_mb=args.codec_memory_mb)
  summary.pop("failure_list")
  memory_ok = summary["peak_rss_mb"] <= args.memory_limit_mb
  print(f"{summary['mutants']} mutants in {summary['seconds']:.0f} s "
        f"({summary['mutants_per_second']:.0f}/s), peak "
        f"{summary['peak_rss_mb']:.0f} MB; failures: {summary['failures']}"
        + ("" if memory_ok else
           f"; OVER the memory limit of {args.memory_limit_mb:.0f} MB"))
  for mutator, kinds in summary["outcomes"].items():
    print(f"  {mutator:>15}: " + ", ".join(
        f"{k} {n}" for k, n in sorted(kinds.items())))
  return 0 if summary["failures"] == 0 and memory_ok else 1


if __name__ == "__main__":
  sys.exit(main())
