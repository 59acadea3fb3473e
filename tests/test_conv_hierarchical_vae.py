"""ConvHierarchicalVAE: the two-level ELBO by hand, the importance-sampled log p(x) on an
exact linear-Gaussian model, any top prior, IWAE / warm-up / per-level free bits."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import vaezoo
from harness import check_gradients_reach_every_variable, check_vae, mock_batches

SHAPE = (10, 9, 1)   # odd sizes: the decoder crops its upsampled grid


def tiny(**kwargs):
    return vaezoo.ConvHierarchicalVAE(**{
        "latent_dims": (4, 3), "filters": (4,), "dense_units": 16, "feature_channels": 2,
        "image_shape": SHAPE, "binarization": "static", "seed": 0, **kwargs})


def images(n=6, seed=0, shape=SHAPE):
    return np.random.default_rng(seed).integers(0, 256, (n,) + shape).astype(np.uint8)


@pytest.mark.parametrize("kwargs", [
    {"objective": "iwae", "num_samples": 3, "block": "gated"},
    {"block": "residual", "prior": "vamp", "prior_kwargs": {"num_components": 3},
     "free_bits": 0.05, "warmup_steps": 2},
])
def test_shared_harness(tmp_path, kwargs):
    data, imgs, _ = mock_batches(SHAPE)
    check_vae(lambda: tiny(image_shape=None, **kwargs), data, imgs[:6], tmp_path)


@pytest.mark.parametrize("shape", [(28, 28, 1), (7, 5, 3), (1, 1, 1)])
@pytest.mark.parametrize("block", ["gated", "residual"])
def test_any_image_shape(shape, block):
    model = tiny(image_shape=shape, block=block, filters=(4, 8))
    q = model.encode(images(2, shape=shape))
    assert tuple(q.batch_shape) == (2,) and tuple(q.event_shape) == (7,)
    z = q.sample(3, seed=tf.constant([0, 1]))
    assert tuple(model.decode(z).batch_shape) == (3, 2)
    assert tuple(model.decode(z).event_shape) == shape
    assert model.sample(2, seed=0).shape == (2,) + shape


# ---------------------------------------------------------------------- the ELBO by hand
def _softplus(v):
    return np.logaddexp(0.0, v)


def _normal(z, params):
    """log N(z; loc, diag scale^2) summed over the last axis, from [loc, raw scale] params
    (scale = softplus(raw) + 1e-4, as DiagonalGaussian)."""
    loc, raw = np.split(np.asarray(params, np.float64), 2, axis=-1)
    scale = _softplus(raw) + 1e-4
    return np.sum(-0.5 * ((z - loc) / scale) ** 2 - np.log(scale) - 0.5 * math.log(2 * math.pi),
                  axis=-1)


def _by_hand(model, x, z):
    """The per-sample log densities of the two-level model at z [S, B, d1 + d2], from the
    networks' outputs: (log p(x|z1,z2), log p(z1|z2), log q(z1|x,z2), log q(z2|x))."""
    d1, d2 = model.latent_dims
    s, b = z.shape[:2]
    z1, z2 = z[..., :d1], z[..., d1:]
    q2 = model.posterior_head(model.encoder(x)).numpy()[None]                  # [1, B, 2 d2]
    features = model.z1_encoder(x).numpy()
    features = np.broadcast_to(features, (s,) + features.shape)
    joint = np.concatenate([features, z2], axis=-1).reshape(s * b, -1)
    q1 = model.q_z1_net(joint).numpy().reshape(s, b, 2 * d1)
    p1 = model.p_z1_net(z2.reshape(-1, d2)).numpy().reshape(s, b, 2 * d1)
    logits = model.decoder(z.reshape(s * b, -1)).numpy().astype(np.float64).reshape(
        (s, b) + model.image_shape)
    xs = x.numpy()[None]
    log_px = np.sum(xs * -_softplus(-logits) + (1 - xs) * -_softplus(logits), axis=(2, 3, 4))
    return log_px, _normal(z1, p1), _normal(z1, q1), _normal(z2, q2)


def test_the_two_level_elbo_matches_a_hand_computation():
    model = tiny()
    x, _ = model.preprocess(images())
    seed = tf.constant([7, 0])   # model.elbo(seed=7) draws z with this stateless seed
    z = model.encode(x).sample(3, seed=seed).numpy().astype(np.float64)       # [3, B, 7]
    log_px, log_p1, log_q1, log_q2 = _by_hand(model, x, z)
    z2 = z[..., 4:]
    log_p2 = np.sum(-0.5 * z2 ** 2 - 0.5 * math.log(2 * math.pi), axis=-1)
    distortion = -log_px.mean(0)
    rate_z1, rate_z2 = (log_q1 - log_p1).mean(0), (log_q2 - log_p2).mean(0)

    t, q, p = model._terms(x, None, 3, seed, level_rates=True)
    np.testing.assert_allclose(t["distortion"], distortion, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(t["rate_z1"], rate_z1, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(t["rate_z2"], rate_z2, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(t["rate"], rate_z1 + rate_z2, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(model.elbo(images(), num_samples=3, seed=7),
                               -(distortion + rate_z1 + rate_z2), rtol=1e-5, atol=1e-3)
    # the joint densities are the products of the conditionals
    np.testing.assert_allclose(q.log_prob(z), log_q1 + log_q2, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(p.log_prob(z), log_p1 + log_p2, rtol=1e-5, atol=1e-3)


def test_the_vamp_prior_is_over_z2_through_q_z2_given_x():
    """p(z2) = (1/K) sum_k q(z2 | u_k) with the model's own q(z2|x); p(z1|z2) below it."""
    model = tiny(prior="vamp", prior_kwargs={"num_components": 5})
    x, _ = model.preprocess(images())
    z = model.encode(x).sample(2, seed=tf.constant([1, 2])).numpy().astype(np.float64)
    pseudo = model.prior_layer.pseudo_inputs()
    components = model.posterior_head(model.encoder(pseudo)).numpy()          # [K, 2 d2]
    per_k = _normal(z[..., None, 4:], components)                            # [S, B, K]
    log_p2 = np.log(np.mean(np.exp(per_k - per_k.max(-1, keepdims=True)), -1)) + per_k.max(-1)
    log_p1, log_p2_model = model.prior().log_prob_parts(z)
    np.testing.assert_allclose(log_p2_model, log_p2, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(log_p1, _by_hand(model, x, z)[1], rtol=1e-5, atol=1e-4)


def test_gradients_reach_every_network():
    model = tiny(objective="iwae", num_samples=3, prior="vamp",
                 prior_kwargs={"num_components": 3})
    x, _ = model.preprocess(images())
    model.compile()
    check_gradients_reach_every_variable(model, x)


# ---------------------------------------------------------------------- exact log p(x)
# p(z2) = N(0, I), p(z1|z2) = N(alpha z2 + a, diag s1^2), p(x|z1, z2) = N(beta z1 + b,
# sigma^2 I), all diagonal: each pixel i is a scalar chain, so x_i ~ N(beta a + b,
# beta^2 (alpha^2 + s1^2) + sigma^2) and the exact posterior p(z2|x) p(z1|x, z2) is in the
# model's family (linear means, constant scales).
LG_SHAPE = (2, 2, 1)
ALPHA, A = np.array([0.8, -0.5, 1.2, 0.3]), np.array([0.1, -0.2, 0.0, 0.3])
S1 = np.array([0.5, 0.7, 0.4, 0.9])
BETA, B = np.array([0.6, 1.1, -0.7, 0.9]), np.array([0.5, 0.4, 0.6, 0.5])
SIGMA = 0.3


class _LinearGaussianHVAE(vaezoo.ConvHierarchicalVAE):
    """The model's own encode / prior / decode, on linear networks."""

    def _make_encoder(self, image_shape):
        return keras.Sequential([keras.layers.Flatten()])

    _make_z1_encoder = _make_encoder

    def _make_decoder(self, image_shape, out_channels):
        return keras.Sequential([keras.layers.Dense(4), keras.layers.Reshape(image_shape)])

    def _make_q_z1_net(self, features_size):
        return keras.Sequential([keras.layers.Dense(8)])

    def _make_p_z1_net(self):
        return keras.Sequential([keras.layers.Dense(8)])


def _raw(scale):
    return np.log(np.expm1(scale - 1e-4))   # DiagonalGaussian: scale = softplus(raw) + 1e-4


def _linear_gaussian_model(widen=1.0):
    """The model with the exact posterior as q (its scales times ``widen``)."""
    model = _LinearGaussianHVAE(latent_dims=(4, 4), likelihood="gaussian",
                                likelihood_kwargs={"scale": SIGMA}, image_shape=LG_SHAPE)
    residual = BETA ** 2 * S1 ** 2 + SIGMA ** 2          # var of x given z2
    v2 = 1.0 / (1.0 + BETA ** 2 * ALPHA ** 2 / residual)
    gain2 = v2 * BETA * ALPHA / residual                 # E[z2|x] = gain2 (x - beta a - b)
    v1 = 1.0 / (1.0 / S1 ** 2 + BETA ** 2 / SIGMA ** 2)
    zeros = np.zeros((4, 4))
    model.posterior_head.set_weights([
        np.block([[np.diag(gain2), zeros]]),
        np.concatenate([-gain2 * (BETA * A + B), _raw(widen * np.sqrt(v2))])])
    model.q_z1_net.set_weights([                         # on [x, z2]
        np.block([[np.diag(v1 * BETA / SIGMA ** 2), zeros],
                  [np.diag(v1 * ALPHA / S1 ** 2), zeros]]),
        np.concatenate([v1 * (A / S1 ** 2 - BETA * B / SIGMA ** 2), _raw(widen * np.sqrt(v1))])])
    model.p_z1_net.set_weights([np.block([[np.diag(ALPHA), zeros]]),
                                np.concatenate([A, _raw(S1)])])
    model.decoder.set_weights([np.concatenate([np.diag(BETA), zeros]), B])   # on [z1, z2]
    return model


def _exact_log_px(x):
    flat = x.reshape(len(x), -1).astype(np.float64)
    var = BETA ** 2 * (ALPHA ** 2 + S1 ** 2) + SIGMA ** 2
    return np.sum(-0.5 * (flat - (BETA * A + B)) ** 2 / var - 0.5 * np.log(2 * math.pi * var),
                  axis=-1)


def _gray_images(n=6):
    return np.random.default_rng(3).uniform(0, 1, (n,) + LG_SHAPE).astype(np.float32)


def test_importance_sampled_log_likelihood_is_exact_with_the_exact_posterior():
    x = _gray_images()
    model = _linear_gaussian_model()
    exact = _exact_log_px(x)
    result = vaezoo.evaluation.log_likelihood(model, x, num_samples=16, progress=False,
                                              precision="float32", return_per_example=True)
    np.testing.assert_allclose(result["per_example"], exact, atol=2e-3)
    # every importance weight is p(x): the ELBO is tight too
    np.testing.assert_allclose(model.elbo(x, num_samples=4, seed=0), exact, atol=2e-3)


def test_importance_sampled_log_likelihood_converges_with_a_wider_proposal():
    """q = the exact posterior with 1.2 x its scales (bounded weights, of standard deviation
    ~0.7 p(x)): the ELBO is ~0.3 nats below log p(x), the estimate with K = 4000 draws from
    q(z2|x) q(z1|x, z2) within 5 of its standard errors (~0.01) of it."""
    x = _gray_images()
    model = _linear_gaussian_model(widen=1.2)
    exact = _exact_log_px(x)
    result = vaezoo.evaluation.log_likelihood(model, x, num_samples=4000, progress=False,
                                              precision="float32", return_per_example=True)
    np.testing.assert_allclose(result["per_example"], exact, atol=0.05)
    assert abs(result["log_likelihood"] - exact.mean()) < 0.02
    elbo = model.elbo(x, num_samples=64, seed=0).numpy()
    assert np.all(elbo < exact - 0.1), (elbo, exact)


# ---------------------------------------------------------------------- priors, objectives
@pytest.mark.parametrize("prior, kwargs", [
    ("vamp", {"prior_kwargs": {"num_components": 4}, "free_bits": 0.05, "warmup_steps": 3}),
    ("mixture", {"prior_kwargs": {"num_components": 3}, "objective": "iwae", "num_samples": 3}),
    ("flow", {"prior_kwargs": {"num_flows": 2, "hidden_units": (8,)}}),
])
def test_any_top_prior(prior, kwargs):
    """p(z2) is any vaezoo prior; fit (with free bits and warm-up, or IWAE), log p(x).
    Eager steps: the harness above runs the compiled ones."""
    model = tiny(prior=prior, image_shape=None, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    history = model.fit(images(16), batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert model.prior_layer.latent_dim == 3        # over z2
    ll = vaezoo.evaluation.log_likelihood(model, images(4), num_samples=20, progress=False)
    assert np.isfinite(ll["log_likelihood"])
    assert model.sample(3, seed=1).shape == (3,) + SHAPE


def test_iwae_objective():
    model = tiny(objective="iwae", num_samples=4)
    model.compile()
    x, _ = model.preprocess(images())
    loss, t = model.compute_objective(x)
    # the same draws: logmeanexp of the log weights >= their mean
    assert np.all(t["iwae"].numpy() >= t["elbo"].numpy() - 1e-4)
    np.testing.assert_allclose(loss, -np.mean(t["iwae"]), rtol=1e-6)


def test_warmup():
    model = tiny(warmup_steps=4)
    model.compile()
    x, _ = model.preprocess(images())
    loss, t = model.compute_objective(x, training=True)                      # step 0: beta/4
    np.testing.assert_allclose(loss, np.mean(t["distortion"]) + 0.25 * np.mean(t["rate"]),
                               rtol=1e-5)


def test_free_bits_apply_per_level(monkeypatch):
    """loss = distortion + beta_t * sum_l max(lambda d_l, mean rate_l), on the terms the
    model computes (rate_z1 + rate_z2 = rate), and on given terms where one level is
    below its free bits and the other above."""
    model = tiny(free_bits=0.5, warmup_steps=4)
    model.compile()
    x, _ = model.preprocess(images())
    loss, t = model.compute_objective(x, training=True)
    np.testing.assert_allclose(t["rate_z1"] + t["rate_z2"], t["rate"], rtol=1e-5, atol=1e-4)
    expected = np.mean(t["distortion"]) + 0.25 * sum(
        max(0.5 * d, np.mean(t[f"rate_z{level}"])) for level, d in ((1, 4), (2, 3)))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)

    given = {"distortion": tf.constant([10.0, 12.0]), "rate_z1": tf.constant([5.0, 7.0]),
             "rate_z2": tf.constant([0.1, 0.3])}
    monkeypatch.setattr(model, "_terms", lambda *args, **kwargs: (given, None, None))
    loss, _ = model.compute_objective(x)                  # beta = 1: 11 + 6 + 0.5 * 3
    np.testing.assert_allclose(loss, 11.0 + 6.0 + 1.5, rtol=1e-6)
    loss, _ = model.compute_objective(x, training=True)   # beta_0 = 1/4
    np.testing.assert_allclose(loss, 11.0 + 0.25 * 7.5, rtol=1e-6)


def test_config_round_trip_and_saving(tmp_path):
    model = tiny(block="residual", activation="tanh", prior="vamp",
                 prior_kwargs={"num_components": 3})
    config = model.get_config()
    assert {k: config[k] for k in ("latent_dims", "filters", "kernel_size", "block",
                                   "dense_units", "feature_channels", "activation",
                                   "latent_dim")} == {
        "latent_dims": [4, 3], "filters": [4], "kernel_size": 3, "block": "residual",
        "dense_units": 16, "feature_channels": 2, "activation": "tanh", "latent_dim": 7}
    again = vaezoo.ConvHierarchicalVAE.from_config(config)
    assert again.get_config() == config
    model.compile()
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded) is vaezoo.ConvHierarchicalVAE
    z = model.encode(images()).sample(seed=tf.constant([0, 1]))
    np.testing.assert_allclose(loaded.prior().log_prob(z), model.prior().log_prob(z), rtol=1e-5)
    np.testing.assert_allclose(loaded.encode(images()).log_prob(z),
                               model.encode(images()).log_prob(z), rtol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"latent_dims": (4,)}, r"latent_dims must be \(size of z1, size of z2\)"),
    ({"latent_dims": (4, 0)}, r"latent_dims\[1\] must be a positive integer"),
    ({"filters": 32}, "filters must be a list or tuple of positive integers"),
    ({"filters": ()}, "filters must be a list or tuple of positive integers"),
    ({"block": "gatd"}, "block must be one of 'gated', 'residual'; got 'gatd'.*'gated'"),
    ({"kernel_size": 0}, "kernel_size must be a positive integer"),
    ({"dense_units": 2.5}, "dense_units must be a positive integer"),
    ({"feature_channels": -1}, "feature_channels must be a positive integer"),
    ({"activation": "relux"}, "relux"),
    ({"latent_dim": 5}, "leave latent_dim out"),
    ({"posterior": "iaf"}, "leave posterior='gaussian'"),
    ({"prior": "vampp"}, "prior must be one of .*'vamp'"),
])
def test_bad_options_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny(**kwargs)
