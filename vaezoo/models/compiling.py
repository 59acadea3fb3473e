"""The arguments of ``VAE.compile``, checked, and a saved compile config, read back.

A VAE's loss is its objective and its metrics are the objective's terms, so
``compile`` takes neither (``refuse_keras_losses``); its precision is its dtype
policy, not a compile argument. ``steps_per_execution="auto"`` is
``DEFAULT_STEPS_PER_EXECUTION``: that many train steps per call into the TF
graph (the same steps and numbers; callbacks see every 32nd batch).
"""

import warnings

import keras
import numpy as np

#: ``steps_per_execution`` of ``VAE.compile(steps_per_execution="auto")``.
DEFAULT_STEPS_PER_EXECUTION = 32

#: ``keras.Model.compile`` arguments a VAE does not take (``refuse_keras_losses``).
KERAS_LOSS_ARGUMENTS = ("loss", "loss_weights", "metrics", "weighted_metrics")

#: The ``compile`` arguments a saved config holds as plain values (not Keras objects).
_PLAIN = ("optimizer", "jit_compile", "steps_per_execution")


def refuse_keras_losses(**given):
    """A ValueError for a Keras loss or metric given to ``VAE.compile`` (they would
    be ignored: the objective defines both)."""
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return
    shown = ", ".join(f"{k}={v!r}" for k, v in given.items())
    if {"loss", "loss_weights"} & set(given):
        why = ("a VAE's loss is its objective, set on the model: objective='elbo' or 'iwae' "
               "(with num_samples=), beta=, warmup_steps=, free_bits=")
    else:
        why = ("a VAE's metrics are its objective's terms, reported by fit and evaluate: "
               "loss, elbo, rate, distortion (iwae with objective='iwae'); others come from "
               "vaezoo.evaluation (log_likelihood, bits_per_dim, ...) or a callback")
    raise ValueError(f"compile() does not take {shown}: {why}. Remove "
                     f"{' and '.join(given)} from compile().")


def check_compile_arguments(steps_per_execution, jit_compile, kwargs):
    """``steps_per_execution`` as an int (``"auto"`` -> ``DEFAULT_STEPS_PER_EXECUTION``);
    a ValueError for a bad one, a bad ``jit_compile`` or a ``precision`` in ``kwargs``."""
    if "precision" in kwargs:
        raise ValueError(
            f"compile() takes no precision (got precision={kwargs['precision']!r}): a "
            f"VAE computes in its Keras dtype policy. Construct the model with "
            f"dtype='mixed_bfloat16' (or 'mixed_float16', 'float32'), or call "
            f"keras.config.set_dtype_policy(...) before constructing it.")
    if steps_per_execution == "auto":
        steps_per_execution = DEFAULT_STEPS_PER_EXECUTION
    if isinstance(steps_per_execution, bool) or not isinstance(
            steps_per_execution, (int, np.integer)) or steps_per_execution < 1:
        raise ValueError(
            f"steps_per_execution must be 'auto' or a positive integer; got "
            f"{steps_per_execution!r}")
    if jit_compile not in ("auto", True, False):
        raise ValueError(f"jit_compile must be 'auto', True or False; got {jit_compile!r}")
    return int(steps_per_execution)


def saved_config(optimizer, compile_args, kwargs):
    """What ``get_compile_config`` returns: the arguments as given, serialized."""
    return {"optimizer": keras.optimizers.serialize(optimizer), **compile_args,
            **{k: keras.saving.serialize_keras_object(v) for k, v in kwargs.items()}}


def compile_arguments_from(config, policy):
    """``compile`` keyword arguments from a saved compile config (``saved_config``).

    Configs saved by earlier versions may hold ``precision`` (now the model's
    dtype policy, named ``policy``: "auto" and a value equal to the policy are
    dropped, any other with a warning) and loss / metrics that were ignored
    then (dropped with a warning).
    """
    config = dict(config)
    legacy = config.pop("precision", "auto")
    if legacy not in ("auto", policy):
        warnings.warn(
            f"this model was saved with compile(precision={legacy!r}); vaezoo now "
            f"computes in the model's dtype policy, here {policy!r}. To "
            f"train in {legacy!r}, construct the model with dtype={legacy!r}.",
            stacklevel=3)
    ignored = sorted(k for k in KERAS_LOSS_ARGUMENTS if config.pop(k, None) is not None)
    if ignored:
        warnings.warn(f"dropped {', '.join(ignored)} from the saved compile config: a VAE's "
                      f"loss and metrics are its objective's", stacklevel=3)
    config["optimizer"] = keras.optimizers.deserialize(config["optimizer"])
    for key in set(config) - set(_PLAIN):
        config[key] = keras.saving.deserialize_keras_object(config[key])
    return config
