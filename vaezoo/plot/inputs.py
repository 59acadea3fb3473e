"""What a plot reads from its data: images with their labels, as the model sees them.

Every batch format the model takes (an array or tensor of images, a dict
{"image", "label"}, an ``(images, labels)`` tuple, a ``tf.data.Dataset`` of
those) is split by ``vaezoo.batches.unpack_batch``, the one unpacker, and
turned into the model's input by ``model.preprocess``. The label reaches the
model the same way for every family: ``encode(x, y)``, ``decode(z, y)``,
``prior(y)`` with ``y = None`` for an unconditional model. Over many batches,
plots iterate ``vaezoo.evaluation.labelled_batches``, as the estimators do.
"""

import numpy as np

from vaezoo.batches import unpack_batch
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

