"""ConditionalVAE: the shared harness plus what is special about conditioning."""

import numpy as np
import pytest
import tensorflow as tf

import keras
import vaezoo
from harness import (check_keras_workflows, check_vae, family_model, mock_batches,
                     workflow_data)

SMALL = dict(latent_dim=4, hidden_units=(32,), prior_hidden_units=(16,))


def label_cvae(**kw):
    return vaezoo.ConditionalVAE(num_classes=10, binarization="dynamic", **{**SMALL, **kw})


@pytest.mark.parametrize("conditional_prior,components", [(False, 1), (True, 1), (True, 3)])
def test_harness_on_dicts(tmp_path, conditional_prior, components):
    data, images, labels = mock_batches(n=16, batch_size=8)
    model = check_vae(lambda: label_cvae(conditional_prior=conditional_prior,
                                         prior_components=components), data, images,
                      tmp_path, labels=labels)
    # The condition changes the decoder's output and, with a learned prior, p(z|y).
    z = tf.zeros([2, model.latent_dim])
    means = model.decode(z, np.array([0, 1])).mean().numpy()
    assert not np.allclose(means[0], means[1])
    prior = model.prior(np.array([0, 1]))
    if conditional_prior:
        assert tuple(prior.batch_shape) == (2,)
        assert not np.allclose(prior.mean()[0], prior.mean()[1])


def test_mixture_conditional_prior_is_the_stated_mixture():
    """p(z|y) = sum_k pi_k(y) N(mu_k(y), sigma_k(y)^2), checked against the head's outputs."""
    model = label_cvae(conditional_prior=True, prior_components=3, image_shape=(28, 28, 1))
    y = np.array([2, 9])
    prior = model.prior(y)
    assert tuple(prior.batch_shape) == (2,) and tuple(prior.event_shape) == (4,)
    layer = model.prior_layer
    out = layer.head(layer.net(tf.one_hot(y, 10))).numpy()
    logits, params = out[:, :3], out[:, 3:].reshape(2, 3, 8)
    loc, scale = params[..., :4], np.logaddexp(0.0, params[..., 4:]) + 1e-4
    z = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    log_n = (-0.5 * ((z[:, None] - loc) / scale) ** 2 - np.log(scale)
             - 0.5 * np.log(2 * np.pi)).sum(-1)
    log_pi = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    expected = np.logaddexp.reduce(log_pi + log_n, axis=1)
    np.testing.assert_allclose(prior.log_prob(z).numpy(), expected, rtol=1e-4, atol=1e-4)
    assert model.sample(4, seed=0, condition=np.array([0, 1, 2, 3])).shape == (4, 28, 28, 1)


def test_fit_on_tuples_and_numpy():
    data, images, labels = mock_batches(n=16, batch_size=8, as_dict=False)
    model = label_cvae()
    model.compile(optimizer="adam")
    model.fit(data, epochs=1, verbose=0)
    history = model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["elbo"][0])


def test_decode_broadcasts_condition_over_sample_axes():
    model = label_cvae(image_shape=(28, 28, 1))
    y = np.array([3, 7, 1])
    z = tf.random.stateless_normal([5, 3, model.latent_dim], seed=[0, 1])
    p = model.decode(z, y)
    assert tuple(p.batch_shape) == (5, 3)
    for s in (0, 4):
        np.testing.assert_allclose(p.mean()[s].numpy(), model.decode(z[s], y).mean().numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_sample_is_class_conditional_and_seeded():
    model = label_cvae(image_shape=(28, 28, 1))
    a = model.sample(4, seed=1, condition=np.array([0, 0, 5, 5]))
    b = model.sample(4, seed=1, condition=np.array([5, 5, 0, 0]))
    assert a.shape == (4, 28, 28, 1)
    assert not np.allclose(a.numpy(), b.numpy())


def test_missing_and_out_of_range_labels_are_clear_errors():
    data, images, labels = mock_batches(n=8, batch_size=8)
    model = label_cvae(image_shape=(28, 28, 1))
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"needs condition=: a class .*\(condition=3\)"):
        model.sample(3)
    with pytest.raises(ValueError, match=r"integers in \[0, 9\]; got \[10\]"):
        model.sample(2, condition=np.array([1, 10]))
    with pytest.raises(ValueError, match="got 2 labels for 3 examples"):
        model.sample(3, condition=np.array([1, 2]))
    with pytest.raises(ValueError, match=r"got \[-1\]. -1 marks an unlabeled example"):
        model.encode(model.preprocess(images)[0], np.full(8, -1))
    with pytest.raises(ValueError, match="needs class labels y"):
        model.encode(model.preprocess(images)[0])
    with pytest.raises(ValueError, match="dtype float"):
        model.preprocess((images, np.full(8, 0.5)))
    # Missing labels in fit: the dataset has images only.
    with pytest.raises(ValueError, match="needs class labels y"):
        model.fit(tf.data.Dataset.from_tensor_slices(images).batch(4), verbose=0)
    # Out-of-range labels inside fit's tf.function, on the same model: a train function
    # whose first trace failed is dropped, so the next fit traces afresh.
    bad = tf.data.Dataset.from_tensor_slices(
        {"image": images, "label": np.arange(8, dtype=np.int64) + 5}).batch(4)
    with pytest.raises(ValueError, match=r"fit: labels must be integers in \[0, 9\]"):
        model.fit(bad, verbose=0)
    assert np.isfinite(model.fit(data, verbose=0).history["loss"][0])


def test_bad_options_name_the_fix():
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        vaezoo.ConditionalVAE()
    with pytest.raises(ValueError, match="condition must be one of 'label', 'tensor'"):
        vaezoo.ConditionalVAE(num_classes=10, condition="labels")
    with pytest.raises(ValueError, match="replaces the prior"):
        vaezoo.ConditionalVAE(num_classes=10, conditional_prior=True, prior="mixture")
    with pytest.raises(ValueError, match="needs condition_shape"):
        vaezoo.ConditionalVAE(condition="tensor", image_shape=(28, 28, 1))
    with pytest.raises(ValueError, match="use conditional_prior=True with it"):
        vaezoo.ConditionalVAE(num_classes=10, prior_components=5)
    with pytest.raises(ValueError, match="prior_components must be a positive integer"):
        vaezoo.ConditionalVAE(num_classes=10, conditional_prior=True, prior_components=0)


def test_tensor_condition_structured_output(tmp_path):
    """The condition is the observed left half of the image; it is inferred from the data."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, 8, 8, 1), dtype=np.uint8)
    observed = images.copy()
    observed[:, :, 4:] = 0
    data = tf.data.Dataset.from_tensor_slices((images, observed)).batch(8)
    model = vaezoo.ConditionalVAE(condition="tensor", conditional_prior=True,
                                  binarization="static", **SMALL)
    model.compile(optimizer="adam")
    model.fit(data, epochs=1, verbose=0)
    assert model.condition_shape == (8, 8, 1)
    x, _ = model.preprocess(images)
    q = model.encode(x, observed)
    p = model.decode(q.sample(3, seed=[1, 1]), observed)
    assert tuple(p.batch_shape) == (3, 16)
    assert model.sample(2, seed=0, condition=observed[:2]).shape == (2, 8, 8, 1)
    path = str(tmp_path / "cvae.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.encode(x, observed).mean(), q.mean(), atol=1e-5)
    with pytest.raises(ValueError, match=r"shape \[batch, \*\(8, 8, 1\)\]"):
        model.encode(x, observed[:, :4])


def test_evaluation_functions_accept_the_model():
    data, images, labels = mock_batches(n=8, batch_size=8)
    model = label_cvae(conditional_prior=True, image_shape=(28, 28, 1))
    result = vaezoo.evaluation.log_likelihood(model, data, num_samples=8, progress=False)
    assert np.isfinite(result["log_likelihood"])
    elbo = vaezoo.evaluation.elbo(model, data, progress=False)
    assert elbo["elbo"] <= result["log_likelihood"] + 5.0


@pytest.mark.slow
@pytest.mark.parametrize("entry, floor", [("conditional_vae_fashion_mnist", 0.85),
                                          ("conv_conditional_vae_fashion_mnist", 0.83)])
def test_class_conditional_samples_look_like_their_class(tmp_path, entry, floor):
    """The shipped zoo entries: an independent CNN, trained on the real training images,
    recognizes the class of their samples at least ``floor`` of the time, averaged over
    classes, measured by benchmarks/conditional_generation.py itself (5 classifier epochs,
    seed 0, 500 samples per class here, 1000 in docs/benchmarks.md). The MLP entry's floor
    is issue 8's target; the convolutional entry's is below what it measured at seed 0
    (84.3%): it misses issue 24's 90% (docs/benchmarks.md).
    """
    import json
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run(
        [sys.executable, "benchmarks/conditional_generation.py", "--load", entry,
         "--classifier-epochs", "5", "--per-class", "500", "--target", str(floor),
         "--output-dir", str(tmp_path)], cwd=Path(__file__).resolve().parent.parent,
        capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "conditional_generation.json").read_text())
    result = results["models"][entry]["runs"]["0"]
    print(result["agreement_per_class"], result["mean_agreement"])
    assert result["classifier_test_accuracy"] > 0.85
    assert result["mean_agreement"] >= floor


# ---------------------------------------------------------------- the convolutional trunk
CONV = dict(trunk="conv", filters=(4, 8), kernel_size=3, dense_units=8)


def test_conv_trunk_keras_workflows(tmp_path):
    """The Keras workflows of every family (tests/test_keras_workflows.py) on the conv trunk."""
    images, labels = workflow_data()
    check_keras_workflows(lambda **kw: family_model("ConditionalVAE", **{**CONV, **kw}),
                          images, labels, tmp_path, tensorboard=False)


@pytest.mark.parametrize("image_shape", [(7, 9, 1), (5, 6, 3)])
def test_conv_trunk_harness_on_any_image_shape(tmp_path, image_shape):
    """Odd sizes too: the decoder's transposed convolutions overshoot and are cropped."""
    data, images, labels = mock_batches(image_shape=image_shape, n=8, batch_size=4)
    model = check_vae(lambda: label_cvae(conditional_prior=True, prior_components=3, **CONV),
                      data, images, tmp_path, labels=labels)
    assert model.get_config()["trunk"] == "conv"
    # The encoder sees x with the one-hot label as 10 extra channels.
    assert model.encoder.layers[0].kernel.shape[2] == image_shape[-1] + 10
    samples = model.sample(6, seed=0, condition=np.array([0, 0, 0, 9, 9, 9]))
    assert samples.shape == (6,) + image_shape
    x = model.preprocess(images[:2])[0]
    for y in ([0, 0], [9, 9]):
        assert model.encode(x, np.array(y)).mean().shape == (2, model.latent_dim)
    assert not np.allclose(model.encode(x, np.array([0, 0])).mean(),
                           model.encode(x, np.array([9, 9])).mean())
    z = tf.zeros([2, model.latent_dim])
    means = model.decode(z, np.array([0, 9])).mean().numpy()
    assert not np.allclose(means[0], means[1])


def test_conv_trunk_tensor_condition_enters_as_channels(tmp_path):
    """An image-shaped condition (the observed half) enters the encoder as its own channel;
    any other tensor condition as its flattened values, one constant channel each."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(8, 8, 8, 1), dtype=np.uint8)
    observed = images.copy()
    observed[:, :, 4:] = 0
    for condition, channels in ((observed, 1 + 1), (rng.random((8, 3), np.float32), 1 + 3)):
        model = vaezoo.ConditionalVAE(condition="tensor", binarization="static",
                                      **{**SMALL, **CONV})
        model.compile(optimizer="adam")
        model.fit(images, condition, batch_size=4, epochs=1, verbose=0)
        assert model.encoder.layers[0].kernel.shape[2] == channels
        assert model.sample(2, seed=0, condition=condition[:2]).shape == (2, 8, 8, 1)
    path = str(tmp_path / "cvae.keras")
    model.save(path)
    x = model.preprocess(images)[0]
    np.testing.assert_allclose(keras.models.load_model(path).encode(x, condition).mean(),
                               model.encode(x, condition).mean(), atol=1e-5)


def test_default_trunk_is_the_mlp():
    model = label_cvae(image_shape=(8, 8, 1))
    config = model.get_config()
    assert config["trunk"] == "mlp"
    assert (config["filters"], config["kernel_size"], config["dense_units"]) == (None,) * 3
    assert model.encoder.layers[0].kernel.shape == (8 * 8 + 10, 32)


@pytest.mark.parametrize("kwargs, match", [
    ({"trunk": "cnn"}, "trunk must be one of 'mlp', 'conv'; got 'cnn'"),
    ({"filters": (32, 64)}, r"filters only applies to trunk='conv'.*Add trunk='conv'"),
    ({"filters": (8,), "dense_units": 0},
     r"filters, dense_units only apply to trunk='conv'"),
    ({"trunk": "conv", "filters": ()}, "filters must be a list or tuple of positive integers"),
    ({"trunk": "conv", "filters": 32}, "filters must be a list or tuple of positive integers"),
    ({"trunk": "conv", "kernel_size": 0}, "kernel_size must be a positive integer"),
    ({"trunk": "conv", "dense_units": -1}, "dense_units must be an integer >= 0"),
])
def test_bad_trunk_options_name_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        vaezoo.ConditionalVAE(num_classes=10, **kwargs)


# ---------------------------------------------------------------- the forms of a condition
def tiny_cvae(**kw):
    model = vaezoo.ConditionalVAE(num_classes=3, latent_dim=2, hidden_units=(8,),
                                  binarization="static", image_shape=(6, 6, 1), seed=0, **kw)
    model.compile(optimizer="adam")
    return model


def tiny_images(n=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 6, 6, 1), dtype=np.uint8)


@pytest.mark.parametrize("condition", [2, np.int64(2), np.array(2), [2, 2, 2, 2],
                                       np.full(4, 2.0), np.eye(3)[[2, 2, 2, 2]],
                                       np.eye(3, dtype=np.int32)[[2, 2, 2, 2]],
                                       tf.constant([2, 2, 2, 2]), [[2], [2], [2], [2]]])
def test_every_condition_form_means_the_same_labels(condition):
    """A scalar class, a vector of classes and one-hot rows: one reading everywhere."""
    model = tiny_cvae()
    expected = model.sample(4, seed=5, condition=np.array([2, 2, 2, 2])).numpy()
    np.testing.assert_array_equal(model.sample(4, seed=5, condition=condition).numpy(),
                                  expected)
    x = model.preprocess(tiny_images(4))[0]
    z = model.encode(x, np.full(4, 2)).mean()
    np.testing.assert_array_equal(model.encode(x, condition).mean().numpy(), z.numpy())
    np.testing.assert_array_equal(model.decode(z, condition).mean().numpy(),
                                  model.decode(z, np.full(4, 2)).mean().numpy())
    np.testing.assert_array_equal(model.reconstruct(tiny_images(4), condition).numpy(),
                                  model.reconstruct(tiny_images(4), np.full(4, 2)).numpy())


def test_condition_labels_reads_each_form():
    from vaezoo.models.conditional_vae import condition_labels
    assert condition_labels(3, 10, n=2).numpy().tolist() == [3, 3]
    assert condition_labels(3, 10).numpy().tolist() == [3]           # n unknown: one label
    assert condition_labels([0, 9, 4], 10, n=3).numpy().tolist() == [0, 9, 4]
    assert condition_labels(np.eye(10)[[7, 1]], 10).numpy().tolist() == [7, 1]
    assert condition_labels([-1, 2], 3, allow_unlabeled=True).numpy().tolist() == [-1, 2]


@pytest.mark.parametrize("condition, error, match", [
    (3, ValueError, r"integers in \[0, 2\]; got \[3\]"),
    (-1, ValueError, r"got \[-1\]. -1 marks an unlabeled example"),
    ([0, 1], ValueError, "got 2 labels for 4 examples"),
    (np.eye(4)[[0, 1, 2, 3]], ValueError, "one-hot rows must have num_classes=3 columns"),
    (np.full((4, 3), 1 / 3), ValueError, r"must be one-hot \(a single 1 per row"),
    (1.5, ValueError, "dtype float"),
    ("two", TypeError, "class indices"),
    ([[0, 1], [2]], TypeError, "ragged"),
    (np.zeros((4, 2, 3)), ValueError, r"shape \[batch\]"),
])
def test_bad_conditions_are_clear_errors(condition, error, match):
    model = tiny_cvae()
    z = np.zeros((4, 2), np.float32)
    with pytest.raises(error, match=match):
        model.sample(4, condition=condition)
    with pytest.raises(error, match=match):
        model.decode(z, condition)
    with pytest.raises(error, match=match):
        model.encode(model.preprocess(tiny_images(4))[0], condition)


def test_wrong_latent_size_and_rank_name_latent_dim():
    model = tiny_cvae()
    for z in (np.zeros((2, 5), np.float32), np.zeros((), np.float32)):
        with pytest.raises(ValueError, match=r"latent_dim=2 .* got shape"):
            model.decode(z, [0, 1])
    with pytest.raises(TypeError, match="float array of latent codes"):
        model.decode(np.array([["a", "b"]]), [0])
    assert model.decode(np.zeros((2, 2)), [0, 1]).mean().shape == (2, 6, 6, 1)   # float64 ok
    assert model.decode(np.zeros(2, np.float32), 1).mean().shape == (6, 6, 1)     # one code
    assert model.prior(1).batch_shape.rank is not None


@pytest.mark.parametrize("entry, form", [
    (entry, form) for entry in ("fit", "evaluate", "predict")
    for form in ("tuple", "list", "x_y", "dict", "one_hot_y")
    if not (entry == "predict" and form in ("x_y", "one_hot_y"))])   # predict takes no y
@pytest.mark.parametrize("family", ["ConditionalVAE", "SemiSupervisedVAE"])
def test_images_and_labels_in_every_in_memory_form(entry, form, family):
    """(images, labels) as a tuple or a list x, x and y, a dict, or one-hot y: the same data."""
    if family == "ConditionalVAE":
        model = tiny_cvae()
    else:
        model = vaezoo.SemiSupervisedVAE(num_classes=3, latent_dim=2, hidden_units=(8,),
                                         classifier_hidden_units=(8,), binarization="static",
                                         image_shape=(6, 6, 1), seed=0)
        model.compile(optimizer="adam")
    images, labels = tiny_images(6), np.array([0, 1, 2, 0, 1, 2])
    args = {"tuple": ((images, labels),), "list": ([images, labels],),
            "x_y": (images, labels), "dict": ({"image": images, "label": labels},),
            "one_hot_y": (images, np.eye(3)[labels])}[form]
    if entry == "predict":
        out = model.predict(*args, batch_size=3, verbose=0)
        assert out.shape == images.shape
        return
    kwargs = {"batch_size": 3, "verbose": 0}
    result = getattr(model, entry)(*args, **kwargs)
    losses = result.history["loss"] if entry == "fit" else [result[0]]
    assert np.isfinite(losses).all()


def test_label_checks_of_in_memory_fit():
    model = tiny_cvae()
    images = tiny_images(6)
    with pytest.raises(ValueError, match="got 5 labels for 6 examples"):
        model.fit(images, np.zeros(5, np.int64), verbose=0)
    with pytest.raises(ValueError, match=r"labels \(y\) given to fit must be integers in"):
        model.fit(images, np.full(6, 7), verbose=0)
    with pytest.raises(TypeError, match="class indices"):
        model.fit((images, np.array(["a"] * 6)), verbose=0)
    with pytest.raises(ValueError, match="y= goes with images given as an array"):
        model.fit({"image": images, "label": np.zeros(6, np.int64)}, np.zeros(6), verbose=0)
    # Integer-valued float labels are classes; a good fit after the errors works.
    history = model.fit(images, np.array([0.0, 1, 2, 0, 1, 2]), batch_size=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_semi_supervised_condition_is_a_class_never_unlabeled():
    model = vaezoo.SemiSupervisedVAE(num_classes=3, latent_dim=2, hidden_units=(8,),
                                     classifier_hidden_units=(8,), image_shape=(6, 6, 1),
                                     binarization="static")
    assert model.sample(2, seed=0, condition=1).shape == (2, 6, 6, 1)
    assert model.sample(2, seed=0, condition=np.eye(3)[[0, 2]]).shape == (2, 6, 6, 1)
    with pytest.raises(ValueError, match="-1 marks an unlabeled example"):
        model.sample(2, condition=-1)
