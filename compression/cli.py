"""Command line: python -m compression (or rnn-codec) COMMAND ...

Every error a user can cause ends in one line on stderr and a nonzero exit
(1: the work failed; 2: the command line was wrong), never a traceback, and
no output file is left half written.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from compression import (anchors, api, container, errors, evaluation, images,
                         metrics, reference, registry, speed, thumbnails)
from residual_gru import images as image_loader
from residual_gru import quiet

EPILOG = """\
examples:
  rnn-codec demo                                  try the bundled model
  rnn-codec encode photo.png -o photo.rnc --iterations 8
  rnn-codec encode photo.png -o photo.rnc --target-bpp 0.5
  rnn-codec decode photo.rnc -o photo.png [--iterations 4]
  rnn-codec truncate photo.rnc -o small.rnc --iterations 2
  rnn-codec info photo.rnc
  rnn-codec encode folder/ -o out/                 batch: every image in folder
  rnn-codec msssim --original_image a.png --compared_image b.png

Reference-compatible (tensorflow/models research/compression flags; .npz codes):
  rnn-codec encoder --input_image=a.png --output_codes=a.npz --iteration=15
  rnn-codec decoder --input_codes=a.npz --output_directory=out --iteration=-1

Each iteration stores 1/8 bit per pixel of codes; 16 iterations = 2 bpp.
Files can be cut short (truncate) and still decode, to a coarser image.
"""

EXTENSION = ".rnc"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp",
                    ".ppm", ".gif")


class UsageError(Exception):
  pass


def _parser():
  p = argparse.ArgumentParser(
      prog="rnn-codec",
      description="Recurrent-network image codec (Toderici et al., CVPR "
      "2017): compress images into progressive files and back.",
      epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--threads", type=int, default=0,
                 help="CPU threads TensorFlow may use (default: all).")
  sub = p.add_subparsers(dest="command", metavar="COMMAND")
  sub.required = True

  def model_arg(sp):
    sp.add_argument("--model", default=None,
                    help="Model name, id, or folder (default: the bundled "
                    "default model; decoding reads the model from the file); "
                    "for measuring, also a training run (its newest "
                    "checkpoint) or one checkpoint, RUN/checkpoints/ckpt-N.")

  sp = sub.add_parser("demo", help="Compress and decompress the bundled "
                      "image; print bpp and quality per rate.")
  sp.add_argument("--iterations", type=int, nargs="+",
                  default=[1, 2, 4, 8, 16])
  sp.add_argument("--output_dir", help="Also write the decoded PNGs here.")
  model_arg(sp)

  sp = sub.add_parser("encode", help="Image(s) -> .rnc file(s).")
  sp.add_argument("inputs", nargs="+", help="Images, or folders of images.")
  sp.add_argument("-o", "--output", required=True,
                  help="Output file (one input) or folder (several inputs "
                  "or a folder).")
  rate = sp.add_mutually_exclusive_group()
  rate.add_argument("--iterations", type=int, default=None,
                    help="Iterations to store; each adds 1/8 bpp (default: "
                    "the model's maximum, 16 for the bundled models).")
  rate.add_argument("--target-bpp", type=float,
                    help="Most iterations whose file (its real size, entropy "
                    "coded or not, header included) fits this bpp.")
  rate.add_argument("--target-msssim", type=float,
                    help="Fewest iterations reaching this MS-SSIM.")
  sp.add_argument("--raw", action="store_true",
                  help="Store the bits as they are, without entropy coding "
                  "(default: entropy code when the model has an entropy "
                  "model and that makes the file smaller).")
  sp.add_argument("--tile-size", type=int, default=None,
                  help="Code the image in square tiles of this many pixels "
                  "(a multiple of 32), each without its neighbours, so "
                  "memory stays bounded by the tile; 0: the whole image "
                  "at once (default: whole up to one megapixel, else "
                  "tiles of 512).")
  sp.add_argument("--adaptive", action="store_true",
                  help="Spatially adaptive bits, with --target-bpp or "
                  "--target-msssim: each cell of a stop map (16x16 pixels "
                  "up to a megapixel, 32x32 up to 4, ...) keeps the "
                  "iterations whose MS-SSIM gain is worth their bits, so "
                  "cells where bits buy little stop early (a uniform first "
                  "pass and several trial encodes, so slower).")
  model_arg(sp)

  sp = sub.add_parser("decode", help=".rnc file(s) -> PNG image(s).")
  sp.add_argument("inputs", nargs="+", help=".rnc files, or folders of them.")
  sp.add_argument("-o", "--output", required=True,
                  help="Output PNG (one input) or folder.")
  sp.add_argument("--iterations", type=int, default=None,
                  help="Decode only the first N iterations.")
  model_arg(sp)

  sp = sub.add_parser("truncate", help="Write a valid shorter file (the "
                      "progressive cut), without decoding.")
  sp.add_argument("input", help="An .rnc file.")
  sp.add_argument("-o", "--output", required=True,
                  help="The shorter .rnc file to write.")
  sp.add_argument("--iterations", type=int, required=True,
                  help="Iterations to keep (1 to the file's count).")
  sp.add_argument("--model", default=None, help="The folder of the model "
                  "that made the file, when it is not bundled.")

  sp = sub.add_parser("info", help="Size, iterations, model, bpp and header "
                      "bytes of .rnc files.")
  sp.add_argument("inputs", nargs="+", help=".rnc files.")
  sp.add_argument("--json", action="store_true", help="Print JSON.")
  sp.add_argument("--map", default=None,
                  help="PNG to write a spatially adaptive file's stop map "
                  "to (one pixel per cell, 16x16 or more pixels; "
                  "brighter: more iterations; one input).")
  sp.add_argument("--model", default=None, help="The folder of the model "
                  "that made the files, when it is not bundled.")

  sp = sub.add_parser("msssim", help="MS-SSIM of two images (reference "
                      "msssim.py flags).")
  sp.add_argument("--original_image", required=True,
                  help="The original (PNG/JPEG).")
  sp.add_argument("--compared_image", required=True,
                  help="The decoded image, same size.")
  sp.add_argument("--variant", choices=["paper", "reference"],
                  default="paper", help="paper: per RGB channel, averaged "
                  "(the headline); reference: msssim.py's exact algorithm.")

  sp = sub.add_parser("eval", help="Rate-distortion of our codec and the "
                      "anchors (JPEG, WebP, JPEG 2000, AVIF, JPEG XL) over a "
                      "folder of images, with plots.")
  sp.add_argument("--images", required=True, help="Folder of images.")
  sp.add_argument("--output_dir", required=True,
                  help="Written: results.json (every encoding), results.csv, "
                  "summary.csv (mean per rate), rd_*.png plots. '{step}' in "
                  "it becomes the training step of the model evaluated "
                  "(e.g. RUN/eval-{step}-heldout).")
  sp.add_argument("--codecs", default=",".join(anchors.TABLE),
                  help="Comma-separated subset (default: %(default)s).")
  sp.add_argument("--workers", type=int, default=2,
                  help="Parallel processes (default: %(default)s; 0 = "
                  "in this process).")
  sp.add_argument("--max_images", type=int, default=0,
                  help="Use only the first N images (0 = all).")
  sp.add_argument("--held_out_fraction", type=float, default=0.0,
                  help="Only the images residual_gru.build_dataset held out "
                  "for validation with this fraction (training sources: "
                  "score a run on images it never trained on; 0 = all).")
  sp.add_argument("--downscale", type=int, default=1,
                  help="Box-downscale every image by this factor first "
                  "(as build_dataset --downscale did for training).")
  sp.add_argument("--entropy", action="store_true",
                  help="Also our codec with entropy coding (needs a model "
                  "with an entropy model).")
  sp.add_argument("--tile_size", type=int, default=None,
                  help="Our codec's tiles, as encode's --tile-size (default: "
                  "its choice per image: whole up to one megapixel); e.g. "
                  "256 against 0 measures what tile borders cost.")
  sp.add_argument("--adaptive", action="store_true",
                  help="Also our codec's spatially adaptive files (each "
                  "stop-map cell keeps the iterations whose MS-SSIM gain is "
                  "worth their bits; a sweep of that price), entropy "
                  "coded, with their BD-rate against uniform coding and "
                  "their decode time against a uniform file of as many "
                  "iterations.")
  model_arg(sp)

  sp = sub.add_parser("speed", help="Encode/decode time and peak memory of "
                      "every codec, a fresh process per measurement.")
  sp.add_argument("--images", required=True, help="Folder of images.")
  sp.add_argument("--output", help="JSON file for the rows and summary.")
  sp.add_argument("--codecs", default=",".join(anchors.TABLE),
                  help="Comma-separated codecs (default: all six). Ours runs "
                  "at 2, 8 and 16 iterations, the anchors at one mid-rate "
                  "setting each.")
  sp.add_argument("--repeats", type=int, default=3,
                  help="Timed runs per measurement after a warm-up; the "
                  "median is reported (default 3).")
  sp.add_argument("--no_warmup", action="store_true",
                  help="Time the first run too (large images: the model is "
                  "traced on a tiny image first either way).")
  sp.add_argument("--iterations", type=int, nargs="+", default=None,
                  help="Our codec at these iteration counts (default 2 8 16).")
  sp.add_argument("--max_images", type=int, default=0,
                  help="Use only the first N images (0 = all).")
  model_arg(sp)

  sp = sub.add_parser("thumbnails", help="The 2016 paper's 32x32 thumbnail "
                      "benchmark (Table 1): block SSIM at 64 and 128 bytes.")
  source = sp.add_mutually_exclusive_group(required=True)
  source.add_argument("--images", help="Folder of images to cut thumbnails "
                      "from.")
  source.add_argument("--records", help="Instead: TFRecords of 32x32 "
                      "thumbnails (comma-separated globs), e.g. the held-out "
                      "val.tfrecord of `build_dataset --thumbnail_crops`.")
  sp.add_argument("--models", default="",
                  help="Comma-separated models or training runs, one row "
                  "each (the 2016 networks of configs/thumbnails/), shown "
                  "beside the paper's Table 1 value of the same name.")
  sp.add_argument("--count", type=int, default=1000,
                  help="Thumbnails to cut (random crops at several scales, "
                  "Lanczos-downsampled to 32x32; default 1000).")
  sp.add_argument("--codecs", default=",".join(anchors.THUMBNAIL_CODECS),
                  help="Comma-separated codecs (default: all four).")
  sp.add_argument("--seed", type=int, default=0,
                  help="Seed of the crop positions and scales.")
  sp.add_argument("--output", help="JSON file for the results.")
  model_arg(sp)

  sp = sub.add_parser("encoder", help="Reference encoder.py: image -> .npz "
                      "codes.")
  sp.add_argument("--input_image", required=True)
  sp.add_argument("--output_codes", required=True)
  sp.add_argument("--iteration", type=int, default=15,
                  help="0-15: keep iterations 0..N (N+1 iterations).")
  sp.add_argument("--model", default=None, help="Model name/id/folder, or "
                  "the released residual_gru.pb.")

  sp = sub.add_parser("decoder", help="Reference decoder.py: .npz codes -> "
                      "image_NN.png per iteration.")
  sp.add_argument("--input_codes", required=True)
  sp.add_argument("--output_directory", required=True)
  sp.add_argument("--iteration", type=int, default=-1,
                  help="-1: every iteration in the file; else 0..N.")
  sp.add_argument("--model", default=None, help="Model name/id/folder, or "
                  "the released residual_gru.pb.")
  return p


def _configure_tensorflow(threads):
  quiet.import_tensorflow(threads)


def _expand(inputs, extensions):
  """Files named plus the matching files inside named folders."""
  files = []
  for path in inputs:
    if os.path.isdir(path):
      files += image_loader.files_in(path, extensions)
    else:
      files.append(path)
  return files


def _batch(inputs, output, extensions, new_ext, work):
  """Runs ``work(src, dst)`` per file with a progress bar; 1 if any failed."""
  files = _expand(inputs, extensions)
  single = len(inputs) == 1 and not os.path.isdir(inputs[0])
  if single:
    _refuse_overwriting_input(files[0], output)
    work(files[0], output)
    return 0
  if not files:
    raise UsageError("No input files found.")
  os.makedirs(output, exist_ok=True)
  failures = []
  for src in tqdm(files, unit="file", file=sys.stderr, disable=None):
    stem = os.path.splitext(os.path.basename(src))[0]
    dst = os.path.join(output, stem + new_ext)
    try:
      _refuse_overwriting_input(src, dst)
      work(src, dst)
    except (errors.CodecError, OSError, UsageError) as e:
      failures.append(f"error: {src}: {e}")
  # Each failure once, after the progress bar, so none scrolls away.
  for line in failures:
    print(line, file=sys.stderr)
  print(f"{len(files) - len(failures)} of {len(files)} files done, "
        f"{len(failures)} failed.", file=sys.stderr)
  return 1 if failures else 0


def _refuse_overwriting_input(src, dst):
  """Writing over the input would lose it (the write is atomic, so it
  would succeed): refused."""
  if os.path.exists(dst) and os.path.samefile(src, dst):
    raise UsageError(f"{dst} is the input file; give another output name.")


def _codec(name):
  """A bundled model, a model folder or the released .pb, as a Codec."""
  if name and name.endswith(".pb"):
    return reference.FrozenGraph(name)
  return registry.get(name).codec


def _single_on_terminal(inputs):
  """A per-iteration progress bar (after 2 s) for one file on a terminal;
  batches show their own per-file bar."""
  return (len(inputs) == 1 and not os.path.isdir(inputs[0]) and
          sys.stderr.isatty())


def cmd_encode(args):
  progress = _single_on_terminal(args.inputs)

  def work(src, dst):
    data = api.compress(src, iterations=args.iterations, model=args.model,
                        target_bpp=args.target_bpp,
                        target_msssim=args.target_msssim,
                        entropy_coding=False if args.raw else None,
                        progress=progress, tile_size=args.tile_size,
                        adaptive=args.adaptive)
    images.write_atomic(dst, data)
    info = api.info(data)
    print(f"{src} -> {dst}: {info['iterations']} iterations, "
          f"{info['total_bytes']} bytes, {info['bpp']:.4f} bpp "
          f"(header {info['header_bytes']} B)")
  return _batch(args.inputs, args.output, IMAGE_EXTENSIONS, EXTENSION, work)


def cmd_decode(args):
  progress = _single_on_terminal(args.inputs)

  def work(src, dst):
    image = api.decompress(src, iterations=args.iterations, model=args.model,
                           progress=progress)
    images.save_png(dst, image)
    print(f"{src} -> {dst}: {image.shape[1]}x{image.shape[0]}")
  return _batch(args.inputs, args.output, (EXTENSION,), ".png", work)


def cmd_truncate(args):
  _refuse_overwriting_input(args.input, args.output)
  data = api.truncate(args.input, args.iterations, model=args.model)
  images.write_atomic(args.output, data)
  print(f"{args.input} -> {args.output}: {args.iterations} iterations, "
        f"{len(data)} bytes")
  return 0


def cmd_info(args):
  status = 0
  if args.map and len(args.inputs) != 1:
    raise UsageError("--map takes one input file.")
  for path in args.inputs:
    try:
      report = api.info(path, model=args.model)
    except errors.CodecError as e:
      print(f"error: {path}: {e}", file=sys.stderr)
      status = 1
      continue
    if args.map:
      if report.get("stop_map") is None:
        raise UsageError(f"{path} is not spatially adaptive: it has no "
                         f"stop map.")
      stops = np.asarray(report["stop_map"], np.float64)
      images.save_png(args.map, np.repeat(np.round(
          255 * stops / report["iterations"]).astype(np.uint8)[..., None],
                                          3, axis=2))
    if args.json:
      print(json.dumps({"file": path, **report}))
      continue
    tiles = (f" in {report['tile_size']}-pixel tiles"
             if report["tile_size"] else "")
    print(f"{path}: {report['width']}x{report['height']}{tiles}, "
          f"{report['iterations']} iterations, model {report['model']} "
          f"(id {report['model_id']}), {report['payload']} payload\n"
          f"  {report['total_bytes']} bytes = {report['header_bytes']} header "
          f"+ {report['payload_bytes']} payload; {report['bpp']:.4f} bpp "
          f"(payload {report['payload_bpp']:.4f}, nominal "
          f"{report['nominal_bpp']:.3f})")
    if report.get("stop_map") is not None:
      print(f"  spatially adaptive: {report['mean_iterations']:.2f} "
            f"iterations per block on average, stop map "
            f"{report['map_bytes']} bytes" +
            (f" -> {args.map}" if args.map else ""))
  return status


def cmd_msssim(args):
  a = images.load(args.original_image)
  b = images.load(args.compared_image)
  if a.shape != b.shape:
    raise UsageError(f"The images differ in size: {a.shape[1]}x{a.shape[0]} "
                     f"and {b.shape[1]}x{b.shape[0]}.")
  fn = metrics.msssim if args.variant == "paper" else metrics.msssim_reference
  print(fn(a, b))
  return 0


def cmd_encoder(args):
  if not 0 <= args.iteration <= 15:
    raise UsageError("--iteration must be 0-15 (keeps iterations 0..N).")
  pixels = images.load(args.input_image)
  n = args.iteration + 1
  bits = _codec(args.model).encode(pixels, n)
  reference.write_npz(args.output_codes, bits, *pixels.shape[:2])
  print(f"{args.input_image} -> {args.output_codes}: {n} iterations")
  return 0


def cmd_decoder(args):
  bits, (height, width) = reference.read_npz(args.input_codes)
  if args.iteration >= 0:
    if args.iteration >= len(bits):
      raise UsageError(f"--iteration {args.iteration}: the file holds "
                       f"iterations 0..{len(bits) - 1}.")
    bits = bits[:args.iteration + 1]
  every = _codec(args.model).decode(bits, width, height, progressive=True)
  os.makedirs(args.output_directory, exist_ok=True)
  for i, image in enumerate(every):
    images.save_png(os.path.join(args.output_directory, f"image_{i:02d}.png"),
                    image)
  print(f"{args.input_codes} -> {args.output_directory}/image_00.png .. "
        f"image_{len(every) - 1:02d}.png")
  return 0


def cmd_eval(args):
  codecs = [c for c in args.codecs.split(",") if c]
  complaint = anchors.unknown(codecs)
  if complaint:
    raise UsageError(complaint)
  if args.workers < 0:
    raise UsageError("--workers must be 0 or more.")
  if args.tile_size is not None:
    container.check_tile_size(args.tile_size)  # before any image is coded
  if args.downscale < 1 or not 0 <= args.held_out_fraction <= 1:
    raise UsageError("--downscale must be 1 or more and "
                     "--held_out_fraction 0 to 1.")
  if args.held_out_fraction:
    from residual_gru import data
    try:
      paths = [p for p, _ in data.list_images([args.images],
                                              args.held_out_fraction)]
    except FileNotFoundError as e:
      raise UsageError(f"--images {e}")
  else:
    paths = _expand([args.images], IMAGE_EXTENSIONS)
  if args.max_images:
    paths = paths[:args.max_images]
  if not paths:
    raise UsageError(f"No images in {args.images}.")
  model, output_dir = args.model, args.output_dir
  if "ours" in codecs:
    model = evaluation.pin(model)
    if "{step}" in output_dir:
      step = registry.get(model).meta.get("provenance", {}).get("step")
      output_dir = output_dir.replace("{step}", str(step))
  t0 = time.time()
  if args.adaptive and "ours" not in codecs:
    raise UsageError("--adaptive needs ours among --codecs.")
  result = evaluation.evaluate(paths, codecs, output_dir, model,
                               args.workers, args.entropy, args.downscale,
                               args.tile_size, args.adaptive)
  print(f"{len(paths)} images, {len(result['rows'])} encodings in "
        f"{time.time() - t0:.0f} s -> {output_dir}")
  for codec, entry in sorted(result["summary"].items()):
    m = entry["msssim"]
    at = dict(zip(m["bpp"], m["mean"]))
    bd = entry["psnr"].get("bd_rate_vs_jpeg_percent")
    vs_uniform = m.get("bd_rate_vs_uniform_percent")
    print(f"  {codec:>16}: MS-SSIM " + " ".join(
        f"{at[b]:.4f}@{b}" if b in at else f"-@{b}"
        for b in (0.25, 0.5, 1.0, 2.0)) +
          f"  AUC {m['auc_0.25_2']:.4f}" +
          (f"  BD-rate(PSNR) {bd:+.1f}%" if bd is not None else "") +
          (f"  BD-rate(MS-SSIM) vs uniform {vs_uniform:+.1f}%"
           if vs_uniform is not None else ""))
  return 1 if result["failures"] else 0


def cmd_speed(args):
  codecs = [c for c in args.codecs.split(",") if c]
  complaint = anchors.unknown(codecs)
  if complaint:
    raise UsageError(complaint)
  paths = _expand([args.images], IMAGE_EXTENSIONS)[:args.max_images or None]
  if not paths:
    raise UsageError(f"No images in {args.images}.")
  try:
    if args.repeats < 1:
      raise UsageError("--repeats must be at least 1.")
    rows = speed.run(paths, codecs, args.repeats, args.model, args.threads,
                     args.iterations, not args.no_warmup)
  except RuntimeError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  summary = speed.summarize(rows)
  print(f"{'codec':>10} {'setting':>8} {'encode':>8} {'decode':>8} "
        f"{'enc s/MP':>8} {'dec s/MP':>8} {'peak MB':>8} {'work MB':>8}   "
        f"(medians over {len(paths)} images)")
  for r in summary:
    print(f"{r['codec']:>10} {r['setting']!s:>8} {r['encode_s']:>7.3f}s "
          f"{r['decode_s']:>7.3f}s {r['encode_s_per_mp']:>8.2f} "
          f"{r['decode_s_per_mp']:>8.2f} {r['peak_mb']:>8.0f} "
          f"{r['work_mb']:>8.0f}")
  if args.output:
    images.write_atomic(args.output, json.dumps(
        {"rows": rows, "summary": summary}, indent=1).encode())
  return 0


def cmd_thumbnails(args):
  codecs = [c for c in args.codecs.split(",") if c]
  complaint = anchors.unknown(codecs, anchors.THUMBNAIL_CODECS)
  if complaint:
    raise UsageError(complaint)
  if args.records:
    from residual_gru import data
    try:
      tiles = data.load_tiles(args.records)
    except (FileNotFoundError, ValueError) as e:
      raise UsageError(f"--records: {e}")
    if tiles.shape[1:3] != (32, 32):
      raise UsageError(f"--records holds {tiles.shape[1]}x{tiles.shape[2]} "
                       "tiles, not 32x32 thumbnails.")
    thumbs = list(tiles[:args.count])
  else:
    paths = _expand([args.images], IMAGE_EXTENSIONS)
    if not paths:
      raise UsageError(f"No images in {args.images}.")
    thumbs = thumbnails.make_thumbnails([images.load(p) for p in paths],
                                        args.count, args.seed)
  models = [m for m in args.models.split(",") if m]
  results = thumbnails.run(thumbs, codecs, args.model, models)
  width = max([10] + [len(r) for r in results])
  print(f"{'codec':>{width}} {'SSIM @64 B':>14} {'SSIM @128 B':>14}   "
        f"paper @64 / @128   ({len(thumbs)} thumbnails; mean header-less "
        "bytes in brackets)")
  for name, r in results.items():
    cells = [f"{r[t]['ssim']:>6.3f} ({r[t]['mean_bytes']:5.1f})" if t in r
             else f"{'-':>14}" for t in thumbnails.TARGETS]
    paper = thumbnails.PAPER_TABLE1.get(name, (None, None))
    paper = " / ".join("-" if v is None else f"{v:.2f}" for v in paper)
    print(f"{name:>{width}} " + " ".join(cells) + f"   {paper}")
  if args.output:
    images.write_atomic(args.output, json.dumps(results, indent=1).encode())
  return 0


def cmd_demo(args):
  path = images.SAMPLE_IMAGE
  model = registry.get(args.model)
  original = images.load(path)
  print(f"Image: {os.path.basename(path)} ({original.shape[1]}x"
        f"{original.shape[0]}), model {model.name} (id {model.id})")
  print(f"{'iterations':>10} {'bytes':>7} {'bpp':>7} {'MS-SSIM':>8} "
        f"{'PSNR':>6} {'encode':>7} {'decode':>7}")
  for k in args.iterations:
    t0 = time.time()
    data = api.compress(original, iterations=k, model=model)
    t1 = time.time()
    decoded = api.decompress(data, model=model)
    t2 = time.time()
    bpp = 8.0 * len(data) / (original.shape[0] * original.shape[1])
    print(f"{k:>10} {len(data):>7} {bpp:>7.3f} "
          f"{metrics.msssim(original, decoded):>8.4f} "
          f"{metrics.psnr(original, decoded):>6.2f} {t1 - t0:>6.2f}s "
          f"{t2 - t1:>6.2f}s")
    if args.output_dir:
      os.makedirs(args.output_dir, exist_ok=True)
      images.save_png(os.path.join(args.output_dir, f"demo_{k:02d}.png"),
                      decoded)
  return 0


COMMANDS = {"encode": cmd_encode, "decode": cmd_decode,
            "truncate": cmd_truncate, "info": cmd_info, "msssim": cmd_msssim,
            "encoder": cmd_encoder, "decoder": cmd_decoder, "demo": cmd_demo,
            "eval": cmd_eval, "speed": cmd_speed,
            "thumbnails": cmd_thumbnails}


# Commands that read or cut headers and segments: they start without
# TensorFlow (a second instead of several).
HEADER_ONLY = ("info", "truncate")


def main(argv=None):
  parser = _parser()
  args = parser.parse_args(argv)
  if args.threads < 0:
    parser.error("--threads must be 0 (all) or more.")
  if args.command not in HEADER_ONLY:
    _configure_tensorflow(args.threads)
  try:
    return COMMANDS[args.command](args)
  except UsageError as e:
    print(f"rnn-codec {args.command}: error: {e}", file=sys.stderr)
    return 2
  except errors.CodecError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  except OSError as e:
    print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    return 130
