r"""Spatially adaptive bits, step 1: does the frozen model tolerate missing bits?

  python runs/adaptive/measure_masking.py --images=<kodak> [--max_images=6] \
      [--model=v1] --output=runs/adaptive/masking.json

For each image the bundled model codes 16 iterations as usual (uniform).
Then, for a sweep of per-block quality targets, every 32x32 block (a 2x2
group of code positions) keeps the fewest iterations whose reconstruction
of that block, in the uniform decode, reaches the target PSNR; the decoder
is run again with the codes of later iterations of that block set to 0 (in
the +-1 code space: "nothing sent", a value the network never saw in
training). "adaptive" is open loop: the encoder's later bits of the other
blocks were made for a decoder that saw every bit; "closed_loop" runs
encoder and decoder in step, stopping a block once its reconstruction
reaches the target, so the encoder always codes the masked decoder's
residual (what an adaptive encoder would do). The rate counts only the kept codes (raw,
32 bits per position and iteration; the map is not counted here), so the
curves compare what the decoder makes of the kept bits with uniform coding
at the same number of bits. BD-rate on MS-SSIM (dB) and PSNR against
uniform coding: negative means the adaptive allocation saves bits.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

from compression import images, rd, registry  # noqa: E402
from residual_gru import metrics  # noqa: E402
from residual_gru.model import (CODE_STRIDE, pad_to_block,  # noqa: E402
                                pixels_to_uint8)

BLOCK = 32  # pixels per block side: 2x2 code positions


def masked_decode(network, bits, mask, height, width):
  """Every iteration's image when the codes of iteration t at position
  (i, j) are multiplied by mask[t, i, j] (0: not sent)."""
  codes = tf.cast(bits, tf.float32) * 2.0 - 1.0
  codes = codes * tf.cast(mask[..., None], tf.float32)
  n, h, w = bits.shape[:3]
  recon, gain = network.initial_carry(1, h * CODE_STRIDE, w * CODE_STRIDE)
  state = network.decoder.initial_state(1, h, w)
  out = []
  for t in range(n):
    if t == 0:
      state = network.prime(codes[t][None], state)
    recon, gain, state = network.decode_step(codes[t][None], recon, gain,
                                             state)
    out.append(pixels_to_uint8(network.to_pixels(
        recon[0, :height, :width])).numpy())
  return out


def closed_loop(network, pixels, target, n, block_quality, hold=False,
                slope=False):
  """Encoder and decoder in step, as an adaptive encoder would run them: a
  block stops (its later codes are 0) once its reconstruction reaches
  ``target`` dB; the encoder's next residual is the masked decoder's.
  -> (final uint8 image, codes kept, mean iterations per block)."""
  height, width = pixels.shape[:2]
  x = pad_to_block(network.to_network(pixels))[None]
  ph, pw = x.shape[1], x.shape[2]
  recon, gain = network.initial_carry(1, ph, pw)
  enc_state = network.encoder.initial_state(1, ph, pw)
  dec_state = network.decoder.initial_state(1, ph // CODE_STRIDE,
                                            pw // CODE_STRIDE)
  active = np.ones((ph // BLOCK, pw // BLOCK), np.float32)
  kept, iterations = 0, np.zeros_like(active)
  previous = None
  for t in range(n):
    codes, enc_state = network.encode_step(x, recon, gain, enc_state)
    mask = np.repeat(np.repeat(active, 2, 0), 2, 1)
    kept += int(mask.sum())
    iterations += active
    codes = codes * mask[None, :, :, None]
    if t == 0:
      dec_state = network.prime(codes, dec_state)
    held = recon
    recon, gain, dec_state = network.decode_step(codes, recon, gain,
                                                 dec_state)
    if hold and t > 0:
      # a stopped block keeps the reconstruction it stopped at (encoder and
      # decoder both know the map): later decoder outputs there are unused
      pix = np.repeat(np.repeat(active, BLOCK, 0), BLOCK, 1)[None, ..., None]
      recon = tf.where(pix > 0, recon, held)
    image = pixels_to_uint8(network.to_pixels(
        recon[0, :height, :width])).numpy()
    quality = block_quality(pixels, image)
    if slope:
      # equal slope (Lagrangian): every block pays the same bits per
      # iteration, so a block stops once its last iteration raised its
      # quality by less than ``target``
      gain = (np.full_like(quality, np.inf) if previous is None else
              quality - previous)
      previous = quality
      active = active * (gain >= target).astype(np.float32)
    else:
      active = active * (quality < target).astype(np.float32)
    if not active.any():
      break
  return image, kept, float(iterations.mean())


def block_ssim(a, b):
  """Mean SSIM of the 8x8 patches (metrics.block_ssim) of each BLOCK x BLOCK
  block -> [H/32, W/32]; edge blocks under 8 pixels take 1 (nothing to see)."""
  h, w = a.shape[:2]
  hb, wb = -(-h // BLOCK), -(-w // BLOCK)
  out = np.ones((hb, wb))
  for i in range(hb):
    for j in range(wb):
      pa = a[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK]
      if min(pa.shape[:2]) >= 8:
        out[i, j] = metrics.block_ssim(
            pa, b[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK])
  return out


def block_msssim(a, b):
  """Each block's share of MS-SSIM (metrics.msssim_shares)."""
  return metrics.msssim_shares(a, b, BLOCK)


def block_psnr(a, b):
  """PSNR of each BLOCK x BLOCK block (edge blocks partial) -> [H/32, W/32]."""
  h, w = a.shape[:2]
  hb, wb = -(-h // BLOCK), -(-w // BLOCK)
  err = (a.astype(np.float64) - b.astype(np.float64)) ** 2
  out = np.zeros((hb, wb))
  for i in range(hb):
    for j in range(wb):
      mse = err[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK].mean()
      out[i, j] = 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--images", required=True)
  p.add_argument("--max_images", type=int, default=6)
  p.add_argument("--model", default="v1")
  p.add_argument("--criterion", choices=["psnr", "ssim", "msssim"],
                 default="psnr",
                 help="Per-block quality a block stops at: PSNR (dB), the "
                 "mean SSIM of its 8x8 patches, or its share of log "
                 "MS-SSIM (block_msssim; for slope_hold).")
  p.add_argument("--targets", default=None,
                 help="Per-block targets of the sweep (default: 24..36 dB "
                 "for psnr, 0.80..0.98 for ssim).")
  p.add_argument("--modes", default="adaptive,closed_loop",
                 help="Which of adaptive (open loop), closed_loop, "
                 "closed_hold (closed loop; a stopped block keeps the "
                 "reconstruction it stopped at), slope_hold (closed_hold "
                 "stopping a block once one iteration raised its quality "
                 "by less than the target: equal-slope allocation) to run.")
  p.add_argument("--output", required=True)
  args = p.parse_args()
  network = registry.get(args.model).codec.network
  paths = images.image_loader.files_in(args.images, (".png",))
  paths = paths[:args.max_images]
  block_quality = {"psnr": block_psnr, "ssim": block_ssim,
                   "msssim": block_msssim}[args.criterion]
  targets = [float(t) for t in (args.targets or (
      "24,26,28,30,32,34,36" if args.criterion == "psnr" else
      "0.001,0.002,0.004,0.008,0.016,0.03,0.06" if args.criterion == "msssim"
      else
      "0.8,0.85,0.9,0.93,0.95,0.97,0.98")).split(",")]
  modes = args.modes.split(",")
  rows = []
  t0 = time.time()
  for path in paths:
    pixels = images.load(path)
    height, width = pixels.shape[:2]
    n = network.config.iterations
    bits, _ = network.compress(pixels, np.int32(n))
    bits = bits.numpy()
    _, h, w, depth = bits.shape
    every = network.decompress_progressive(bits, np.int32(height),
                                           np.int32(width)).numpy()
    name = os.path.basename(path)
    for k in range(n):
      rows.append({"image": name, "mode": "uniform", "knob": k + 1,
                   "bpp": (k + 1) * h * w * depth / (height * width),
                   "msssim": metrics.msssim(pixels, every[k]),
                   "psnr": metrics.psnr(pixels, every[k])})
    quality = np.stack([block_quality(pixels, e) for e in every])
    for target in targets:
      reached = quality >= target
      # fewest iterations that reach the target, else all of them
      keep = np.where(reached.any(0), reached.argmax(0) + 1, n)
      keep_codes = np.repeat(np.repeat(keep, 2, 0), 2, 1)[:h, :w]
      mask = (np.arange(n)[:, None, None] < keep_codes[None]).astype(np.uint8)
      if "adaptive" in modes:
        decoded = masked_decode(network, bits, mask, height, width)[-1]
        rows.append({"image": name, "mode": "adaptive", "knob": target,
                     "bpp": float(mask.sum()) * depth / (height * width),
                     "mean_iterations": float(keep_codes.mean()),
                     "msssim": metrics.msssim(pixels, decoded),
                     "psnr": metrics.psnr(pixels, decoded)})
      for mode in ("closed_loop", "closed_hold", "slope_hold"):
        if mode not in modes:
          continue
        decoded, kept, mean_it = closed_loop(network, pixels, target, n,
                                             block_quality,
                                             hold=mode != "closed_loop",
                                             slope=mode == "slope_hold")
        rows.append({"image": name, "mode": mode, "knob": target,
                     "bpp": kept * depth / (height * width),
                     "mean_iterations": mean_it,
                     "msssim": metrics.msssim(pixels, decoded),
                     "psnr": metrics.psnr(pixels, decoded)})
    print(f"{name}: done ({time.time() - t0:.0f} s)", file=sys.stderr)
  result = {"model": args.model, "criterion": args.criterion,
            "targets": targets,
            "images": [os.path.basename(p) for p in paths], "rows": rows}
  bd = {f"{mode}_{metric}": rd.per_image_bd_rates(rows, "uniform", mode, metric)
        for mode in modes for metric in ("msssim", "psnr")}
  result["bd_rate_vs_uniform_percent"] = bd
  os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
  with open(args.output, "w") as f:
    json.dump(result, f, indent=1)
  print(json.dumps(bd, indent=1))


if __name__ == "__main__":
  main()
