"""Zoo configs: one TOML file per entry, parsed safely, composed, validated.

A zoo entry is a data file ``zoo_configs/<name>.toml`` (see the README)::

    description = "MLP VAE 784-500-500-50 with a Bernoulli decoder"
    [model]                     # class = a vaezoo model; other keys = its constructor args
    class = "MLPVAE"
    latent_dim = 50
    [data]                      # dataset, splits, batching
    [optimizer]                 # name, learning rate, clipping, schedule
    [training]                  # epochs, seed
    [evaluation]                # importance samples of the test log-likelihood

Composition. ``base = "other_entry"`` (a zoo name, or a path relative to the
file) loads the base first and deep-merges this file over it: tables merge key
by key, any other value replaces the base's. One exception: a ``[model]`` whose
``class`` differs from the base's replaces the base's ``[model]`` whole (the
arguments of another family do not carry over). Chains are allowed, cycles are
an error. So a variant states only what differs from its base (the habit of
``google/flax`` ``examples/imagenet/configs``).

Safety. Files are read with ``tomllib`` (data only, nothing executed); no
pickle, YAML tags or ``eval``.

Validation. Every top-level key and every key of ``[data]``,
``[optimizer]``, ``[training]`` and ``[evaluation]`` is checked against
``SCHEMA`` (name and type); ``[model]`` keys are checked against the
constructor signature of the model class (its own arguments and those of the
base ``VAE`` it forwards ``**kwargs`` to), with the type taken from the
argument's default. A problem is a ``ValueError`` naming the file, the table
and the key, with close matches and the valid names. Adding a key that some
engineer needs in a table is one line in ``SCHEMA``.

Example:
  >>> from vaezoo import config
  >>> cfg = config.load_config("mlp_vae_fashion_mnist")
  >>> cfg["model"]["class"], cfg["data"]["batch_size"]
  ('MLPVAE', 128)
  >>> model = config.model_from_config(cfg)        # untrained, built for 28x28x1
"""

import copy
import inspect
import math
import re
import tomllib
from pathlib import Path

from vaezoo.registry import close_matches

def _zoo_config_dir():
    """``<repo>/zoo_configs`` in a source checkout (editable install); in an installed
    wheel, the copy packaged as ``vaezoo/zoo_configs`` (pyproject maps it there)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "zoo_configs", here / "zoo_configs"):
        if candidate.is_dir():
            return candidate
    return here.parent / "zoo_configs"


#: Where the zoo entries live: ``<repo>/zoo_configs`` (or its packaged copy).
ZOO_CONFIG_DIR = _zoo_config_dir()
#: Pretrained entries ship a copy of their config as ``<dir>/<name>/config.toml``.
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
CONFIG_FILENAME = "config.toml"

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


# ---------------------------------------------------------------------- resolution
def zoo_config_names():
    """Names of the entries in ``zoo_configs/`` and of pretrained entries, sorted."""
    names = {p.stem for p in ZOO_CONFIG_DIR.glob("*.toml")} if ZOO_CONFIG_DIR.is_dir() else set()
    if PRETRAINED_DIR.is_dir():
        names |= {p.parent.name for p in PRETRAINED_DIR.glob(f"*/{CONFIG_FILENAME}")
                  if not p.parent.name.startswith((".", "_"))}
    return sorted(names)


def _looks_like_path(text):
    return text.endswith(".toml") or "/" in text or "\\" in text or text.startswith(".")


def resolve_path(name_or_path, relative_to=None):
    """The TOML file of a zoo entry name, or the file a path points at.

    Names are looked up in ``zoo_configs/`` first, then in the copy shipped with a
    pretrained entry (``vaezoo/pretrained/<name>/config.toml``). A directory means
    its ``config.toml`` (so a run directory of ``vaezoo train`` works too).
    """
    text = str(name_or_path)
    candidate = Path(text).expanduser()
    if relative_to is not None and not candidate.is_absolute() and _looks_like_path(text):
        candidate = Path(relative_to).parent / candidate
    if candidate.is_dir():
        candidate = candidate / CONFIG_FILENAME
        if not candidate.is_file():
            raise ValueError(f"directory {candidate.parent} holds no {CONFIG_FILENAME}; "
                             f"give a zoo entry name or the path of a .toml config file")
    if candidate.is_file():
        return candidate.resolve()
    if isinstance(name_or_path, Path) or _looks_like_path(text):
        raise ValueError(f"config file {text!r} does not exist"
                         + (f" (looked in {candidate.parent})" if relative_to else ""))
    for path in (ZOO_CONFIG_DIR / f"{text}.toml", PRETRAINED_DIR / text / CONFIG_FILENAME):
        if path.is_file():
            return path.resolve()
    names = zoo_config_names()
    hint = close_matches(text, names)
    hint = f" Did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
    raise ValueError(f"unknown zoo entry {text!r}.{hint} Known entries: "
                     f"{', '.join(names) or '(none)'}; or give the path of a .toml file.")


def _read_toml(path):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a UTF-8 text file ({e}); a zoo config is TOML") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        where = ""
        match = re.search(r"line (\d+)", str(e))
        if match:
            lineno = int(match.group(1))
            lines = text.splitlines()
            if 1 <= lineno <= len(lines):
                where = f" in line {lineno}: {lines[lineno - 1].strip()!r}"
        raise ValueError(f"{path}: TOML syntax error{where} ({e}). Fix the syntax of that "
                         f"line (strings need quotes, arrays brackets, one key = value "
                         f"per line).") from None


def deep_merge(base, override):
    """``override`` over ``base``: tables merge recursively, other values replace."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _load_raw(path, chain):
    if path in chain:
        cycle = " -> ".join(str(p) for p in chain + [path])
        raise ValueError(f"{chain[-1]}: key 'base' makes a cycle of configs: {cycle}. "
                         f"Point 'base' at a config that does not (directly or indirectly) "
                         f"inherit from this one.")
    raw = _read_toml(path)
    base = raw.get("base")
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ValueError(f"{path}: key 'base' must be a string (a zoo entry name or a path); "
                         f"got {type(base).__name__} {base!r}")
    try:
        base_path = resolve_path(base, relative_to=path)
    except ValueError as e:
        raise ValueError(f"{path}: key 'base': {e}") from None
    base_cfg = _load_raw(base_path, chain + [path])
    model = raw.get("model")
    if isinstance(model, dict) and "class" in model and isinstance(base_cfg.get("model"), dict) \
            and base_cfg["model"].get("class") != model["class"]:
        base_cfg = {k: v for k, v in base_cfg.items() if k != "model"}
    merged = deep_merge(base_cfg, raw)
    merged.pop("base", None)
    return merged


# ---------------------------------------------------------------------- validation
def _type_ok(value, expected):
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
    hint = close_matches(key, valid)
    hint = f" Did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
    where = f"[{table}] key" if table else "top-level key"
    return ValueError(f"{source}: unknown {where} {key!r}.{hint} Valid keys: "
                      f"{', '.join(sorted(valid))}.")


def model_classes():
    """``{name: class}`` of the vaezoo model families (subclasses of ``VAE``)."""
    from vaezoo import models
    from vaezoo.models.base import VAE
    found = {}
    for name in dir(models):
        obj = getattr(models, name)
        if inspect.isclass(obj) and issubclass(obj, VAE):
            found[name] = obj
    return found


def model_class(name, source="<config>"):
    """The vaezoo model class called ``name`` (ValueError with close matches)."""
    classes = model_classes()
    if isinstance(name, str) and name in classes:
        return classes[name]
    hint = close_matches(name, classes)
    hint = f" Did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
    raise ValueError(f"{source}: [model] key 'class' must name a vaezoo model class, one of "
                     f"{', '.join(sorted(classes))}; got {name!r}.{hint}")


def constructor_args(cls):
    """``{argument: default}`` accepted by ``cls(...)``, following ``**kwargs`` up the MRO.

    Stops at the first ``__init__`` without ``**kwargs`` or at ``keras.Model``
    (whose own keyword arguments, except ``name``, make no sense in a config).
    """
    import keras
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
            hint = close_matches(key, args)
            hint = f" Did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
            raise ValueError(f"{source}: [model] key {key!r} is not an argument of "
                             f"{cls.__name__}.{hint} Valid keys: class, "
                             f"{', '.join(sorted(args))}.")
        expected = _model_arg_type(key, args[key])
        if expected is not None and not _type_ok(value, expected):
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
            if not _type_ok(value, expected):
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
        hint = close_matches(name, OPTIMIZERS)
        hint = f" Did you mean {hint[0]!r}?" if hint else ""
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


def load_config(name_or_path):
    """Load, compose and validate a zoo config.

    Args:
      name_or_path: a zoo entry name (``"mlp_vae_fashion_mnist"``), the path of a
        ``.toml`` file, a directory holding ``config.toml`` (a pretrained entry or
        a ``vaezoo train`` run), or an already loaded dict (validated again).

    Returns:
      a dict with the tables ``model``, ``data``, ``optimizer``, ``training``,
      ``evaluation`` (defaults filled in), ``description`` and ``name`` (the
      entry name, or the file's stem); ``base`` is merged away.

    Raises:
      ValueError: unknown entry (with close matches), missing file, TOML syntax
        error, unknown key, wrong type or a ``base`` cycle; the message names the
        file and the key.
    """
    if isinstance(name_or_path, dict):
        cfg = copy.deepcopy(name_or_path)
        source = f"config {cfg.get('name', '<dict>')!r}"
        if "base" in cfg:
            base_path = resolve_path(cfg.pop("base"))
            cfg = deep_merge(_load_raw(base_path, []), cfg)
        out = validate(cfg, source)
        out.setdefault("name", "custom")
        out.setdefault("description", "")
        return out
    path = resolve_path(name_or_path)
    cfg = _load_raw(path, [])
    # The entry's own name, not its base's (a base's `name` key is not inherited).
    raw_name = _read_toml(path).get("name")
    cfg.pop("name", None)
    out = validate(cfg, str(path))
    if raw_name is not None:
        out["name"] = raw_name
    elif path.name == CONFIG_FILENAME:
        out["name"] = path.parent.name
    else:
        out["name"] = path.stem
    out.setdefault("description", "")
    return out


# ---------------------------------------------------------------------- building
def model_kwargs(cfg):
    """The constructor arguments of ``[model]`` (image shape filled in from the data set)."""
    kwargs = {k: copy.deepcopy(v) for k, v in cfg["model"].items() if k != "class"}
    if kwargs.get("image_shape") is None:
        from vaezoo import data
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
    import keras
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
    from vaezoo.optimizers import FusedAdam
    # "adam" is Keras' Adam; "fused_adam" opts into the same update in one kernel.
    classes = {"adam": keras.optimizers.Adam, "fused_adam": FusedAdam,
               "adamw": keras.optimizers.AdamW,
               "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop,
               "adamax": keras.optimizers.Adamax, "nadam": keras.optimizers.Nadam}
    kwargs = {k: v for k, v in opt.items() if v is not None}
    return classes[name](learning_rate=lr, **kwargs)


# ---------------------------------------------------------------------- writing
def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, int) or math.isfinite(value) else \
            ("nan" if value != value else ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return '"' + "".join(_toml_char(c) for c in value) + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = (f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None)
        return "{" + ", ".join(items) + "}"
    raise ValueError(f"cannot write {type(value).__name__} {value!r} to TOML")


def _toml_char(c):
    if c in ('"', "\\"):
        return "\\" + c
    if ord(c) < 0x20 or ord(c) == 0x7F:
        return f"\\u{ord(c):04x}"
    return c


def _toml_key(key):
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def dump_config(cfg):
    """TOML text of a config dict (``None`` values are left out: TOML has no null).

    ``load_config`` of the written file gives back the same config.
    """
    lines = []
    for key, value in cfg.items():
        if not isinstance(value, dict) and value is not None:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in cfg.items():
        if isinstance(value, dict):
            lines.append(f"\n[{_toml_key(key)}]")
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()
                         if v is not None)
    return "\n".join(lines).lstrip("\n") + "\n"


def save_config(cfg, path):
    """Write ``dump_config(cfg)`` to ``path`` atomically (temporary file, then rename)."""
    import os
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dump_config(cfg), encoding="utf-8")
    os.replace(tmp, path)
    return path


__all__ = ["SCHEMA", "ZOO_CONFIG_DIR", "load_config", "validate", "model_from_config",
           "optimizer_from_config", "dump_config", "save_config", "zoo_config_names",
           "resolve_path", "model_classes", "deep_merge"]
