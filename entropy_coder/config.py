"""Entropy-coder configs with the reference's JSON fields, in the project's
one config schema (residual_gru.config.DictConfig: from_dict refuses unknown
keys, from_json reads a file, to_dict writes what from_dict reads).

The field names are those of the released entropy coder's JSON configs
(tensorflow/models research/compression/entropy_coder: model, train and
input configs).

model: layer_depth (bits per layer, 32 = one image iteration), layer_count
(layers instantiated), coded_layer_count (layers coded; default all), plus
our additions: progressive (False = the single-iteration BinaryRNN per
layer) and context ("row": the current row is excluded from the masks, so
a whole row is predicted at once; "raster": the paper's mask with left
neighbours, one step per position).
train: batch_size, learning_rate, decay_rate, samples_per_decay (the
reference's staircase decay), max_steps.
input: data (TFRecord path or glob), unique_code_size (only true: every
code map of a set has one shape, so batches stack).
"""

import dataclasses

from residual_gru.config import DictConfig

CONTEXTS = ("row", "raster")


@dataclasses.dataclass(frozen=True)
class EntropyModelConfig(DictConfig):
  layer_depth: int = 32
  layer_count: int = 16
  coded_layer_count: int = 0   # 0 = layer_count
  progressive: bool = True
  context: str = "row"

  def __post_init__(self):
    if self.context not in CONTEXTS:
      raise ValueError(f"context must be one of {CONTEXTS}")
    if self.layer_depth < 1 or self.layer_count < 1:
      raise ValueError("layer_depth and layer_count must be positive")
    if not 0 <= self.coded_layer_count <= self.layer_count:
      raise ValueError("coded_layer_count must be 0..layer_count")

  @property
  def coded_layers(self):
    return self.coded_layer_count or self.layer_count

  @property
  def hidden(self):
    """The line LSTM's state depth, k = 2 x layer_depth (k = 64 for 32 bits)."""
    return 2 * self.layer_depth


@dataclasses.dataclass(frozen=True)
class EntropyTrainConfig(DictConfig):
  batch_size: int = 4
  learning_rate: float = 0.1
  decay_rate: float = 0.9
  samples_per_decay: int = 20000
  adam_epsilon: float = 1.0  # the reference's Adam epsilon
  max_steps: int = 10000

  def learning_rate_at(self, step):
    """lr * decay_rate ^ floor(step / (samples_per_decay / batch_size))."""
    steps_per_decay = max(1, self.samples_per_decay // self.batch_size)
    return self.learning_rate * self.decay_rate ** (step // steps_per_decay)


@dataclasses.dataclass(frozen=True)
class EntropyInputConfig(DictConfig):
  data: str = ""
  unique_code_size: bool = True

  def __post_init__(self):
    if not self.unique_code_size:
      raise ValueError("unique_code_size: false (code maps of several "
                       "shapes) is not supported; give one crop size.")
