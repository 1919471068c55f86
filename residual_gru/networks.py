"""One constructor for every image network a ModelConfig can describe."""

from residual_gru import model as model_lib
from residual_gru import thumbnail_models


def build(config):
  """The network of ``config``: the 2017 codec or a 2016 thumbnail network."""
  if config.architecture == "full_resolution":
    return model_lib.RNNCompressionModel(config)
  return thumbnail_models.ThumbnailModel(config)
