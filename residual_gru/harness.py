"""The training harness both trainers share (image network and entropy coder).

What a run of either needs beyond its own step, data and metrics lives here
once: the config guard (a train_dir holds one model), named-variable
checkpoints and exact resume (keras.callbacks.BackupAndRestore's contract:
the latest checkpoint of model, optimizer and step is restored on start),
the stop rules (SIGTERM, --stop_after_secs of wall time,
--stop_after_cpu_secs of the run's cumulative CPU time), history.jsonl,
TensorBoard summaries, keeping the weights of the best validation, and the
progress line. A trainer supplies a step function, a report of its
step's metrics and, optionally, a validation.
"""

import json
import os
import signal
import sys
import tempfile
import time

from absl import logging
import tensorflow as tf


class ConfigMismatch(ValueError):
  """The train_dir already holds a run of another model."""


def write_json(path, obj):
  """Writes JSON atomically, under a unique temporary name (several workers
  may share a train_dir)."""
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".",
                             prefix=".tmp-", suffix=".json")
  with os.fdopen(fd, "w") as f:
    json.dump(obj, f, indent=2)
  os.replace(tmp, path)


def check_config(train_dir, record, write=True):
  """Saves record as config.json, or refuses to resume another model."""
  path = os.path.join(train_dir, "config.json")
  if os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
    if saved["model"] != record["model"]:
      raise ConfigMismatch(
          f"{train_dir} holds a run of a different model config "
          f"({saved['model']}); use another --train_dir.")
  if write:
    write_json(path, record)


def recorded_cpu_secs(history_path):
  """CPU seconds the run had used by its last history record (0 if none)."""
  cpu = 0.0
  if os.path.exists(history_path):
    with open(history_path) as f:
      for line in f:
        cpu = json.loads(line).get("cpu_secs", cpu)
  return cpu


def format_secs(secs):
  secs = int(secs)
  return f"{secs // 3600}h{secs % 3600 // 60:02d}m{secs % 60:02d}s"


class TrainingHarness:
  """Checkpoints, stop rules, history, summaries and best-keeping of a run.

  checkpoint: a tf.train.Checkpoint whose `step` is step_variable (both
  trainers save weights=named_variables(model), optimizer and step, so a
  checkpoint's keys do not depend on Keras's layer numbering). save, if
  given, replaces the manager's save (multi-worker non-chiefs write to a
  scratch folder); it is called with the manager. best_weights, if given, is a Checkpoint of the weights
  alone, saved to <train_dir>/best/ with config.json and best.json
  whenever a validation scores lower than any before.
  """

  def __init__(self, train_dir, record, checkpoint, step_variable, *,
               chief=True, save=None, best_weights=None,
               best_metric="val_loss", max_to_keep=2):
    self.start_time, self._start_cpu = time.time(), time.process_time()
    self.train_dir = train_dir
    self.record = record
    self.chief = chief
    self.step_variable = step_variable
    tf.io.gfile.makedirs(train_dir)
    check_config(train_dir, record, write=chief)
    self.manager = tf.train.CheckpointManager(
        checkpoint, os.path.join(train_dir, "checkpoints"),
        max_to_keep=max_to_keep)
    self._checkpoint = checkpoint
    self._save = (lambda: save(self.manager)) if save else (
        lambda: self.manager.save(
            checkpoint_number=int(step_variable.read_value())))
    self.history_path = os.path.join(train_dir, "history.jsonl")
    self._cpu_before = recorded_cpu_secs(self.history_path)
    self.best_metric = best_metric
    self._best_manager = None
    self.best = float("inf")
    if best_weights is not None:
      self.best_dir = os.path.join(train_dir, "best")
      self._best_manager = tf.train.CheckpointManager(
          best_weights, self.best_dir, max_to_keep=1)
      best_path = os.path.join(self.best_dir, "best.json")
      if os.path.exists(best_path):
        with open(best_path) as f:
          self.best = json.load(f)[best_metric]

  def restore(self):
    """Restores the latest checkpoint, if any; returns the step reached."""
    path = self.manager.latest_checkpoint
    if path:
      self._checkpoint.restore(path).assert_existing_objects_matched()
      logging.info("Resumed from %s at step %d.", path,
                   int(self.step_variable.read_value()))
    return int(self.step_variable.read_value())

  def run_cpu_secs(self):
    """CPU seconds of the whole run: earlier sessions' and this process's."""
    return self._cpu_before + time.process_time() - self._start_cpu

  def append_history(self, record):
    record["cpu_secs"] = round(self.run_cpu_secs(), 1)
    if self.chief:
      with open(self.history_path, "a") as f:
        f.write(json.dumps(record) + "\n")

  def _keep_if_best(self, step, score):
    if self._best_manager is None or score is None or score >= self.best:
      return
    self.best = float(score)
    self._best_manager.save(checkpoint_number=step)
    write_json(os.path.join(self.best_dir, "config.json"), self.record)
    write_json(os.path.join(self.best_dir, "best.json"),
               {"step": step, self.best_metric: self.best})

  def run(self, step, end, train_step, report, validate=None, *,
          log_steps=20, val_steps=500, checkpoint_secs=600,
          checkpoint_steps=0, stop_after_secs=0, stop_after_cpu_secs=0):
    """Runs steps step+1 .. end (or until a stop rule); returns the last.

    train_step(step) runs the step that takes the run from step to step+1
    and returns its result. Every log_steps (and at the end)
    report(step, result) is called inside the train summary writer and
    returns (progress text, learning rate, history fields). Every val_steps,
    validate(step) is called inside the val writer and returns (history
    fields, score or None; lower is better).
    """
    if self.chief:
      writer = tf.summary.create_file_writer(
          os.path.join(self.train_dir, "train"))
      val_writer = tf.summary.create_file_writer(
          os.path.join(self.train_dir, "val"))
    else:
      writer = val_writer = tf.summary.create_noop_writer()
    last_ckpt, t0, s0 = time.time(), time.time(), step
    # SIGTERM (e.g. a session ending) checkpoints and stops after this step.
    stop_requested = []
    previous_handler = signal.signal(
        signal.SIGTERM, lambda *_: stop_requested.append(True))
    try:
      while step < end:
        result = train_step(step)
        self.step_variable.assign_add(1)
        step += 1
        if step % log_steps == 0 or step == end:
          rate = (step - s0) / max(time.time() - t0, 1e-9)
          with writer.as_default(step=step):
            text, lr, fields = report(step, result)
            tf.summary.scalar("steps_per_second", rate)
          eta = (end - step) / max(rate, 1e-9)
          print(f"step {step}/{end}  {text}  lr {lr:.2e}  {rate:.2f} "
                f"steps/s  ETA {format_secs(eta)}", file=sys.stderr,
                flush=True)
          self.append_history({"step": step, "time": time.time(), **fields})
        if validate is not None and (step % val_steps == 0 or step == end):
          with val_writer.as_default(step=step):
            fields, score = validate(step)
          self.append_history({"step": step, "time": time.time(), **fields})
          self._keep_if_best(step, score)
        out_of_time = bool(stop_requested) or bool(
            stop_after_secs and
            time.time() - self.start_time >= stop_after_secs) or bool(
            stop_after_cpu_secs and
            self.run_cpu_secs() >= stop_after_cpu_secs)
        if (time.time() - last_ckpt >= checkpoint_secs or step == end or
            out_of_time or
            (checkpoint_steps and step % checkpoint_steps == 0)):
          logging.info("Checkpoint %s", self._save())
          last_ckpt = time.time()
        if out_of_time:
          self.append_history({"step": step, "time": time.time()})
          logging.info(
              "Stopping after %.0f s (run CPU %.0f s) at step %d (%s).",
              time.time() - self.start_time, self.run_cpu_secs(), step,
              "SIGTERM" if stop_requested else "the time limit")
          break
    finally:
      signal.signal(signal.SIGTERM, previous_handler)
      writer.flush()
      val_writer.flush()
    return step
