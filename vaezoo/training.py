"""Training runs: a zoo config in, a run directory out, crash-safe and resumable.

``train(config, out_dir)`` builds the model of a config's ``[model]`` table,
loads its ``[data]`` with ``vaezoo.data.load``, compiles it with the
``[optimizer]``, fits it for ``[training] epochs`` and writes the run
directory::

    out_dir/
      config.toml          the resolved config (``vaezoo train out_dir/config.toml`` repeats it)
      checkpoints/         epoch-0003.ckpt.npz ... (the last ``keep_checkpoints``)
      metrics.json         train / test ELBO, test log p(x) (+ stderr, bits/dim), history
                           (+ test accuracy for a model that classifies); "validation" says
                           which train examples were held out, "evaluation" the split, K,
                           test images and binarization of the final evaluation
      samples.png          samples from the prior (and reconstructions.png)
      model.keras          the final model (loads in Keras safe mode)
      model.weights.h5     its weights (``vaezoo.load(out_dir)`` reads them)

Validation and the final evaluation
-----------------------------------
``fit`` validates (the ``val_*`` metrics) on the last ``[data]
validation_fraction`` (default 10%) of the train split, held out of training,
like Keras' ``validation_split``; or on ``[data] validation_split`` if a config
names a split. Never on the test split. After training, the train ELBO and the
test ELBO and importance-sampled log p(x) are measured with ``[evaluation]
num_importance_samples`` (K) on every test image, or the first ``max_examples``
(``train(..., num_samples=K, max_examples=N)``, ``vaezoo train --num-samples K
--max-examples N``; ``evaluate=False`` / ``--no-eval`` skips it). Running a
finished run again (same config, every epoch done, the same evaluation asked
for) returns its ``metrics.json`` without training or evaluating anything.

Semi-supervised configs
-----------------------
``[data] num_labels = N`` keeps the labels of a class-balanced subset of N
training examples (``vaezoo.data.semi_supervised_split`` with ``[training]
seed``) and marks every other one unlabeled (-1); only a model that classifies
(``SemiSupervisedVAE``) accepts it. With ``[data] labeled_batch_size = L`` as
well, every batch holds exactly L labeled examples (cycled through the subset,
reshuffled at each pass) and ``batch_size - L`` unlabeled ones
(``vaezoo.data.mixed_batches``), and an epoch is one pass over the unlabeled
examples. The train ELBO of ``metrics.json`` is measured on every training
example with its label, like the test ELBO.

Checkpoints
-----------
A checkpoint is one ``.npz`` archive (NumPy arrays only, read with
``allow_pickle=False``) holding every model variable (weights *and* the state
of the model's ``keras.random.SeedGenerator``), every optimizer variable
(moments, learning rate, ``iterations``, from which KL warm-up derives its
beta) and a JSON record: epoch, step, the per-epoch history, the cumulative
training time, the running means of the current epoch's metrics and the
number of batches of the epoch already done (for a checkpoint taken every
``[training] checkpoint_every`` steps). The data order is a function of
(seed, epoch) -- epoch ``e`` is shuffled with ``shuffle(seed=hash(seed, e))`` --
so the record needs no iterator state: a resumed epoch skips the batches it
already did. Each checkpoint is written atomically: to a temporary file in the
same directory, flushed and fsync-ed, then ``os.replace``-d over its name, so a
``SIGKILL`` at any moment leaves either the old or the new checkpoint, never a
torn one.

Resuming (the default) restores the newest checkpoint in ``out_dir`` and
continues; with deterministic ops (``deterministic=True`` or ``[training]
deterministic``: ``tf.config.experimental.enable_op_determinism``, which also
makes Keras compile without XLA) the final metrics of a killed-and-resumed run
equal an uninterrupted run's exactly.

NaN guard
---------
``NonFiniteGuard`` stops training at the first step whose loss, rate or
distortion is NaN or Inf, and ``train`` raises ``TrainingDiverged`` naming the
step and the term. Checkpoints are only written from finite weights, so the
last good checkpoint is never overwritten. ``[optimizer] clipnorm`` (or
``global_clipnorm``, ``clipvalue``) clips the gradients.

Example:
  >>> from vaezoo import training
  >>> metrics = training.train("mlp_vae_fashion_mnist", "runs/mlp", epochs=10)
  >>> metrics["test"]["log_likelihood"]
  >>> training.evaluate("runs/mlp", num_samples=5000)
"""

import hashlib
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

CHECKPOINT_DIR = "checkpoints"
CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.json"
EVALUATION_FILE = "evaluation.json"
SAMPLES_FILE = "samples.png"
RECONSTRUCTIONS_FILE = "reconstructions.png"
KERAS_FILE = "model.keras"
WEIGHTS_FILE = "model.weights.h5"
_CKPT_FORMAT = "vaezoo-checkpoint-1"
GUARDED_TERMS = ("rate", "distortion", "loss")


class TrainingDiverged(RuntimeError):
    """Training produced a NaN or Inf loss term; the last good checkpoint is kept."""


# ---------------------------------------------------------------------- atomic files
def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write, suffix=""):
    """Write ``path`` atomically: ``write(tmp_path)``, fsync, then ``os.replace``.

    ``suffix`` is the ending the temporary file needs (Keras insists on
    ``.keras`` / ``.weights.h5``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)     # mkstemp makes 0600 files; use the usual mode
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def _write_text(path, text):
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return atomic_write(path, write)


def _write_json(path, obj):
    return _write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


# ---------------------------------------------------------------------- checkpoints
def _variable_arrays(variables):
    return [np.asarray(v.numpy()) for v in variables]


def save_checkpoint(path, model, record):
    """Atomically write the model's and optimizer's variables and ``record`` (a dict)."""
    model_vars, opt_vars = list(model.variables), list(model.optimizer.variables)
    arrays = _variable_arrays(model_vars) + _variable_arrays(opt_vars)
    bad = [v.path for v, a in zip(model_vars, arrays)
           if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all()]
    if bad:
        raise TrainingDiverged(
            f"refusing to write checkpoint {path}: the weights {bad[:3]} are not finite; the "
            f"last good checkpoint is kept")
    meta = dict(record, format=_CKPT_FORMAT,
                model_variables=[[v.path, list(v.shape)] for v in model_vars],
                optimizer_variables=[[v.path, list(v.shape)] for v in opt_vars])
    payload = {f"v{i:05d}": a for i, a in enumerate(arrays)}
    payload["meta"] = np.array(json.dumps(_jsonable(meta)))

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **payload)

    return atomic_write(path, write, suffix=".npz")


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
    if meta.get("format") != _CKPT_FORMAT:
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
    return Path(out_dir) / CHECKPOINT_DIR / f"epoch-{epoch:04d}-batch-{batch:06d}.ckpt.npz"


def list_checkpoints(out_dir):
    """Checkpoint paths of a run, oldest first."""
    directory = Path(out_dir) / CHECKPOINT_DIR
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("epoch-*.ckpt.npz") if not p.name.startswith("."))


def latest_checkpoint(out_dir):
    """The newest checkpoint of a run, or None."""
    found = list_checkpoints(out_dir)
    return found[-1] if found else None


def _prune(out_dir, keep):
    for old in list_checkpoints(out_dir)[:-keep]:
        old.unlink(missing_ok=True)


# ---------------------------------------------------------------------- the NaN guard
def _is_finite(value):
    try:
        return math.isfinite(float(np.asarray(value)))
    except (TypeError, ValueError):
        return True


def _import_keras():
    import keras
    return keras


def watch_nonfinite(model):
    """Make the model's train step record the first step with a non-finite loss term.

    Keras runs ``steps_per_execution`` steps per call into the graph and calls
    callbacks only between calls, so a callback alone cannot tell which step
    went bad. This wraps ``model.train_step`` (on the instance) so the compiled
    step itself stores the optimizer step at which loss, rate or distortion
    first became NaN/Inf, and which of them. Returns ``(first_step, bad_terms)``
    variables (``first_step`` is -1 while all is well), or None under a
    ``tf.distribute`` strategy other than the default one.
    """
    import tensorflow as tf
    watch = model.__dict__.get("_vaezoo_nonfinite_watch")
    if watch is not None:
        return watch
    strategy = getattr(model, "distribute_strategy", None) or tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync != 1 or "Default" not in type(strategy).__name__:
        return None                        # replica-local variables: not worth it here
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


def _guard_class():
    keras = _import_keras()

    class NonFiniteGuard(keras.callbacks.Callback):
        """Stops training when the loss, rate or distortion becomes NaN/Inf.

        After ``fit`` returns, ``failure`` is None or a message naming the step
        (the optimizer's step count, 1-based) and the terms that went bad, and
        ``step`` is that step. The step is exact: the guard installs
        ``watch_nonfinite`` on the model, so the compiled train step records it
        even when Keras runs many steps per call (``steps_per_execution``);
        training stops at the end of that call. (Under a ``tf.distribute``
        strategy the guard reads the logged running means instead, so it names
        the last step of the call.)

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

        def on_train_batch_end(self, batch, logs=None):
            if self.failure is not None:
                return
            logs = logs or {}
            if self._watch is not None:
                first, flags = self._watch
                step = int(first.numpy())
                if step < 0:
                    return
                bad = [t for t, f in zip(GUARDED_TERMS, flags.numpy()) if f and t in self.terms]
            else:
                bad = [t for t in self.terms if t in logs and not _is_finite(logs[t])]
                if not bad:
                    return
                step = int(self.model.optimizer.iterations.numpy())
            if len(bad) > 1 and "loss" in bad:
                bad.remove("loss")               # name the term that made the loss bad
            self.step = step
            terms = " and ".join(bad)
            self.failure = (
                f"training diverged at step {step}: {terms} became NaN or Inf "
                f"(running means now: " + ", ".join(
                    f"{t} = {float(np.asarray(logs[t]))}" for t in bad if t in logs) +
                "). The last good checkpoint is kept. Lower [optimizer] learning_rate, set "
                "[optimizer] clipnorm (e.g. 10.0), or check the data.")
            self.model.stop_training = True

    NonFiniteGuard.__qualname__ = "NonFiniteGuard"
    return NonFiniteGuard


def __getattr__(name):
    if name == "NonFiniteGuard":       # a Keras class, created when first asked for
        cls = _guard_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module 'vaezoo.training' has no attribute {name!r}")


def _step_checkpointer(out_dir, every, state, keep, guard):
    keras = _import_keras()

    class StepCheckpoint(keras.callbacks.Callback):
        # Called every `steps_per_execution` steps and at the end of each epoch.
        def on_train_batch_end(self, batch, logs=None):
            step = int(self.model.optimizer.iterations.numpy())
            if step - state["last_saved"] < every or guard.failure is not None:
                return
            state["last_saved"] = step
            # Batches truly done: Keras' `batch` is the last step the execution could
            # have reached, past the epoch's end in its last, partial execution.
            done = state["batches_done"] + step - state["epoch_step"]
            means = {m.name: [float(v.numpy()) for v in m.variables] for m in self.model.metrics}
            record = dict(state["record"](), batch=done, running_metrics=means)
            save_checkpoint(checkpoint_path(out_dir, state["epoch"], done), self.model, record)
            _prune(out_dir, keep)

    return StepCheckpoint()


def _metric_restorer(values):
    keras = _import_keras()

    class RestoreRunningMetrics(keras.callbacks.Callback):
        """Puts back the running means of a half-done epoch (fit resets them first)."""

        def on_epoch_begin(self, epoch, logs=None):
            for metric in self.model.metrics:
                for variable, value in zip(metric.variables, values.get(metric.name, [])):
                    variable.assign(value)

    return RestoreRunningMetrics()


# ---------------------------------------------------------------------- config and data
def resolve_config(config):
    """A validated config dict from a dict, a zoo entry name or a path."""
    from vaezoo import config as config_lib
    return config_lib.load_config(config)


def _config_digest(cfg):
    """Hash of the config without the keys that may change between sessions of a run."""
    ignored = {("training", "epochs"), ("training", "deterministic"),
               ("training", "checkpoint_every")}
    # [evaluation] says how the finished model is measured, not how it is trained.
    stable = {t: ({k: v for k, v in val.items() if (t, k) not in ignored}
                  if isinstance(val, dict) else val)
              for t, val in cfg.items() if t not in ("description", "name", "evaluation")}
    return hashlib.sha256(json.dumps(_jsonable(stable), sort_keys=True).encode()).hexdigest()


def epoch_seed(seed, epoch):
    """The shuffle seed of an epoch: a function of (seed, epoch) only."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, np.uint32)[0])


def _config_source(config, cfg):
    """The file a config came from, for error messages (or its name for a dict)."""
    from vaezoo import config as config_lib
    for candidate in ([] if isinstance(config, dict) else [config]) + [cfg.get("name")]:
        try:
            return str(config_lib.resolve_path(candidate))
        except (ValueError, TypeError):
            continue
    return f"config {cfg.get('name', '<dict>')!r}"


def _check_semi_supervised(cfg, source):
    """[data] num_labels / labeled_batch_size need a model that classifies; say so early."""
    from vaezoo import config as config_lib
    d = cfg["data"]
    num_labels, labeled = d.get("num_labels"), d.get("labeled_batch_size")
    if num_labels is None and labeled is None:
        return
    if num_labels is None:
        raise ValueError(
            f"{source}: [data] labeled_batch_size = {labeled} needs [data] num_labels (the "
            f"number of training labels kept); set num_labels, or remove labeled_batch_size.")
    cls = config_lib.model_class(cfg["model"]["class"], source)
    if not callable(getattr(cls, "classify", None)):
        raise ValueError(
            f"{source}: [data] num_labels = {num_labels} trains on a few labels and many "
            f"unlabeled images, which only a semi-supervised model (one with `classify`, e.g. "
            f"class = \"SemiSupervisedVAE\") can use; [model] class = "
            f"{cfg['model']['class']!r} has none. Set [model] class = \"SemiSupervisedVAE\", "
            f"or remove num_labels (and labeled_batch_size) from [data].")
    if labeled is not None and labeled >= d["batch_size"]:
        raise ValueError(
            f"{source}: [data] labeled_batch_size = {labeled} must be smaller than [data] "
            f"batch_size = {d['batch_size']} (each batch also holds unlabeled examples): valid "
            f"values are 1 to {d['batch_size'] - 1}. Lower labeled_batch_size or raise "
            f"batch_size.")


def _datasets(cfg, verbose):
    """(train, validation, test, validation record): unbatched datasets.

    The model validates (the ``val_*`` metrics of ``fit``) on the last
    ``[data] validation_fraction`` of the train split, held out of training,
    as Keras' ``validation_split`` does; or on ``[data] validation_split`` when
    a config names one. Never on the test split (``config.validate`` refuses
    it). The record says which examples were held out.
    """
    from vaezoo import data as data_lib
    d = cfg["data"]
    kwargs = {"data_dir": d.get("data_dir"), "verbose": bool(verbose)}
    train = data_lib.load(d["dataset"], d["train_split"], **kwargs)
    test = data_lib.load(d["dataset"], d["test_split"], **kwargs).cache()
    if d.get("validation_split"):
        val = data_lib.load(d["dataset"], d["validation_split"], **kwargs).cache()
        return train.cache(), val, test, {"split": d["validation_split"],
                                          "held_out_of_train": False,
                                          "num_examples": _num_examples(val)}
    total = _num_examples(train)
    held_out = int(round(d["validation_fraction"] * total))
    if held_out and held_out >= total:
        raise ValueError(f"[data] validation_fraction = {d['validation_fraction']} of the "
                         f"{total} examples of {d['train_split']!r} leaves none to train on; "
                         f"lower it or give a larger train split")
    first = total - held_out
    record = {"split": f"{d['train_split']!r} examples {first} to {total - 1} (the last "
                       f"{held_out}, held out of training)" if held_out else None,
              "held_out_of_train": True, "fraction": d["validation_fraction"],
              "first_example": first, "num_examples": held_out, "train_examples": first}
    # Cached after the split: a cache read only in part would never be complete.
    val = train.skip(first).cache() if held_out else None
    return (train.take(first) if held_out else train).cache(), val, test, record


def _num_examples(dataset):
    import tensorflow as tf
    count = int(dataset.cardinality())
    if count < 0:                                  # unknown: count once (the data is cached)
        count = int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
    return count


def _labeled_train(train, cfg):
    """The training data as the model sees it: with ``[data] num_labels``, only a
    class-balanced subset of that many examples keeps its label (the others -1)."""
    from vaezoo import data as data_lib
    num_labels = cfg["data"].get("num_labels")
    if num_labels is None:
        return train
    return data_lib.semi_supervised_split(train, num_labels, seed=cfg["training"]["seed"]).cache()


def _epoch_data(train, cfg, epoch, skip_batches=0):
    """The batches of ``epoch``: a function of ([training] seed, epoch) only.

    With ``[data] labeled_batch_size`` each batch holds that many labeled
    examples and ``batch_size - labeled_batch_size`` unlabeled ones
    (``vaezoo.data.mixed_batches``); the epoch is one pass over the unlabeled.
    """
    from vaezoo import data as data_lib
    d, seed = cfg["data"], cfg["training"]["seed"]
    if d.get("labeled_batch_size") is not None:
        ds = data_lib.mixed_batches(train, d["batch_size"], d["labeled_batch_size"],
                                    seed=epoch_seed(seed, epoch),
                                    shuffle_buffer=d["shuffle_buffer"],
                                    reshuffle_each_iteration=False)
    else:
        ds = train.shuffle(d["shuffle_buffer"], seed=epoch_seed(seed, epoch),
                           reshuffle_each_iteration=False).batch(d["batch_size"])
    steps = cfg["training"].get("steps_per_epoch")
    if steps:
        ds = ds.take(steps)
    if skip_batches:
        ds = ds.skip(skip_batches)
    return _prefetched(ds)


def _image_shape(dataset):
    spec = dataset.element_spec
    spec = spec["image"] if isinstance(spec, dict) else spec
    shape = tuple(spec.shape.as_list())
    return shape + (1,) if len(shape) == 2 else shape


def _built_config(cfg, image_shape):
    """The run's resolved config: the image shape and the model seed filled in."""
    cfg = json.loads(json.dumps(cfg))                   # a private copy
    cfg["model"].setdefault("image_shape", list(image_shape))
    cfg["model"].setdefault("seed", cfg["training"]["seed"])
    return cfg


def _get_strategy(strategy):
    import tensorflow as tf
    if strategy is None or isinstance(strategy, tf.distribute.Strategy):
        return strategy
    try:
        from vaezoo import distribute
        return distribute.get_strategy(strategy)
    except ImportError:
        pass
    from vaezoo.registry import lookup
    makers = {"default": tf.distribute.get_strategy, "mirrored": tf.distribute.MirroredStrategy,
              "one_device": lambda: tf.distribute.OneDeviceStrategy("/cpu:0")}
    return lookup("strategy", strategy, makers)()


def _history_append(history, logs):
    for key, value in logs.items():
        history.setdefault(key, []).append(float(np.asarray(value)))


# ---------------------------------------------------------------------- train
def train(config, out_dir, *, epochs=None, resume=True, strategy=None, verbose=1,
          deterministic=None, keep_checkpoints=2, callbacks=None, evaluate=True,
          num_samples=None, max_examples=None):
    """Train a config into ``out_dir``; resumes from its newest checkpoint by default.

    The model validates (``val_*`` in the history) on the last ``[data]
    validation_fraction`` (10%) of the train split, held out of training, never
    on the test split. The final evaluation measures the ELBO and the
    importance-sampled log p(x) of the test split; ``metrics.json`` records its
    K, the number of test images, the split and the binarization. A rerun of a
    finished run (same config, all epochs done, the same evaluation asked for)
    returns the stored metrics without computing anything again.

    Args:
      config: a config dict (``vaezoo.config.load_config``), a zoo entry name or a path.
      out_dir: the run directory (created).
      epochs: overrides ``[training] epochs`` (the total, counting resumed epochs).
      resume: continue from the newest checkpoint in ``out_dir``; False starts over
        (old checkpoints are deleted).
      strategy: None, a ``tf.distribute.Strategy`` or a name ("mirrored", ...).
      verbose: 0 silent, 1 progress bars (Keras and tqdm), 2 one line per epoch.
      deterministic: deterministic ops (default ``[training] deterministic``).
      keep_checkpoints: how many checkpoints to keep.
      callbacks: extra Keras callbacks for ``fit``.
      evaluate: False skips the final evaluation (``metrics.json`` then has no
        ``train`` / ``test`` metrics; ``vaezoo evaluate out_dir`` measures them later).
      num_samples: importance samples K of the final log p(x) (overrides
        ``[evaluation] num_importance_samples``).
      max_examples: evaluate the first N test images only (overrides
        ``[evaluation] max_examples``; default all).

    Returns:
      the metrics dict written to ``metrics.json``.

    Raises:
      ValueError: bad config, a run directory holding another config, bad data.
      TrainingDiverged: a NaN/Inf loss term (the last good checkpoint is kept).
    """
    import tensorflow as tf
    keras = _import_keras()
    from vaezoo import config as config_lib
    from vaezoo import validation

    cfg = resolve_config(config)
    _check_semi_supervised(cfg, _config_source(config, cfg))
    if epochs is not None:
        cfg["training"]["epochs"] = validation.check_positive_int("epochs", epochs)
    if deterministic is not None:
        cfg["training"]["deterministic"] = bool(deterministic)
    if num_samples is not None:
        cfg["evaluation"]["num_importance_samples"] = validation.check_positive_int(
            "num_samples", num_samples)
    if max_examples is not None:
        cfg["evaluation"]["max_examples"] = validation.check_positive_int(
            "max_examples", max_examples)
    keep_checkpoints = validation.check_positive_int("keep_checkpoints", keep_checkpoints)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    total_epochs, seed = cfg["training"]["epochs"], cfg["training"]["seed"]
    every = cfg["training"].get("checkpoint_every")

    train_raw, val_raw, test_raw, val_record = _datasets(cfg, verbose)
    # The train ELBO of metrics.json is measured like the test one, on every training
    # example with its label; fitting sees only [data] num_labels labels.
    train_fit = _labeled_train(train_raw, cfg)
    built_cfg = _built_config(cfg, _image_shape(train_raw))
    if resume and latest_checkpoint(out_dir) and (out_dir / CONFIG_FILE).is_file():
        previous = config_lib.load_config(out_dir / CONFIG_FILE)
        if _config_digest(previous) != _config_digest(built_cfg):
            raise ValueError(
                f"{out_dir} holds a run of another config; resuming it with this config would "
                f"mix two runs. Use another --out directory, or --no-resume to start over there.")
        finished = _finished_metrics(out_dir, built_cfg, evaluate)
        if finished is not None:
            if verbose:
                print(f"vaezoo: {out_dir} already holds this run, finished ({total_epochs} "
                      f"epochs) and evaluated as asked: reusing its {METRICS_FILE} (pass "
                      f"--no-resume to train again)", flush=True)
            return finished

    if cfg["training"].get("deterministic"):
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    strategy = _get_strategy(strategy)
    scope = strategy.scope() if strategy is not None else _nullcontext()
    with scope:
        model = config_lib.model_from_config(built_cfg)
        # A step checkpoint needs a Python round trip every `every` steps at least.
        compile_kwargs = {"steps_per_execution": min(every, 32)} if every else {}
        model.compile(optimizer=config_lib.optimizer_from_config(cfg), **compile_kwargs)
        model.optimizer.build(model.trainable_variables)
    if not resume:                       # only now: the new config is known to be good
        for old in list_checkpoints(out_dir):
            old.unlink()
        for name in (METRICS_FILE, KERAS_FILE, WEIGHTS_FILE, EVALUATION_FILE):
            (out_dir / name).unlink(missing_ok=True)
    config_lib.save_config(built_cfg, out_dir / CONFIG_FILE)

    history, train_time, start_epoch, skip, running = {}, 0.0, 0, 0, None
    resumed_from = None
    ckpt = latest_checkpoint(out_dir) if resume else None
    if ckpt is not None:
        meta = restore_checkpoint(ckpt, model)
        history, train_time = meta["history"], meta["train_time"]
        start_epoch, skip, running = meta["epoch"], meta.get("batch", 0), meta.get(
            "running_metrics")
        resumed_from = {"checkpoint": ckpt.name, "epoch": start_epoch, "batch": skip,
                        "step": meta["step"]}
        if start_epoch > total_epochs or (start_epoch == total_epochs and skip):
            raise ValueError(
                f"{out_dir} already holds {start_epoch} epochs of training, more than the "
                f"{total_epochs} asked for; ask for --epochs {start_epoch} or more, or pass "
                f"--no-resume to start over")
        if verbose:
            print(f"vaezoo: resuming {out_dir} from {ckpt.name} (epoch {start_epoch}, "
                  f"step {meta['step']})", flush=True)

    guard = _guard_class()()
    state = {"epoch": start_epoch, "batches_done": 0, "record": None, "epoch_step": 0,
             "last_saved": int(model.optimizer.iterations.numpy())}

    def record(epoch_done=None):
        return {"epoch": state["epoch"] if epoch_done is None else epoch_done,
                "step": int(model.optimizer.iterations.numpy()), "history": history,
                "train_time": train_time + (time.perf_counter() - started), "seed": seed,
                "config_digest": _config_digest(built_cfg)}

    state["record"] = record
    started = time.perf_counter()
    for epoch in range(start_epoch, total_epochs):
        state.update(epoch=epoch, batches_done=skip if epoch == start_epoch else 0,
                     epoch_step=int(model.optimizer.iterations.numpy()))
        fit_callbacks = [guard] + list(callbacks or [])
        if verbose:
            from vaezoo.callbacks import BatchProgbarLogger
            fit_callbacks.append(BatchProgbarLogger())
        if every:
            fit_callbacks.append(_step_checkpointer(out_dir, every, state, keep_checkpoints,
                                                    guard))
        if epoch == start_epoch and skip and running:
            fit_callbacks.append(_metric_restorer(running))
        data = _epoch_data(train_fit, cfg, epoch, skip if epoch == start_epoch else 0)
        val = _prefetched(val_raw.batch(cfg["data"]["batch_size"])) if val_raw else None
        if verbose:
            print(f"Epoch {epoch + 1}/{total_epochs}", flush=True)
        result = model.fit(data, validation_data=val, epochs=1, verbose=verbose, shuffle=False,
                           callbacks=fit_callbacks)
        if guard.failure is not None:
            raise TrainingDiverged(guard.failure)
        _history_append(history, {k: v[-1] for k, v in result.history.items()})
        save_checkpoint(checkpoint_path(out_dir, epoch + 1), model, record(epoch + 1))
        _prune(out_dir, keep_checkpoints)
    train_time += time.perf_counter() - started

    metrics = _run_record(model, cfg, history, train_time, val_record)
    metrics["config_digest"] = _config_digest(built_cfg)
    metrics["resumed_from"] = resumed_from
    if evaluate:
        metrics.update(_final_metrics(model, cfg, train_raw, test_raw, verbose))
    else:
        metrics.update(train=None, test=None, evaluation={
            "skipped": True, "split": cfg["data"]["test_split"],
            "command": f"vaezoo evaluate {out_dir}"})
    _save_pictures(model, test_raw, out_dir, seed)
    atomic_write(out_dir / KERAS_FILE, model.save, suffix=".keras")
    atomic_write(out_dir / WEIGHTS_FILE, model.save_weights, suffix=".weights.h5")
    _write_json(out_dir / METRICS_FILE, metrics)
    return metrics


def _evaluation_spec(cfg):
    """What the final evaluation measures: reruns reuse metrics only for the same."""
    ev = cfg["evaluation"]
    return {"split": cfg["data"]["test_split"], "num_importance_samples":
            ev["num_importance_samples"], "max_examples": ev.get("max_examples"),
            "seed": ev["seed"]}


def _finished_metrics(out_dir, built_cfg, evaluate):
    """The stored metrics of a finished run of ``built_cfg`` in ``out_dir``, or None.

    Finished: ``metrics.json`` written for this config digest and epoch count, the
    newest checkpoint is the last epoch's with the same step, and (unless
    ``evaluate`` is False) the evaluation it holds is the one asked for now.
    """
    path, total = out_dir / METRICS_FILE, built_cfg["training"]["epochs"]
    ckpt = latest_checkpoint(out_dir)
    if not path.is_file() or not (out_dir / WEIGHTS_FILE).is_file() or ckpt is None \
            or ckpt.name != checkpoint_path(out_dir, total).name:
        return None
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        meta, _ = read_checkpoint(ckpt)
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict) or metrics.get("epochs") != total \
            or metrics.get("config_digest") != _config_digest(built_cfg) \
            or metrics.get("steps") != meta.get("step"):
        return None
    stored = metrics.get("evaluation") or {}
    if evaluate and (stored.get("skipped") or any(
            stored.get(k) != v for k, v in _evaluation_spec(built_cfg).items())):
        return None
    return metrics


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _prefetched(ds):
    """``ds`` prefetched, with tf.data's autotuner off: every pipeline here gets a
    fresh iterator each epoch (see ``vaezoo.pipeline.untuned``)."""
    import tensorflow as tf
    from vaezoo import pipeline
    return pipeline.untuned(ds.prefetch(tf.data.AUTOTUNE))


def _eval_batches(raw, cfg):
    size = cfg["evaluation"].get("batch_size") or 500
    return _prefetched(raw.batch(size))


def _run_record(model, cfg, history, train_time, val_record):
    """The part of ``metrics.json`` that needs no evaluation."""
    d = cfg["data"]
    return {
        "config": cfg.get("name"),
        "dataset": d["dataset"],
        "train_split": d["train_split"],
        "train_examples": val_record.get("train_examples"),
        "validation": val_record,
        "test_split": d["test_split"],
        "binarization": getattr(model, "binarization", None),
        # The seed of the static draw: the training data's for "static", the
        # evaluation data's for both "static" and "dynamic" (a dynamically
        # trained model is evaluated on the statically binarized test set).
        "binarization_seed": (model.binarization_seed
                              if getattr(model, "binarization", None) else None),
        "test_binarization": "static" if getattr(model, "binarization", None) else None,
        "epochs": cfg["training"]["epochs"],
        "steps": int(model.optimizer.iterations.numpy()),
        "history": history,
        "train_time_s": train_time,
        "training_precision": model.training_precision,
        "deterministic": bool(cfg["training"].get("deterministic")),
        "parameters": int(model.count_params()),
    }


def _test_measures(model, cfg, test_raw, num_samples, max_examples, verbose):
    """ELBO, log p(x) (K = ``num_samples``) and, for a classifier, accuracy on the test
    split, with the record of what was measured (split, K, images, binarization)."""
    from vaezoo import evaluation
    ev, progress = cfg["evaluation"], verbose == 1
    started = time.perf_counter()
    test_elbo = evaluation.elbo(model, _eval_batches(test_raw, cfg), seed=ev["seed"],
                                progress=progress, max_examples=max_examples)
    ll = evaluation.log_likelihood(model, _eval_batches(test_raw, cfg), num_samples=num_samples,
                                   seed=ev["seed"], sample_batch=ev.get("sample_batch"),
                                   max_examples=max_examples, progress=progress)
    test = {"elbo": test_elbo["elbo"], "rate": test_elbo["rate"],
            "distortion": test_elbo["distortion"], "elbo_stderr": test_elbo["stderr"],
            "log_likelihood": ll["log_likelihood"], "stderr": ll["stderr"],
            "bits_per_dim": ll["bits_per_dim"], "num_importance_samples": ll["num_samples"],
            "num_examples": ll["num_examples"], "decoder_precision": ll["precision"]}
    if getattr(model, "is_conditional", False):
        # evaluation.log_likelihood / elbo condition on the label each test image carries.
        test["log_likelihood_is"] = "log p(x|y), y = the true test label (also the ELBO)"
    if callable(getattr(model, "classify", None)):
        test["accuracy"] = evaluation.classification_accuracy(
            model, _eval_batches(test_raw, cfg), max_examples=max_examples, progress=progress)
    binarized = getattr(model, "binarization", None) is not None
    record = {"split": cfg["data"]["test_split"], "num_importance_samples": ll["num_samples"],
              "num_examples": ll["num_examples"],
              "num_examples_in_split": _num_examples(test_raw), "max_examples": max_examples,
              "seed": ev["seed"], "binarization": "static" if binarized else None,
              "binarization_seed": model.binarization_seed if binarized else None,
              "eval_time_s": time.perf_counter() - started}
    return test, record


def _final_metrics(model, cfg, train_raw, test_raw, verbose):
    """The final evaluation of ``train``: train ELBO and the test measures."""
    from vaezoo import evaluation
    ev = cfg["evaluation"]
    started = time.perf_counter()
    train_elbo = evaluation.elbo(model, _eval_batches(train_raw, cfg), seed=ev["seed"],
                                 progress=verbose == 1, max_examples=ev.get("max_examples"))
    test, record = _test_measures(model, cfg, test_raw, ev["num_importance_samples"],
                                  ev.get("max_examples"), verbose)
    return {"train": {"elbo": train_elbo["elbo"], "rate": train_elbo["rate"],
                      "distortion": train_elbo["distortion"],
                      "num_examples": train_elbo["num_examples"]},
            "test": test, "evaluation": record,
            "eval_time_s": time.perf_counter() - started}


def _save_pictures(model, test_raw, out_dir, seed):
    images = next(iter(test_raw.batch(16)))
    try:
        from vaezoo import plot
        sample_grid, reconstructions = plot.sample_grid, plot.reconstructions
    except (ImportError, AttributeError):    # the plot module is optional
        sample_grid = reconstructions = None
    if sample_grid is None:
        return
    import matplotlib.pyplot as plt
    for name, draw in ((SAMPLES_FILE, lambda p: sample_grid(model, 64, seed=seed, path=p)),
                       (RECONSTRUCTIONS_FILE, lambda p: reconstructions(model, images, path=p))):
        atomic_write(out_dir / name, lambda tmp, draw=draw: plt.close(draw(tmp)), suffix=".png")


# ---------------------------------------------------------------------- evaluate
def evaluate(name_or_dir, num_samples=None, *, max_examples=None, verbose=1):
    """Evaluate a run directory's final model, or a pretrained entry, on its test split.

    Args:
      name_or_dir: a directory written by ``train``, a pretrained entry name
        (see ``vaezoo.list_models()``) or a preset directory.
      num_samples: importance samples K (default: the config's
        ``[evaluation] num_importance_samples``).
      max_examples: evaluate the first N test images only (default: all).
      verbose: progress bars when 1.

    Returns:
      dict with ``elbo``, ``rate``, ``distortion``, ``log_likelihood``, ``stderr``,
      ``bits_per_dim``, ``num_importance_samples``, ``num_examples`` (test images
      evaluated), ``num_examples_in_split``, ``test_split``, ``binarization``
      (and ``accuracy`` for a model that classifies). For a run directory it is
      also written to ``evaluation.json`` there.

    Example:
      >>> training.evaluate("mlp_vae_fashion_mnist", num_samples=100, max_examples=1000)
      >>> training.evaluate("runs/mlp")            # the config's K, every test image
    """
    from vaezoo import presets, validation
    path = Path(str(name_or_dir)).expanduser()
    if path.is_dir() and not (path / CONFIG_FILE).is_file():
        raise ValueError(f"{path} is not a vaezoo run directory (no {CONFIG_FILE}); give a "
                         f"directory written by `vaezoo train` or a pretrained entry name")
    is_run = path.is_dir() and not (path / presets.METADATA_FILENAME).is_file()
    if is_run:
        cfg = resolve_config(path / CONFIG_FILE)
        model = _load_run_model(path, cfg)
    else:                                         # a pretrained entry or a preset: verified
        model = presets.load(name_or_dir, compile=False)
        cfg = resolve_config(presets.resolve(name_or_dir) / CONFIG_FILE)
    if num_samples is None:
        num_samples = cfg["evaluation"]["num_importance_samples"]
    num_samples = validation.check_positive_int("num_samples", num_samples)
    if max_examples is not None:
        max_examples = validation.check_positive_int("max_examples", max_examples)
    from vaezoo import data as data_lib
    d = cfg["data"]
    test_raw = data_lib.load(d["dataset"], d["test_split"], data_dir=d.get("data_dir"),
                             verbose=bool(verbose)).cache()
    test, record = _test_measures(model, cfg, test_raw, num_samples, max_examples, verbose)
    out = {("run_dir" if is_run else "model"): str(name_or_dir), "test_split": d["test_split"],
           **test, **{k: v for k, v in record.items() if k != "split"}}
    if is_run:
        _write_json(path / EVALUATION_FILE, out)
    return out


def _load_run_model(run_dir, cfg):
    from vaezoo import config as config_lib
    weights = run_dir / WEIGHTS_FILE
    if weights.is_file():
        model = config_lib.model_from_config(cfg)
        model.load_weights(str(weights))
        return model
    if (run_dir / KERAS_FILE).is_file():
        from vaezoo import validation
        return validation.load_model(run_dir / KERAS_FILE)
    raise ValueError(f"{run_dir} has no trained model yet ({WEIGHTS_FILE} or {KERAS_FILE}); "
                     f"finish the run with `vaezoo train {run_dir / CONFIG_FILE} --out {run_dir}`")


__all__ = ["train", "evaluate", "TrainingDiverged", "NonFiniteGuard", "watch_nonfinite",
           "checkpoint_path", "save_checkpoint",
           "read_checkpoint", "restore_checkpoint", "latest_checkpoint", "list_checkpoints",
           "atomic_write", "epoch_seed", "resolve_config"]
