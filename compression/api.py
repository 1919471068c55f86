"""The Python API: images in, files out, and back.

  import compression
  data = compression.compress("photo.png", iterations=8)   # bytes
  image = compression.decompress(data)                      # H x W x 3 uint8

Every iteration adds 1/8 bit per pixel of codes (before the header), so
``iterations`` is the rate knob; ``target_bpp`` or ``target_msssim`` pick it
per image. All functions are safe to call from several threads.
"""

import contextlib
import os
import sys

import numpy as np
from tqdm import tqdm

from compression import (container, errors, images, metrics, registry,
                         stop_map)


def compress(image, iterations=None, model=None, target_bpp=None,
             target_msssim=None, entropy_coding=None, progress=False,
             tile_size=None, adaptive=False):
  """Compresses an image to the bytes of a container file.

  Args:
    image: a path, encoded image bytes, a PIL image or an H x W x 3 uint8
      array (see compression.images for the conversions applied).
    iterations: 1..16 (for the bundled model); each adds 1/8 bpp of codes.
      None: the model's maximum.
    model: None for the default bundled model, a model id or name, or the
      folder of a model of your own.
    target_bpp: instead of ``iterations``: the most iterations whose whole
      file (header included) stays at or under this many bits per pixel.
    target_msssim: instead of ``iterations``: the fewest iterations whose
      decoded image reaches this MS-SSIM (all of them if none does).
    entropy_coding: range-code the bits with the model's BinaryRNN (None:
      whenever the model has one); the file is written raw instead when
      that is smaller. ``target_bpp`` counts the sizes of the files it
      would write, entropy coded or not.
    progress: show a progress bar (one step per iteration of each tile) on
      stderr when encoding takes over two seconds; the API prints nothing
      otherwise.
    tile_size: code the image in square tiles of this many pixels (a
      multiple of 32), each without its neighbours, so that memory is
      bounded by the tile; 0: the whole image at once. None: whole up to
      one megapixel (and when it fits in memory), else tiles of 512.
    adaptive: spatially adaptive bits (format version 3; images up to 4
      megapixels, coded whole): after a uniform first pass each 32x32
      block keeps the number of iterations that maximises its share of
      MS-SSIM less a multiplier times the bits they cost (a Lagrangian
      allocation), so blocks where bits buy little stop early; the
      multiplier is searched so that the file meets ``target_bpp`` (the
      best image within it) or ``target_msssim`` (the smallest file
      reaching it), one of which is required.
  """
  if target_bpp is not None and target_msssim is not None:
    raise errors.CodecError("Give target_bpp or target_msssim, not both.")
  _check_flag("adaptive", adaptive)
  if adaptive and target_bpp is None and target_msssim is None:
    raise errors.CodecError("adaptive needs target_bpp or target_msssim.")
  for name, value in (("target_bpp", target_bpp),
                      ("target_msssim", target_msssim)):
    if value is not None and (isinstance(value, bool) or not isinstance(
        value, (int, float, np.integer, np.floating)) or not value > 0):
      raise errors.CodecError(f"{name} must be a positive number, not "
                              f"{value!r}.")
  if entropy_coding is not None:
    _check_flag("entropy_coding", entropy_coding)
  pixels = images.load(image)  # Bad input is reported before model errors.
  chosen = registry.get(model).codec
  height, width = pixels.shape[:2]
  if target_bpp is not None or target_msssim is not None:
    iterations = chosen.max_iterations
  else:
    iterations = chosen.check_iterations(
        chosen.max_iterations if iterations is None else iterations)
  _check_flag("progress", progress)
  if adaptive:
    if tile_size:
      raise errors.CodecError("Adaptive coding codes the image whole "
                              "(tile_size 0 or None).")
    with _progress_bar(progress, "adaptive search") as step:
      return _adaptive_for_target(pixels, chosen, target_bpp, target_msssim,
                                  entropy_coding, step)
  tile_size = chosen.tile_size_for(width, height, tile_size)
  with _progress_bar(progress, "encoding") as step:
    bits = chosen.encode(pixels, iterations, step, tile_size)
  if target_bpp is not None:
    bits = bits[:_iterations_for_bpp(target_bpp, width, height, chosen,
                                     bits, entropy_coding, tile_size)]
  if target_msssim is not None:
    every = chosen.decode(bits, width, height, progressive=True,
                          tile_size=tile_size)
    iterations = len(bits)
    for k in range(len(bits)):
      if metrics.msssim(pixels, every[k]) >= target_msssim:
        iterations = k + 1
        break
    bits = bits[:iterations]
  return chosen.pack(bits, width, height, entropy_coding, tile_size)


# Multipliers (slopes of MS-SSIM per bit per pixel, codec.AdaptivePlan)
# searched by adaptive coding (log scale): at 1e-3 every cell of a Kodak
# image keeps about 15 of 16 iterations, at 10 the fewest a cell may keep
# (codec.ADAPTIVE_MIN_ITERATIONS; runs/adaptive/README.md, steps 3-5); and
# how many halvings.
ADAPTIVE_MULTIPLIER_RANGE = (1e-3, 10.0)
ADAPTIVE_SEARCH_STEPS = 8


def _adaptive_for_target(pixels, chosen, target_bpp, target_msssim,
                         entropy_coding, progress=None):
  """The adaptive file meeting the target with the largest multiplier
  (target MS-SSIM: fewest bits) or the smallest (target bpp: best image),
  found by bisection in log multiplier: bits fall and quality falls as it
  grows. The uniform first pass runs once; each attempt is a second pass."""
  height, width = pixels.shape[:2]
  n = chosen.max_iterations
  plan = chosen.adaptive_plan(pixels, n)

  def attempt(multiplier):
    data = chosen.compress_adaptive(pixels, n, multiplier, entropy_coding,
                                    plan=plan)
    if target_bpp is not None:
      return data, 8.0 * len(data) / (width * height) <= target_bpp
    return data, metrics.msssim(pixels, chosen.decompress(data)) >= \
        target_msssim

  lo, hi = (np.log(ADAPTIVE_MULTIPLIER_RANGE[0]),
            np.log(ADAPTIVE_MULTIPLIER_RANGE[1]))
  best = None
  # target bpp: small multipliers overshoot, so "meets" lies at the high
  # end; target MS-SSIM: small ones meet it, and the largest that does wins.
  data, meets = attempt(float(np.exp(lo if target_bpp is None else hi)))
  if not meets:
    if target_bpp is not None:
      raise errors.CodecError(
          f"target_bpp {target_bpp} is below the smallest adaptive file "
          f"({8.0 * len(data) / (width * height):.3f} bpp) for a "
          f"{width}x{height} image.")
    return data  # no multiplier reaches the target: the best there is
  best = data
  for i in range(ADAPTIVE_SEARCH_STEPS):
    mid = (lo + hi) / 2
    data, meets = attempt(float(np.exp(mid)))
    if progress is not None:
      progress(i + 1, ADAPTIVE_SEARCH_STEPS)
    if meets:
      best = data
    if meets == (target_bpp is None):
      lo = mid
    else:
      hi = mid
  return best


@contextlib.contextmanager
def _progress_bar(show, what):
  """Yields a progress(done, total) callback for Codec.encode/decode, or
  None."""
  if not show:
    yield None
    return
  bar = tqdm(desc=what, unit="iteration", file=sys.stderr, delay=2,
             leave=False)

  def step(done, total):
    bar.total = total
    bar.update(done - bar.n)
  try:
    yield step
  finally:
    bar.close()


def _check_flag(name, value):
  if not isinstance(value, (bool, np.bool_)):
    raise errors.CodecError(f"{name} must be True or False, not {value!r}.")


def _iterations_for_bpp(target_bpp, width, height, model, bits,
                        entropy_coding, tile_size):
  """The most iterations whose file (as pack writes it: entropy coded when
  that is smaller, header included) stays at or under target_bpp."""
  bpp = [8.0 * size / (width * height)
         for size in model.file_sizes(bits, width, height, entropy_coding,
                                      tile_size)]
  fits = [k for k, b in enumerate(bpp, 1) if b <= target_bpp]
  if not fits:
    raise errors.CodecError(
        f"target_bpp {target_bpp} is below one iteration's {bpp[0]:.3f} bpp "
        f"for a {width}x{height} image (header included).")
  return max(fits)


def read(data, model=None):
  """bytes of a file (or a path to one) -> container.Container.

  ``model``: the model folder or run that made the file, when it is not
  bundled (its code geometry splits a raw payload into iterations).
  """
  if isinstance(data, (str, os.PathLike)):
    data = _read_file(data)
  if not isinstance(data, (bytes, bytearray, memoryview)):
    raise errors.CodecError(f"Expected the bytes of a file, not a "
                            f"{type(data).__name__}.")
  return container.parse(data, registry.geometry_for(model))


def _read_file(path):
  try:
    with open(path, "rb") as f:
      return f.read()
  except FileNotFoundError:
    raise errors.InputError(f"{path}: no such file.")
  except IsADirectoryError:
    raise errors.InputError(f"{path} is a folder, not a file.")
  except OSError as e:
    raise errors.InputError(f"{path} could not be read: {e.strerror}.")
  except ValueError as e:  # e.g. a NUL character in the path
    raise errors.InputError(f"{path!r} is not a usable path: {e}.")


def decompress(data, iterations=None, model=None, progressive=False,
               progress=False):
  """Decodes file bytes to an H x W x 3 uint8 array.

  Args:
    data: the bytes of a file written by ``compress``.
    iterations: decode only the first this many iterations (a coarser image;
      None = all in the file).
    model: normally None: the file names its model. Give a folder for files
      made with a model of your own.
    progressive: return every iteration's image as [n, H, W, 3].
    progress: show a progress bar on stderr when decoding takes over two
      seconds (as in ``compress``).
  """
  _check_flag("progressive", progressive)
  _check_flag("progress", progress)
  c = read(data, model)
  chosen = registry.for_file(c.model_id, model).codec
  if iterations is not None:
    iterations = chosen.check_iterations(iterations)
    if iterations > c.iterations:
      raise errors.CodecError(f"The file holds only {c.iterations} "
                              f"iterations, not {iterations}.")
    c = c.truncated(iterations)
  with _progress_bar(progress, "decoding") as step:
    return chosen.decompress(c, progressive, step)


def truncate(data, iterations, model=None):
  """A valid shorter file: the first ``iterations`` of ``data`` (no decoding)."""
  return read(data, model).truncated(iterations).to_bytes()


def info(data, model=None):
  """What a file holds, read from its header alone."""
  c = read(data, model)
  report = {"width": c.width, "height": c.height,
            "iterations": c.iterations, "model_id": c.model_id,
            "tile_size": c.tile_size,
            "payload": container.PAYLOAD_NAMES[c.payload_type],
            "nominal_bpp": c.geometry.nominal_bpp(c.iterations),
            **c.size_report()}
  if c.stop_map is not None:
    report["stop_map"] = np.asarray(c.stop_map).tolist()
    report["mean_iterations"] = float(np.mean(c.kept()))
    report["map_bytes"] = len(stop_map.encode(c.stop_map, c.iterations))
  folder = registry.bundled().get(c.model_id)
  if folder is None and isinstance(model, (str, os.PathLike)):
    folder = os.fspath(model)
  report["model"] = folder or ("unknown: not bundled; decode it with "
                               "--model FOLDER of the model that made it")
  return report
