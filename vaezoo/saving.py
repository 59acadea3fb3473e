"""Reading a saved ``.keras`` model: Keras' loader in safe mode, with clear errors.

Above the models: importing this module imports ``vaezoo.models``, which
registers every vaezoo class with Keras, so a fresh process reads a
``.keras`` file with ``load_model(path)`` as with
``keras.models.load_model(path)`` after ``import vaezoo``.

Example:
  >>> from vaezoo.saving import load_model
  >>> model = load_model("runs/mlp/model.keras")
"""

import os
import zipfile

import keras

import vaezoo.models  # noqa: F401  (registers every vaezoo class with Keras)
from vaezoo.models.weights import damaged


def load_model(path, **kwargs):
    """``keras.saving.load_model`` in safe mode, with clear errors for damaged files.

    Raises:
      FileNotFoundError: no file at ``path``.
      ValueError: the file is truncated or corrupted.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path}")
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise damaged(path, ValueError("not a zip archive"))
    kwargs.setdefault("safe_mode", True)
    try:
        return keras.saving.load_model(path, **kwargs)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise damaged(path, e) from None


__all__ = ["load_model"]
