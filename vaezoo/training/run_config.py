"""The config of a training run: resolved, checked for the run, completed and hashed.

``config_digest`` identifies a run: two sessions of the same run (resumed,
or asked for more epochs) have the same digest, so ``train`` refuses to
resume a directory holding another config's run.

Example:
  >>> cfg = resolve_config("mlp_vae_fashion_mnist")
  >>> config_digest(cfg) == config_digest(resolve_config(run_dir / "config.toml"))
"""

import hashlib
import json

from vaezoo import config as config_lib
from vaezoo import io

#: Keys that may change between the sessions of one run.
_SESSION_KEYS = {("training", "epochs"), ("training", "deterministic"),
                 ("training", "checkpoint_every")}


def resolve_config(config):
    """A validated config dict from a dict, a zoo entry name or a path."""
    return config_lib.load_config(config)


def config_digest(cfg):
    """sha256 of the config without the keys that may change between sessions of a run.

    Left out: ``description``, ``name``, ``[evaluation]`` (how the finished
    model is measured, not how it is trained) and ``[training] epochs``,
    ``deterministic`` and ``checkpoint_every``.
    """
    stable = {t: ({k: v for k, v in val.items() if (t, k) not in _SESSION_KEYS}
                  if isinstance(val, dict) else val)
              for t, val in cfg.items() if t not in ("description", "name", "evaluation")}
    return hashlib.sha256(io.dumps_json(stable, sort_keys=True).encode()).hexdigest()


def config_source(config, cfg):
    """The file a config came from, for error messages (or its name for a dict)."""
    for candidate in ([] if isinstance(config, dict) else [config]) + [cfg.get("name")]:
        try:
            return str(config_lib.resolve_path(candidate))
        except (ValueError, TypeError):
            continue
    return f"config {cfg.get('name', '<dict>')!r}"


def check_semi_supervised(cfg, source):
    """[data] num_labels / labeled_batch_size need a model that classifies; say so early."""
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


def built_config(cfg, image_shape):
    """The run's resolved config: a plain-JSON copy (tuples as lists) with the image
    shape and the model seed filled in."""
    cfg = json.loads(json.dumps(cfg))
    cfg["model"].setdefault("image_shape", list(image_shape))
    cfg["model"].setdefault("seed", cfg["training"]["seed"])
    return cfg


__all__ = ["resolve_config", "config_digest", "config_source", "check_semi_supervised",
           "built_config"]
