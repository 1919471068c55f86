"""Imports TensorFlow without its start-up chatter on the terminal.

TF 2.21 logs through absl before absl is initialised (oneDNN notice, CUDA
probing), ignoring TF_CPP_MIN_LOG_LEVEL; a command-line tool should print
only its own lines, so file descriptor 2 is pointed at /dev/null while
TensorFlow loads and initialises its devices.
"""

import os
import sys


def import_tensorflow():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if "tensorflow" in sys.modules:
    return sys.modules["tensorflow"]
  sys.stderr.flush()
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    import tensorflow as tf
    tf.config.list_logical_devices("CPU")  # device set-up logs here
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)
  return tf
