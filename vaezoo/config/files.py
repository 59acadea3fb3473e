"""Config files: where they live, how they are read, composed, loaded and written.

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

Safety. Files are read with ``tomllib`` (data only, nothing executed) and
written with ``tomli_w``; no pickle, YAML tags or ``eval``.
"""

import copy
import re
import tomllib
from pathlib import Path

import tomli_w

from vaezoo import io
from vaezoo.config.schema import validate
from vaezoo.io import CONFIG_FILE
from vaezoo.registry import did_you_mean


def _zoo_config_dir():
    """``<repo>/zoo_configs`` in a source checkout (editable install); in an installed
    wheel, the copy packaged as ``vaezoo/zoo_configs`` (pyproject maps it there)."""
    package = Path(__file__).resolve().parents[1]          # vaezoo/
    for candidate in (package.parent / "zoo_configs", package / "zoo_configs"):
        if candidate.is_dir():
            return candidate
    return package.parent / "zoo_configs"


#: Where the zoo entries live: ``<repo>/zoo_configs`` (or its packaged copy).
ZOO_CONFIG_DIR = _zoo_config_dir()
#: Pretrained entries ship a copy of their config as ``<dir>/<name>/config.toml``.
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"


# ---------------------------------------------------------------------- resolution
def zoo_config_names():
    """Names of the entries in ``zoo_configs/`` and of pretrained entries, sorted."""
    names = {p.stem for p in ZOO_CONFIG_DIR.glob("*.toml")} if ZOO_CONFIG_DIR.is_dir() else set()
    if PRETRAINED_DIR.is_dir():
        names |= {p.parent.name for p in PRETRAINED_DIR.glob(f"*/{CONFIG_FILE}")
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
        candidate = candidate / CONFIG_FILE
        if not candidate.is_file():
            raise ValueError(f"directory {candidate.parent} holds no {CONFIG_FILE}; "
                             f"give a zoo entry name or the path of a .toml config file")
    if candidate.is_file():
        return candidate.resolve()
    if isinstance(name_or_path, Path) or _looks_like_path(text):
        raise ValueError(f"config file {text!r} does not exist"
                         + (f" (looked in {candidate.parent})" if relative_to else ""))
    for path in (ZOO_CONFIG_DIR / f"{text}.toml", PRETRAINED_DIR / text / CONFIG_FILE):
        if path.is_file():
            return path.resolve()
    names = zoo_config_names()
    hint = did_you_mean(text, names)
    raise ValueError(f"unknown zoo entry {text!r}.{hint} Known entries: "
                     f"{', '.join(names) or '(none)'}; or give the path of a .toml file.")


def read_toml(path):
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


def load_raw(path, chain=()):
    """The merged, unvalidated config of a file: its ``base`` chain composed (``chain``:
    the files that led here, to find cycles)."""
    chain = list(chain)
    if path in chain:
        cycle = " -> ".join(str(p) for p in chain + [path])
        raise ValueError(f"{chain[-1]}: key 'base' makes a cycle of configs: {cycle}. "
                         f"Point 'base' at a config that does not (directly or indirectly) "
                         f"inherit from this one.")
    raw = read_toml(path)
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
    base_cfg = load_raw(base_path, chain + [path])
    model = raw.get("model")
    if isinstance(model, dict) and "class" in model and isinstance(base_cfg.get("model"), dict) \
            and base_cfg["model"].get("class") != model["class"]:
        base_cfg = {k: v for k, v in base_cfg.items() if k != "model"}
    merged = deep_merge(base_cfg, raw)
    merged.pop("base", None)
    return merged


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
            cfg = deep_merge(load_raw(base_path, []), cfg)
        out = validate(cfg, source)
        out.setdefault("name", "custom")
        out.setdefault("description", "")
        return out
    path = resolve_path(name_or_path)
    cfg = load_raw(path, [])
    # The entry's own name, not its base's (a base's `name` key is not inherited).
    raw_name = read_toml(path).get("name")
    cfg.pop("name", None)
    out = validate(cfg, str(path))
    if raw_name is not None:
        out["name"] = raw_name
    elif path.name == CONFIG_FILE:
        out["name"] = path.parent.name
    else:
        out["name"] = path.stem
    out.setdefault("description", "")
    return out


def _without_none(value):
    """``value`` with every ``None`` left out of its tables and arrays (TOML has no null)."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value if v is not None]
    return value


def dump_config(cfg):
    """TOML text of a config dict (``None`` values are left out: TOML has no null).

    ``load_config`` of the written file gives back the same config.
    """
    return tomli_w.dumps(_without_none(cfg))


def save_config(cfg, path):
    """Write ``dump_config(cfg)`` to ``path`` atomically (``vaezoo.io.write_text``)."""
    return io.write_text(path, dump_config(cfg))
