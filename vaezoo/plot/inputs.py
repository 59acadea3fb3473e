"""What a plot reads from its data: images with their labels, as the model sees them.

Every batch format the model takes (an array or tensor of images, a dict
{"image", "label"}, an ``(images, labels)`` tuple, a ``tf.data.Dataset`` of
those) is split by ``vaezoo.models.base.unpack_batch``, the one unpacker, and
turned into the model's input by ``model.preprocess``. The label reaches the
model the same way for every family: ``encode(x, y)``, ``decode(z, y)``,
``prior(y)`` with ``y = None`` for an unconditional model.
"""

import numpy as np
import tensorflow as tf

from vaezoo.models.base import unpack_batch
from vaezoo.validation import check_positive_int


def _batch(images, labels):
    """The batch ``model.preprocess`` takes for these images and labels."""
    return images if labels is None else (images, labels)


def examples(model, data, n=None):
    """A batch in any format as ``images`` or ``(images, labels)``, the first ``n`` of them.

    A single image [H, W(, C)] of the model's shape gets a batch axis.
    """
    images, labels = unpack_batch(data)
    images = np.asarray(images.numpy() if hasattr(images, "numpy") else images)
    shape = tuple(model.image_shape or ())
    if images.shape == shape or (shape[-1:] == (1,) and images.shape == shape[:2]):
        images = images[None]
    if n is not None:
        n = check_positive_int("n", n)
        images, labels = images[:n], (None if labels is None else labels[:n])
    return _batch(images, labels)


def model_inputs(model, data, n=None):
    """(x on the likelihood's support, condition y or None): what ``encode(x, y)`` takes.

    ``data`` is as in :func:`examples`. For an unconditional model y is None
    (labels are data it does not use). A conditional model needs labels; one
    with a classifier q(y|x) (``SemiSupervisedVAE``) labels the images that
    come without one (none given, or -1) itself, by ``argmax q(y|x)``.
    """
    x, y = model.preprocess(examples(model, data, n), training=False)
    if not model.is_conditional:
        return x, None
    if hasattr(model, "classify") and (y is None or np.any(np.asarray(y) < 0)):
        guess = np.argmax(np.asarray(model.classify(x)), axis=-1).astype(np.int64)
        y = guess if y is None else np.where(np.asarray(y) < 0, guess, np.asarray(y))
    if y is None:
        raise ValueError(
            f"{type(model).__name__} is conditional: give labelled images, e.g. "
            f"{{'image': images, 'label': labels}} or (images, labels)")
    return x, y


def labelled_batches(model, data, max_examples=None, batch_size=500):
    """Yields (x, labels or None, condition y or None) over ``data``, ``max_examples`` at most.

    ``data`` is a batch in any format or a ``tf.data.Dataset`` of single images
    or of batches; x and labels come from ``model.preprocess``, y is the labels
    for a conditional model and None otherwise.
    """
    if isinstance(data, tf.data.Dataset):
        shape = unpack_batch(data.element_spec)[0].shape
        if shape.rank is not None and shape.rank <= 3 and not (
                shape.rank == 3 and model.image_shape is not None
                and shape[-1] != model.image_shape[-1]):
            data = data.batch(batch_size)  # a dataset of single images
        batches = (unpack_batch(batch) for batch in data)
    else:
        images, labels = unpack_batch(data)
        total = len(images) if max_examples is None else min(len(images), int(max_examples))
        batches = ((images[start:start + batch_size],
                    None if labels is None else labels[start:start + batch_size])
                   for start in range(0, total, batch_size))
    seen = 0
    for images, labels in batches:
        if max_examples is not None:
            if seen >= max_examples:
                return
            keep = max_examples - seen
            images, labels = images[:keep], (None if labels is None else labels[:keep])
        x, labels = model.preprocess(_batch(images, labels), training=False)
        seen += int(x.shape[0])
        yield x, labels, (labels if model.is_conditional else None)
