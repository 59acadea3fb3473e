"""Semi-supervised data: a few labels kept, the rest marked -1, and batches mixing both.

``semi_supervised_split`` keeps a class-balanced subset of the labels;
``mixed_batches`` makes batches that each hold a fixed number of labeled
examples, so the classifier of the M2 model sees labels at every step.
"""

import numpy as np
import tensorflow as tf

from vaezoo.batches import unpack_batch
from vaezoo.validation import check_positive_int


def _label(*element):
    """The label of a dataset element (``tf.data`` passes a tuple as separate arguments)."""
    return unpack_batch(element[0] if len(element) == 1 else element)[1]


def _check_unbatched(spec, what):
    """Raises unless ``spec`` is one unbatched ``{"image", "label"}`` dict or ``(image, label)``."""
    if not ((isinstance(spec, dict) and "label" in spec)
            or (isinstance(spec, tuple) and len(spec) == 2)):
        raise ValueError(f"{what} needs an unbatched dataset of {{'image', 'label'}} dicts or "
                         f"(image, label) tuples; got element_spec {spec}")
    if _label(spec).shape.rank:
        raise ValueError(f"{what} needs an unbatched dataset (one scalar label per "
                         "element); call it before .batch()")


def _labels(dataset):
    """All labels of an unbatched dataset, as one numpy array."""
    return np.concatenate([np.asarray(b).reshape(-1) for b in
                           dataset.map(_label).batch(8192).as_numpy_iterator()] or
                          [np.zeros((0,), np.int64)])


def balanced_indices(labels, num_labels, seed):
    """Sorted indices of a class-balanced subset of ``num_labels`` examples.

    Each class gets ``num_labels // K`` examples, the remainder one more for
    randomly chosen classes, drawn without replacement with ``seed``.
    """
    classes = np.unique(labels)
    k = len(classes)
    if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) \
            or not k <= num_labels <= len(labels):
        raise ValueError(
            f"num_labels must be an integer between the number of classes ({k}) and the "
            f"number of examples ({len(labels)}); got {num_labels!r}")
    rng = np.random.default_rng(seed)
    per_class = np.full(k, num_labels // k)
    per_class[rng.permutation(k)[:num_labels % k]] += 1  # the remainder goes to random classes
    chosen = []
    for c, count in zip(classes, per_class):
        members = np.flatnonzero(labels == c)
        if len(members) < count:
            raise ValueError(
                f"class {int(c)} has only {len(members)} examples, fewer than the {int(count)} "
                f"labels a balanced subset of num_labels={num_labels} needs; lower num_labels")
        chosen.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(chosen))


def semi_supervised_split(dataset_or_arrays, num_labels, seed=0):
    """Keeps a class-balanced subset of ``num_labels`` labels; every other label becomes -1.

    The labeled subset is ``balanced_indices(labels, num_labels, seed)``; the
    examples themselves are all kept, in their order, so the result trains
    ``vaezoo.SemiSupervisedVAE`` in one ``fit``.

    Args:
      dataset_or_arrays: an unbatched ``tf.data.Dataset`` of ``{"image",
        "label"}`` dicts or ``(image, label)`` tuples (as ``load`` gives), or
        numpy ``(images, labels)``.
      num_labels: number of examples that keep their label.
      seed: seed of the draw.

    Returns:
      the same kind of object with labels -1 except on the labeled subset
      (a dataset, or ``(images, labels)`` with a fresh int64 labels array).

    Example:
      >>> train = semi_supervised_split(load("fashion_mnist", "train"), 100, seed=0)
      >>> x, y = semi_supervised_split(load_arrays("fashion_mnist", "train"), 100, seed=0)
      >>> np.bincount(y[y >= 0]).tolist()
      [10, 10, 10, 10, 10, 10, 10, 10, 10, 10]
    """
    if isinstance(dataset_or_arrays, tf.data.Dataset):
        ds = dataset_or_arrays
        _check_unbatched(ds.element_spec, "semi_supervised_split")
        labels = _labels(ds)
        keep = np.zeros(len(labels), bool)
        keep[balanced_indices(labels, num_labels, seed)] = True
        keep = tf.constant(keep)

        def relabel(i, e):
            label = _label(e)
            label = tf.where(keep[i], label, tf.constant(-1, label.dtype))
            return {**e, "label": label} if isinstance(e, dict) else (e[0], label)

        return ds.enumerate().map(relabel, num_parallel_calls=tf.data.AUTOTUNE,
                                  deterministic=True)
    if not (isinstance(dataset_or_arrays, (tuple, list)) and len(dataset_or_arrays) == 2):
        raise ValueError(
            "semi_supervised_split takes a tf.data.Dataset or a pair (images, labels); got "
            f"{type(dataset_or_arrays).__name__}")
    images, labels = dataset_or_arrays
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels")
    out = np.full_like(labels, -1)
    idx = balanced_indices(labels, num_labels, seed)
    out[idx] = labels[idx]
    return images, out


def mixed_batches(dataset, batch_size, labeled_batch_size, seed=0, *, shuffle_buffer=None,
                  reshuffle_each_iteration=True):
    """Batches that each hold exactly ``labeled_batch_size`` labeled examples, the rest unlabeled.

    Each batch holds ``labeled_batch_size`` labeled examples (label >= 0),
    drawn cyclically from the labeled subset and reshuffled at every pass over
    it, followed by ``batch_size - labeled_batch_size`` unlabeled ones (label
    -1). With few labels a uniformly shuffled batch would rarely hold one (100
    labels among 60,000 images: one batch of 128 in five), so the classifier
    would hardly learn. One pass over the unlabeled examples is the length of
    the dataset (an incomplete last batch of unlabeled examples is dropped, so
    every batch has the same composition).

    The order is a function of ``seed`` only: the first iteration of the
    returned dataset is the same whenever it is built with the same seed (so
    ``vaezoo.training`` builds epoch ``e`` with ``epoch_seed(seed, e)`` and a
    resumed epoch skips the batches it already did).

    Args:
      dataset: an unbatched ``tf.data.Dataset`` of ``{"image", "label"}`` dicts
        or ``(image, label)`` tuples, unlabeled examples carrying label -1
        (``semi_supervised_split``).
      batch_size: examples per batch.
      labeled_batch_size: labeled examples per batch, in ``[1, batch_size - 1]``.
      seed: shuffling seed.
      shuffle_buffer: shuffle buffer of the unlabeled examples (default: all of them).
      reshuffle_each_iteration: whether a second iteration over the returned
        dataset (e.g. Keras ``fit(epochs=n)`` on it) shuffles the unlabeled
        examples again. The labeled ones are reshuffled at every pass regardless.

    Returns:
      a dataset of batches with the structure of ``dataset``'s elements.

    Example:
      >>> train = semi_supervised_split(load("fashion_mnist", "train"), 100, seed=0)
      >>> batches = mixed_batches(train, batch_size=128, labeled_batch_size=32, seed=0)
    """
    check_positive_int("batch_size", batch_size)
    check_positive_int("labeled_batch_size", labeled_batch_size)
    if labeled_batch_size >= batch_size:
        raise ValueError(
            f"labeled_batch_size must be smaller than batch_size, so that each batch also holds "
            f"unlabeled examples: valid values are 1 to {batch_size - 1}; got "
            f"labeled_batch_size={labeled_batch_size} with batch_size={batch_size}. Lower "
            f"labeled_batch_size or raise batch_size.")
    _check_unbatched(dataset.element_spec, "mixed_batches")
    labels = _labels(dataset)
    num_labeled = int((labels >= 0).sum())
    num_unlabeled = len(labels) - num_labeled
    unlabeled_batch_size = batch_size - labeled_batch_size
    if num_labeled == 0 or num_unlabeled < unlabeled_batch_size:
        raise ValueError(
            f"mixed_batches needs labeled (label >= 0) examples and at least one batch of "
            f"{unlabeled_batch_size} unlabeled (label -1) ones; got {num_labeled} labeled and "
            f"{num_unlabeled} unlabeled. Mark the unlabeled examples with semi_supervised_split.")

    def is_labeled(*e):
        return _label(*e) >= 0

    def is_unlabeled(*e):
        return tf.logical_not(is_labeled(*e))

    # Two seeds derived from one: the labeled cycle and the unlabeled pass are independent.
    seed_labeled, seed_unlabeled = (int(s) for s in np.random.SeedSequence(
        [int(seed), 0x5eed]).generate_state(2, np.uint32))
    labeled = (dataset.filter(is_labeled).cache()
               .shuffle(num_labeled, seed=seed_labeled, reshuffle_each_iteration=True)
               .repeat().batch(labeled_batch_size))
    unlabeled = (dataset.filter(is_unlabeled)
                 .shuffle(min(shuffle_buffer or num_unlabeled, num_unlabeled),
                          seed=seed_unlabeled,
                          reshuffle_each_iteration=reshuffle_each_iteration)
                 .batch(unlabeled_batch_size, drop_remainder=True))

    def merge(a, b):
        return tf.nest.map_structure(lambda u, v: tf.concat([u, tf.cast(v, u.dtype)], 0), a, b)

    merged = tf.data.Dataset.zip((labeled, unlabeled)).map(merge)
    # The zip with an endless labeled stream has the unlabeled pass's length; say so.
    return merged.apply(tf.data.experimental.assert_cardinality(num_unlabeled
                                                                // unlabeled_batch_size))
