r"""Function-preserving widening of a trained network (Net2WiderNet).

  python -m residual_gru.widen --from_run=/work/runs/v1 \
      --train_dir=/work/runs/study/wide_dec \
      --config=configs/study/wide_dec.json

Chen, Goodfellow and Shlens 2016 ("Net2Net", section 3.2): a layer gets more
units by copying existing ones (incoming weights and biases copied), and
every layer that reads them divides its weights for the copies so that the
sum is unchanged. The widened network computes the same function, so a
longer training run of a wider model starts at the smaller one's quality
instead of from scratch.

Here the split between the copies of a unit is drawn at random (fractions
summing to 1) rather than halved: copies with equal outgoing weights would
get equal gradients forever and never become different units.

Structure the mapping has to respect:
- the recurrent cells' stacked convolutions (GRU: [z, r, candidate]; LSTM:
  [f, i, o, j]) use one unit mapping for each block, and the hidden state,
  the gates and the cell's output share it;
- depth_to_space(2) after each decoder cell reads channel b * C/4 + c as
  sub-pixel b of output channel c, so a decoder cell's units are copied in
  four aligned blocks and the next layer reads the C/4 mapping;
- the 32 bits, the RGB input and the RGB output are never widened.
"""

import os

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from residual_gru import config as config_lib
from residual_gru import frameworks
from residual_gru import model as model_lib
from residual_gru import weights

FLAGS = flags.FLAGS

GATE_BLOCKS = {"gru": 3, "residual_gru": 3, "lstm": 4}


def define_flags():
  flags.DEFINE_string("from_run", None, "Training run whose latest "
                      "checkpoint is widened.")
  flags.DEFINE_string("train_dir", None, "New run: config.json and a "
                      "checkpoint at the source's step (fresh optimizer).")
  flags.DEFINE_string("config", None, "Config of the new run (its model "
                      "part must differ from the source's only in width "
                      "and decoder_width, its channel multipliers).")
  flags.DEFINE_integer("seed", 0, "Seed of the copied units and splits.")


class UnitMap:
  """New unit i copies old unit ``index[i]``; ``fraction[i]`` of its share.

  ``fraction`` sums to 1 over the copies of each old unit; units copied
  once keep fraction 1, so their weights stay bit-identical.
  """

  def __init__(self, index, fraction):
    self.index = np.asarray(index, np.int64)
    self.fraction = np.asarray(fraction, np.float64)

  @classmethod
  def identity(cls, n):
    return cls(np.arange(n), np.ones(n))

  @classmethod
  def random(cls, old, new, rng):
    if new < old:
      raise ValueError(f"Cannot narrow {old} units to {new}.")
    index = np.concatenate([np.arange(old),
                            rng.integers(0, old, new - old)])
    share = rng.uniform(0.5, 1.5, new)
    totals = np.zeros(old)
    np.add.at(totals, index, share)
    return cls(index, share / totals[index])

  def blocks(self, count, old_size):
    """The same mapping repeated over ``count`` stacked blocks."""
    return UnitMap(np.concatenate([self.index + b * old_size
                                   for b in range(count)]),
                   np.tile(self.fraction, count))

  def __len__(self):
    return len(self.index)


def widen_conv(old_layer, new_layer, in_map, out_map):
  """Copies a Conv2D's weights into a wider one (kernel HWIO, bias O)."""
  kernel = old_layer.kernel.numpy().astype(np.float64)
  kernel = kernel[:, :, in_map.index, :] * in_map.fraction[None, None, :,
                                                           None]
  kernel = kernel[..., out_map.index]
  new_layer.kernel.assign(kernel.astype(np.float32))
  if old_layer.use_bias:
    new_layer.bias.assign(old_layer.bias.numpy()[out_map.index])


def widen_cell(old, new, in_map, hidden_map, blocks):
  """One recurrent cell: input units ``in_map``, hidden units ``hidden_map``."""
  f_old = old.filters
  stacked = hidden_map.blocks(blocks, f_old)
  widen_conv(old.conv_x, new.conv_x, in_map, stacked)
  if hasattr(old, "conv_h_gates"):  # GRU
    widen_conv(old.conv_h_gates, new.conv_h_gates, hidden_map,
               hidden_map.blocks(2, f_old))
    widen_conv(old.conv_h_candidate, new.conv_h_candidate, hidden_map,
               hidden_map)
    if old.residual:
      widen_conv(old.conv_h_skip, new.conv_h_skip, hidden_map, hidden_map)
      widen_conv(old.conv_x_skip, new.conv_x_skip, in_map, hidden_map)
  else:  # LSTM
    widen_conv(old.conv_h, new.conv_h, hidden_map, stacked)


_MULTIPLIERS = ("width", "decoder_width")  # as stored in config dicts


def _check_configs(old, new):
  if old.framework != "one_shot" and old.framework != new.framework:
    raise ValueError("Only the width may change.")
  same = {k: v for k, v in old.to_dict().items()
          if k not in _MULTIPLIERS}
  other = {k: v for k, v in new.to_dict().items()
           if k not in _MULTIPLIERS}
  if same != other:
    raise ValueError("The widened model may differ only in width and "
                     f"decoder_width ({same} vs {other}).")
  if frameworks.get(old.framework).uses_gain:
    raise ValueError("Widening does not handle the gain estimator.")
  if old.cell not in GATE_BLOCKS or old.decoder_cell_type not in GATE_BLOCKS:
    raise ValueError(f"Widening supports the cells {sorted(GATE_BLOCKS)}.")


def widen(old_model, new_config, seed=0):
  """A new RNNCompressionModel(new_config) computing old_model's function."""
  return widen_into(old_model, model_lib.RNNCompressionModel(new_config),
                    seed)


def widen_into(old_model, new_model, seed=0):
  """Sets new_model's weights so that it computes old_model's function."""
  old_config = old_model.config
  _check_configs(old_config, new_model.config)
  rng = np.random.default_rng(seed)

  # Encoder: e_conv -> e_rnn_1..3 -> binarizer.
  old_e, new_e = old_model.encoder, new_model.encoder
  blocks = GATE_BLOCKS[old_config.encoder_cell]
  prev = UnitMap.random(old_e.conv.filters, new_e.conv.filters, rng)
  widen_conv(old_e.conv, new_e.conv, UnitMap.identity(3), prev)
  for old_rnn, new_rnn in zip(old_e.rnns, new_e.rnns):
    hidden = UnitMap.random(old_rnn.filters, new_rnn.filters, rng)
    widen_cell(old_rnn, new_rnn, prev, hidden, blocks)
    prev = hidden
  bits = old_config.bits
  widen_conv(old_e.binarizer.conv, new_e.binarizer.conv, prev,
             UnitMap.identity(bits))

  # Decoder: d_conv_1 -> (d_rnn_k -> depth_to_space) x 4 -> d_conv_2.
  old_d, new_d = old_model.decoder, new_model.decoder
  blocks = GATE_BLOCKS[old_config.decoder_cell_type]
  prev = UnitMap.random(old_d.conv_in.filters, new_d.conv_in.filters, rng)
  widen_conv(old_d.conv_in, new_d.conv_in, UnitMap.identity(bits), prev)
  for old_rnn, new_rnn in zip(old_d.rnns, new_d.rnns):
    sub = UnitMap.random(old_rnn.filters // 4, new_rnn.filters // 4, rng)
    hidden = sub.blocks(4, old_rnn.filters // 4)
    widen_cell(old_rnn, new_rnn, prev, hidden, blocks)
    prev = sub  # what depth_to_space hands the next layer
  widen_conv(old_d.conv_out, new_d.conv_out, prev, UnitMap.identity(3))
  return new_model


def main(argv):
  del argv
  from residual_gru import harness
  from residual_gru import train
  for name in ("from_run", "train_dir", "config"):
    if not getattr(FLAGS, name):
      raise app.UsageError(f"--{name} is required.")
  if os.path.exists(os.path.join(FLAGS.train_dir, "checkpoints")):
    raise app.UsageError(f"{FLAGS.train_dir} already holds a run.")
  try:
    old_model, step = weights.load_checkpoint(FLAGS.from_run)
    model_config, train_config = config_lib.load(FLAGS.config)
    os.makedirs(FLAGS.train_dir, exist_ok=True)
    # The training binary's own Trainer, so the checkpoint (weights, a fresh
    # optimizer, the source's step) is exactly what it resumes from.
    trainer = train.Trainer(model_config, train_config, FLAGS.train_dir,
                            FLAGS.seed, tf.distribute.get_strategy())
    widen_into(old_model, trainer.model, FLAGS.seed)
  except (FileNotFoundError, ValueError) as e:
    raise app.UsageError(str(e))
  # The harness writes config.json and owns the checkpoint folder.
  run = harness.TrainingHarness(
      FLAGS.train_dir, {"model": model_config.to_dict(),
                        "train": train_config.to_dict()},
      trainer.checkpoint, trainer.step)
  trainer.step.assign(step)
  path = trainer.save(run.manager)
  print(f"Widened {FLAGS.from_run} (step {step}) to {path}.")


if __name__ == "__main__":
  define_flags()
  app.run(main)
