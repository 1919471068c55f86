"""Released models: every one stays decodable after an upgrade.

Bundled models live in compression/models/<name>/ with
  model.json   {"id", "name", "model": ModelConfig, "description", ...}
  weights.npz  the network's variables by name (float16 to keep the
               package small; computed in float32)
and are listed in compression/models/registry.json, whose "default" names
the model new files are written with. Ids 1-999 belong to bundled models; a
model of your own (a folder with the same two files, made with
``python -m compression.release``) needs an id of 1000 or more.
"""

import json
import os
import threading

import numpy as np

from compression import codec, errors
from residual_gru import codes
from residual_gru import weights

MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "models")
FIRST_USER_ID = 1000

_lock = threading.Lock()
_cache = {}


class Model:
  """A released image model: its id, name and (lazily built) network."""

  def __init__(self, directory):
    self.directory = directory
    try:
      with open(os.path.join(directory, "model.json")) as f:
        self.meta = json.load(f)
      self.id = int(self.meta["id"])
      self.name = self.meta["name"]
    except (OSError, ValueError, KeyError) as e:
      raise errors.UnknownModelError(
          f"{directory} is not a model folder (model.json: {e}).")
    self._network = None
    self._entropy = None
    self._codec = None
    self._network_lock = threading.Lock()

  def __repr__(self):
    return f"Model(id={self.id}, name={self.name!r})"

  @property
  def entropy(self):
    """(entropy id, IntegerBinaryRNN) of the model's entropy coder, or None.

    A model folder may hold entropy/model.json and entropy/weights.npz: the
    BinaryRNN trained over this image model's codes (section 3).
    """
    with self._network_lock:
      if self._entropy is None:
        folder = os.path.join(self.directory, "entropy")
        if not os.path.exists(os.path.join(folder, "model.json")):
          self._entropy = (None, None)
        else:
          with open(os.path.join(folder, "model.json")) as f:
            meta = json.load(f)
          self._entropy = (int(meta["id"]), build_entropy_engine(
              meta["model"], os.path.join(folder, "weights.npz")))
      return self._entropy if self._entropy[0] is not None else None

  @property
  def codec(self):
    """The Codec of this model (network and entropy engine, built once)."""
    if self._codec is None:
      built = codec.Codec(self.id, self.name, self.network, self.entropy)
      with self._network_lock:
        if self._codec is None:
          self._codec = built
    return self._codec

  @property
  def network(self):
    """The RNNCompressionModel with the released weights (built once)."""
    with self._network_lock:
      if self._network is None:
        self._network = build_network(self.meta["model"], os.path.join(
            self.directory, "weights.npz"))
      return self._network


class TrainingRun(Model):
  """A training run's checkpoint (the latest, or the one given) as a model,
  for evaluation and timing; ``checkpoint`` is the path it was loaded from.

  Its files carry the first user id (1000): they are for measuring, not
  for keeping (release the run with `python -m compression.release` to
  keep files decodable). No entropy engine.
  """

  def __init__(self, directory, checkpoint=None):
    self.directory = directory
    try:
      self.checkpoint = checkpoint or weights.latest_checkpoint(directory)
      self._network, self.step = weights.load_checkpoint(directory,
                                                         self.checkpoint)
    except (FileNotFoundError, ValueError) as e:
      raise errors.UnknownModelError(str(e))
    self.id = FIRST_USER_ID
    self.name = f"{os.path.basename(os.path.normpath(directory))}@{self.step}"
    self.meta = {"id": self.id, "name": self.name,
                 "model": self._network.config.to_dict(),
                 "provenance": {"step": self.step, "train_dir": directory}}
    self._entropy = (None, None)
    self._codec = None
    self._network_lock = threading.Lock()


def build_network(model_config, weights_path):
  # Imported here so that reading a file's header needs no TensorFlow.
  try:
    return weights.build_network(model_config, weights_path)
  except ValueError as e:
    raise errors.UnknownModelError(str(e))


def build_entropy_engine(model_config, weights_path):
  from entropy_coder import config as ec_config
  from entropy_coder import integer
  from entropy_coder import model as ec_model
  network = ec_model.ProgressiveBinaryRNN(
      ec_config.EntropyModelConfig.from_dict(model_config))
  load_weights(network, weights_path)
  return integer.IntegerBinaryRNN(network)


def save_entropy_dir(network, model_directory, entropy_id, extra=None,
                     dtype=np.float16):
  """Writes <model>/entropy/{model.json, weights.npz} for a BinaryRNN."""
  folder = os.path.join(model_directory, "entropy")
  os.makedirs(folder, exist_ok=True)
  weights.save_npz(network, os.path.join(folder, "weights.npz"), dtype)
  with open(os.path.join(folder, "model.json"), "w") as f:
    json.dump({"id": int(entropy_id), "model": network.config.to_dict(),
               "weights_dtype": np.dtype(dtype).name, **(extra or {})}, f,
              indent=2)


def load_weights(network, path):
  try:
    weights.load_npz(network, path)
  except ValueError as e:
    raise errors.UnknownModelError(str(e))


def save_model_dir(network, directory, model_id, name, description="",
                   dtype=np.float16, extra=None):
  """Writes model.json and weights.npz for ``network`` (a release)."""
  os.makedirs(directory, exist_ok=True)
  weights.save_npz(network, os.path.join(directory, "weights.npz"), dtype)
  meta = {"id": int(model_id), "name": name, "description": description,
          "weights_dtype": np.dtype(dtype).name,
          "model": network.config.to_dict(), **(extra or {})}
  with open(os.path.join(directory, "model.json"), "w") as f:
    json.dump(meta, f, indent=2)
  return Model(directory)


def _bundled_index():
  path = os.path.join(MODELS_DIR, "registry.json")
  if not os.path.exists(path):
    return {"default": None, "models": {}}
  with open(path) as f:
    return json.load(f)


def bundled():
  """{id: folder name} of the models shipped in this package."""
  return {int(k): v for k, v in _bundled_index()["models"].items()}


def default_name():
  return _bundled_index().get("default")


def _load_dir(directory):
  key = os.path.abspath(directory)
  with _lock:
    if key not in _cache:
      _cache[key] = Model(directory)
    return _cache[key]


def get(model=None):
  """The model a call asks for: None (the default), an id, a name, a model
  folder, a training run (its latest checkpoint) or one of its checkpoints
  (``<run>/checkpoints/ckpt-N``); runs are for evaluation and timing."""
  if isinstance(model, Model):
    return model
  check_spec(model)
  if model is None:
    name = default_name()
    if name is None:
      raise errors.UnknownModelError(
          "No trained model is bundled with this installation yet; pass "
          "model=<folder of a model.json and weights.npz>.")
    return _load_dir(os.path.join(MODELS_DIR, name))
  if isinstance(model, (int, np.integer)) or (
      isinstance(model, str) and model.isascii() and model.isdigit()):
    folder = bundled().get(int(model))
    if folder is None:
      raise errors.UnknownModelError(
          f"Model id {int(model)} is not bundled with this installation "
          f"(bundled: {sorted(bundled()) or 'none'}); it may come from a "
          "newer release or be someone's own model: give the folder of the "
          "model that made it (--model FOLDER, or model=FOLDER).")
    return _load_dir(os.path.join(MODELS_DIR, folder))
  if isinstance(model, (str, os.PathLike)):
    model = os.fspath(model)
    if model in bundled().values():
      return _load_dir(os.path.join(MODELS_DIR, model))
    run = weights.checkpoint_run(model)
    if run:  # one checkpoint's weights never change: cached
      key = ("checkpoint", os.path.abspath(model))
      with _lock:
        if key not in _cache:
          _cache[key] = TrainingRun(run, model)
        return _cache[key]
    if os.path.isdir(model):
      if weights.is_training_run(model):
        return TrainingRun(model)  # not cached: its checkpoint moves on
      return _load_dir(model)
    raise errors.UnknownModelError(
        f"{model!r} is neither a bundled model "
        f"({sorted(bundled().values()) or 'none'}), a model folder, a "
        "training run nor a checkpoint of one.")
  raise errors.UnknownModelError(f"Cannot use {model!r} as a model.")


def _config_in(folder):
  """The ModelConfig dict of a model folder or training run, or None."""
  for name, key in (("model.json", "model"), ("config.json", "model")):
    try:
      with open(os.path.join(folder, name)) as f:
        return json.load(f)[key]
    except (OSError, ValueError, KeyError, TypeError):
      continue
  return None


def check_spec(model):
  """Refuses what cannot name a model (before any lookup compares it)."""
  if model is None or isinstance(model, Model):
    return
  if isinstance(model, bool) or not isinstance(
      model, (int, np.integer, str, os.PathLike)):
    raise errors.UnknownModelError(
        f"Cannot use a {type(model).__name__} as a model: give a model id, "
        "a bundled model's name or a model folder.")


def geometry_for(model=None):
  """model id -> code geometry (residual_gru.codes), read without TensorFlow.

  ``model`` as for ``get`` when the caller names the model; otherwise the
  bundled model of the id, and the 2017 network's geometry for ids this
  installation does not know (parsing then fails on the segment lengths,
  and decoding names the missing model).
  """
  check_spec(model)

  def lookup(model_id):
    if isinstance(model, Model):
      config = model.meta.get("model")
    elif isinstance(model, (str, os.PathLike)) and os.path.isdir(model):
      config = _config_in(os.fspath(model))
    else:
      folder = bundled().get(model_id)
      if isinstance(model, str) and model in bundled().values():
        folder = model
      config = _config_in(os.path.join(MODELS_DIR, folder)) if folder else None
    return codes.geometry(config) if config else codes.FULL_RESOLUTION
  return lookup


def for_file(model_id, model=None):
  """The model that decodes a file written by model ``model_id``."""
  if model is not None:
    chosen = get(model)
    if chosen.id != model_id:
      raise errors.UnknownModelError(
          f"The file was made with model id {model_id}, not with "
          f"{chosen.name} (id {chosen.id}).")
    return chosen
  return get(model_id)
