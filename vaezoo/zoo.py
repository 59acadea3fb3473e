"""The zoo: list, build and load VAEs by name.

Entries are data, never code (keras-hub's presets; pythae's ``auto_model.py``
if-chain is the counter-example):

* ``zoo_configs/<name>.toml`` is an entry's recipe (see ``vaezoo.config``):
  ``build(name)`` turns it into an untrained model.
* ``vaezoo/pretrained/<name>/`` is a pretrained entry, discovered by scanning
  the folder for ``metadata.json``. It holds

  - ``config.toml``: the resolved config the weights were trained with;
  - ``model.weights.h5``: the weights (Keras HDF5 weights, no pickle);
  - ``metadata.json``: the model card (dataset, split, binarization and its
    seed, epochs, training time and machine, test metrics, parameter count,
    versions) and, under ``files``, the sha256 and size of every file above;
  - ``samples.png``: a small grid of samples for the README.

``load(name)`` checks the sha256 of the config and the weights *before* either
is used, then builds the model from the shipped config and loads the weights;
nothing touches the network. ``load(path)`` does the same for a directory: a
pretrained-style directory (with ``metadata.json``) is verified the same way;
a run directory of ``vaezoo train`` (``config.toml`` plus ``model.weights.h5``
or ``model.keras``) is loaded as is (``.keras`` in Keras safe mode).

Example:
  >>> import vaezoo
  >>> {name: meta["pretrained"] for name, meta in vaezoo.list_models().items()}
  >>> model = vaezoo.load("mlp_vae_fashion_mnist")         # pretrained, verified
  >>> fresh = vaezoo.build("mlp_vae_fashion_mnist")        # same architecture, untrained
"""

import hashlib
import json
from pathlib import Path

from vaezoo import config as config_lib
from vaezoo.registry import close_matches

PRETRAINED_DIR = config_lib.PRETRAINED_DIR
METADATA_FILENAME = "metadata.json"
WEIGHTS_FILENAME = "model.weights.h5"
KERAS_FILENAME = "model.keras"
CONFIG_FILENAME = config_lib.CONFIG_FILENAME
SAMPLES_FILENAME = "samples.png"
#: Files whose checksum a pretrained entry must carry.
VERIFIED_FILES = (CONFIG_FILENAME, WEIGHTS_FILENAME)


class ChecksumError(ValueError):
    """A pretrained file does not match the sha256 recorded in its metadata."""


def sha256(path, chunk_size=1 << 20):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_metadata(directory):
    path = Path(directory) / METADATA_FILENAME
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: unreadable model card ({e}); the entry is damaged, "
                         f"reinstall vaezoo or re-create it with benchmarks/make_pretrained.py"
                         ) from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: a model card is a JSON object; got {type(meta).__name__}")
    return meta


def pretrained_entries():
    """``{name: directory}`` of the pretrained entries shipped in ``vaezoo/pretrained/``."""
    if not PRETRAINED_DIR.is_dir():
        return {}
    return {p.parent.name: p.parent for p in sorted(PRETRAINED_DIR.glob(f"*/{METADATA_FILENAME}"))
            if not p.parent.name.startswith((".", "_"))}


def _raw_config(name):
    """The merged (unvalidated) config of an entry: cheap, no TensorFlow import."""
    path = config_lib.resolve_path(name)
    return config_lib._load_raw(path, [])


def list_models():
    """Every zoo entry and its metadata.

    Returns:
      ``{name: metadata}`` sorted by name. Each metadata dict has at least
      ``description``, ``pretrained`` (bool), ``model_class`` and ``dataset``;
      pretrained entries add the model card, with ``metrics``
      (``test_log_likelihood`` in nats, ``test_log_likelihood_stderr``,
      ``num_importance_samples``, ``test_elbo`` and ``test_accuracy`` where the
      model classifies).

    Example:
      >>> {n: m["pretrained"] for n, m in vaezoo.list_models().items()}
    """
    pretrained = pretrained_entries()
    out = {}
    for name in sorted(set(config_lib.zoo_config_names()) | set(pretrained)):
        raw = _raw_config(name)
        entry = {
            "description": raw.get("description", ""),
            "pretrained": name in pretrained,
            "model_class": raw.get("model", {}).get("class"),
            "dataset": raw.get("data", {}).get("dataset", "fashion_mnist"),
        }
        if name in pretrained:
            card = _read_metadata(pretrained[name])
            entry.update({k: v for k, v in card.items() if k != "files"})
            entry["pretrained"] = True
            entry.setdefault("metrics", {})
            entry["path"] = str(pretrained[name])
        out[name] = entry
    return out


def build(name_or_config):
    """An untrained model from a zoo entry name, a config path or a config dict.

    The model is built for its data set's image shape (so ``summary()`` and
    ``load_weights`` work at once) and not compiled.

    Example:
      >>> model = vaezoo.build("conv_vae_fashion_mnist")
      >>> model.compile(optimizer="adam"); model.fit(train, epochs=1)
    """
    return config_lib.model_from_config(config_lib.load_config(name_or_config))


def verify(directory, metadata=None):
    """Check every file listed in the card's ``files`` against its sha256.

    Raises ChecksumError (a ValueError) on a missing file, a size or a digest
    mismatch, or a card that lists no checksum for the config or the weights.
    """
    directory = Path(directory)
    meta = metadata if metadata is not None else _read_metadata(directory)
    files = meta.get("files")
    if not isinstance(files, dict):
        raise ChecksumError(f"{directory / METADATA_FILENAME}: no 'files' table with sha256 "
                            f"checksums; refusing to load unverified weights")
    for required in VERIFIED_FILES:
        if required not in files:
            raise ChecksumError(f"{directory / METADATA_FILENAME}: no sha256 for {required}; "
                                f"refusing to load unverified files")
    for filename, record in files.items():
        path = directory / filename
        if Path(filename).name != filename:
            raise ChecksumError(f"{directory / METADATA_FILENAME}: file name {filename!r} is not "
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


def _load_weights(model, path):
    from vaezoo import validation
    try:
        validation.load_weights(model, path, lambda p: model.load_weights(str(p)))
    except (ValueError, FileNotFoundError):
        raise
    except Exception as e:  # h5py / Keras raise many types for bad files
        raise ValueError(f"{path}: cannot load these weights into {type(model).__name__} "
                         f"({type(e).__name__}: {str(e)[:300]}). The file is damaged or holds "
                         f"weights of another architecture than its config.toml.") from None
    return model


def _load_directory(directory):
    directory = Path(directory)
    if (directory / METADATA_FILENAME).is_file():
        meta = _read_metadata(directory)
        verify(directory, meta)                      # before anything is parsed
        model = config_lib.model_from_config(config_lib.load_config(directory / CONFIG_FILENAME))
        return _load_weights(model, directory / WEIGHTS_FILENAME)
    # A run directory of `vaezoo train`: no card, so nothing to verify against.
    weights, keras_file = directory / WEIGHTS_FILENAME, directory / KERAS_FILENAME
    if (directory / CONFIG_FILENAME).is_file() and weights.is_file():
        model = config_lib.model_from_config(config_lib.load_config(directory / CONFIG_FILENAME))
        return _load_weights(model, weights)
    if keras_file.is_file():
        from vaezoo import validation
        return validation.load_model(keras_file, safe_mode=True)
    raise ValueError(f"{directory}: not a vaezoo model directory; expected {METADATA_FILENAME} "
                     f"(a pretrained entry) or {CONFIG_FILENAME} with {WEIGHTS_FILENAME}, or "
                     f"{KERAS_FILENAME} (a `vaezoo train` run)")


def load(name_or_dir):
    """A pretrained model, offline, its files verified by sha256 before use.

    Args:
      name_or_dir: a pretrained entry name (see ``list_models()``), a directory
        (a pretrained-style entry or a run directory written by ``vaezoo train``),
        or a ``.keras`` file written by ``model.save``.

    Returns:
      the model with its weights (built; not compiled, except a ``.keras`` file's
      model, which comes back compiled as it was saved).

    Raises:
      ValueError: unknown name (with close matches), an entry without weights
        (use ``build``), a damaged directory; ``ChecksumError`` (a ValueError)
        when a file does not match its recorded sha256.

    Example:
      >>> model = vaezoo.load("mlp_vae_fashion_mnist")
      >>> images = model.sample(16)
    """
    text = str(name_or_dir)
    path = Path(text).expanduser()
    pretrained = pretrained_entries()
    if text in pretrained and not isinstance(name_or_dir, Path):
        return _load_directory(pretrained[text])
    if path.is_dir():
        return _load_directory(path)
    if path.suffix == ".keras":
        from vaezoo import validation
        return validation.load_model(path, safe_mode=True)
    if "/" in text or "\\" in text or text.startswith("."):
        raise ValueError(f"{text!r} is not a directory; give a pretrained entry name "
                         f"({', '.join(pretrained) or 'none shipped'}), a run directory or a "
                         f".keras file")
    if text in config_lib.zoo_config_names():
        raise ValueError(
            f"zoo entry {text!r} has no pretrained weights shipped. Pretrained entries: "
            f"{', '.join(pretrained) or '(none)'}. Use vaezoo.build({text!r}) for an untrained "
            f"model, or train it with `vaezoo train {text}` and vaezoo.load(<run dir>).")
    hint = close_matches(text, set(pretrained) | set(config_lib.zoo_config_names()))
    hint = f" Did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
    raise ValueError(f"unknown zoo entry {text!r}.{hint} Pretrained entries: "
                     f"{', '.join(pretrained) or '(none)'}; all entries: vaezoo.list_models().")


def write_entry(model, cfg, directory, metadata=None, samples_png=None):
    """Write a pretrained-style entry: config, weights, card with checksums.

    The directory is written next to its final place and renamed into it, so a
    crash never leaves a half-written entry under the final name.

    Args:
      model: a built vaezoo model.
      cfg: its config (a dict as ``load_config`` returns; the image shape is added).
      directory: the entry directory to create (its name is the entry name).
      metadata: the model card (dataset, metrics, ...); ``name``, ``files`` and
        ``num_parameters`` are filled in here.
      samples_png: optional path of a PNG to ship as ``samples.png``.

    Returns:
      the directory (a Path).
    """
    import os
    import shutil
    directory = Path(directory)
    cfg = config_lib.load_config(cfg)
    cfg["name"] = directory.name
    cfg["model"]["image_shape"] = [int(d) for d in model.image_shape]
    tmp = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    config_lib.save_config(cfg, tmp / CONFIG_FILENAME)
    if getattr(model, "optimizer", None) is not None:
        # A compiled model's weights file also holds the optimizer state (3x the size for
        # Adam); ship the model's weights only, through an uncompiled copy.
        clone = config_lib.model_from_config(cfg)
        clone.set_weights(model.get_weights())
        model = clone
    model.save_weights(str(tmp / WEIGHTS_FILENAME))
    if samples_png is not None:
        shutil.copyfile(samples_png, tmp / SAMPLES_FILENAME)
    card = dict(metadata or {})
    card["name"] = directory.name
    card.setdefault("description", cfg.get("description", ""))
    card["num_parameters"] = int(model.count_params())
    card["files"] = {f.name: {"sha256": sha256(f), "bytes": f.stat().st_size}
                     for f in sorted(tmp.iterdir()) if f.name != METADATA_FILENAME}
    (tmp / METADATA_FILENAME).write_text(json.dumps(card, indent=2, sort_keys=False) + "\n",
                                         encoding="utf-8")
    if directory.exists():
        old = directory.with_name(f".{directory.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, directory)
    return directory


__all__ = ["list_models", "build", "load", "verify", "sha256", "pretrained_entries",
           "write_entry", "ChecksumError"]
