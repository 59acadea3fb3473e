"""`vaezoo train` on semi-supervised configs: [data] num_labels and labeled_batch_size.

The batch plumbing (labeled subset, batch composition, determinism in (seed,
epoch), resume by skipping batches) runs on small generated datasets; the
end-to-end runs train a tiny ``SemiSupervisedVAE`` on slices of the real
Fashion-MNIST IDX files for one or two epochs of a few steps (the
resume-after-a-crash run is marked slow, like the resume tests of
test_training.py).
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import vaezoo
from vaezoo import cli, data, evaluation, training
from vaezoo.training import datasets

NUM_CLASSES = 10


def examples(n=300, seed=0):
    """An unbatched dataset of {"image" uint8 [4, 4, 1], "label" int64}; 30 per class."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 4, 4, 1), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(n) % 256          # a fingerprint of each example
    images[:, 0, 1, 0] = np.arange(n) // 256
    labels = (np.arange(n) % NUM_CLASSES).astype(np.int64)
    return tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})


def index_of(images):
    images = np.asarray(images)
    return images[:, 0, 0, 0].astype(int) + 256 * images[:, 0, 1, 0].astype(int)


def ss_config(**tables):
    """A tiny semi-supervised config: M2 with 16 units on 256 images, 20 of them labeled."""
    cfg = {
        "name": "tiny_ss",
        "model": {"class": "SemiSupervisedVAE", "num_classes": 10, "alpha": 10.0,
                  "classifier_hidden_units": [16], "hidden_units": [16], "latent_dim": 2,
                  "likelihood": "bernoulli", "binarization": "dynamic"},
        "data": {"dataset": "fashion_mnist", "train_split": "train[:256]",
                 "test_split": "test[:64]", "batch_size": 32, "shuffle_buffer": 256,
                 "num_labels": 20, "labeled_batch_size": 8},
        "optimizer": {"name": "adam", "learning_rate": 0.003},
        "training": {"epochs": 2, "seed": 3},
        "evaluation": {"num_importance_samples": 2},
    }
    for table, values in tables.items():
        cfg[table] = {**cfg.get(table, {}), **values}
    return cfg


def batches_of(dataset):
    return [{k: v.numpy() for k, v in b.items()} for b in dataset]


def labeled_train(cfg=None, n=300):
    cfg = cfg or ss_config(data={"batch_size": 16, "labeled_batch_size": 4,
                                 "shuffle_buffer": 64})
    return datasets.labeled_train(examples(n), cfg), cfg


# ---------------------------------------------------------------------- the labeled subset
@pytest.mark.parametrize("num_labels", [10, 20, 25])
def test_labeled_subset_has_num_labels_balanced_labels(num_labels):
    cfg = ss_config(data={"num_labels": num_labels})
    train = datasets.labeled_train(examples(), cfg)
    (batch,) = batches_of(train.batch(1000))
    labels, truth = batch["label"], np.arange(300) % NUM_CLASSES
    kept = labels >= 0
    assert kept.sum() == num_labels
    assert set(np.unique(labels[~kept])) == {-1}
    np.testing.assert_array_equal(labels[kept], truth[kept])       # labels kept are the true ones
    counts = np.bincount(labels[kept], minlength=NUM_CLASSES)
    assert counts.max() - counts.min() <= 1                        # class-balanced
    np.testing.assert_array_equal(index_of(batch["image"]), np.arange(300))  # every image kept
    # The subset is drawn with [training] seed: the same seed gives the same subset.
    again = batches_of(datasets.labeled_train(examples(), cfg).batch(1000))[0]["label"]
    np.testing.assert_array_equal(again, labels)
    other = batches_of(datasets.labeled_train(
        examples(), ss_config(data={"num_labels": num_labels}, training={"seed": 4}))
        .batch(1000))[0]["label"]
    assert not np.array_equal(other >= 0, kept)


def test_without_num_labels_every_label_is_kept():
    cfg = ss_config()
    del cfg["data"]["num_labels"], cfg["data"]["labeled_batch_size"]
    (batch,) = batches_of(datasets.labeled_train(examples(), cfg).batch(1000))
    np.testing.assert_array_equal(batch["label"], np.arange(300) % NUM_CLASSES)


# ---------------------------------------------------------------------- batch composition
def test_each_batch_holds_exactly_labeled_batch_size_labeled_examples():
    train, cfg = labeled_train()
    epoch = batches_of(datasets.epoch_data(train, cfg, epoch=0))
    # One pass over the 280 unlabeled examples in batches of 12 (the last 4 dropped).
    assert len(epoch) == 280 // 12
    seen_unlabeled, seen_labeled = [], []
    for batch in epoch:
        labels = batch["label"]
        assert labels.shape == (16,) and batch["image"].shape == (16, 4, 4, 1)
        assert (labels[:4] >= 0).all() and (labels[4:] == -1).all()
        np.testing.assert_array_equal(labels[:4], index_of(batch["image"][:4]) % NUM_CLASSES)
        seen_labeled.extend(index_of(batch["image"][:4]))
        seen_unlabeled.extend(index_of(batch["image"][4:]))
    assert len(set(seen_unlabeled)) == len(seen_unlabeled) == 276   # no unlabeled repeats
    # The 20 labeled examples are cycled: each pass of 5 batches shows each one once,
    # in a new order every pass.
    passes = np.reshape(seen_labeled[:20 * 4], (4, 20))
    for p in passes:
        assert sorted(p) == sorted(passes[0])
    assert len({tuple(p) for p in passes}) > 1


def test_batches_are_a_function_of_seed_and_epoch():
    train, cfg = labeled_train()
    first = batches_of(datasets.epoch_data(train, cfg, epoch=1))
    again = batches_of(datasets.epoch_data(datasets.labeled_train(examples(), cfg), cfg,
                                            epoch=1))
    assert len(first) == len(again)
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    other_epoch = batches_of(datasets.epoch_data(train, cfg, epoch=2))
    assert not np.array_equal(index_of(first[0]["image"]), index_of(other_epoch[0]["image"]))


def test_a_resumed_epoch_skips_exactly_the_batches_done():
    train, cfg = labeled_train()
    whole = batches_of(datasets.epoch_data(train, cfg, epoch=0))
    rest = batches_of(datasets.epoch_data(train, cfg, epoch=0, skip_batches=7))
    assert len(rest) == len(whole) - 7
    for a, b in zip(whole[7:], rest):
        np.testing.assert_array_equal(index_of(a["image"]), index_of(b["image"]))
        np.testing.assert_array_equal(a["label"], b["label"])


def test_steps_per_epoch_cuts_the_mixed_epoch():
    train, cfg = labeled_train()
    cfg["training"]["steps_per_epoch"] = 3
    assert len(batches_of(datasets.epoch_data(train, cfg, epoch=0))) == 3


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 8, "labeled_batch_size": 8}, r"labeled_batch_size must be smaller than "
                                                  r"batch_size.*1 to 7"),
    ({"batch_size": 8, "labeled_batch_size": 0}, "labeled_batch_size must be a positive"),
])
def test_mixed_batches_rejects_bad_sizes(kwargs, match):
    train, _ = labeled_train()
    with pytest.raises(ValueError, match=match):
        data.mixed_batches(train, **kwargs)


def test_mixed_batches_needs_labeled_and_unlabeled_examples():
    with pytest.raises(ValueError, match="needs labeled .*got 0 labeled"):
        data.mixed_batches(examples().map(lambda e: {**e, "label": -tf.ones_like(e["label"])}),
                           16, 4)
    with pytest.raises(ValueError, match="unbatched"):
        data.mixed_batches(examples().batch(4), 16, 4)


# ---------------------------------------------------------------------- config errors
@pytest.mark.parametrize("tables, match", [
    ({"model": {"class": "MLPVAE"}},
     r"\[data\] num_labels = 20 .*semi-supervised model.*'MLPVAE'.*SemiSupervisedVAE.*"
     r"or remove num_labels"),
    ({"data": {"labeled_batch_size": 32}},
     r"labeled_batch_size = 32 must be smaller than \[data\] batch_size = 32.*1 to 31"),
    ({"data": {"num_labels": None}}, r"labeled_batch_size = 8 needs \[data\] num_labels"),
])
def test_bad_semi_supervised_configs_are_clear_errors(tmp_path, tables, match):
    cfg = ss_config(**tables)
    if cfg["model"]["class"] == "MLPVAE":
        cfg["model"] = {"class": "MLPVAE", "latent_dim": 2, "hidden_units": [16]}
    cfg["data"] = {k: v for k, v in cfg["data"].items() if v is not None}
    with pytest.raises(ValueError, match=match):
        training.train(cfg, tmp_path, verbose=0)
    assert not (tmp_path / "config.toml").exists()       # refused before anything is written


def test_the_error_names_the_config_file(tmp_path):
    path = tmp_path / "my_ss.toml"
    path.write_text('[model]\nclass = "MLPVAE"\n[data]\nnum_labels = 100\n')
    with pytest.raises(ValueError, match=r"my_ss\.toml: \[data\] num_labels"):
        training.train(str(path), tmp_path / "run", verbose=0)


# ---------------------------------------------------------------------- end to end
TINY_SS_TOML = """
description = "tiny semi-supervised run"
[model]
class = "SemiSupervisedVAE"
num_classes = 10
alpha = 10.0
classifier_hidden_units = [16]
hidden_units = [16]
latent_dim = 2
likelihood = "bernoulli"
binarization = "dynamic"
[data]
dataset = "fashion_mnist"
train_split = "train[:256]"
test_split = "test[:64]"
batch_size = 32
shuffle_buffer = 256
num_labels = 20
labeled_batch_size = 8
[optimizer]
name = "adam"
learning_rate = 0.003
[training]
epochs = 1
seed = 3
[evaluation]
num_importance_samples = 2
"""


def test_vaezoo_train_writes_the_test_accuracy(tmp_path):
    config = tmp_path / "tiny_ss.toml"
    config.write_text(TINY_SS_TOML)
    out = tmp_path / "run"
    assert cli.main(["train", str(config), "--out", str(out), "-v", "0"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    # 26 of the 256 images are held out for validation (the last 10%): one pass over the
    # 230 - 20 = 210 unlabeled images in batches of 24 unlabeled + 8 labeled.
    assert metrics["validation"]["num_examples"] == 26
    assert metrics["steps"] == 210 // 24
    accuracy = metrics["test"]["accuracy"]
    assert 0.0 <= accuracy <= 1.0
    model = vaezoo.load(out)
    from vaezoo import data as data_lib
    test = data_lib.load("fashion_mnist", "test[:64]", verbose=False).batch(500)
    assert accuracy == pytest.approx(evaluation.classification_accuracy(model, test))
    # The training accuracy is measured on labeled examples only: 8 per batch.
    assert 0.0 <= metrics["history"]["accuracy"][0] <= 1.0


@pytest.mark.slow       # three short trainings: about 40 s on the loaded 2-core machine
def test_resume_from_a_mid_epoch_checkpoint_matches_an_uninterrupted_run(tmp_path):
    """Crash after a step checkpoint in epoch 2; the resumed run ends with the same history."""
    cfg = ss_config(training={"checkpoint_every": 3},
                    data={"train_split": "train[:160]", "num_labels": 10,
                          "labeled_batch_size": 4, "batch_size": 16})
    reference = training.train(cfg, tmp_path / "reference", verbose=0)
    steps_per_epoch = (160 - 16 - 10) // 12      # 16 held out for validation, 10 labeled
    assert reference["steps"] == 2 * steps_per_epoch

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) >= steps_per_epoch + 7:
                raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        training.train(cfg, tmp_path / "run", verbose=0, callbacks=[Crash()])
    latest = training.latest_checkpoint(tmp_path / "run")
    assert latest.name.startswith("epoch-0001-batch-") and not latest.name.endswith(
        "batch-000000.ckpt.npz")
    resumed = training.train(cfg, tmp_path / "run", verbose=0)
    assert resumed["resumed_from"]["epoch"] == 1 and resumed["resumed_from"]["batch"] > 0
    assert resumed["steps"] == reference["steps"]
    for key, values in reference["history"].items():
        np.testing.assert_allclose(resumed["history"][key], values, rtol=1e-5, err_msg=key)
    assert resumed["test"]["accuracy"] == pytest.approx(reference["test"]["accuracy"], abs=0.02)
