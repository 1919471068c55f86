"""notebooks/demo.ipynb runs headless and prints what the API computes."""

import os
import re

import nbformat
from nbclient import NotebookClient
import pytest

import compression
from compression import images, metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(r"^\s*(\d+) iterations:\s+(\d+) bytes, ([\d.]+) bpp, "
                  r"MS-SSIM ([\d.]+)$", re.M)

pytestmark = pytest.mark.slow


def test_demo_notebook_prints_the_api_numbers():
  nb = nbformat.read(os.path.join(ROOT, "notebooks", "demo.ipynb"),
                     as_version=4)
  params = [c for c in nb.cells
            if "parameters" in c.get("metadata", {}).get("tags", [])]
  assert len(params) == 1
  # Small and quick in CI: two iteration counts, two JPEG qualities.
  params[0].source += "\nITERATIONS = [1, 3]\nJPEG_QUALITIES = [20, 60]\n"
  NotebookClient(nb, timeout=300, kernel_name="python3",
                 resources={"metadata": {"path": ROOT}}).execute()
  printed = "".join(o.get("text", "") for c in nb.cells
                    if c.cell_type == "code" for o in c.get("outputs", []))
  figures = sum("image/png" in o.get("data", {}) for c in nb.cells
                if c.cell_type == "code" for o in c.get("outputs", []))
  assert figures == 2  # the side-by-side reconstructions and the RD plot
  rows = LINE.findall(printed)
  assert [int(r[0]) for r in rows] == [1, 3]
  original = images.load(images.SAMPLE_IMAGE)
  for k, size, bpp, score in rows:
    data = compression.compress(original, iterations=int(k))
    decoded = compression.decompress(data)
    assert int(size) == len(data)
    assert bpp == f"{8 * len(data) / original.shape[0] / original.shape[1]:.4f}"
    assert score == f"{metrics.msssim(original, decoded):.4f}"
