"""Presets: a trained model as a folder of data files (keras-hub's word and verbs).

A preset is a directory holding

- ``config.toml``: the resolved zoo config (see ``vaezoo.config``): ``[model]``
  builds the model, ``[optimizer]`` compiles it, ``[data]`` names its data set;
- ``model.weights.h5``: the weights (Keras HDF5, no pickle);
- ``metadata.json``: the model card (dataset, split, binarization, metrics,
  versions) and, under ``files``, the sha256 and size of every other file; a
  compiled model's saver also stores its Keras optimizer config there
  (``keras_optimizer``), so a fine-tuning session resumes with the same one.

A model that is not one configurable family (a recipe such as ``M1M2``, two
trained stages) is a preset of one file instead: ``model.keras`` (Keras safe
mode) beside the card, whose ``files`` carry its sha256 (``write_keras``).

The pretrained zoo entries (``vaezoo/pretrained/<name>/``) are presets, and so
is any folder ``model.save_to_preset(dir)`` writes. A run directory of
``vaezoo train`` (config and weights, no card) loads too, unverified.

Loading checks every sha256 of the card *before* a file is parsed, builds the
model from its config, loads the weights and compiles it with the stored
optimizer (else the config's ``[optimizer]``), so it is ready to ``fit``
(fine-tune) or ``evaluate``.

This module sits below the models: ``VAE.from_preset`` / ``save_to_preset``
call it, and it imports no model (the class named by ``[model] class`` is found
through ``vaezoo.config`` when a preset is loaded).

Example:
  >>> model = vaezoo.MLPVAE.from_preset("mlp_vae_fashion_mnist")
  >>> model.fit(train_batches, epochs=1)                 # fine-tune: already compiled
  >>> model.save_to_preset("my_mlp")
  >>> again = vaezoo.VAE.from_preset("my_mlp")            # any family
"""

import hashlib
import json
import shutil
from pathlib import Path

from vaezoo import config as config_lib
from vaezoo import io
from vaezoo.config import files as config_files
from vaezoo.io import CONFIG_FILE, KERAS_FILE, METADATA_FILE, SAMPLES_FILE, WEIGHTS_FILE
from vaezoo.registry import did_you_mean

#: Files whose checksum a preset's card must carry.
VERIFIED_FILES = (CONFIG_FILE, WEIGHTS_FILE)
#: ... or, for a preset of one ``.keras`` file (a recipe's model), this one.
VERIFIED_KERAS_FILES = (KERAS_FILE,)
#: ``get_config`` keys that are Keras' own, not constructor arguments of a config.
_KERAS_KEYS = ("name", "trainable", "dtype")


class ChecksumError(ValueError):
    """A preset file does not match the sha256 recorded in its metadata."""


def sha256(path):
    """Hex sha256 of a file (``hashlib.file_digest``: read in chunks)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_metadata(directory):
    """The model card (``metadata.json``) of a preset directory, as a dict."""
    path = Path(directory) / METADATA_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: unreadable model card ({e}); the entry is damaged, "
                         f"reinstall vaezoo or re-create it with tools/make_pretrained.py"
                         ) from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: a model card is a JSON object; got {type(meta).__name__}")
    return meta


def pretrained_entries():
    """``{name: directory}`` of the pretrained entries shipped in ``vaezoo/pretrained/``."""
    root = config_files.PRETRAINED_DIR      # read at call time: one place to point elsewhere
    if not root.is_dir():
        return {}
    return {p.parent.name: p.parent for p in sorted(root.glob(f"*/{METADATA_FILE}"))
            if not p.parent.name.startswith((".", "_"))}


def is_keras_preset(files):
    """Whether a card's ``files`` are those of a preset of one ``.keras`` file (no config)."""
    return KERAS_FILE in files and CONFIG_FILE not in files


def verify(directory, metadata=None):
    """Check every file listed in the card's ``files`` against its sha256.

    Raises ChecksumError (a ValueError) on a missing file, a size or a digest
    mismatch, or a card that lists no checksum for the config or the weights.
    """
    directory = Path(directory)
    meta = metadata if metadata is not None else read_metadata(directory)
    files = meta.get("files")
    if not isinstance(files, dict):
        raise ChecksumError(f"{directory / METADATA_FILE}: no 'files' table with sha256 "
                            f"checksums; refusing to load unverified weights")
    for required in VERIFIED_KERAS_FILES if is_keras_preset(files) else VERIFIED_FILES:
        if required not in files:
            raise ChecksumError(f"{directory / METADATA_FILE}: no sha256 for {required}; "
                                f"refusing to load unverified files")
    for filename, record in files.items():
        path = directory / filename
        if Path(filename).name != filename:
            raise ChecksumError(f"{directory / METADATA_FILE}: file name {filename!r} is not "
                                f"a plain name inside the entry directory")
        if not path.is_file():
            raise ChecksumError(f"{path} is missing; the entry {directory.name!r} is incomplete")
        expected = record.get("sha256") if isinstance(record, dict) else record
        size = record.get("bytes") if isinstance(record, dict) else None
        if size is not None and path.stat().st_size != size:
            raise ChecksumError(
                f"{path}: size {path.stat().st_size} bytes, but the model card says {size}; the "
                f"file is truncated or replaced. Refusing to load it: reinstall vaezoo or "
                f"re-create the entry.")
        actual = sha256(path)
        if actual != expected:
            raise ChecksumError(
                f"{path}: sha256 {actual} does not match the model card's {expected}; the "
                f"file is corrupted or was modified. Refusing to load it: reinstall vaezoo or "
                f"re-create the entry.")
    return True


# ---------------------------------------------------------------------- reading
def resolve(preset):
    """The directory of a preset: a pretrained entry name or a directory path.

    Raises ValueError naming the pretrained entries (with close matches) for an
    unknown name, and saying ``vaezoo.build`` for a zoo entry without weights.
    """
    text = str(preset)
    pretrained = pretrained_entries()
    if text in pretrained and not isinstance(preset, Path):
        return pretrained[text]
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    shipped = ", ".join(pretrained) or "(none)"
    if isinstance(preset, Path) or "/" in text or "\\" in text or text.startswith("."):
        raise ValueError(f"{text!r} is not a directory; give a pretrained entry name "
                         f"({shipped}), a preset or run directory, or a .keras file")
    if text in config_lib.zoo_config_names():
        raise ValueError(
            f"zoo entry {text!r} has no pretrained weights shipped. Pretrained entries: "
            f"{shipped}. Use vaezoo.build({text!r}) for an untrained model, or train it with "
            f"`vaezoo train {text}` and vaezoo.load(<run dir>).")
    hint = did_you_mean(text, set(pretrained) | set(config_lib.zoo_config_names()))
    raise ValueError(f"unknown zoo entry {text!r}.{hint} Pretrained entries: {shipped}; all "
                     f"entries: vaezoo.list_models().")


def read(preset):
    """``(directory, config, metadata)`` of a preset, its files verified first.

    ``metadata`` is None for a run directory of ``vaezoo train`` (no card, so
    nothing to verify against), and ``config`` is None for a run directory
    holding only ``model.keras``.
    """
    directory = resolve(preset)
    if (directory / METADATA_FILE).is_file():
        meta = read_metadata(directory)
        verify(directory, meta)                      # before anything is parsed
        if is_keras_preset(meta["files"]):
            return directory, None, meta
        return directory, config_lib.load_config(directory / CONFIG_FILE), meta
    if (directory / CONFIG_FILE).is_file() and (directory / WEIGHTS_FILE).is_file():
        return directory, config_lib.load_config(directory / CONFIG_FILE), None
    if (directory / KERAS_FILE).is_file():
        return directory, None, None
    raise ValueError(f"{directory}: not a vaezoo model directory; expected {METADATA_FILE} "
                     f"(a preset or pretrained entry) or {CONFIG_FILE} with "
                     f"{WEIGHTS_FILE}, or {KERAS_FILE} (a `vaezoo train` run)")


def _wrong_family(found, family, preset):
    return ValueError(
        f"preset {str(preset)!r} holds a {found}, which is not a {family.__name__}; load it "
        f"with vaezoo.{found}.from_preset({str(preset)!r}), or with "
        f"vaezoo.VAE.from_preset / vaezoo.load, which return whichever family a preset holds")


def _load_weights(model, path):
    try:
        model.load_weights(str(path))  # VAE.load_weights: clear errors for bad files
    except (ValueError, FileNotFoundError):
        raise
    except Exception as e:  # h5py / Keras raise many types for bad files
        raise ValueError(f"{path}: cannot load these weights into {type(model).__name__} "
                         f"({type(e).__name__}: {str(e)[:300]}). The file is damaged or holds "
                         f"weights of another architecture than its config.toml.") from None
    return model


def compile_for(model, cfg=None, metadata=None):
    """Compile ``model`` with the optimizer a preset stores, for fine-tuning or evaluating.

    The card's ``keras_optimizer`` (written by ``save_to_preset`` for a compiled
    model) comes first, then the config's ``[optimizer]`` table, then Keras'
    default (``compile()`` with no argument).
    """
    import keras  # why: `vaezoo list` imports presets without TensorFlow
    stored = (metadata or {}).get("keras_optimizer")
    if stored is not None:
        model.compile(optimizer=keras.optimizers.deserialize(stored))
    elif cfg is not None and cfg.get("optimizer"):
        model.compile(optimizer=config_lib.optimizer_from_config(cfg))
    else:
        model.compile()
    return model


def load(preset, family=None, compile=True):
    """The model of a preset, weights loaded and (by default) compiled.

    Args:
      preset: a pretrained entry name or a directory (a preset written by
        ``save_to_preset`` or ``write``, a pretrained entry, a ``vaezoo train``
        run directory).
      family: a model class; a preset of a class that is not a subclass of it
        is a ValueError naming the class to call instead.
      compile: compile with the stored optimizer (see ``compile_for``).
    """
    directory, cfg, meta = read(preset)
    if cfg is None:                    # a .keras preset, or a run directory with model.keras
        return load_keras_file(directory / KERAS_FILE, family, compile, preset)
    found = config_lib.model_class(cfg["model"]["class"], str(directory / CONFIG_FILE))
    if family is not None and not issubclass(found, family):
        raise _wrong_family(found.__name__, family, preset)
    model = _load_weights(config_lib.model_from_config(cfg), directory / WEIGHTS_FILE)
    # Remembered so that save_to_preset keeps the data set and recipe of the preset.
    model.__dict__["_vaezoo_preset_config"] = cfg   # untracked by Keras
    return compile_for(model, cfg, meta) if compile else model


def load_keras_file(path, family=None, compile=True, preset=None):
    """A ``.keras`` file's model (Keras safe mode), compiled as it was saved, or with
    Keras' default optimizer if it was saved uncompiled (unless ``compile=False``)."""
    from vaezoo import saving  # why: `vaezoo list` imports presets without TensorFlow
    model = saving.load_model(path, safe_mode=True)
    if family is not None and not isinstance(model, family):
        raise _wrong_family(type(model).__name__, family, preset or path)
    if compile and getattr(model, "optimizer", None) is None:
        compile_for(model)
    return model


# ---------------------------------------------------------------------- writing
def model_table(model):
    """The ``[model]`` table of a config that rebuilds ``model``: class + ``get_config()``."""
    table = {"class": type(model).__name__}
    table.update({k: _plain(v) for k, v in model.get_config().items()
                  if k not in _KERAS_KEYS and v is not None})     # TOML has no null
    return table


def _plain(value):
    """Plain dicts and lists (Keras hands back tracked ones, tuples for shapes)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def write(model, cfg, directory, metadata=None, samples_png=None):
    """Write a preset: config, weights, and a card with the files' checksums.

    The directory is written next to its final place and renamed into it, so a
    crash never leaves a half-written preset under the final name.

    Args:
      model: a built vaezoo model.
      cfg: its config (a dict as ``load_config`` returns; the image shape is added).
      directory: the preset directory to create (its name is the entry name).
      metadata: the model card (dataset, metrics, ...); ``name``, ``files`` and
        ``num_parameters`` are filled in here.
      samples_png: optional path of a PNG to ship as ``samples.png``.

    Returns:
      the directory (a Path).
    """
    directory = Path(directory)
    cfg = config_lib.load_config(cfg)
    cfg["name"] = directory.name
    cfg["model"]["image_shape"] = [int(d) for d in model.image_shape]
    if getattr(model, "optimizer", None) is not None:
        # A compiled model's weights file also holds the optimizer state (3x the size for
        # Adam); ship the model's weights only, through an uncompiled copy.
        clone = type(model).from_config(model.get_config())
        clone.set_weights(model.get_weights())
        model = clone

    def fill(tmp):
        config_lib.save_config(cfg, tmp / CONFIG_FILE)
        model.save_weights(str(tmp / WEIGHTS_FILE))
        if samples_png is not None:
            shutil.copyfile(samples_png, tmp / SAMPLES_FILE)
        card = dict(metadata or {})
        card["name"] = directory.name
        card.setdefault("description", cfg.get("description", ""))
        card.setdefault("model_class", cfg["model"]["class"])
        card.setdefault("dataset", cfg["data"]["dataset"])
        card["num_parameters"] = int(model.count_params())
        _write_card(tmp, card)

    return io.atomic_replace_dir(directory, fill)


def _write_card(directory, card):
    """``metadata.json``: the card, with the sha256 and size of every other file."""
    card["files"] = {f.name: {"sha256": sha256(f), "bytes": f.stat().st_size}
                     for f in sorted(directory.iterdir()) if f.name != METADATA_FILE}
    io.write_json(directory / METADATA_FILE, card)


def _uncompiled(config):
    """A serialized Keras object without the ``compile_config`` of any nested model."""
    if isinstance(config, dict):
        return {k: _uncompiled(v) for k, v in config.items() if k != "compile_config"}
    if isinstance(config, list):
        return [_uncompiled(v) for v in config]
    return config


def write_keras(model, directory, metadata, samples_png=None):
    """Write a preset of one ``.keras`` file: for a model that is not one configurable
    family (e.g. ``vaezoo.M1M2``, whose two stages train one after the other).

    Args:
      model: a built Keras model whose classes Keras can deserialize in safe mode.
      directory: the preset directory to create (its name is the entry name), replaced
        atomically if it exists.
      metadata: the model card; it must give ``description``, ``model_class`` and
        ``dataset`` (``vaezoo.list_models`` reads them there, there is no config).
        ``name``, ``files`` and ``num_parameters`` are filled in here.
      samples_png: optional PNG to ship as ``samples.png``.

    Returns:
      the directory (a Path).
    """
    directory = Path(directory)
    missing = [k for k in ("description", "model_class", "dataset") if not metadata.get(k)]
    if missing:
        raise ValueError(f"a .keras preset's card needs {', '.join(missing)} (there is no "
                         f"config.toml to read them from)")

    import keras  # why: `vaezoo list` imports presets without TensorFlow
    # The model's weights only (no optimizer state of its compiled stages): an uncompiled
    # copy rebuilt from its config.
    clone = keras.saving.deserialize_keras_object(
        _uncompiled(keras.saving.serialize_keras_object(model)))
    clone.set_weights(model.get_weights())

    def fill(tmp):
        clone.save(str(tmp / KERAS_FILE))
        if samples_png is not None:
            shutil.copyfile(samples_png, tmp / SAMPLES_FILE)
        card = dict(metadata, name=directory.name, num_parameters=int(clone.count_params()))
        _write_card(tmp, card)

    return io.atomic_replace_dir(directory, fill)


def save(model, directory, config=None, metadata=None):
    """``model.save_to_preset``: write ``model`` as a preset ``from_preset`` reads back.

    Args:
      model: a built vaezoo model (compiled or not).
      directory: the preset directory to write (replaced atomically if it exists).
      config: optional config tables to keep beside ``[model]`` (``data``,
        ``optimizer``, ``training``, ``evaluation``, ``description``); default:
        those of the preset the model was loaded from, else the schema defaults.
      metadata: extra fields for the model card.
    """
    if not getattr(model, "built", False) or getattr(model, "image_shape", None) is None:
        raise ValueError(f"save_to_preset needs a built model; build this "
                         f"{type(model).__name__} first (give image_shape=, or call it on a "
                         f"batch / fit it)")
    base = config if config is not None else getattr(model, "_vaezoo_preset_config", None)
    cfg = {"model": model_table(model)}
    cfg.update({k: v for k, v in (base or {}).items() if k not in ("model", "name")})
    meta = dict(metadata or {})
    if getattr(model, "optimizer", None) is not None:
        import keras  # why: `vaezoo list` imports presets without TensorFlow
        meta.setdefault("keras_optimizer", keras.optimizers.serialize(model.optimizer))
    return write(model, cfg, directory, metadata=meta)


__all__ = ["load", "load_keras_file", "read", "resolve", "save", "write", "write_keras",
           "verify", "sha256",
           "compile_for", "read_metadata", "pretrained_entries", "model_table", "ChecksumError"]
