"""Reading a saved ``.keras`` model: Keras' loader in safe mode, with clear errors.

Keras finds vaezoo's classes in its registry, which ``import vaezoo`` fills
as soon as Keras is imported; ``load_model`` makes sure of it
(``vaezoo.register_with_keras``) without importing the models here.

Example:
  >>> from vaezoo.saving import load_model
  >>> model = load_model("runs/mlp/model.keras")
"""

import os
import zipfile

import keras

import vaezoo
from vaezoo.io import damaged


def load_model(path, **kwargs):
    """``keras.saving.load_model`` in safe mode, with clear errors for damaged files.

    Raises:
      FileNotFoundError: no file at ``path``.
      ValueError: the file is truncated or corrupted.
    """
    vaezoo.register_with_keras()  # the classes the file names must be in Keras' registry
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path}")
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise damaged(path, ValueError("not a zip archive"), "model file")
    kwargs.setdefault("safe_mode", True)
    try:
        return keras.saving.load_model(path, **kwargs)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise damaged(path, e, "model file") from None


__all__ = ["load_model"]
