"""The reconstruction frameworks of the 2017 paper (section 2.2), in one place.

Each iteration t encodes a residual and decodes an output; the framework
says what the encoder sees and how the output becomes the reconstruction:

  one_shot         x^_t = D(b_t): every iteration predicts the whole image
                   (the decoder's memory carries the earlier codes);
  additive         x^_t = x^_{t-1} + D(b_t): each predicts the residual;
  scaled_additive  x^_t = x^_{t-1} + D(b_t) / g_{t-1}, the encoder seeing
                   (x - x^_{t-1}) * g_{t-1}, where the gain g (one value per
                   32x32 block, held over its pixels) is estimated from the
                   reconstruction so far (the model's GainEstimator).

The encoder's input is always the residual r_{t-1} = x - x^_{t-1} (times
the gain when there is one), with x^_0 = 0 and g_0 = 1.
"""

from residual_gru import layers

GAIN_BLOCK = 32  # pixels per gain value, each way (section 2.2)


class Framework:
  """How residuals go in and decoder outputs come out (section 2.2)."""

  name = ""
  uses_gain = False  # whether the model needs a GainEstimator

  def encoder_input(self, x, recon, gain):
    """What the encoder codes at this iteration."""
    del gain
    return x - recon

  def reconstruct(self, recon, out, gain):
    """The reconstruction after this iteration's decoder output ``out``."""
    raise NotImplementedError


class OneShot(Framework):
  name = "one_shot"

  def reconstruct(self, recon, out, gain):
    return out


class Additive(Framework):
  name = "additive"

  def reconstruct(self, recon, out, gain):
    return recon + out


class ScaledAdditive(Framework):
  name = "scaled_additive"
  uses_gain = True

  def encoder_input(self, x, recon, gain):
    return (x - recon) * layers.zero_order_hold(gain, GAIN_BLOCK)

  def reconstruct(self, recon, out, gain):
    return recon + out / layers.zero_order_hold(gain, GAIN_BLOCK)


_ALL = {f.name: f for f in (OneShot(), Additive(), ScaledAdditive())}
NAMES = tuple(_ALL)


def get(name):
  """The framework called ``name`` (one of NAMES)."""
  try:
    return _ALL[name]
  except KeyError:
    raise ValueError(f"framework must be one of {NAMES}, not {name!r}")
