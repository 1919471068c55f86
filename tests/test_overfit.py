"""Every cell x framework can learn: 200 steps halve the L1 loss on one batch."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from residual_gru import config as config_lib
from residual_gru import frameworks
from residual_gru import model as model_lib
from tests.images import synthetic_image

pytestmark = pytest.mark.slow


def fixed_batch(n=8):
  """Eight 32x32 tiles of a synthetic photo-like image."""
  image = synthetic_image(64, 128, seed=3)
  tiles = image.reshape(2, 32, 4, 32, 3).transpose(0, 2, 1, 3, 4)
  return tiles.reshape(-1, 32, 32, 3)[:n]


@pytest.mark.parametrize("framework", frameworks.NAMES)
@pytest.mark.parametrize("cell", ["gru", "residual_gru", "lstm",
                                  "associative_lstm"])
def test_overfit_one_batch(cell, framework):
  keras.utils.set_random_seed(0)
  model = model_lib.RNNCompressionModel(config_lib.ModelConfig(
      cell=cell, framework=framework, channel_multiplier=0.125, iterations=4))
  optimizer = keras.optimizers.Adam(2e-3)
  x = model.to_network(fixed_batch())
  shape = model.code_shape(8, 32, 32)

  @tf.function
  def step(seed):
    noise = tf.random.stateless_uniform(shape, seed=seed)
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(model_lib.iteration_losses(
          x, model(x, noise=noise, training=True)))
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss

  def eval_loss():
    return float(tf.reduce_mean(model_lib.iteration_losses(x, model(x))))

  before = eval_loss()
  for i in range(200):
    step(tf.constant([0, i]))
  after = eval_loss()
  assert after < 0.5 * before, (before, after)
