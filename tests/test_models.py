"""MLPVAE and ConvVAE through the shared harness, plus what is special to each."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import vaezoo
from harness import check_vae, mock_batches


@pytest.mark.parametrize("likelihood,binarization", [
    ("bernoulli", "dynamic"), ("bernoulli", "static"), ("gaussian", None),
    ("gaussian_pixelwise", None), ("gaussian_heteroscedastic", None)])
def test_mlp_vae_harness(tmp_path, likelihood, binarization):
    data, images, _ = mock_batches()
    check_vae(lambda: vaezoo.MLPVAE(latent_dim=4, hidden_units=(32,), likelihood=likelihood,
                                    binarization=binarization, seed=1),
              data, images[:6], tmp_path)


@pytest.mark.parametrize("shape", [(28, 28, 1), (13, 10, 3), (32, 32, 3)])
def test_conv_vae_harness_any_shape(tmp_path, shape):
    data, images, _ = mock_batches(image_shape=shape, as_dict=False)
    check_vae(lambda: vaezoo.ConvVAE(latent_dim=3, filters=(8, 16), dense_units=16,
                                     likelihood="bernoulli", binarization="dynamic", seed=2),
              data, images[:5], tmp_path)


def test_mixture_prior_uses_monte_carlo_kl(tmp_path):
    data, images, _ = mock_batches()
    model = check_vae(lambda: vaezoo.MLPVAE(latent_dim=3, hidden_units=(16,), prior="mixture",
                                            prior_kwargs={"num_components": 4},
                                            binarization="static"),
                      data, images[:4], tmp_path)
    assert len(model.prior_layer.trainable_weights) == 3


def test_fits_on_tfds_mock_data(tmp_path):
    with tfds.testing.mock_data(num_examples=32):
        ds = tfds.load("mnist", split="train").batch(16)
    model = vaezoo.MLPVAE(latent_dim=2, hidden_units=(16,), binarization="dynamic")
    model.compile(optimizer="adam")
    history = model.fit(ds, epochs=2, verbose=0)
    assert model.image_shape == (28, 28, 1)
    assert np.all(np.isfinite(history.history["elbo"]))


def test_fits_on_numpy_arrays_and_float_images():
    images = np.random.default_rng(0).random((20, 6, 5, 1)).astype(np.float32)
    model = vaezoo.MLPVAE(latent_dim=2, hidden_units=(8,), likelihood="gaussian")
    model.compile(optimizer="adam")
    model.fit(images, batch_size=10, epochs=1, verbose=0)
    assert model.predict(images, verbose=0).shape == images.shape
    # [B, H, W] gray images get their channel axis.
    assert model.reconstruct(images[..., 0]).shape == images.shape


def test_elbo_matches_its_definition():
    """elbo(x) = E_q[log p(x|z)] - KL(q || p), computed here by hand from the distributions."""
    images = np.random.default_rng(1).integers(0, 2, size=(5, 4, 4, 1)).astype(np.float32)
    model = vaezoo.MLPVAE(latent_dim=3, hidden_units=(8,), image_shape=(4, 4, 1))
    seed = tf.constant([7, 0])
    got = model.elbo(images, num_samples=2000, seed=7).numpy()
    q = model.encode(images)
    z = q.sample(4000, seed=seed)
    expected = (tf.reduce_mean(model.decode(z).log_prob(images), 0)
                - tfd_kl(q, model.prior())).numpy()
    np.testing.assert_allclose(got, expected, atol=0.15)
    # Closed-form KL agrees with its Monte-Carlo estimate.
    mc_kl = tf.reduce_mean(q.log_prob(z) - model.prior().log_prob(z), 0).numpy()
    np.testing.assert_allclose(tfd_kl(q, model.prior()).numpy(), mc_kl, atol=0.1)


def tfd_kl(q, p):
    import tensorflow_probability as tfp

    return tfp.distributions.kl_divergence(q, p)


def test_beta_scales_the_rate_in_the_loss():
    images = np.random.default_rng(2).integers(0, 2, size=(8, 4, 4, 1)).astype(np.float32)
    kw = dict(latent_dim=2, hidden_units=(8,), image_shape=(4, 4, 1), seed=0)
    m1, m2 = vaezoo.MLPVAE(beta=1.0, **kw), vaezoo.MLPVAE(beta=3.0, **kw)
    m2.set_weights(m1.get_weights())
    for m in (m1, m2):
        m.compile(optimizer="adam")
    r1 = m1.evaluate(images, verbose=0, return_dict=True, batch_size=8)
    r2 = m2.evaluate(images, verbose=0, return_dict=True, batch_size=8)
    np.testing.assert_allclose(r2["loss"] - r1["loss"], 2.0 * r1["rate"], rtol=1e-3)


@pytest.mark.parametrize("kwargs,match", [
    ({"likelihood": "bernouli"}, "likelihood must be one of .*bernoulli"),
    ({"prior": "vamp_prior_x"}, "prior must be one of"),
    ({"latent_dim": 0}, "latent_dim must be a positive integer"),
    ({"binarization": "dinamic"}, "binarization must be one of"),
    ({"likelihood": "gaussian", "binarization": "static"}, "only applies to a Bernoulli"),
    ({"objective": "iwea"}, "objective must be one of"),
    ({"num_samples": 0}, "num_samples must be a positive integer"),
    ({"hidden_units": (0,)}, r"hidden_units must be a list or tuple of positive integers, "
                             r"e.g. \(500, 500\); got \(0,\)"),
    ({"hidden_units": 500}, "hidden_units must be a list or tuple of positive integers"),
    ({"hidden_units": (500.5,)}, "hidden_units must be a list or tuple of positive integers"),
    ({"hidden_units": ()}, "hidden_units must be a list or tuple of positive integers"),
])
def test_bad_options_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        vaezoo.MLPVAE(**kwargs)


@pytest.mark.parametrize("build", [
    lambda: vaezoo.ConvVAE(filters=32),
    lambda: vaezoo.ConditionalVAE(num_classes=3, hidden_units=(8, -1)),
    lambda: vaezoo.SemiSupervisedVAE(num_classes=3, classifier_hidden_units=(8.0,)),
])
def test_layer_sizes_are_checked_in_every_family(build):
    """A bare number, a float or a negative size is named in a clear error, not truncated
    by int() or left to fail deep inside Keras."""
    with pytest.raises(ValueError, match="must be a (possibly empty )?list or tuple of positive"):
        build()


def test_uint8_into_bernoulli_without_binarization_is_an_error():
    model = vaezoo.MLPVAE(latent_dim=2, hidden_units=(8,))
    with pytest.raises(ValueError, match="binarization"):
        model.preprocess(np.zeros((2, 4, 4, 1), np.uint8))


def test_wrong_image_shape_is_an_error():
    model = vaezoo.MLPVAE(latent_dim=2, hidden_units=(8,), image_shape=(4, 4, 1))
    with pytest.raises(ValueError, match="built for images of shape"):
        model.preprocess(np.zeros((2, 5, 4, 1), np.float32))
    with pytest.raises(ValueError, match="batch axis"):
        model.preprocess(np.zeros((4,), np.float32))


def test_dynamic_binarization_is_random_in_training_and_fixed_in_evaluation():
    images = np.full((2, 6, 6, 1), 128, np.uint8)
    model = vaezoo.MLPVAE(latent_dim=2, hidden_units=(8,), binarization="dynamic", seed=0)
    a, _ = model.preprocess(images, training=True)
    b, _ = model.preprocess(images, training=True)
    assert set(np.unique(a.numpy())) <= {0.0, 1.0}
    assert not np.array_equal(a.numpy(), b.numpy())
    e1, _ = model.preprocess(images)
    e2, _ = model.preprocess(images)
    np.testing.assert_array_equal(e1.numpy(), e2.numpy())


def test_keras_serialization_registers_the_subclass():
    model = vaezoo.ConvVAE(latent_dim=2, filters=(4,), dense_units=8, image_shape=(8, 8, 1))
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert isinstance(clone, vaezoo.ConvVAE) and clone.image_shape == (8, 8, 1)


@pytest.mark.parametrize("build", [
    lambda **kw: vaezoo.MLPVAE(latent_dim=3, hidden_units=(6, 5), **kw),
    lambda **kw: vaezoo.HierarchicalVAE(latent_dims=(3, 2), hidden_units=((6,), (4,)), **kw),
])
def test_gated_dense_layers(build, tmp_path):
    """gated=True: each hidden layer is h <- a(W_h h) * sigmoid(W_g h), one Dense of 2u units
    and a GatedActivation (Tomczak & Welling's GatedDense), through the shared harness."""
    from vaezoo.networks.blocks import GatedActivation

    data, images, _ = mock_batches(n=16, batch_size=8)
    model = check_vae(lambda: build(gated=True, activation="linear", binarization="dynamic"),
                      data, images[:4], tmp_path)
    layers = model.encoder.layers[1].layers
    assert [type(layer) for layer in layers[:2]] == [keras.layers.Dense, GatedActivation]
    assert layers[0].units == 2 * layers[1].compute_output_shape((None, layers[0].units))[-1]
    h = tf.random.normal([4, 784])
    w = layers[0](h)
    np.testing.assert_allclose(layers[1](w), w[:, :6] * tf.sigmoid(w[:, 6:]), rtol=1e-6)
    assert model.get_config()["gated"] is True
    with pytest.raises(ValueError, match="gated must be True or False"):
        build(gated="yes")
