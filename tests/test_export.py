"""SavedModel export for TF Serving: same codes and images as the Python API."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import compression
from compression import container, images, registry
from compression import export
from tests.images import synthetic_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def exported(tiny_model_dir, tmp_path_factory):
  base = tmp_path_factory.mktemp("serving")
  network = registry.get(tiny_model_dir).network
  return export.export(network, str(base), 3)


@pytest.mark.slow
def test_layout_and_signatures(exported):
  assert exported.endswith(os.path.join("", "3"))
  loaded = tf.saved_model.load(exported)
  assert {"serving_default", "encode", "encode_image", "decode"} <= set(
      loaded.signatures)


_CHECK = r"""
import sys, json, numpy as np, tensorflow as tf
sys.path.insert(0, {root!r})
from tests.images import synthetic_image
m = tf.saved_model.load({path!r})
image = synthetic_image(37, 70, seed=3)
out = m.signatures["serving_default"](image=tf.constant(image),
                                      iterations=tf.constant(3))
dec = m.signatures["decode"](codes=out["codes"], image_size=out["image_size"])
np.save({codes!r}, out["codes"].numpy())
np.save({img!r}, dec["image"].numpy())
"""


@pytest.mark.slow
def test_fresh_process_gives_the_api_codes_and_image(exported, tiny_model_dir,
                                                     tmp_path):
  codes_path, img_path = str(tmp_path / "c.npy"), str(tmp_path / "i.npy")
  out = subprocess.run(
      [sys.executable, "-c", _CHECK.format(root=ROOT, path=exported,
                                           codes=codes_path, img=img_path)],
      capture_output=True, text=True, timeout=300,
      env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert out.returncode == 0, out.stderr[-2000:]
  image = synthetic_image(37, 70, seed=3)
  data = compression.compress(image, 3, model=tiny_model_dir)
  c = container.parse(data)
  np.testing.assert_array_equal(
      np.load(codes_path), np.stack([np.frombuffer(s, np.uint8)
                                     for s in c.segments]))
  np.testing.assert_array_equal(
      np.load(img_path), compression.decompress(data, model=tiny_model_dir))


@pytest.mark.slow
def test_encode_image_bytes_and_saved_model_cli(exported, tmp_path):
  image = synthetic_image(32, 48, seed=4)
  png = images.png_bytes(image)
  m = tf.saved_model.load(exported)
  a = m.signatures["encode_image"](image_bytes=tf.constant(png),
                                   iterations=tf.constant(2))
  b = m.signatures["encode"](image=tf.constant(image),
                             iterations=tf.constant(2))
  np.testing.assert_array_equal(a["codes"].numpy(), b["codes"].numpy())
  np.save(tmp_path / "img.npy", image)
  np.save(tmp_path / "it.npy", np.int32(2))
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  out = subprocess.run(
      [cli, "run", "--dir", exported, "--tag_set", "serve",
       "--signature_def", "serving_default",
       "--inputs",
       f"image={tmp_path / 'img.npy'};iterations={tmp_path / 'it.npy'}",
       "--outdir", str(tmp_path / "out")],
      capture_output=True, text=True, timeout=300,
      env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert out.returncode == 0, out.stderr[-2000:]
  np.testing.assert_array_equal(np.load(tmp_path / "out" / "codes.npy"),
                                b["codes"].numpy())


@pytest.mark.slow
def test_serving_client_round_trip(exported, tiny_model_dir):
  from compression import serving
  m = tf.saved_model.load(exported)
  image = synthetic_image(40, 50, seed=6)
  out = m.signatures["serving_default"](image=tf.constant(image),
                                        iterations=tf.constant(2))
  data = serving.response_to_file({k: v.numpy() for k, v in out.items()},
                                  model=tiny_model_dir)
  assert data == compression.compress(image, 2, model=tiny_model_dir)
  inputs = serving.file_to_decode_inputs(data, model=tiny_model_dir)
  dec = m.signatures["decode"](codes=tf.constant(inputs["codes"]),
                               image_size=tf.constant(inputs["image_size"]))
  np.testing.assert_array_equal(
      dec["image"].numpy(), compression.decompress(data, model=tiny_model_dir))


def _call_like_a_server(m, signature, inputs):
  """What TF Serving does with a request's named inputs."""
  spec = m.signatures[signature].structured_input_signature[1]
  return m.signatures[signature](
      **{k: tf.constant(v, spec[k].dtype) for k, v in inputs.items()})


@pytest.mark.slow
def test_grpc_predict_request_and_response(exported, tiny_model_dir):
  """PredictRequests built with tensorflow-serving-api's protos, through
  their wire format, drive the signatures; responses become the API's file
  and image."""
  from tensorflow_serving.apis import predict_pb2
  from compression import serving
  m = tf.saved_model.load(exported)
  image = synthetic_image(37, 45, seed=8)

  def round_trip(signature, inputs):
    wire = serving.predict_request("rnn", signature, inputs).SerializeToString()
    request = predict_pb2.PredictRequest.FromString(wire)
    assert request.model_spec.name == "rnn"
    assert request.model_spec.signature_name == signature
    outputs = _call_like_a_server(
        m, signature, {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
    response = predict_pb2.PredictResponse()
    for k, v in outputs.items():
      response.outputs[k].CopyFrom(tf.make_tensor_proto(v.numpy()))
    return predict_pb2.PredictResponse.FromString(response.SerializeToString())

  response = round_trip("serving_default",
                        {"image": image, "iterations": np.int32(3)})
  data = serving.response_to_file(response, model=tiny_model_dir)
  assert data == compression.compress(image, 3, model=tiny_model_dir)
  decoded = round_trip("decode", serving.file_to_decode_inputs(
      data, model=tiny_model_dir))
  np.testing.assert_array_equal(
      serving.decode_response_image(decoded),
      compression.decompress(data, model=tiny_model_dir))


@pytest.mark.slow
def test_rest_request_and_response(exported, tiny_model_dir):
  """REST bodies (columnar "inputs", b64 for bytes) through JSON."""
  import base64
  import io
  import json
  from PIL import Image
  from compression import serving
  m = tf.saved_model.load(exported)
  image = synthetic_image(30, 33, seed=9)
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format="PNG")
  body = json.loads(json.dumps(serving.rest_request(
      "encode_image", {"image_bytes": buf.getvalue(), "iterations": 2})))
  assert body["signature_name"] == "encode_image"
  assert body["inputs"]["iterations"] == 2
  inputs = {k: base64.b64decode(v["b64"]) if isinstance(v, dict) else v
            for k, v in body["inputs"].items()}
  outputs = _call_like_a_server(m, body["signature_name"], inputs)
  reply = json.loads(json.dumps(
      {"outputs": {k: v.numpy().tolist() for k, v in outputs.items()}}))
  data = serving.response_to_file(reply, model=tiny_model_dir)
  assert data == compression.compress(image, 2, model=tiny_model_dir)
  with pytest.raises(ValueError, match="named outputs"):
    serving.response_outputs({"outputs": [1, 2]})
