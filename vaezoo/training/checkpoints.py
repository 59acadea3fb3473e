"""The checkpoint format of a run: write, read, restore, list and prune.

A checkpoint is one ``.npz`` archive (NumPy arrays only, read with
``allow_pickle=False``) holding every model variable (weights *and* the state
of the model's ``keras.random.SeedGenerator``), every optimizer variable
(moments, learning rate, ``iterations``, from which KL warm-up derives its
beta) and a JSON record: epoch, step, the per-epoch history, the cumulative
training time, the running means of the current epoch's metrics and the
number of batches of the epoch already done (for a checkpoint taken every
``[training] checkpoint_every`` steps). The data order is a function of
(seed, epoch) (``vaezoo.training.datasets.epoch_seed``), so the record needs
no iterator state: a resumed epoch skips the batches it already did.

Each checkpoint is written with ``vaezoo.io.atomic_write``, so a ``SIGKILL``
at any moment leaves either the old or the new checkpoint, never a torn one;
and only from finite weights, so a diverged run never overwrites its last
good checkpoint.

Example:
  >>> path = save_checkpoint(checkpoint_path(run_dir, epoch=3), model, {"epoch": 3})
  >>> meta = restore_checkpoint(latest_checkpoint(run_dir), model)
"""

import json
from pathlib import Path

import keras
import numpy as np

from vaezoo import io
from vaezoo.training.guard import TrainingDiverged

FORMAT = "vaezoo-checkpoint-1"


def _variable_arrays(variables):
    return [np.asarray(v.numpy()) for v in variables]


def save_checkpoint(path, model, record):
    """Atomically write the model's and optimizer's variables and ``record`` (a dict).

    Raises:
      TrainingDiverged: a floating-point model variable is NaN or Inf (nothing
        is written, the file at ``path`` is left as it was).
    """
    model_vars, opt_vars = list(model.variables), list(model.optimizer.variables)
    arrays = _variable_arrays(model_vars) + _variable_arrays(opt_vars)
    bad = [v.path for v, a in zip(model_vars, arrays)
           if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all()]
    if bad:
        raise TrainingDiverged(
            f"refusing to write checkpoint {path}: the weights {bad[:3]} are not finite; the "
            f"last good checkpoint is kept")
    meta = dict(record, format=FORMAT,
                model_variables=[[v.path, list(v.shape)] for v in model_vars],
                optimizer_variables=[[v.path, list(v.shape)] for v in opt_vars])
    payload = {f"v{i:05d}": a for i, a in enumerate(arrays)}
    payload["meta"] = np.array(io.dumps_json(meta))

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **payload)

    return io.atomic_write(path, write, suffix=".npz")


def read_checkpoint(path):
    """(meta dict, list of arrays) of a checkpoint; ValueError for a damaged file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            count = len(meta["model_variables"]) + len(meta["optimizer_variables"])
            arrays = [archive[f"v{i:05d}"] for i in range(count)]
    except Exception as e:  # zipfile / numpy / json raise many kinds for a damaged file
        raise ValueError(f"checkpoint {path} is unreadable ({type(e).__name__}: "
                         f"{str(e)[:200]}); delete it to resume from an older one") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a vaezoo checkpoint (format {meta.get('format')!r})")
    return meta, arrays


def restore_checkpoint(path, model):
    """Assign a checkpoint's variables to ``model`` and its (built) optimizer; returns meta."""
    meta, arrays = read_checkpoint(path)
    targets = list(model.variables) + list(model.optimizer.variables)
    saved = meta["model_variables"] + meta["optimizer_variables"]
    if len(saved) != len(targets) or any(
            tuple(shape) != tuple(v.shape) for (_, shape), v in zip(saved, targets)):
        first = next((f"{p} {tuple(s)} vs {v.path} {tuple(v.shape)}"
                      for (p, s), v in zip(saved, targets) if tuple(s) != tuple(v.shape)),
                     f"{len(saved)} variables saved, {len(targets)} in the model")
        raise ValueError(
            f"checkpoint {path} was written by a different model or optimizer ({first}). "
            f"Train into a new --out directory, or pass --no-resume to start over.")
    for variable, value in zip(targets, arrays):
        variable.assign(value)
    return meta


def checkpoint_path(out_dir, epoch, batch=0):
    """``epoch-EEEE-batch-BBBBBB.ckpt.npz``: EEEE epochs done, then BBBBBB batches of the next."""
    return Path(out_dir) / io.CHECKPOINT_DIR / f"epoch-{epoch:04d}-batch-{batch:06d}.ckpt.npz"


def list_checkpoints(out_dir):
    """Checkpoint paths of a run, oldest first."""
    directory = Path(out_dir) / io.CHECKPOINT_DIR
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("epoch-*.ckpt.npz") if not p.name.startswith("."))


def latest_checkpoint(out_dir):
    """The newest checkpoint of a run, or None."""
    found = list_checkpoints(out_dir)
    return found[-1] if found else None


def prune_checkpoints(out_dir, keep):
    """Delete all but the newest ``keep`` checkpoints of a run."""
    for old in list_checkpoints(out_dir)[:-keep]:
        old.unlink(missing_ok=True)


class StepCheckpoint(keras.callbacks.Callback):
    """Saves a checkpoint every ``every`` optimizer steps within an epoch of ``train``.

    Keras calls it every ``steps_per_execution`` steps and at the end of each
    epoch. ``state`` is the loop's live record of the epoch: ``epoch``,
    ``batches_done`` (batches done before this ``fit``, when resuming mid-epoch),
    ``epoch_step`` (the optimizer step at the start of this ``fit``),
    ``last_saved`` (updated here) and ``record`` (a callable returning the
    checkpoint's JSON record). No checkpoint is written once ``guard`` has seen
    a non-finite loss term.
    """

    def __init__(self, out_dir, every, state, keep, guard):
        super().__init__()
        self.out_dir, self.every, self.state, self.keep, self.guard = (
            out_dir, every, state, keep, guard)

    def on_train_batch_end(self, batch, logs=None):
        state = self.state
        step = int(self.model.optimizer.iterations.numpy())
        if step - state["last_saved"] < self.every or self.guard.failure is not None:
            return
        state["last_saved"] = step
        # Batches truly done: Keras' `batch` is the last step the execution could
        # have reached, past the epoch's end in its last, partial execution.
        done = state["batches_done"] + step - state["epoch_step"]
        means = {m.name: [float(v.numpy()) for v in m.variables] for m in self.model.metrics}
        record = dict(state["record"](), batch=done, running_metrics=means)
        save_checkpoint(checkpoint_path(self.out_dir, state["epoch"], done), self.model, record)
        prune_checkpoints(self.out_dir, self.keep)


class RestoreRunningMetrics(keras.callbacks.Callback):
    """Puts back the running means of a half-done epoch (``fit`` resets them first).

    ``values`` is a checkpoint's ``running_metrics``: ``{metric name: [variable values]}``.
    """

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_begin(self, epoch, logs=None):
        for metric in self.model.metrics:
            for variable, value in zip(metric.variables, self.values.get(metric.name, [])):
                variable.assign(value)


__all__ = ["FORMAT", "save_checkpoint", "read_checkpoint", "restore_checkpoint",
           "checkpoint_path", "list_checkpoints", "latest_checkpoint", "prune_checkpoints",
           "StepCheckpoint", "RestoreRunningMetrics"]
