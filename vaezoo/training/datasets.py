"""The data of a training run: train / validation / test splits and each epoch's batches.

Validation. ``fit`` validates (the ``val_*`` metrics) on the last ``[data]
validation_fraction`` (default 10%) of the train split, held out of training,
like Keras' ``validation_split``; or on ``[data] validation_split`` if a config
names a split. Never on the test split (``vaezoo.config.validate`` refuses it).

Semi-supervised configs. ``[data] num_labels = N`` keeps the labels of a
class-balanced subset of N training examples
(``vaezoo.data.semi_supervised_split`` with ``[training] seed``) and marks
every other one unlabeled (-1). With ``[data] labeled_batch_size = L`` as
well, every batch holds exactly L labeled examples (cycled through the subset,
reshuffled at each pass) and ``batch_size - L`` unlabeled ones
(``vaezoo.data.mixed_batches``), and an epoch is one pass over the unlabeled
examples.

Epoch order. Epoch ``e`` is shuffled with ``shuffle(seed=epoch_seed(seed, e))``:
the batches are a function of (seed, epoch) only, so a resumed epoch needs no
iterator state, only the number of batches to skip.

Example:
  >>> train, val, test, record = split_datasets(cfg, verbose=0)
  >>> batches = epoch_data(labeled_train(train, cfg), cfg, epoch=3)
"""

import numpy as np
import tensorflow as tf

from vaezoo import data as data_lib


def epoch_seed(seed, epoch):
    """The shuffle seed of an epoch: a function of (seed, epoch) only."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, np.uint32)[0])


def prefetched(ds):
    """``ds`` prefetched, with tf.data's autotuner off (``AUTOTUNE`` sizes keep their
    defaults): every pipeline here gets a fresh iterator each epoch, and a fresh
    autotuned iterator can settle in a slow mode (``docs/benchmarks.md``)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def num_examples(dataset):
    """The number of elements of a (cached) dataset, counted once if unknown."""
    count = int(dataset.cardinality())
    if count < 0:
        count = int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
    return count


def image_shape(dataset):
    """[H, W, C] of a dataset of images or of {"image", "label"} dicts."""
    spec = dataset.element_spec
    spec = spec["image"] if isinstance(spec, dict) else spec
    shape = tuple(spec.shape.as_list())
    return shape + (1,) if len(shape) == 2 else shape


def split_datasets(cfg, verbose):
    """(train, validation, test, validation record): unbatched datasets of a config.

    The record says which examples were held out for validation
    (``metrics.json``'s ``validation``).
    """
    d = cfg["data"]
    kwargs = {"data_dir": d.get("data_dir"), "verbose": bool(verbose)}
    train = data_lib.load(d["dataset"], d["train_split"], **kwargs)
    test = data_lib.load(d["dataset"], d["test_split"], **kwargs).cache()
    if d.get("validation_split"):
        val = data_lib.load(d["dataset"], d["validation_split"], **kwargs).cache()
        return train.cache(), val, test, {"split": d["validation_split"],
                                          "held_out_of_train": False,
                                          "num_examples": num_examples(val)}
    total = num_examples(train)
    held_out = int(round(d["validation_fraction"] * total))
    if held_out and held_out >= total:
        raise ValueError(f"[data] validation_fraction = {d['validation_fraction']} of the "
                         f"{total} examples of {d['train_split']!r} leaves none to train on; "
                         f"lower it or give a larger train split")
    first = total - held_out
    record = {"split": f"{d['train_split']!r} examples {first} to {total - 1} (the last "
                       f"{held_out}, held out of training)" if held_out else None,
              "held_out_of_train": True, "fraction": d["validation_fraction"],
              "first_example": first, "num_examples": held_out, "train_examples": first}
    # Cached after the split: a cache read only in part would never be complete.
    val = train.skip(first).cache() if held_out else None
    return (train.take(first) if held_out else train).cache(), val, test, record


def labeled_train(train, cfg):
    """The training data as the model sees it: with ``[data] num_labels``, only a
    class-balanced subset of that many examples keeps its label (the others -1)."""
    num_labels = cfg["data"].get("num_labels")
    if num_labels is None:
        return train
    return data_lib.semi_supervised_split(train, num_labels, seed=cfg["training"]["seed"]).cache()


def epoch_data(train, cfg, epoch, skip_batches=0):
    """The batches of ``epoch``, less the first ``skip_batches``: a function of
    ([training] seed, epoch) only; ``[training] steps_per_epoch`` caps their number."""
    d, seed = cfg["data"], cfg["training"]["seed"]
    if d.get("labeled_batch_size") is not None:
        ds = data_lib.mixed_batches(train, d["batch_size"], d["labeled_batch_size"],
                                    seed=epoch_seed(seed, epoch),
                                    shuffle_buffer=d["shuffle_buffer"],
                                    reshuffle_each_iteration=False)
    else:
        ds = train.shuffle(d["shuffle_buffer"], seed=epoch_seed(seed, epoch),
                           reshuffle_each_iteration=False).batch(d["batch_size"])
    steps = cfg["training"].get("steps_per_epoch")
    if steps:
        ds = ds.take(steps)
    if skip_batches:
        ds = ds.skip(skip_batches)
    return prefetched(ds)


__all__ = ["epoch_seed", "prefetched", "num_examples", "image_shape", "split_datasets",
           "labeled_train", "epoch_data"]
