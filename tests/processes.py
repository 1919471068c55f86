"""Killing a training subprocess the hard way, for the resume tests."""

import signal
import subprocess
import time


def sigkill_after_checkpoints(cmd, ckpt_dir, cwd, checkpoints=2,
                              timeout=240):
  """Starts ``cmd``, SIGKILLs it once ``ckpt_dir`` lists ``checkpoints``
  checkpoints, and returns the step of the latest one."""
  import tensorflow as tf
  proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  deadline = time.time() + timeout
  while time.time() < deadline:
    found = tf.train.get_checkpoint_state(str(ckpt_dir))
    if found and len(found.all_model_checkpoint_paths) >= checkpoints:
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  return int(tf.train.latest_checkpoint(str(ckpt_dir)).rsplit("-", 1)[1])
