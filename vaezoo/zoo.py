"""The zoo: list, build and load VAEs by name.

Entries are data, never code (keras-hub's presets; pythae's ``auto_model.py``
if-chain is the counter-example):

* ``zoo_configs/<name>.toml`` is an entry's recipe (see ``vaezoo.config``):
  ``build(name)`` turns it into an untrained model.
* ``vaezoo/pretrained/<name>/`` is a pretrained entry, discovered by scanning
  the folder for ``metadata.json``. It holds (or, for a model that is not one
  configurable family, such as ``M1M2``, ``model.keras`` instead of the config and
  the weights, see ``vaezoo.presets.write_keras``)

  - ``config.toml``: the resolved config the weights were trained with;
  - ``model.weights.h5``: the weights (Keras HDF5 weights, no pickle);
  - ``metadata.json``: the model card (dataset, split, binarization and its
    seed, epochs, training time and machine, test metrics, parameter count,
    versions) and, under ``files``, the sha256 and size of every file above;
  - ``samples.png``: a small grid of samples for the README.

An entry's folder is a *preset* (``vaezoo.presets``): ``load(name)`` checks
the sha256 of the config and the weights *before* either is used, builds the
model from the shipped config, loads the weights and compiles it with the
entry's optimizer, so it is ready to fine-tune or evaluate; nothing touches
the network. ``vaezoo.MLPVAE.from_preset(name)`` (any family class, or
``vaezoo.VAE`` for whichever family) is the same, and
``model.save_to_preset(dir)`` writes a folder both read back. ``load(path)``
does the same for a directory: a preset (with ``metadata.json``) is verified
the same way; a run directory of ``vaezoo train`` (``config.toml`` plus
``model.weights.h5`` or ``model.keras``) is loaded as is (``.keras`` in Keras
safe mode).

Example:
  >>> import vaezoo
  >>> {name: meta["pretrained"] for name, meta in vaezoo.list_models().items()}
  >>> model = vaezoo.load("mlp_vae_fashion_mnist")         # pretrained, verified, compiled
  >>> fresh = vaezoo.build("mlp_vae_fashion_mnist")        # same architecture, untrained
"""

from pathlib import Path

from vaezoo import config as config_lib
from vaezoo import presets
from vaezoo.presets import VERIFIED_FILES, ChecksumError, pretrained_entries, sha256, verify

#: Write a pretrained-style entry (a preset): config, weights, card with checksums.
write_entry = presets.write


def _raw_config(name):
    """The merged (unvalidated) config of an entry: cheap, no TensorFlow import."""
    path = config_lib.resolve_path(name)
    return config_lib.load_raw(path)


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
    configs = set(config_lib.zoo_config_names())
    out = {}
    for name in sorted(configs | set(pretrained)):
        # A .keras preset (a recipe's model) has no config: its card says what it is.
        raw = _raw_config(name) if name in configs or (
            pretrained[name] / presets.CONFIG_FILE).is_file() else {}
        entry = {
            "description": raw.get("description", ""),
            "pretrained": name in pretrained,
            "model_class": raw.get("model", {}).get("class"),
            "dataset": raw.get("data", {}).get("dataset", "fashion_mnist"),
        }
        if name in pretrained:
            card = presets.read_metadata(pretrained[name])
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


def load(name_or_dir, compile=True):
    """A pretrained model, offline, its files verified by sha256 before use,
    compiled and ready to ``fit`` (fine-tune) or ``evaluate``.

    Args:
      name_or_dir: a pretrained entry name (see ``list_models()``), a directory
        (a preset written by ``model.save_to_preset``, a pretrained entry or a
        run directory written by ``vaezoo train``), or a ``.keras`` file
        written by ``model.save``.
      compile: compile the model with the optimizer stored for the entry (a
        preset's saved Keras optimizer, else the config's ``[optimizer]``); a
        ``.keras`` file's model comes back compiled as it was saved (Keras'
        default optimizer if it was saved uncompiled). False: not compiled.

    Returns:
      the model with its weights, built, compiled unless ``compile=False``.

    Raises:
      ValueError: unknown name (with close matches), an entry without weights
        (use ``build``), a damaged directory; ``ChecksumError`` (a ValueError)
        when a file does not match its recorded sha256.

    Example:
      >>> model = vaezoo.load("mlp_vae_fashion_mnist")
      >>> images = model.sample(16)
      >>> model.fit(train_batches, epochs=1)        # fine-tune
      >>> model.evaluate(test_batches)              # loss, elbo, rate, distortion
    """
    path = Path(str(name_or_dir)).expanduser()
    if path.suffix == ".keras" and not path.is_dir():
        return presets.load_keras_file(path, compile=compile)
    return presets.load(name_or_dir, compile=compile)


__all__ = ["list_models", "build", "load", "verify", "sha256", "pretrained_entries",
           "write_entry", "ChecksumError", "VERIFIED_FILES"]
