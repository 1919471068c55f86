"""The reference's frozen-graph interface, on a small synthetic GraphDef.

The released residual_gru.pb cannot be downloaded here; this graph has the
same tensor names and contract (uint8 input, 16 Sign codes of
[1, H/16, W/16, 32], cumulative reconstructions loop_NN/add) so the loader is
exercised end to end.
"""

import numpy as np
import pytest
import tensorflow as tf

from compression import cli, errors, reference
from tests.images import synthetic_image


def _make_graph(path):
  graph = tf.Graph()
  rng = np.random.default_rng(0)
  with graph.as_default():
    x = tf.compat.v1.placeholder(tf.uint8, [1, None, None, 3],
                                 name="Placeholder")
    f = tf.cast(x, tf.float32) / 255.0 - 0.5
    pooled = tf.nn.avg_pool2d(f, 16, 16, "VALID")
    kernel = tf.constant(rng.normal(size=(1, 1, 3, 32)), tf.float32)
    features = tf.nn.conv2d(pooled, kernel, 1, "VALID")
    signs = []
    with tf.name_scope("GruBinarizer/SignBinarizer/"):
      for i in range(16):
        signs.append(tf.sign(features - 0.05 * i, name="Sign"))
    back = tf.constant(rng.normal(size=(1, 1, 32, 3)) * 2, tf.float32)
    acc = tf.constant(128.0)  # depends on the codes only, as the real one
    for i, s in enumerate(signs):
      with tf.name_scope(f"loop_{i:02d}/"):
        up = tf.repeat(tf.repeat(tf.nn.conv2d(s, back, 1, "VALID"), 16, 1),
                       16, 2)
        acc = tf.add(acc, 20.0 * up / (i + 1), name="add")
  tf.io.write_graph(graph.as_graph_def(), str(path.parent), path.name,
                    as_text=False)
  return graph


def test_frozen_graph_encode_decode(tmp_path):
  path = tmp_path / "residual_gru.pb"
  graph = _make_graph(path)
  names = {op.name for op in graph.get_operations()}
  assert {"GruBinarizer/SignBinarizer/Sign",
          "GruBinarizer/SignBinarizer/Sign_15", "loop_15/add"} <= names
  model = reference.FrozenGraph(str(path))
  image = synthetic_image(64, 96)
  bits = model.encode(image)
  assert bits.shape == (16, 4, 6, 32) and set(np.unique(bits)) <= {0, 1}
  every = model.decode(bits[:3], 96, 64, progressive=True)
  assert every.shape == (3, 64, 96, 3)
  np.testing.assert_array_equal(model.decode(bits[:3], 96, 64), every[2])
  # The Codec protocol: cropped to the image's own size.
  assert model.decode(bits[:1], 90, 60).shape == (60, 90, 3)
  # Decoding from the codes equals running the whole graph on the image.
  with tf.compat.v1.Session(graph=graph) as sess:
    direct = sess.run("loop_02/add:0", {"Placeholder:0": image[None]})
  np.testing.assert_array_equal(
      every[2], np.clip(direct[0] + 0.5, 0, 255).astype(np.uint8))
  with pytest.raises(errors.InputError, match="multiples of 32"):
    model.encode(image[:40])


def test_cli_reference_flags_with_the_graph(tmp_path):
  path = tmp_path / "residual_gru.pb"
  _make_graph(path)
  from PIL import Image
  Image.fromarray(synthetic_image(32, 64)).save(tmp_path / "a.png")
  codes = tmp_path / "a.npz"
  assert cli.main(["encoder", f"--input_image={tmp_path / 'a.png'}",
                   f"--output_codes={codes}", "--iteration=3",
                   f"--model={path}"]) == 0
  bits, size = reference.read_npz(str(codes))
  assert bits.shape == (4, 2, 4, 32) and size == (32, 64)
  out = tmp_path / "out"
  assert cli.main(["decoder", f"--input_codes={codes}",
                   f"--output_directory={out}", f"--model={path}"]) == 0
  assert len(list(out.iterdir())) == 4


def test_not_a_graph(tmp_path):
  bad = tmp_path / "bad.pb"
  bad.write_bytes(b"\xff\xfe garbage")
  with pytest.raises(errors.FormatError):
    reference.FrozenGraph(str(bad))


def test_npz_without_original_size_and_broken_npz(tmp_path):
  bits = np.random.default_rng(1).integers(0, 2, (2, 2, 2, 32), np.uint8)
  path = tmp_path / "c.npz"
  np.savez_compressed(path, shape=np.array([2, 1, 2, 2, 32]),
                      codes=np.packbits(bits.reshape(-1)))
  got, size = reference.read_npz(str(path))
  np.testing.assert_array_equal(got, bits)
  assert size == (32, 32)
  (tmp_path / "x.npz").write_bytes(b"nope")
  with pytest.raises(errors.FormatError):
    reference.read_npz(str(tmp_path / "x.npz"))
