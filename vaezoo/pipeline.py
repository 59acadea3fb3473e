"""Opt-in: in-memory arrays given to ``fit``, as batches of row numbers gathered in the step.

``VAE.fit`` uses it when the model's ``gather_arrays_in_step`` is True (off by
default: Keras' own array pipeline runs). It changes how ``fit`` reads NumPy
arrays, not what the model sees: the same batches, so the same numbers on any
machine; its speed against Keras' pipeline is in ``docs/benchmarks.md``
(``benchmarks/throughput.py``). It is meant for training on a CPU: the step
reads the whole array where it runs. Where it cannot run (a ``tf.distribute``
strategy, the ``fit`` arguments of ``UNSUPPORTED``) ``fit`` warns and uses
Keras' pipeline.

``keras.Model.fit(x_array, batch_size=B)`` builds a tf.data pipeline that
copies every batch out of the array in a parallel ``map`` (its own threads,
tuned by tf.data's autotuner) and hands the copy to the train step; each epoch
gets a fresh iterator. Here each element is the whole array (one tensor, passed
by reference, never copied) and the row numbers of one batch; the train step
gathers its rows itself (``tf.gather``, a single 400 KB copy for 128
Fashion-MNIST images).

Keras copies the whole array into a tensor at every ``fit`` call. Here an
array already laid out as TensorFlow needs it (C-contiguous, float32, its
data on a 64-byte boundary: ``vaezoo.data.aligned``, and every array of
``vaezoo.data.load_arrays``) becomes that tensor without a copy, through
DLPack: ``fit`` reads it in place, so changes made to it during ``fit`` are
seen by later batches, as with any NumPy view. Any other array is copied
once per call.

The batches are Keras' own:

* ``batch_size`` rows per batch (Keras' default 32 when not given), the last
  batch partial;
* in order with ``shuffle=False``, else a fresh permutation every epoch;
* ``validation_split=f`` holds out the last fraction f of the rows, taken
  before shuffling, and validates on it with ``validation_batch_size`` (else
  ``batch_size``), as Keras does.

The tf.data autotuner is off for this pipeline (it has nothing to tune: no
parallel map, one small prefetch).
"""

import math

import numpy as np
import tensorflow as tf

from vaezoo.data import aligned

#: Keys of a pipeline element (private: they never reach user code).
ROWS, IMAGES, LABELS = "_vaezoo_rows", "_vaezoo_images", "_vaezoo_labels"

#: ``fit`` arguments this pipeline does not cover: with any of them set, Keras' own runs.
UNSUPPORTED = ("sample_weight", "class_weight", "steps_per_epoch")

DEFAULT_BATCH_SIZE = 32  # keras.Model.fit's


def _as_tensor(a):
    """The array as a tensor, floats in Keras' float type (as Keras' adapter does).

    An array TensorFlow can use in place (``vaezoo.data.is_aligned``, already
    of that type, writeable) becomes a tensor on the same memory, through
    DLPack: no copy. Any other is first copied into aligned memory once (one
    copy, as Keras makes).
    """
    a = np.asarray(a)
    dtype = a.dtype
    if np.issubdtype(dtype, np.floating):
        import keras
        dtype = np.dtype(keras.config.floatx())
    a = aligned(a, dtype)
    if a.flags.writeable:   # DLPack cannot export a read-only array
        try:
            return tf.experimental.dlpack.from_dlpack(a.__dlpack__())
        except (BufferError, TypeError, ValueError, tf.errors.OpError):
            pass            # a dtype DLPack or TensorFlow does not take: copy below
    return tf.convert_to_tensor(a)


def not_covered(x, y, kwargs):
    """Why ``fit(x, y, **kwargs)`` cannot run on this pipeline; None when it can.

    It can when ``x`` is a non-empty NumPy array of a batch of images, ``y`` is
    None or an array of the same length, none of ``UNSUPPORTED`` is given, and
    ``shuffle`` is True or False (Keras' ``"batch"`` is left to Keras).
    """
    if not isinstance(x, np.ndarray) or x.ndim < 2 or len(x) == 0:
        return "x is not a non-empty NumPy array of images"
    if y is not None and not (isinstance(y, np.ndarray) and y.ndim >= 1 and len(y) == len(x)):
        return "y is not a NumPy array with one row per image"
    given = [k for k in UNSUPPORTED if kwargs.get(k) is not None]
    if given:
        return f"{', '.join(given)} given"
    if kwargs.get("shuffle", True) not in (True, False):
        return f"shuffle={kwargs['shuffle']!r}"
    return None


def rows_dataset(x, y=None, batch_size=DEFAULT_BATCH_SIZE, shuffle=True):
    """A dataset of ``{ROWS: row numbers of one batch, IMAGES: x[, LABELS: y]}``.

    Iterating it once is one epoch: ``ceil(len(x) / batch_size)`` batches,
    which cover every row once (a new permutation per epoch when ``shuffle``).
    """
    n = len(x)
    tables = {IMAGES: _as_tensor(x)}
    if y is not None:
        tables[LABELS] = _as_tensor(y)

    rows = tf.data.Dataset.range(n)
    if shuffle:
        # A whole-data shuffle buffer, drawn anew each epoch, even under a global
        # seed (``keras.utils.set_random_seed``), where a random op inside the
        # pipeline would repeat its permutation on every new iterator.
        rows = rows.shuffle(n, reshuffle_each_iteration=True)
    rows = rows.batch(batch_size)
    # The arrays ride along by reference with every batch (from_tensors + repeat,
    # as Keras' adapter does), so nothing is captured into the pipeline's graph.
    ds = tf.data.Dataset.zip(rows, tf.data.Dataset.from_tensors(tables).repeat())
    ds = ds.map(lambda r, t: {ROWS: r, **{k: _any_length(v) for k, v in t.items()}})
    ds = ds.prefetch(2)
    ds = ds.apply(tf.data.experimental.assert_cardinality(math.ceil(n / batch_size)))
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    return untuned(ds.with_options(options))


def _any_length(table):
    """``table`` with its number of rows statically unknown (no copy): the train step
    traced for one array then serves arrays of any length, without retracing."""
    return tf.compat.v1.placeholder_with_default(table, shape=[None, *table.shape[1:]])


def untuned(ds):
    """``ds`` with tf.data's autotuner off (``AUTOTUNE`` sizes keep their defaults).

    For pipelines iterated anew every epoch: on the 2-core CPU of the README, a
    fresh autotuned iterator per epoch put a third of the epochs into a slow
    mode (``benchmarks/iterator_modes.py``); with the autotuner off none were.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def is_rows(data):
    return isinstance(data, dict) and ROWS in data


def gather(data):
    """A pipeline element -> ``images`` or ``(images, labels)`` of its batch; else ``data``."""
    if not is_rows(data):
        return data
    images = tf.gather(data[IMAGES], data[ROWS])
    if LABELS not in data:
        return images
    return images, tf.gather(data[LABELS], data[ROWS])


def fit_arguments(x, y, kwargs):
    """``fit`` arguments for this pipeline from those given for the arrays.

    Returns ``(dataset, kwargs)``: ``batch_size`` and ``shuffle`` go into the
    dataset; ``validation_split`` becomes ``validation_data`` (the last rows).
    """
    kwargs = dict(kwargs)
    batch_size = kwargs.pop("batch_size", None) or DEFAULT_BATCH_SIZE
    shuffle = kwargs.pop("shuffle", True)
    split = kwargs.pop("validation_split", 0.0) or 0.0
    if split and kwargs.get("validation_data") is None:
        if not 0.0 < split < 1.0:
            raise ValueError(f"validation_split must be in (0, 1); got {split!r}")
        at = math.floor(len(x) * (1.0 - split))
        if at == 0:
            raise ValueError(
                f"validation_split={split} of {len(x)} rows leaves an empty training or "
                f"validation set; give more rows or another split")
        kwargs["validation_data"] = x[at:] if y is None else (x[at:], y[at:])
        x, y = x[:at], (None if y is None else y[:at])
    kwargs["validation_batch_size"] = kwargs.get("validation_batch_size") or batch_size
    kwargs["shuffle"] = False  # the dataset shuffles; Keras would only warn that it cannot
    return rows_dataset(x, y, batch_size=batch_size, shuffle=shuffle), kwargs
