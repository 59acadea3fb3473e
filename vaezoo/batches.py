"""The one batch unpacker: a batch as tfds, Keras or a user gives it -> ``(images, labels)``.

A batch (or a dataset's ``element_spec``) is one of

* a dict ``{"image": ..., "label": ...}``, as ``tensorflow_datasets`` gives it
  (``"label"`` optional);
* a tuple or list ``(images,)`` or ``(images, labels, ...)``, as Keras gives it;
* the images alone (a tensor or an array).

A leaf module (no imports), so the data loaders, the models and the plots can
all split a batch the same way.
"""


def unpack_batch(batch):
    """``(images, labels or None)`` from a dict ``{"image", "label"}``, a tuple, or a tensor.

    Works on an ``element_spec`` too (it gives the specs of the two parts).

    Args:
      batch: the batch, or the element spec of a dataset.

    Returns:
      ``(images, labels)``; ``labels`` is None when the batch holds none.

    Raises:
      ValueError: a dict without an ``"image"`` key, or an empty tuple.

    Example:
      >>> images, labels = unpack_batch({"image": x, "label": y})
      >>> images, labels = unpack_batch(x)          # labels is None
    """
    if isinstance(batch, dict):
        if "image" not in batch:
            raise ValueError(
                f"a batch given as a dict needs an 'image' key (as tfds gives); got keys "
                f"{sorted(batch)}")
        return batch["image"], batch.get("label")
    if isinstance(batch, (tuple, list)):
        if not batch:
            raise ValueError(
                "got an empty tuple as a batch; expected (images,) or (images, labels)")
        return batch[0], (batch[1] if len(batch) > 1 else None)
    return batch, None
