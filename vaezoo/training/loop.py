"""``train``: a zoo config in, a run directory out, crash-safe and resumable.

``train(config, out_dir)`` builds the model of a config's ``[model]`` table,
loads its ``[data]`` (``vaezoo.training.datasets``), compiles it with the
``[optimizer]``, fits it one epoch per ``fit`` for ``[training] epochs``,
checkpoints after each (``vaezoo.training.checkpoints``) and writes the run
directory::

    out_dir/
      config.toml          the resolved config (``vaezoo train out_dir/config.toml`` repeats it)
      checkpoints/         epoch-0003-batch-000000.ckpt.npz ... (the last ``keep_checkpoints``)
      metrics.json         train / test ELBO, test log p(x) (+ stderr, bits/dim), history
                           (+ test accuracy for a model that classifies); "validation" says
                           which train examples were held out, "evaluation" the split, K,
                           test images and binarization of the final evaluation
      samples.png          samples from the prior (and reconstructions.png)
      model.keras          the final model (loads in Keras safe mode)
      model.weights.h5     its weights (``vaezoo.load(out_dir)`` reads them)

Resuming (the default) restores the newest checkpoint in ``out_dir`` and
continues; with deterministic ops (``deterministic=True`` or ``[training]
deterministic``: ``tf.config.experimental.enable_op_determinism``, which also
makes Keras compile without XLA) the final metrics of a killed-and-resumed run
equal an uninterrupted run's exactly. Running a finished run again (same
config, every epoch done, the same evaluation asked for) returns its
``metrics.json`` without training or evaluating anything.

``NonFiniteGuard`` (``vaezoo.training.guard``) stops training at the first
step whose loss, rate or distortion is NaN or Inf, and ``train`` raises
``TrainingDiverged`` naming the step and the term; checkpoints are only
written from finite weights, so the last good one is never overwritten.

Example:
  >>> from vaezoo import training
  >>> metrics = training.train("mlp_vae_fashion_mnist", "runs/mlp", epochs=10)
  >>> metrics["test"]["log_likelihood"]
"""

import contextlib
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from vaezoo import config as config_lib
from vaezoo import distribute, io, validation
from vaezoo.training import datasets, run_evaluation
from vaezoo.training.checkpoints import (RestoreRunningMetrics, StepCheckpoint, checkpoint_path,
                                         latest_checkpoint, list_checkpoints, prune_checkpoints,
                                         read_checkpoint, restore_checkpoint, save_checkpoint)
from vaezoo.training.guard import NonFiniteGuard, TrainingDiverged
from vaezoo.training.run_config import (built_config, check_semi_supervised, config_digest,
                                        config_source, resolve_config)


def _get_strategy(strategy):
    if strategy is None or isinstance(strategy, tf.distribute.Strategy):
        return strategy
    return distribute.get_strategy(strategy)


def _history_append(history, logs):
    for key, value in logs.items():
        history.setdefault(key, []).append(float(np.asarray(value)))


def run_record(model, cfg, history, train_time, val_record):
    """The part of ``metrics.json`` that needs no evaluation."""
    d = cfg["data"]
    binarization = getattr(model, "binarization", None)
    return {
        "config": cfg.get("name"),
        "dataset": d["dataset"],
        "train_split": d["train_split"],
        "train_examples": val_record.get("train_examples"),
        "validation": val_record,
        "test_split": d["test_split"],
        "binarization": binarization,
        # The seed of the static draw: the training data's for "static", the
        # evaluation data's for both "static" and "dynamic" (a dynamically
        # trained model is evaluated on the statically binarized test set).
        "binarization_seed": model.binarization_seed if binarization else None,
        "test_binarization": "static" if binarization else None,
        "epochs": cfg["training"]["epochs"],
        "prior_epochs": cfg["training"].get("prior_epochs", 0),
        "steps": int(model.optimizer.iterations.numpy()),
        "history": history,
        "train_time_s": train_time,
        "training_precision": model.training_precision,
        "deterministic": bool(cfg["training"].get("deterministic")),
        "parameters": int(model.count_params()),
    }


def all_epochs(cfg):
    """``[training] epochs`` plus ``prior_epochs``: the epochs a run trains, the last
    ``prior_epochs`` of them through ``model.fit_prior`` (a VQVAE's second stage)."""
    return cfg["training"]["epochs"] + cfg["training"].get("prior_epochs", 0)


def finished_metrics(out_dir, built_cfg, evaluate):
    """The stored metrics of a finished run of ``built_cfg`` in ``out_dir``, or None.

    Finished: ``metrics.json`` written for this config digest and epoch count, the
    newest checkpoint is the last epoch's with the same step, and (unless
    ``evaluate`` is False) the evaluation it holds is the one asked for now.
    """
    path, total = out_dir / io.METRICS_FILE, all_epochs(built_cfg)
    ckpt = latest_checkpoint(out_dir)
    if not path.is_file() or not (out_dir / io.WEIGHTS_FILE).is_file() or ckpt is None \
            or ckpt.name != checkpoint_path(out_dir, total).name:
        return None
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        meta, _ = read_checkpoint(ckpt)
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict) or metrics.get("epochs") != built_cfg["training"]["epochs"] \
            or metrics.get("config_digest") != config_digest(built_cfg) \
            or metrics.get("steps") != meta.get("step"):
        return None
    stored = metrics.get("evaluation") or {}
    if evaluate and (stored.get("skipped") or any(
            stored.get(k) != v for k, v in run_evaluation.evaluation_spec(built_cfg).items())):
        return None
    return metrics


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
        ``[training] prior_epochs`` more epochs follow, through ``model.fit_prior``
        (a VQVAE's prior on the frozen codes).
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
    cfg = resolve_config(config)
    check_semi_supervised(cfg, config_source(config, cfg))
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
    total_epochs, seed = all_epochs(cfg), cfg["training"]["seed"]
    main_epochs = cfg["training"]["epochs"]
    every = cfg["training"].get("checkpoint_every")

    train_raw, val_raw, test_raw, val_record = datasets.split_datasets(cfg, verbose)
    # The train ELBO of metrics.json is measured like the test one, on every training
    # example with its label; fitting sees only [data] num_labels labels.
    train_fit = datasets.labeled_train(train_raw, cfg)
    built_cfg = built_config(cfg, datasets.image_shape(train_raw))
    if resume and latest_checkpoint(out_dir) and (out_dir / io.CONFIG_FILE).is_file():
        previous = config_lib.load_config(out_dir / io.CONFIG_FILE)
        if config_digest(previous) != config_digest(built_cfg):
            raise ValueError(
                f"{out_dir} holds a run of another config; resuming it with this config would "
                f"mix two runs. Use another --out directory, or --no-resume to start over there.")
        finished = finished_metrics(out_dir, built_cfg, evaluate)
        if finished is not None:
            if verbose:
                print(f"vaezoo: {out_dir} already holds this run, finished ({total_epochs} "
                      f"epochs) and evaluated as asked: reusing its {io.METRICS_FILE} (pass "
                      f"--no-resume to train again)", flush=True)
            return finished

    if cfg["training"].get("deterministic"):
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    strategy = _get_strategy(strategy)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = config_lib.model_from_config(built_cfg)
        # A step checkpoint needs a Python round trip every `every` steps at least.
        compile_kwargs = {"steps_per_execution": min(every, 32)} if every else {}
        model.compile(optimizer=config_lib.optimizer_from_config(cfg), **compile_kwargs)
        model.optimizer.build(model.trainable_variables)
    if cfg["training"].get("prior_epochs") and not hasattr(model, "fit_prior"):
        raise ValueError(
            f"[training] prior_epochs is for models with a separately trained prior "
            f"(VQVAE's fit_prior); {type(model).__name__} has none. Remove prior_epochs.")
    if not resume:                       # only now: the new config is known to be good
        for old in list_checkpoints(out_dir):
            old.unlink()
        for name in (io.METRICS_FILE, io.KERAS_FILE, io.WEIGHTS_FILE, io.EVALUATION_FILE):
            (out_dir / name).unlink(missing_ok=True)
    config_lib.save_config(built_cfg, out_dir / io.CONFIG_FILE)

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

    guard = NonFiniteGuard()
    started = time.perf_counter()

    def record(epoch_done=None):
        """The JSON record of a checkpoint taken now."""
        return {"epoch": state["epoch"] if epoch_done is None else epoch_done,
                "step": int(model.optimizer.iterations.numpy()), "history": history,
                "train_time": train_time + (time.perf_counter() - started), "seed": seed,
                "config_digest": config_digest(built_cfg)}

    state = {"epoch": start_epoch, "batches_done": 0, "record": record, "epoch_step": 0,
             "last_saved": int(model.optimizer.iterations.numpy())}
    for epoch in range(start_epoch, total_epochs):
        skip_now = skip if epoch == start_epoch else 0
        state.update(epoch=epoch, batches_done=skip_now,
                     epoch_step=int(model.optimizer.iterations.numpy()))
        fit_callbacks = [guard] + list(callbacks or [])
        if every:
            fit_callbacks.append(StepCheckpoint(out_dir, every, state, keep_checkpoints, guard))
        if skip_now and running:
            fit_callbacks.append(RestoreRunningMetrics(running))
        data = datasets.epoch_data(train_fit, cfg, epoch, skip_now)
        val = (datasets.prefetched(val_raw.batch(cfg["data"]["batch_size"]))
               if val_raw else None)
        stage = model.fit_prior if epoch >= main_epochs else model.fit
        if verbose:
            print(f"Epoch {epoch + 1}/{total_epochs}"
                  + (" (the prior, on the frozen codes)" if epoch >= main_epochs else ""),
                  flush=True)
        result = stage(data, validation_data=val, epochs=1, verbose=verbose, shuffle=False,
                           callbacks=fit_callbacks)
        if guard.failure is not None:
            raise TrainingDiverged(guard.failure)
        _history_append(history, {k: v[-1] for k, v in result.history.items()})
        save_checkpoint(checkpoint_path(out_dir, epoch + 1), model, record(epoch + 1))
        prune_checkpoints(out_dir, keep_checkpoints)
    train_time += time.perf_counter() - started

    metrics = run_record(model, cfg, history, train_time, val_record)
    metrics["config_digest"] = config_digest(built_cfg)
    metrics["resumed_from"] = resumed_from
    if evaluate:
        metrics.update(run_evaluation.final_metrics(model, cfg, train_raw, test_raw, verbose))
    else:
        metrics.update(train=None, test=None, evaluation={
            "skipped": True, "split": cfg["data"]["test_split"],
            "command": f"vaezoo evaluate {out_dir}"})
    run_evaluation.save_pictures(model, test_raw, out_dir, seed)
    io.atomic_write(out_dir / io.KERAS_FILE, model.save, suffix=".keras")
    io.atomic_write(out_dir / io.WEIGHTS_FILE, model.save_weights, suffix=".weights.h5")
    io.write_json(out_dir / io.METRICS_FILE, metrics)
    return metrics


__all__ = ["train", "run_record", "finished_metrics"]
