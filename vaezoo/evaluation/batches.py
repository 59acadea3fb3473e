"""The data side of every estimator: batches in as the model sees them, per-example values out.

``data`` is a ``tf.data.Dataset`` of batches (dicts ``{"image", "label"}``,
``(image, label)`` tuples or image tensors), an unbatched dataset of single
images (batched here), or in-memory arrays (images, or ``(images, labels)`` /
``{"image", "label"}`` of arrays), sliced into batches of ``DEFAULT_BATCH_SIZE``.
A batch is split by ``vaezoo.batches.unpack_batch``, the one unpacker, and turned
into the model's input by ``model.preprocess``. The label reaches the model the
same way for every family: ``encode(x, y)``, ``decode(z, y)``, ``prior(y)`` with
``y`` the labels for a conditional model and None otherwise.
"""

import math

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from vaezoo.batches import unpack_batch

#: Examples per batch when ``data`` is in-memory arrays or a dataset of single images.
DEFAULT_BATCH_SIZE = 500


def _is_single_image(shape, image_shape):
    """Whether a dataset element of this shape is one image [H, W(, C)], not a batch."""
    if shape.rank == 2:
        return True
    if shape.rank != 3:
        return False
    return image_shape is None or all(
        d is None or d == int(e) for d, e in zip(shape.as_list(), image_shape))


def _raw_batches(model, data, max_examples, batch_size):
    """(an iterable of (images, labels or None), the number of batches or None)."""
    image_shape = getattr(model, "image_shape", None)
    if isinstance(data, tf.data.Dataset):
        if _is_single_image(unpack_batch(data.element_spec)[0].shape, image_shape):
            data = data.batch(batch_size)
        count = int(data.cardinality())
        return (unpack_batch(batch) for batch in data), (count if count >= 0 else None)
    images, labels = (part if part is None or isinstance(part, (np.ndarray, tf.Tensor))
                      else np.asarray(part) for part in unpack_batch(data))
    if images.ndim == 0:
        raise TypeError(
            "data must be a tf.data.Dataset, a NumPy array / tensor of images, or a tuple / "
            f"dict of arrays; got {type(data).__name__}")
    total = int(images.shape[0]) if max_examples is None else min(int(images.shape[0]),
                                                                  max_examples)
    return (((images[start:start + batch_size],
              None if labels is None else labels[start:start + batch_size])
             for start in range(0, total, batch_size)),
            math.ceil(total / batch_size))


def _preprocessed(model, raw, max_examples):
    seen = 0
    for images, labels in raw:
        if max_examples is not None:
            if seen >= max_examples:
                return
            keep = max_examples - seen
            images, labels = images[:keep], (None if labels is None else labels[:keep])
        x, labels = model.preprocess(images if labels is None else (images, labels),
                                     training=False)
        x = tf.convert_to_tensor(x)
        labels = None if labels is None else tf.convert_to_tensor(labels)
        seen += int(x.shape[0])
        yield x, labels, (labels if model.is_conditional else None)


def labelled_batches(model, data, max_examples=None, *, batch_size=DEFAULT_BATCH_SIZE,
                     progress=False, desc=None):
    """The batches of ``data`` as the model sees them: ``(x, labels, y)``, ``max_examples`` at most.

    ``x`` and ``labels`` (None when the data holds none) come from
    ``model.preprocess(batch, training=False)``; ``y`` is ``labels`` for a
    conditional model (``model.is_conditional``) and None otherwise, ready for
    ``model.encode(x, y)``.

    Args:
      model: a vaezoo VAE (``preprocess``, ``is_conditional``, ``image_shape``).
      data: any format of the module docstring.
      max_examples: stop after this many examples (None: all).
      batch_size: examples per batch for arrays and datasets of single images.
      progress: show a progress bar over the batches.
      desc: the bar's label.

    Returns:
      an iterable of ``(x, labels, y)``: a ``tqdm`` bar (silent unless
      ``progress``), so a caller can ``set_postfix`` on it.

    Example:
      >>> for x, labels, y in labelled_batches(model, (images, labels)):
      ...     q = model.encode(x, y)
    """
    raw, total = _raw_batches(model, data, max_examples, batch_size)
    return tqdm(_preprocessed(model, raw, max_examples), total=total, desc=desc,
                disable=not progress, leave=False)


def empty_error(what):
    """The ValueError of an estimator given no examples."""
    return ValueError(f"{what}: the dataset is empty (no examples to evaluate)")


def mean_and_stderr(values):
    """(mean, standard error of the mean) of per-example values: ``std(ddof=1) / sqrt(N)``;
    NaN for the error of one example."""
    values = np.asarray(values, np.float64)
    mean = float(values.mean())
    stderr = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else float("nan")
    return mean, stderr
