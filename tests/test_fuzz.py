"""Hostile files: the fuzz harness, the memory estimate, and the cases it found."""

import os
import time

import numpy as np
import pytest

import compression
from compression import codec as codec_lib, container, errors, fuzz, images


def _sample(width, height):
  return images.load(images.SAMPLE_IMAGE)[:height, :width]


def test_rebuilding_a_file_from_its_fields_gives_the_same_bytes():
  """The harness edits fields, not bytes: unedited, it rebuilds the file."""
  for entropy in (False, True):
    for tile_size in (0, 32):
      data = compression.compress(_sample(40, 24), 3, entropy_coding=entropy,
                                  tile_size=tile_size)
      c = container.parse(data)
      assert c.tile_size == tile_size
      assert fuzz.build(fuzz._header_fields(c), c.segments) == data


def test_a_tiled_file_cannot_claim_a_huge_image_with_short_segments():
  """Tiles bound the network's memory, so a tiled header may claim 134
  megapixels: its entropy-coded segments must be long enough to code that
  many bits before anything is decoded."""
  c = container.parse(compression.compress(_sample(40, 24), 2,
                                           entropy_coding=True, tile_size=32))
  fields = fuzz._header_fields(c)
  fields.update(width=65536, height=2048)
  data = fuzz.build(fields, c.segments)
  t0 = time.perf_counter()
  with pytest.raises(errors.FormatError, match="too short"):
    compression.decompress(data)
  assert time.perf_counter() - t0 < 1


@pytest.mark.slow
def test_every_mutator_yields_a_file_that_decodes_or_fails_cleanly():
  files = [("a", compression.compress(_sample(16, 16), 2,
                                      entropy_coding=False)),
           ("b", compression.compress(_sample(33, 20), 3,
                                      entropy_coding=True))]
  rng = np.random.default_rng(0)
  for mutator in fuzz.MUTATORS:
    for name, data in files:
      for _ in range(5):
        mutant = fuzz._MUTATE[mutator](rng, data, files)
        kind, detail = fuzz.outcome(mutant, time_limit=20)
        assert kind not in ("foreign", "hang"), (mutator, detail)


def test_a_small_entropy_coded_file_cannot_claim_a_large_image():
  """Bar of the robustness issue: 62 bytes claiming 1024x1024 with empty
  segments are refused at once, before anything is decoded."""
  c = container.parse(compression.compress(_sample(16, 16), 1,
                                           entropy_coding=True))
  fields = fuzz._header_fields(c)
  fields.update(width=1024, height=1024)
  fields.pop("length_0")
  fields["iterations"] = 16
  for i in range(16):
    fields[f"length_{i}"] = 0
  data = fuzz.build(fields, [b""] * 16)
  data += b"\0" * (62 - len(data))
  assert len(data) == 62
  t0 = time.perf_counter()
  with pytest.raises(errors.FormatError, match="multiple of 4"):
    compression.decompress(data)
  assert time.perf_counter() - t0 < 1


def test_the_memory_estimate_refuses_what_would_not_fit(monkeypatch):
  """Before any allocation, encoding and decoding say how much they need."""
  data = compression.compress(_sample(64, 64), 2, entropy_coding=False)
  model = compression.registry.get(None).codec
  need = model.memory_needed_mb(64, 64)
  assert 0 < need < 16
  monkeypatch.setenv(codec_lib.MEMORY_LIMIT_ENV, str(need / 2))
  with pytest.raises(errors.ImageTooLargeError, match="needs about"):
    compression.decompress(data)
  with pytest.raises(errors.ImageTooLargeError, match="Encoding a 64x64"):
    compression.compress(_sample(64, 64), 2)
  monkeypatch.setenv(codec_lib.MEMORY_LIMIT_ENV, str(need * 2))
  assert compression.decompress(data).shape == (64, 64, 3)
  monkeypatch.setenv(codec_lib.MEMORY_LIMIT_ENV, "lots")
  with pytest.raises(errors.CodecError, match="number of MB"):
    compression.decompress(data)
  monkeypatch.delenv(codec_lib.MEMORY_LIMIT_ENV)
  limit = codec_lib.memory_limit_mb()
  assert limit is None or limit > 0
  # A network of twice the channels holds twice the states per pixel.
  import types
  from residual_gru import config as config_lib
  wider = codec_lib.Codec(1000, "wider", types.SimpleNamespace(
      config=config_lib.ModelConfig(channel_multiplier=0.5)))
  assert model.network.config.channel_multiplier == 0.25
  network = 64 * 64 * codec_lib.BYTES_PER_PIXEL / 2**20
  assert wider.memory_needed_mb(64, 64) == pytest.approx(need + network)


@pytest.mark.slow
def test_two_thousand_mutants_decode_or_fail_cleanly_in_two_minutes(tmp_path):
  """The CI fuzz run: zero foreign exceptions, hangs or memory blow-ups."""
  t0 = time.perf_counter()
  summary = fuzz.run(2000, seed=7, time_limit=10, output_dir=str(tmp_path),
                     progress=False)
  assert time.perf_counter() - t0 < 120
  assert summary["failures"] == 0, [
      (f["mutator"], f["detail"]) for f in summary["failure_list"]][:3]
  assert summary["mutants"] >= 2000
  assert set(summary["outcomes"]) >= set(fuzz.MUTATORS)
  kinds = {k for m in summary["outcomes"].values() for k in m}
  assert {"image", "FormatError"} <= kinds  # both paths reached
  assert summary["peak_rss_mb"] < 2048
  assert os.path.exists(tmp_path / "summary.json")
