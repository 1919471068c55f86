"""Between TF Serving and files: the client side of compression.export.

Entropy coding is not a TensorFlow op, so the served graph returns raw
packed codes; these helpers turn a response into a container file (entropy
coded when the model has an entropy coder) and a file back into the inputs
of the `decode` signature.
"""

import base64

import numpy as np

from compression import api, container, errors, registry

# The dtypes of the signatures' inputs (residual_gru/export.py), for REST
# bodies, where JSON numbers carry no type.
_OUTPUT_DTYPES = {"codes": np.uint8, "code_shape": np.int32,
                  "image_size": np.int32, "image": np.uint8}


def response_outputs(response):
  """A serving response -> {name: ndarray}.

  Accepts a gRPC PredictResponse, a decoded REST body ({"outputs": ...} of
  the columnar format) or a dict of arrays (a signature called in-process).
  """
  if hasattr(response, "outputs") and not isinstance(response, dict):
    import tensorflow as tf
    return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
  if isinstance(response, dict) and "outputs" in response:
    outputs = response["outputs"]
    if not isinstance(outputs, dict):
      raise ValueError("Expected named outputs (a dict) in the REST body.")
    return {k: np.asarray(v, _OUTPUT_DTYPES.get(k))
            for k, v in outputs.items()}
  return {k: np.asarray(v) for k, v in response.items()}


def rest_request(signature, inputs):
  """The JSON body (a dict; json.dumps it) of a REST predict request.

  POST it to http://HOST:8501/v1/models/NAME:predict. Byte strings (the
  `encode_image` signature's PNG/JPEG) travel as {"b64": ...}, as TF
  Serving's REST API requires.
  """
  def encode(value):
    if isinstance(value, bytes):
      return {"b64": base64.b64encode(value).decode("ascii")}
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value.tolist()
  return {"signature_name": signature,
          "inputs": {k: encode(v) for k, v in inputs.items()}}


def response_to_file(outputs, model=None, entropy_coding=None):
  """An `encode`/`encode_image` response (see response_outputs) -> file bytes.

  ``model`` must be the model the server runs (default: the bundled one).
  """
  outputs = response_outputs(outputs)
  codes = np.asarray(outputs["codes"], np.uint8)
  height, width = (int(v) for v in np.asarray(outputs["image_size"]))
  codec = registry.get(model).codec
  if tuple(int(v) for v in np.asarray(outputs["code_shape"])) != (
      *container.code_map_size(width, height, codec.geometry),
      codec.geometry.bits):
    raise errors.FormatError("The response's code shape does not match the "
                             "model's code map for its image size.")
  bits = container.unpack_bits([row.tobytes() for row in codes], width,
                               height, codec.geometry)
  return codec.pack(bits, width, height, entropy_coding)


def file_to_decode_inputs(data, model=None):
  """File bytes -> {"codes", "image_size"} for the `decode` signature."""
  c = api.read(data)
  bits = registry.for_file(c.model_id, model).codec.unpack(c)
  return {"codes": np.stack([np.frombuffer(s, np.uint8)
                             for s in container.pack_bits(bits)]),
          "image_size": np.array([c.height, c.width], np.int32)}


def predict_request(model_name, signature, inputs):
  """A tensorflow_serving PredictRequest for gRPC (needs
  tensorflow-serving-api, installed with --no-deps beside our TensorFlow)."""
  import tensorflow as tf
  from tensorflow_serving.apis import predict_pb2
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature
  for key, value in inputs.items():
    request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
  return request


def decode_response_image(response):
  """The uint8 image of a `decode` response (any form response_outputs
  takes)."""
  return np.asarray(response_outputs(response)["image"], np.uint8)

