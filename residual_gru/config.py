"""The one config schema: frozen dataclasses read from and written to JSON.

DictConfig is the schema both models use (entropy_coder.config's
EntropyModelConfig, EntropyTrainConfig and EntropyInputConfig subclass it
with the reference's field names); the image network's ModelConfig and
TrainConfig live here.

A config file holds {"model": {...}, "train": {...}}; the model part is also
saved beside every checkpoint and bundled model so that weights always travel
with the architecture that reads them.
"""

import dataclasses
import json

from residual_gru import frameworks, layers
LOSSES = ("l1", "msssim", "mixed", "ssim_l1", "l2")
# "full_resolution": the 2017 paper's network (residual_gru.model); the rest
# are the 2016 paper's thumbnail networks (residual_gru.thumbnail_models).
ARCHITECTURES = ("full_resolution", "fc_residual", "fc_lstm", "conv_residual",
                 "conv_lstm", "conv_autoencoder")
SCHEDULES = ("staircase", "cosine")


class DictConfig:
  """from_dict / to_dict for the frozen config dataclasses.

  Fields added after a model was released are listed in ``_ADDED`` with the
  value that means "as before"; ``to_dict`` leaves them out at that value,
  so the config files of existing runs and releases read and compare as
  they always did. Fields renamed since are stored under their old key
  (``_STORED_AS``: field name -> key in files), so files stay the same.
  """

  _ADDED = {}
  _STORED_AS = {}

  @classmethod
  def from_dict(cls, d):
    """cls(**d), refusing keys the dataclass does not have (config typos)."""
    field_of = {v: k for k, v in cls._STORED_AS.items()}
    d = {field_of.get(k, k): v for k, v in d.items()}
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - fields
    if unknown:
      raise ValueError(f"Unknown {cls.__name__} keys: {sorted(unknown)}")
    return cls(**d)

  @classmethod
  def from_json(cls, path, section=None):
    """cls from a JSON file, or from one section of it ("model", "train")."""
    with open(path) as f:
      data = json.load(f)
    return cls.from_dict(data.get(section, {}) if section else data)

  def to_dict(self):
    return {self._STORED_AS.get(k, k): v
            for k, v in dataclasses.asdict(self).items()
            if k not in self._ADDED or v != self._ADDED[k]}


@dataclasses.dataclass(frozen=True)
class ModelConfig(DictConfig):
  """Architecture of one model; stored beside every checkpoint and release."""
  cell: str = "residual_gru"       # encoder (and decoder) recurrent unit
  decoder_cell: str = ""           # "" = same as ``cell`` (see below)
  framework: str = "one_shot"      # one_shot | additive | scaled_additive
  channel_multiplier: float = 1.0  # multiplies every depth but the bits
  bits: int = 32                   # per 16x16 block and iteration (1/8 bpp)
  iterations: int = 16             # unrolled in training; max at inference
  d_rnn1_kernel: int = 2           # input kernel of D-RNN#1 (Figure 1: 2x2)
  input_scale: float = 0.9         # uint8 -> [-input_scale, input_scale]
  output_activation: str = "tanh"  # of D-Conv#2: tanh | linear
  decoder_channel_multiplier: float = 0.0  # 0 = channel_multiplier; a
  #                                  wider decoder only
  priming_steps: int = 0           # extra decoder steps on the first codes
  # The 2016 paper's thumbnail networks (section 3): which one, and for its
  # residual encoders whether every stage shares one encoder and decoder
  # (section 3.3). ``bits`` is then per code position and stage (8 per 8x8
  # patch for the fully connected networks, 2 per position of the 8x8 map
  # of a 32x32 image for the convolutional ones: section 4.1); ``cell``,
  # ``framework`` and the decoder fields are the 2017 network's only.
  architecture: str = "full_resolution"
  shared_weights: bool = False

  # In files the channel multipliers keep the key of the first releases.
  _STORED_AS = {"channel_multiplier": "width",
                "decoder_channel_multiplier": "decoder_width"}
  _ADDED = {"decoder_channel_multiplier": 0.0, "priming_steps": 0,
            "architecture": "full_resolution", "shared_weights": False}

  def __post_init__(self):
    frameworks.get(self.framework)  # raises on an unknown name
    if self.cell not in layers.CELLS:
      raise ValueError(f"Unknown cell {self.cell!r}; choose one of "
                       f"{sorted(layers.CELLS)}.")
    if self.decoder_cell and self.decoder_cell not in layers.CELLS:
      raise ValueError(f"Unknown decoder_cell {self.decoder_cell!r}.")
    if self.output_activation not in ("tanh", "linear"):
      raise ValueError("output_activation must be 'tanh' or 'linear'.")
    if not (0 < self.channel_multiplier <= 4 and
            0 <= self.decoder_channel_multiplier <= 4):
      raise ValueError("channel_multiplier and decoder_channel_multiplier "
                       "(stored as width and decoder_width) must be in "
                       "(0, 4].")
    if not 0 <= self.priming_steps <= 16:
      raise ValueError("priming_steps must be 0 to 16.")
    if self.bits < 1 or self.iterations < 1:
      raise ValueError("bits and iterations must be positive.")
    if self.architecture not in ARCHITECTURES:
      raise ValueError(f"architecture must be one of {ARCHITECTURES}, not "
                       f"{self.architecture!r}")
    if self.shared_weights and self.architecture not in (
        "fc_residual", "conv_residual"):
      raise ValueError("shared_weights applies to the residual encoders "
                       "(fc_residual, conv_residual) only.")
    if self.architecture == "conv_autoencoder" and self.iterations != 1:
      raise ValueError("conv_autoencoder is one-rate: iterations must be 1.")

  @property
  def encoder_cell(self):
    # The paper found associative LSTMs useful only in the decoder and used
    # plain LSTMs in the encoder with them (section 2.1).
    return "lstm" if self.cell == "associative_lstm" else self.cell

  @property
  def decoder_cell_type(self):
    return self.decoder_cell or self.cell

  def depth(self, paper_depth, multiplier=None):
    """Scaled depth, a multiple of 4 so depth-to-space(2) divides it."""
    if multiplier is None:
      multiplier = self.channel_multiplier
    return max(4, int(round(paper_depth * multiplier / 4.0)) * 4)

  def decoder_depth(self, paper_depth):
    return self.depth(paper_depth, self.decoder_channel_multiplier or
                      self.channel_multiplier)


@dataclasses.dataclass(frozen=True)
class TrainConfig(DictConfig):
  """Optimisation settings; flags of the training binary override them."""
  batch_size: int = 32        # global batch (split across replicas)
  patch_size: int = 32        # training tiles are patch_size^2 (section 4)
  loss: str = "l1"            # l1 (paper) | msssim | mixed | ssim_l1 | l2 (2016 paper)
  msssim_weight: float = 0.84  # of (1 - MS-SSIM) in "mixed"; the rest is L1
  learning_rate: float = 5e-4
  adam_epsilon: float = 1e-7
  decay_rate: float = 1.0     # staircase: lr * decay_rate^floor(step/decay_steps)
  decay_steps: int = 10000
  max_steps: int = 20000
  # "cosine": learning_rate * (1 + cos(pi * progress)) / 2, progress going
  # from 0 at schedule_start to 1 at max_steps; staircase ignores both.
  lr_schedule: str = "staircase"
  schedule_start: int = 0
  warmup_steps: int = 0       # linear ramp from schedule_start
  # Stop-code tolerant training (issue #16; Covell et al. 2017, Johnston et
  # al. 2018): this fraction of the code positions of every step sends only
  # its first k iterations, k uniform in 1..n-1; later codes are 0 and the
  # block holds its reconstruction, and the L1 loss counts only the kept
  # iterations of each block.
  stop_fraction: float = 0.0

  _ADDED = {"lr_schedule": "staircase", "schedule_start": 0,
            "warmup_steps": 0, "stop_fraction": 0.0}

  def __post_init__(self):
    if self.loss not in LOSSES:
      raise ValueError(f"loss must be one of {LOSSES}, not {self.loss!r}")
    if self.lr_schedule not in SCHEDULES:
      raise ValueError(f"lr_schedule must be one of {SCHEDULES}, not "
                       f"{self.lr_schedule!r}")
    if not 0.0 <= self.stop_fraction <= 1.0:
      raise ValueError("stop_fraction must be in [0, 1].")
    if self.stop_fraction and self.loss != "l1":
      raise ValueError("stop_fraction needs loss l1 (the masked L1).")
    if self.patch_size % 32:
      raise ValueError("patch_size must be a multiple of 32.")
    if self.batch_size < 1 or self.max_steps < 0 or self.decay_steps < 1:
      raise ValueError("batch_size, decay_steps must be positive.")


def load(path):
  """Reads a configs/*.json file -> (ModelConfig, TrainConfig)."""
  return (ModelConfig.from_json(path, "model"),
          TrainConfig.from_json(path, "train"))
