"""Imports TensorFlow without its start-up chatter on the terminal.

TF 2.21 logs through absl before absl is initialised (oneDNN notice, CUDA
probing), ignoring TF_CPP_MIN_LOG_LEVEL; a command-line tool should print
only its own lines, so file descriptor 2 is pointed at /dev/null while
TensorFlow loads and initialises its devices.
"""

import os
import sys


def import_tensorflow(threads=0):
  """TensorFlow, imported quietly; ``threads`` > 0 sets its intra- and
  inter-op thread counts, which must happen before its devices are set up
  (afterwards TensorFlow refuses: RuntimeError)."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if "tensorflow" in sys.modules:
    tf = sys.modules["tensorflow"]
    if threads:
      try:
        _set_threads(tf, threads)
      except RuntimeError:
        raise RuntimeError(
            "TensorFlow is already running; its thread count can only be "
            "set before its first use.") from None
    return tf
  sys.stderr.flush()
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    import tensorflow as tf
    if threads:
      _set_threads(tf, threads)
    tf.config.list_logical_devices("CPU")  # device set-up logs here
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)
  return tf


def _set_threads(tf, threads):
  if (tf.config.threading.get_intra_op_parallelism_threads() == threads and
      tf.config.threading.get_inter_op_parallelism_threads() == threads):
    return
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(threads)
