"""The config schema and its check: every table and key of a zoo config, with types.

Every top-level key and every key of ``[data]``, ``[optimizer]``,
``[training]`` and ``[evaluation]`` is checked against ``SCHEMA`` (name and
type); ``[model]`` keys are checked against the constructor signature of the
model class (its own arguments and those of the base ``VAE`` it forwards
``**kwargs`` to), with the type taken from the argument's default. A problem
is a ``ValueError`` naming the file, the table and the key, with close
matches and the valid names. Adding a key that some engineer needs in a table
is one line in ``SCHEMA``.

Example:
  >>> validate({"model": {"class": "MLPVAE"}, "data": {"batch_size": 64}})["data"]["dataset"]
  'fashion_mnist'
"""

import copy
import inspect
import math

from vaezoo.registry import did_you_mean

_NUMBER = (int, float)

#: Known tables and keys, with the accepted Python types and defaults.
#: ``None`` as default: the key is optional and has no default.
SCHEMA = {
    "data": {
        "dataset": (str, "fashion_mnist"),
        "train_split": (str, "train"),
        "test_split": (str, "test"),
        "validation_split": (str, None),     # a named split to validate on (never the test one)
        "validation_fraction": (_NUMBER, 0.1),  # else: the last fraction of train, held out
        "batch_size": (int, 128),
        "shuffle_buffer": (int, 10000),
        "num_labels": (int, None),           # semi-supervised entries: labelled examples kept
        "labeled_batch_size": (int, None),   # semi-supervised entries: labelled per batch
        "data_dir": (str, None),
    },
    "optimizer": {
        "name": (str, "adam"),
        "learning_rate": (_NUMBER, 0.001),
        "clipnorm": (_NUMBER, None),
        "global_clipnorm": (_NUMBER, None),
        "clipvalue": (_NUMBER, None),
        "weight_decay": (_NUMBER, None),
        "beta_1": (_NUMBER, None),
        "beta_2": (_NUMBER, None),
        "epsilon": (_NUMBER, None),
        "schedule": (str, "constant"),       # "constant" | "cosine" | "exponential"
        "decay_steps": (int, None),
        "decay_rate": (_NUMBER, None),
        "alpha": (_NUMBER, None),            # cosine: final lr as a fraction of the first
    },
    "training": {
        "epochs": (int, 10),
        "seed": (int, 0),
        "steps_per_epoch": (int, None),
        "deterministic": (bool, False),
        "checkpoint_every": (int, None),
        "prior_epochs": (int, 0),            # VQVAE: epochs of fit_prior after `epochs`
    },
    "evaluation": {
        "num_importance_samples": (int, 1000),
        "batch_size": (int, None),
        "sample_batch": (int, None),
        "max_examples": (int, None),
        "seed": (int, 0),
    },
}

#: Top-level keys that are not tables.
TOP_LEVEL = {"description": str, "base": str, "name": str}

OPTIMIZERS = ("adam", "fused_adam", "adamw", "sgd", "rmsprop", "adamax", "nadam")
SCHEDULES = ("constant", "cosine", "exponential")
POSITIVE = {("data", "batch_size"), ("data", "shuffle_buffer"), ("data", "num_labels"),
            ("data", "labeled_batch_size"), ("optimizer", "learning_rate"),
            ("optimizer", "decay_steps"), ("training", "steps_per_epoch"),
            ("training", "checkpoint_every"), ("evaluation", "num_importance_samples"),
            ("evaluation", "batch_size"), ("evaluation", "sample_batch"),
            ("evaluation", "max_examples")}

#: Types of the base VAE arguments whose default (None) says nothing.
_MODEL_ARG_TYPES = {
    "binarization": str,
    "seed": int,
    "image_shape": list,
    "likelihood_kwargs": dict,
    "prior_kwargs": dict,
    "posterior_kwargs": dict,
    "name": str,
}

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
               list: "an array", dict: "a table", _NUMBER: "a number"}


# ---------------------------------------------------------------------- validation
def type_ok(value, expected):
    if expected is _NUMBER or expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is list:
        return isinstance(value, (list, tuple))
    return isinstance(value, expected)


def _describe(value):
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)
    return f"{kind} {value!r}"


def _unknown_key(source, table, key, valid):
    hint = did_you_mean(key, valid)
    where = f"[{table}] key" if table else "top-level key"
    return ValueError(f"{source}: unknown {where} {key!r}.{hint} Valid keys: "
                      f"{', '.join(sorted(valid))}.")


def model_classes():
    """``{name: class}`` of the vaezoo model families, read from Keras' registry.

    Every family is registered with Keras (``package="vaezoo"``) when
    ``vaezoo.models`` is imported, which ``import vaezoo`` arranges as soon as
    Keras is imported; so configs find the families without importing the
    models, which sit above them (``VAE.from_preset`` -> presets -> config).
    A family is a registered ``keras.Model`` with ``encode``, ``decode`` and
    ``prior`` (the recipes, such as ``M1M2``, are not configurable families).
    """
    import keras  # why: `vaezoo list` reads configs without importing TensorFlow
    prefix = "vaezoo>"
    return {key[len(prefix):]: cls for key, cls in keras.saving.get_custom_objects().items()
            if key.startswith(prefix) and inspect.isclass(cls) and issubclass(cls, keras.Model)
            and all(hasattr(cls, name) for name in ("encode", "decode", "prior"))}


def model_class(name, source="<config>"):
    """The vaezoo model class called ``name`` (ValueError with close matches)."""
    classes = model_classes()
    if isinstance(name, str) and name in classes:
        return classes[name]
    hint = did_you_mean(name, classes)
    raise ValueError(f"{source}: [model] key 'class' must name a vaezoo model class, one of "
                     f"{', '.join(sorted(classes))}; got {name!r}.{hint}")


def constructor_args(cls):
    """``{argument: default}`` accepted by ``cls(...)``, following ``**kwargs`` up the MRO.

    Stops at the first ``__init__`` without ``**kwargs`` or at ``keras.Model``
    (whose own keyword arguments, except ``name``, make no sense in a config).
    """
    import keras  # why: `vaezoo list` reads configs without importing TensorFlow
    args = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        if klass is keras.Model or not issubclass(klass, keras.Model):
            args.setdefault("name", None)
            break
        has_var_kw = False
        for p in inspect.signature(klass.__init__).parameters.values():
            if p.name == "self" or p.kind is p.VAR_POSITIONAL:
                continue
            if p.kind is p.VAR_KEYWORD:
                has_var_kw = True
                continue
            args.setdefault(p.name, None if p.default is p.empty else p.default)
        if not has_var_kw:
            break
    return args


def _model_arg_type(key, default):
    if key in _MODEL_ARG_TYPES:
        return _MODEL_ARG_TYPES[key]
    if isinstance(default, bool):
        return bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return _NUMBER
    if isinstance(default, str):
        return str
    if isinstance(default, (list, tuple)):
        return list
    if isinstance(default, dict):
        return dict
    return None  # None default: anything TOML can say


def _check_model(model, source):
    if "class" not in model:
        raise ValueError(f"{source}: [model] needs a key 'class' naming the model family, "
                         f"one of {', '.join(sorted(model_classes()))}")
    cls = model_class(model["class"], source)
    args = constructor_args(cls)
    for key, value in model.items():
        if key == "class":
            continue
        if key not in args:
            hint = did_you_mean(key, args)
            raise ValueError(f"{source}: [model] key {key!r} is not an argument of "
                             f"{cls.__name__}.{hint} Valid keys: class, "
                             f"{', '.join(sorted(args))}.")
        expected = _model_arg_type(key, args[key])
        if expected is not None and not type_ok(value, expected):
            raise ValueError(f"{source}: [model] key {key!r} must be {_TYPE_NAMES[expected]} "
                             f"(like its default {args[key]!r}); got {_describe(value)}")


def validate(cfg, source="<config>"):
    """Check a config dict against ``SCHEMA`` and the model's signature.

    Returns a new dict with the defaults of the ``SCHEMA`` tables filled in.
    Raises ValueError naming ``source``, the table and the key.
    """
    if not isinstance(cfg, dict):
        raise ValueError(f"{source}: a config is a table (dict); got {type(cfg).__name__}")
    valid_top = set(TOP_LEVEL) | set(SCHEMA) | {"model"}
    for key, value in cfg.items():
        if key not in valid_top:
            raise _unknown_key(source, None, key, valid_top)
        if key in TOP_LEVEL and not isinstance(value, TOP_LEVEL[key]):
            raise ValueError(f"{source}: key {key!r} must be {_TYPE_NAMES[TOP_LEVEL[key]]}; got "
                             f"{_describe(value)}")
        if (key in SCHEMA or key == "model") and not isinstance(value, dict):
            raise ValueError(f"{source}: {key!r} must be a table ([{key}]); got "
                             f"{_describe(value)}")
    if "model" not in cfg:
        raise ValueError(f"{source}: missing table [model] (with at least class = \"MLPVAE\" or "
                         f"another model class)")
    _check_model(cfg["model"], source)
    out = copy.deepcopy(cfg)
    out.pop("base", None)
    for table, keys in SCHEMA.items():
        given = cfg.get(table, {})
        for key, value in given.items():
            if key not in keys:
                raise _unknown_key(source, table, key, keys)
            expected = keys[key][0]
            if not type_ok(value, expected):
                raise ValueError(f"{source}: [{table}] key {key!r} must be "
                                 f"{_TYPE_NAMES[expected]}; got {_describe(value)}")
            if (table, key) in POSITIVE and value <= 0:
                raise ValueError(f"{source}: [{table}] key {key!r} must be > 0; got {value!r}")
        filled = {k: d for k, (_, d) in keys.items() if d is not None}
        filled.update(given)
        out[table] = filled
    fraction = out["data"]["validation_fraction"]
    if not 0 <= fraction < 1:
        raise ValueError(f"{source}: [data] key 'validation_fraction' must be in [0, 1) (the "
                         f"last fraction of the train split held out for validation; 0: none); "
                         f"got {fraction!r}")
    if out["data"].get("validation_split") == out["data"]["test_split"]:
        raise ValueError(f"{source}: [data] key 'validation_split' names the test split "
                         f"{out['data']['test_split']!r}; validating on it would tune on the "
                         f"test set. Remove it (the last [data] validation_fraction of the "
                         f"train split is held out instead) or name another split.")
    name = out["optimizer"]["name"]
    if name not in OPTIMIZERS:
        hint = did_you_mean(name, OPTIMIZERS)
        raise ValueError(f"{source}: [optimizer] key 'name' must be one of "
                         f"{', '.join(OPTIMIZERS)}; got {name!r}.{hint}")
    schedule = out["optimizer"]["schedule"]
    if schedule not in SCHEDULES:
        raise ValueError(f"{source}: [optimizer] key 'schedule' must be one of "
                         f"{', '.join(SCHEDULES)}; got {schedule!r}")
    if schedule != "constant" and "decay_steps" not in out["optimizer"]:
        raise ValueError(f"{source}: [optimizer] key 'schedule' = {schedule!r} needs the key "
                         f"'decay_steps' (a positive integer) as well")
    return out

