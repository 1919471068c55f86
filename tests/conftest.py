"""Test setup: quiet TensorFlow, fixed seeds, the repo root on sys.path."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
  keras.utils.set_random_seed(1234)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
  """A user model folder (id 1000) of a tiny untrained network."""
  from compression import registry
  from residual_gru import config as config_lib
  from residual_gru import model as model_lib
  keras.utils.set_random_seed(7)
  network = model_lib.RNNCompressionModel(config_lib.ModelConfig(
      channel_multiplier=0.125, iterations=4))
  folder = tmp_path_factory.mktemp("models") / "tiny"
  registry.save_model_dir(network, str(folder), 1000, "tiny-test")
  return str(folder)
