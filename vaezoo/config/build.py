"""Objects from a config: the model of its ``[model]`` table, the optimizer of ``[optimizer]``.

``[model] class`` names a family of ``vaezoo.models``; its other keys are the
constructor arguments (``image_shape`` defaults to the data set's). The
optimizer is ``[optimizer] name`` with its learning rate, clipping and
``schedule`` ("constant", "cosine": ``CosineDecay``, "exponential":
``ExponentialDecay``).

Example:
  >>> model = model_from_config("mlp_vae_fashion_mnist")     # untrained, built for 28x28x1
  >>> model.compile(optimizer=optimizer_from_config(load_config("mlp_vae_fashion_mnist")))
"""

import copy

from vaezoo.config.files import load_config
from vaezoo.config.schema import model_class


def model_kwargs(cfg):
    """The constructor arguments of ``[model]`` (image shape filled in from the data set)."""
    kwargs = {k: copy.deepcopy(v) for k, v in cfg["model"].items() if k != "class"}
    if kwargs.get("image_shape") is None:
        from vaezoo import data  # why: `vaezoo list` reads configs without TensorFlow
        shape = data.info(cfg.get("data", {}).get("dataset", "fashion_mnist"))["image_shape"]
        if shape is not None:
            kwargs["image_shape"] = tuple(shape)
    return kwargs


def model_from_config(cfg):
    """An untrained model built from a config (a dict, a zoo name or a path).

    The model is built eagerly for the data set's image shape, so weights can be
    loaded into it straight away.
    """
    if not isinstance(cfg, dict) or "optimizer" not in cfg:
        cfg = load_config(cfg)
    cls = model_class(cfg["model"]["class"], f"config {cfg.get('name', '')!r}")
    try:
        return cls(**model_kwargs(cfg))
    except (ValueError, TypeError) as e:
        raise ValueError(f"config {cfg.get('name', '<dict>')!r}: [model] of class "
                         f"{cls.__name__} is invalid: {e}") from None


def optimizer_from_config(cfg):
    """A Keras optimizer from the ``[optimizer]`` table (a full config or that table)."""
    # why: `vaezoo list` and `--help` read configs without importing TensorFlow.
    import keras

    from vaezoo.optimizers import FusedAdam
    opt = dict(cfg.get("optimizer", cfg))
    name = opt.pop("name", "adam")
    schedule = opt.pop("schedule", "constant")
    lr = opt.pop("learning_rate", 0.001)
    decay_steps = opt.pop("decay_steps", None)
    decay_rate = opt.pop("decay_rate", None)
    alpha = opt.pop("alpha", None)
    if schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps, alpha=alpha or 0.0)
    elif schedule == "exponential":
        lr = keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps, decay_rate if decay_rate is not None else 0.96)
    # "adam" is Keras' Adam; "fused_adam" opts into the same update in one kernel.
    classes = {"adam": keras.optimizers.Adam, "fused_adam": FusedAdam,
               "adamw": keras.optimizers.AdamW,
               "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop,
               "adamax": keras.optimizers.Adamax, "nadam": keras.optimizers.Nadam}
    kwargs = {k: v for k, v in opt.items() if v is not None}
    return classes[name](learning_rate=lr, **kwargs)

