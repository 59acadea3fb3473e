"""The non-finite guard: stop training at the first step whose loss term is NaN or Inf.

``NonFiniteGuard`` is a Keras callback: give it to any ``fit``; ``train``
gives it to each of its own and raises ``TrainingDiverged`` naming the step
and the term. ``[optimizer] clipnorm`` (or ``global_clipnorm``,
``clipvalue``) clips the gradients; the guard says so in its message.

Why the train step is wrapped. Keras runs ``steps_per_execution`` steps (32
for a vaezoo model) per call into the graph and calls callbacks only between
calls, with the running means of the epoch: a callback alone cannot tell
which of those steps went bad. ``watch_nonfinite(model)`` therefore wraps the
model instance's ``train_step`` (explicitly, once, when the guard is given the
model) so that the compiled step itself stores the optimizer step at which
loss, rate or distortion first became non-finite, and which of them.

Example:
  >>> guard = NonFiniteGuard()
  >>> model.fit(data, epochs=10, callbacks=[guard])
  >>> guard.failure            # None, or "training diverged at step 5: distortion ..."
"""

import math

import keras
import numpy as np
import tensorflow as tf

#: The logged terms the guard watches, in the order of its flags.
GUARDED_TERMS = ("rate", "distortion", "loss")


class TrainingDiverged(RuntimeError):
    """Training produced a NaN or Inf loss term; the last good checkpoint is kept."""


def _is_finite(value):
    try:
        return math.isfinite(float(np.asarray(value)))
    except (TypeError, ValueError):
        return True


def watch_nonfinite(model):
    """Make the model's train step record the first step with a non-finite loss term.

    Wraps ``model.train_step`` on the instance (not the class; Keras does not
    track it) and makes Keras rebuild its train function around it. Returns
    ``(first_step, bad_terms)`` variables: ``first_step`` is the optimizer's
    step count (1-based) of the first bad step, -1 while all is well;
    ``bad_terms`` flags which of ``GUARDED_TERMS`` went bad. Calling it again
    returns the same pair. Returns None under a ``tf.distribute`` strategy
    other than the default one (its variables would be replica-local).
    """
    watch = model.__dict__.get("_vaezoo_nonfinite_watch")
    if watch is not None:
        return watch
    strategy = getattr(model, "distribute_strategy", None) or tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync != 1 or "Default" not in type(strategy).__name__:
        return None
    first = tf.Variable(-1, dtype=tf.int64, trainable=False)
    bad = tf.Variable(tf.zeros([len(GUARDED_TERMS)], tf.bool), trainable=False)
    inner = model.train_step

    def train_step(data):
        logs = inner(data)
        flags = tf.stack([
            tf.logical_not(tf.reduce_all(tf.math.is_finite(tf.cast(logs[t], tf.float32))))
            if t in logs else tf.constant(False) for t in GUARDED_TERMS])
        new = tf.logical_and(first < 0, tf.reduce_any(flags))
        first.assign(tf.where(new, tf.cast(model.optimizer.iterations, tf.int64), first))
        bad.assign(tf.where(new, flags, bad))
        return logs

    model.__dict__["train_step"] = train_step      # instance attribute, not tracked by Keras
    model.__dict__["_vaezoo_nonfinite_watch"] = (first, bad)
    model.train_function = None                    # rebuilt with the watched step
    return first, bad


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training when the loss, rate or distortion becomes NaN/Inf.

    After ``fit`` returns, ``failure`` is None or a message naming the step
    (the optimizer's step count, 1-based) and the terms that went bad, and
    ``step`` is that step. The step is exact (``watch_nonfinite``) even when
    Keras runs many steps per call; training stops at the end of that call.
    Under a ``tf.distribute`` strategy the guard reads the logged running
    means instead, so it names the last step of the call.

    Args:
      terms: the logged terms to watch (a subset of ``GUARDED_TERMS``).

    Example:
      >>> model.fit(data, epochs=10, callbacks=[vaezoo.training.NonFiniteGuard()])
    """

    def __init__(self, terms=GUARDED_TERMS):
        super().__init__()
        self.terms = tuple(terms)
        self.failure = None
        self.step = None
        self._watch = None

    def set_model(self, model):
        super().set_model(model)
        self._watch = watch_nonfinite(model)

    def _bad_terms(self, logs):
        """(step, bad terms) of the first non-finite step, or (None, [])."""
        if self._watch is not None:
            first, flags = self._watch
            step = int(first.numpy())
            if step < 0:
                return None, []
            return step, [t for t, f in zip(GUARDED_TERMS, flags.numpy())
                          if f and t in self.terms]
        bad = [t for t in self.terms if t in logs and not _is_finite(logs[t])]
        return (int(self.model.optimizer.iterations.numpy()) if bad else None), bad

    def on_train_batch_end(self, batch, logs=None):
        if self.failure is not None:
            return
        logs = logs or {}
        step, bad = self._bad_terms(logs)
        if step is None:
            return
        if len(bad) > 1 and "loss" in bad:
            bad.remove("loss")               # name the term that made the loss bad
        self.step = step
        running = ", ".join(f"{t} = {float(np.asarray(logs[t]))}" for t in bad if t in logs)
        self.failure = (
            f"training diverged at step {step}: {' and '.join(bad)} became NaN or Inf "
            f"(running means now: {running}). The last good checkpoint is kept. Lower "
            f"[optimizer] learning_rate, set [optimizer] clipnorm (e.g. 10.0), or check the "
            f"data.")
        self.model.stop_training = True


__all__ = ["GUARDED_TERMS", "TrainingDiverged", "NonFiniteGuard", "watch_nonfinite"]
