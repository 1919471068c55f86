"""Between TF Serving and files: the client side of residual_gru.export.

Entropy coding is not a TensorFlow op, so the served graph returns raw
packed codes; these helpers turn a response into a container file (entropy
coded when the model has an entropy coder) and a file back into the inputs
of the `decode` signature.
"""

import numpy as np

from compression import api, registry


def response_to_file(outputs, model=None, entropy_coding=None):
  """Outputs of `encode`/`encode_image` (dict of arrays) -> file bytes.

  ``model`` must be the model the server runs (default: the bundled one).
  """
  codes = np.asarray(outputs["codes"], np.uint8)
  h, w, depth = (int(v) for v in np.asarray(outputs["code_shape"]))
  height, width = (int(v) for v in np.asarray(outputs["image_size"]))
  bits = np.unpackbits(codes, axis=1).reshape(len(codes), h, w, depth)
  return api.pack(bits, width, height, registry.get(model), entropy_coding)


def file_to_decode_inputs(data, model=None):
  """File bytes -> {"codes", "image_size"} for the `decode` signature."""
  c = api.read(data)
  chosen = registry.for_file(c.model_id, model)
  bits = api.unpack(c, chosen)
  return {"codes": np.stack([np.packbits(b.reshape(-1)) for b in bits]),
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

