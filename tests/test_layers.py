"""The recurrent cells, binarizer and gain estimator against their equations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from residual_gru import layers
from tests import oracle


def _random(shape, seed):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _run(cell, x, state):
  out, new_state = cell(tf.constant(x), tuple(tf.constant(s) for s in state))
  return [out.numpy()] + [s.numpy() for s in new_state]


def _randomize_weights(cell, seed):
  # Non-zero biases too, so a missing or misplaced bias term is visible.
  rng = np.random.default_rng(seed)
  for v in cell.weights:
    v.assign(rng.normal(scale=0.3, size=v.shape).astype(np.float32))


CASES = [
    # (input kernel, stride, hidden kernel): encoder and decoder shapes.
    (3, 2, 1), (2, 1, 1), (3, 1, 3),
]


@pytest.mark.parametrize("kernel,stride,hidden", CASES)
@pytest.mark.parametrize("residual", [False, True])
def test_gru_matches_numpy(kernel, stride, hidden, residual):
  cell = layers.ConvGRU(8, kernel, stride, hidden, residual=residual)
  x = _random((2, 9, 7, 5), 0)
  h = _random((2, -(-9 // stride), -(-7 // stride), 8), 1)
  _run(cell, x, (h,))  # builds
  _randomize_weights(cell, 2)
  out, new_h = _run(cell, x, (h,))
  want_out, want_h = oracle.gru(cell, x.astype(np.float64), h)
  np.testing.assert_allclose(out, want_out, atol=1e-5)
  np.testing.assert_allclose(new_h, want_h, atol=1e-5)
  if residual:  # The carried state is h_t, not the output h°_t.
    assert np.abs(out - new_h).max() > 1e-3


@pytest.mark.parametrize("kernel,stride,hidden", CASES)
def test_lstm_matches_numpy(kernel, stride, hidden):
  cell = layers.ConvLSTM(6, kernel, stride, hidden)
  x = _random((2, 8, 6, 3), 3)
  sh = (2, -(-8 // stride), -(-6 // stride), 6)
  h, c = _random(sh, 4), _random(sh, 5)
  _run(cell, x, (h, c))
  _randomize_weights(cell, 6)
  got = _run(cell, x, (h, c))
  want = oracle.lstm(cell, x.astype(np.float64), h, c)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, atol=1e-5)


@pytest.mark.parametrize("kernel,stride,hidden", CASES)
def test_associative_lstm_matches_numpy(kernel, stride, hidden):
  cell = layers.AssociativeLSTM(8, kernel, stride, hidden)
  x = _random((2, 6, 8, 4), 7)
  sh = (2, -(-6 // stride), -(-8 // stride), 8)
  h, c = _random(sh, 8), 2.0 * _random(sh, 9)
  _run(cell, x, (h, c))
  _randomize_weights(cell, 10)
  got = _run(cell, x, (h, c))
  want = oracle.associative_lstm(cell, x.astype(np.float64), h, c)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, atol=1e-5)
  # bnd keeps every complex output unit inside the unit circle.
  n = 4
  assert np.all(np.hypot(got[0][..., :n], got[0][..., n:]) <= 1 + 1e-6)


def test_associative_lstm_gradient_is_finite_from_a_zero_state():
  cell = layers.AssociativeLSTM(8)
  x = tf.constant(_random((1, 4, 4, 3), 13))
  state = (tf.zeros((1, 4, 4, 8)), tf.zeros((1, 4, 4, 8)))
  with tf.GradientTape() as tape:
    out, _ = cell(x, state)
    loss = tf.reduce_sum(out)
  for g in tape.gradient(loss, cell.trainable_variables):
    assert np.all(np.isfinite(g.numpy()))


def test_associative_lstm_needs_even_filters():
  with pytest.raises(ValueError, match="even"):
    layers.AssociativeLSTM(5)


@pytest.mark.parametrize("cls,kwargs", [
    (layers.ConvGRU, {"residual": True, "alpha_x": 0.2}),
    (layers.ResidualGRU, {"alpha_x": 0.2}),
    (layers.ConvLSTM, {}),
    (layers.AssociativeLSTM, {}),
])
def test_cells_round_trip_through_config(cls, kwargs):
  cell = cls(8, kernel_size=3, strides=2, hidden_kernel_size=3, **kwargs)
  again = cls.from_config(cell.get_config())
  assert again.get_config() == cell.get_config()


def test_binarizer_eq7_maps_zero_to_plus_one():
  # tf.sign(0) == 0 would give a third symbol; eq 7 of the 2016 paper says +1.
  x = tf.constant([-0.5, -1e-30, 0.0, 1e-30, 0.7])
  np.testing.assert_array_equal(layers.binarize_inference(x).numpy(),
                                [-1, -1, 1, 1, 1])


def test_binarizer_inference_at_exact_zero_preactivation():
  binarizer = layers.Binarizer(4)
  x = tf.zeros((1, 2, 2, 3))
  binarizer(x)
  for v in binarizer.weights:
    v.assign(tf.zeros_like(v))  # tanh(0) = 0 everywhere
  np.testing.assert_array_equal(binarizer(x).numpy(), np.ones((1, 2, 2, 4)))


def test_stochastic_binarizer_probability_and_replay():
  x = tf.fill((200000,), 0.5)  # P(+1) = (1 + 0.5) / 2 = 0.75
  noise = tf.random.stateless_uniform((200000,), seed=(1, 2))
  b = layers.binarize_stochastic(x, noise).numpy()
  assert set(np.unique(b)) == {-1.0, 1.0}
  assert abs((b > 0).mean() - 0.75) < 0.005
  np.testing.assert_array_equal(b, layers.binarize_stochastic(x, noise))


def test_binarizer_gradient_is_straight_through():
  binarizer = layers.Binarizer(3)
  x = tf.constant(_random((1, 2, 2, 5), 11))
  binarizer(x)
  noise = tf.random.stateless_uniform((1, 2, 2, 3), seed=(3, 4))
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    b = binarizer(x, noise=noise, training=True)
    soft = tf.tanh(binarizer.conv(x))
  np.testing.assert_allclose(tape.gradient(b, x), tape.gradient(soft, x),
                             rtol=1e-6)
  assert set(np.unique(b.numpy())) <= {-1.0, 1.0}
  with pytest.raises(ValueError, match="noise"):
    binarizer(x, training=True)


def test_gain_estimator_shape_and_range():
  gain = layers.GainEstimator()
  x = tf.constant(_random((2, 64, 96, 3), 12))
  g = gain(x).numpy()
  assert g.shape == (2, 2, 3, 1)
  assert np.all(g > 1.0)
  assert len(gain.convs) == 5
  assert [c.kernel_size for c in gain.convs] == [(3, 3)] * 4 + [(2, 2)]
  assert [c.filters for c in gain.convs] == [32, 32, 32, 32, 1]


def test_zero_order_hold_repeats_blocks():
  g = tf.constant([[[[1.0], [2.0]], [[3.0], [4.0]]]])  # 1x2x2x1
  up = layers.zero_order_hold(g, 3).numpy()[0, ..., 0]
  np.testing.assert_array_equal(up[:3, :3], 1.0)
  np.testing.assert_array_equal(up[3:, 3:], 4.0)
  assert up.shape == (6, 6)


def test_unknown_cell_is_a_clear_error():
  with pytest.raises(ValueError, match="Unknown cell type"):
    layers.make_cell("transformer", 8, 3, 1, 1, "x")


def test_layers_serialize_with_keras():
  binarizer = layers.Binarizer(16, name="b")
  again = keras.layers.deserialize(keras.layers.serialize(binarizer))
  assert again.bits == 16
