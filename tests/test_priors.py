"""Priors: the VampPrior, the RealNVP flow prior and the mixture of Gaussians."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import vaezoo
from tests.harness import check_vae, mock_batches
from vaezoo import objectives, priors

tfd = tfp.distributions


def _small_mlp(**kwargs):
    return vaezoo.MLPVAE(latent_dim=4, hidden_units=(16,), binarization="static",
                         image_shape=(8, 8, 1), seed=0, **kwargs)


# --- VampPrior ------------------------------------------------------------------------


def test_vamp_prior_is_the_mean_of_the_encoder_posteriors_at_the_pseudo_inputs(rng):
    model = _small_mlp(prior="vamp", prior_kwargs={"num_components": 7})
    prior = model.prior()
    u = model.prior_layer.pseudo_inputs()
    assert tuple(u.shape) == (7, 8, 8, 1)
    assert float(tf.reduce_min(u)) > 0 and float(tf.reduce_max(u)) < 1
    components = model.encode(u)
    z = tf.constant(rng.normal(size=(3, 5, 4)), tf.float32)
    expected = tf.reduce_logsumexp(components.log_prob(z[..., None, :]), axis=-1) - np.log(7)
    np.testing.assert_allclose(prior.log_prob(z).numpy(), expected.numpy(), rtol=1e-5)
    assert tuple(prior.event_shape) == (4,) and prior.batch_shape.rank == 0
    # No closed-form KL to a Gaussian posterior: the Monte-Carlo fallback is used.
    assert objectives.analytic_kl(components, prior) is None


def test_vamp_pseudo_inputs_and_encoder_are_trained_by_the_prior_term():
    model = _small_mlp(prior="vamp", prior_kwargs={"num_components": 5})
    z = tf.random.stateless_normal([10, 4], seed=[0, 1])
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(model.prior().log_prob(z))
    grads = tape.gradient(loss, [model.prior_layer.pseudo_input_logits,
                                 model.posterior_head.kernel])
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_vamp_validation():
    with pytest.raises(ValueError, match="num_components must be a positive integer"):
        priors.get("vamp", 4, num_components=0)
    layer = priors.get("vamp", 4, num_components=3)
    with pytest.raises(ValueError, match="not built"):
        layer.distribution(encoder=lambda x: None)
    layer.build((8, 8, 1))
    with pytest.raises(ValueError, match="needs encoder="):
        layer.distribution()
    with pytest.raises(ValueError, match="needs the image shape"):
        priors.get("vamp", 4).build(None)
    with pytest.raises(ValueError, match="Did you mean 'vamp'"):
        priors.get("vampp", 4)


def test_vamp_prior_with_the_shared_harness(tmp_path):
    data, images, _ = mock_batches(image_shape=(8, 8, 1), n=16, batch_size=8)
    model = check_vae(lambda: _small_mlp(prior="vamp", prior_kwargs={"num_components": 6}),
                      data, images, tmp_path)
    loaded = keras.models.load_model(str(tmp_path / "model.keras"))
    np.testing.assert_array_equal(loaded.prior_layer.pseudo_input_logits.numpy(),
                                  model.prior_layer.pseudo_input_logits.numpy())


# --- flow prior -----------------------------------------------------------------------


def _perturb(layer, rng, scale=0.3):
    for w in layer.trainable_weights:
        w.assign(w.numpy() + scale * rng.normal(size=w.shape).astype(np.float32))


def test_flow_prior_starts_as_the_standard_normal(rng):
    layer = priors.get("flow", 5)
    layer.build()
    z = tf.constant(rng.normal(size=(6, 5)), tf.float32)
    ref = tfd.Independent(tfd.Normal(tf.zeros(5), 1.0), 1).log_prob(z)
    np.testing.assert_allclose(layer.distribution().log_prob(z).numpy(), ref.numpy(), rtol=1e-5)


def test_flow_prior_is_a_normalized_density_after_training_moves_it(rng):
    # With some initial weights part of the mass leaves the [-8, 8]^2 grid; conftest seeds
    # every test, so this is the same flow on every run and in every xdist order.
    layer = priors.get("flow", 2, num_flows=3, hidden_units=(16,))
    layer.build()
    _perturb(layer, rng)
    p = layer.distribution()
    grid = np.linspace(-8, 8, 401, dtype=np.float32)
    zz = np.stack(np.meshgrid(grid, grid), axis=-1).reshape(-1, 2)
    mass = np.exp(p.log_prob(zz).numpy()).sum() * (grid[1] - grid[0]) ** 2
    assert mass == pytest.approx(1.0, abs=0.02)
    assert not np.allclose(p.log_prob(zz[:10]).numpy(),
                           tfd.MultivariateNormalDiag(tf.zeros(2)).log_prob(zz[:10]).numpy())
    # log_prob of its own samples agrees with a fresh (uncached) inverse pass.
    s = p.sample(5, seed=(1, 2))
    np.testing.assert_allclose(p.log_prob(s).numpy(),
                               p.log_prob(tf.constant(s.numpy())).numpy(), rtol=1e-4)


def test_flow_prior_validation():
    with pytest.raises(ValueError, match="latent_dim >= 2"):
        priors.get("flow", 1)
    with pytest.raises(ValueError, match="num_flows must be"):
        priors.get("flow", 4, num_flows=0)
    with pytest.raises(ValueError, match="hidden_units must be"):
        priors.get("flow", 4, hidden_units=())


def test_flow_prior_with_the_shared_harness_in_a_conv_vae(tmp_path):
    data, images, _ = mock_batches(image_shape=(8, 8, 1), n=16, batch_size=8)

    def factory():
        return vaezoo.ConvVAE(latent_dim=4, filters=(4,), dense_units=8, binarization="static",
                              prior="flow", prior_kwargs={"num_flows": 2, "hidden_units": [8]},
                              seed=0)

    model = check_vae(factory, data, images, tmp_path)
    # The coupling weights train with the model (the last layer starts at zero).
    assert any(np.any(w.numpy() != 0) for w in model.prior_layer.trainable_weights
               if "out" in w.path and "kernel" in w.path)
    names = {w.path for w in model.trainable_weights}
    assert {w.path for w in model.prior_layer.trainable_weights} <= names
    loaded = keras.models.load_model(str(tmp_path / "model.keras"))
    z = tf.random.stateless_normal([3, 4], seed=[2, 2])
    np.testing.assert_allclose(loaded.prior().log_prob(z).numpy(),
                               model.prior().log_prob(z).numpy(), rtol=1e-5)


# --- mixture of Gaussians -------------------------------------------------------------


def test_mixture_prior_uses_the_monte_carlo_kl(rng):
    model = _small_mlp(prior="mixture", prior_kwargs={"num_components": 3})
    x = (rng.random((4, 8, 8, 1)) < 0.5).astype(np.float32)
    q, p = model.encode(x), model.prior()
    assert objectives.analytic_kl(q, p) is None
    t = objectives.terms(x, q, p, model.decode, num_samples=3, seed=[0, 0])
    z = q.sample(3, seed=[0, 0])
    np.testing.assert_allclose(t["rate"], tf.reduce_mean(q.log_prob(z) - p.log_prob(z), 0),
                               rtol=1e-5)
