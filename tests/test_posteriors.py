"""Posteriors: the diagonal Gaussian and the inverse autoregressive flow (IAF)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import vaezoo
from tests.harness import mock_batches
from vaezoo import objectives, posteriors
from vaezoo.posteriors.iaf import _made_masks

tfd = tfp.distributions


def _iaf(latent_dim=4, rng=None, **kwargs):
    layer = posteriors.get("iaf", latent_dim, hidden_units=(12, 12), context_units=3, **kwargs)
    layer.build()
    if rng is not None:   # move away from the zero-initialized (identity-like) output layer
        for w in layer.trainable_weights:
            w.assign(w.numpy() + 0.5 * rng.normal(size=w.shape).astype(np.float32))
    return layer


def _params(layer, rng, batch=3):
    return tf.constant(rng.normal(size=(batch, layer.params_size)), tf.float32)


def test_made_masks_are_autoregressive():
    masks = _made_masks(5, (7, 6))
    connectivity = masks[0] @ masks[1] @ masks[2]    # paths from input i to output j
    assert np.all(np.tril(connectivity) == 0)        # output j sees inputs i < j only
    assert np.all(connectivity[np.triu_indices(5, 1)] > 0)   # ... and all of them


def test_one_iaf_step_has_a_triangular_jacobian_matching_its_log_det(rng):
    layer = _iaf(num_flows=1, rng=rng)
    params = _params(layer, rng)
    bijector = layer.bijector(params[:, 8:])
    z0 = tf.constant(rng.normal(size=(3, 4)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(z0)
        z1 = bijector.forward(z0)
    jac = tape.batch_jacobian(z1, z0).numpy()         # [B, out, in]
    np.testing.assert_allclose(np.triu(jac, 1), 0.0, atol=1e-7)
    diag = np.diagonal(jac, axis1=1, axis2=2)
    assert np.all((diag > 0) & (diag < 1))             # sigma_t = sigmoid(...) in (0, 1)
    np.testing.assert_allclose(bijector.forward_log_det_jacobian(z0, event_ndims=1).numpy(),
                               np.log(diag).sum(-1), rtol=1e-5, atol=1e-5)


def test_iaf_density_is_consistent_and_normalized(rng):
    layer = _iaf(latent_dim=2, num_flows=2, rng=rng)
    q = layer.distribution(_params(layer, rng, batch=1))
    assert tuple(q.batch_shape) == (1,) and tuple(q.event_shape) == (2,)
    z = q.sample(6, seed=(3, 4))
    base = q.distribution
    z0 = q.bijector.inverse(tf.constant(z.numpy()))  # sequential inverse, no cache
    expected = base.log_prob(z0) - q.bijector.forward_log_det_jacobian(z0, event_ndims=1)
    np.testing.assert_allclose(q.log_prob(z).numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(q.log_prob(tf.constant(z.numpy())).numpy(), q.log_prob(z).numpy(),
                               rtol=1e-4, atol=1e-4)
    # The density integrates to one (a 2-d grid around its samples).
    many = q.sample(4000, seed=(5, 6)).numpy()[:, 0]
    lo, hi = many.min(0) - 1.0, many.max(0) + 1.0
    gx, gy = (np.linspace(lo[i], hi[i], 241, dtype=np.float32) for i in range(2))
    grid = np.stack(np.meshgrid(gx, gy, indexing="ij"), -1).reshape(-1, 1, 2)
    density = np.exp(q.log_prob(grid).numpy().astype(np.float64))
    # Far from the samples the sequential inverse divides by sigma_t < 1 repeatedly and can
    # overflow (inf - inf = NaN); the density there is 0 to float precision.
    density = np.where(np.isfinite(density), density, 0.0)
    mass = density.sum() * (gx[1] - gx[0]) * (gy[1] - gy[0])
    assert mass == pytest.approx(1.0, abs=0.03)


def test_iaf_kl_falls_back_to_monte_carlo(rng):
    layer = _iaf(rng=rng)
    q = layer.distribution(_params(layer, rng))
    prior = tfd.Independent(tfd.Normal(tf.zeros(4), 1.0), 1)
    assert objectives.analytic_kl(q, prior) is None
    assert objectives.kl_per_dimension(q, prior) is None
    x = tf.zeros([3, 1, 1, 1])
    decode = lambda z: tfd.Independent(tfd.Normal(z[..., :1, None, None], 1.0), 3)  # noqa: E731
    t = objectives.terms(x, q, prior, decode, num_samples=4, seed=[1, 1])
    z = q.sample(4, seed=[1, 1])
    np.testing.assert_allclose(t["rate"], tf.reduce_mean(q.log_prob(z) - prior.log_prob(z), 0),
                               rtol=1e-4, atol=1e-4)


def test_iaf_validation():
    with pytest.raises(ValueError, match="num_flows must be"):
        posteriors.get("iaf", 4, num_flows=0)
    with pytest.raises(ValueError, match="context_units must be"):
        posteriors.get("iaf", 4, context_units=-1)
    with pytest.raises(ValueError, match="Did you mean 'iaf'"):
        posteriors.get("iaff", 4)
    assert posteriors.get("iaf", 4, context_units=5).params_size == 13


@pytest.mark.parametrize("family", ["mlp", "conv"])
def test_iaf_posterior_trains_saves_and_loads(family, tmp_path):
    data, images, _ = mock_batches(image_shape=(8, 8, 1), n=16, batch_size=8)
    kwargs = dict(latent_dim=3, binarization="static", posterior="iaf", seed=0,
                  posterior_kwargs={"num_flows": 2, "hidden_units": [8], "context_units": 4})
    if family == "mlp":
        model = vaezoo.MLPVAE(hidden_units=(16,), **kwargs)
    else:
        model = vaezoo.ConvVAE(filters=(4,), dense_units=8, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    logs = model.fit(data, epochs=1, verbose=0).history
    assert all(np.isfinite(logs[k][0]) for k in ("loss", "elbo", "rate", "distortion"))
    np.testing.assert_allclose(logs["elbo"][0], -(logs["rate"][0] + logs["distortion"][0]),
                               rtol=1e-4)
    # The MADE weights are model weights and they trained (their output layer starts at 0).
    made_weights = model.posterior_layer.trainable_weights
    assert {w.path for w in made_weights} <= {w.path for w in model.trainable_weights}
    assert any(np.any(w.numpy() != 0) for w in made_weights if "out_kernel" in w.path)

    path = str(tmp_path / "iaf.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded.predict(images, verbose=0),
                               model.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.elbo(images, num_samples=3, seed=7).numpy(),
                               model.elbo(images, num_samples=3, seed=7).numpy(), rtol=1e-4)
    np.testing.assert_array_equal(model.reconstruct(images).numpy(),
                                  model.reconstruct(images).numpy())
    assert tuple(model.sample(2, seed=1).shape) == (2, 8, 8, 1)
