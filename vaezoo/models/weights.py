"""Weights files of a VAE: the shapes they record, and clear errors for bad ones.

``VAE.save_weights`` writes Keras' ``.weights.h5`` and records in it, as the
attribute ``SHAPES_ATTRIBUTE``, the shapes the model learned from its first
batch (``VAE.SHAPE_KEYS``: ``image_shape``, a conditional model's
``condition_shape``). ``VAE.load_weights`` reads them back (``saved_shapes``,
also from a ``.keras`` file's config) to build a fresh, unbuilt model
(``build_like``), and turns a truncated, corrupted or foreign file into a
ValueError that says which (``load_weights``).

Pure file checks: nothing here imports a model.
"""

import json
import os
import zipfile

import h5py

from vaezoo.io import damaged

#: The ``.weights.h5`` attribute holding the JSON of the recorded shapes.
SHAPES_ATTRIBUTE = "vaezoo_shapes"


class ShapeError(Exception):
    """A weights file's recorded shapes do not fit the model (raised as a ValueError).

    Not a ValueError, so ``load_weights`` does not take it for a foreign file."""


def record_shapes(path, shapes):
    """Writes ``shapes`` (a dict of lists) into the ``.weights.h5`` file at ``path``."""
    with h5py.File(os.fspath(path), "a") as f:
        f.attrs[SHAPES_ATTRIBUTE] = json.dumps(shapes)


def saved_shapes(path):
    """The ``SHAPE_KEYS`` values a weights file records: from a ``.weights.h5`` written
    by ``VAE.save_weights``, or from the config of a ``.keras`` file; None if it holds none.
    """
    path = os.fspath(path)
    if path.endswith(".h5"):
        with h5py.File(path, "r") as f:
            text = f.attrs.get(SHAPES_ATTRIBUTE)
        return None if text is None else json.loads(text)
    if path.endswith(".keras") and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json")).get("config", {})
        return {k: v for k, v in config.items() if k.endswith("_shape") and v is not None} or None
    return None


def build_like(model, path):
    """Builds an unbuilt ``model`` for the shapes ``path`` records; checks a built one's.

    Raises ``ShapeError`` when the file records no image shape for an unbuilt
    model, or shapes other than a built model's.
    """
    shapes = saved_shapes(path)
    name = type(model).__name__
    if shapes is None or "image_shape" not in shapes:
        if not model.built:
            raise ShapeError(
                f"this {name} is not built yet and {path} does not record the image shape it "
                f"was trained on (it was not written by vaezoo's save_weights). Construct the "
                f"model with image_shape=(height, width, channels), or call "
                f"model.build((None, height, width, channels)), then load_weights.")
        return
    shapes = {k: tuple(v) for k, v in shapes.items() if k in model.SHAPE_KEYS}
    if not model.built:
        for key, value in shapes.items():
            if key != "image_shape" and getattr(model, key, None) is None:
                setattr(model, key, value)
        model._build_for(shapes["image_shape"])
        return
    for key, value in shapes.items():
        mine = getattr(model, key, None)
        if mine is not None and tuple(mine) != value:
            raise ShapeError(
                f"the weights in {path} do not fit this {name}: they were saved from a model "
                f"with a different architecture, {key}={value}, where this one was built with "
                f"{key}={tuple(mine)}. Construct it with {key}={value}.")


def load_weights(model, path, load):
    """``load(path)`` (a ``load_weights``) with clear errors for damaged or foreign files."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no weights file at {path}")
    if path.endswith(".h5"):
        try:
            with h5py.File(path, "r"):
                pass
        except OSError as e:
            raise damaged(path, e) from None
    elif path.endswith(".keras"):
        if not zipfile.is_zipfile(path):
            raise damaged(path, ValueError("not a zip archive")) from None
    try:
        return load(path)
    except (ValueError, KeyError, IndexError) as e:
        raise ValueError(
            f"the weights in {path} do not fit this {type(model).__name__}: they were saved from "
            f"a model with a different architecture (compare latent_dim, hidden_units / filters, "
            f"likelihood, prior and image_shape with the config they were trained with). "
            f"Details: {str(e).splitlines()[0][:300] if str(e) else type(e).__name__}") from None
    except OSError as e:
        raise damaged(path, e) from None
