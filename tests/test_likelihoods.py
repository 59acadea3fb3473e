"""Likelihoods for 8-bit images: the discretized logistic (mixture)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import vaezoo
from tests.harness import check_vae, mock_batches
from vaezoo import evaluation, likelihoods
from vaezoo.likelihoods.discretized_logistic import _DiscretizedLogisticMixture

tfd = tfp.distributions
LEVELS = np.arange(256, dtype=np.float32) / 255.0


def _all_levels_log_prob(dist, batch_shape):
    """log P(x_k) for the 256 levels, stacked on a leading axis: [256, *batch_shape]."""
    x = np.broadcast_to(LEVELS.reshape((256,) + (1,) * len(batch_shape)), (256,) + batch_shape)
    return dist.log_prob(tf.constant(x)).numpy()


@pytest.mark.parametrize("num_components", [1, 2, 5])
def test_probabilities_over_256_values_sum_to_one(num_components, rng):
    lk = likelihoods.get("discretized_logistic", num_components=num_components)
    lk.build((3, 2, 1))
    # Wide spread of parameters: locations far outside [0, 1], scales from tiny to large.
    params = tf.constant(rng.normal(size=(4, 3, 2, lk.params_per_channel)) * 4, tf.float32)
    pixels = lk.distribution(params).distribution          # batch [4, 3, 2, 1], scalar event
    log_p = _all_levels_log_prob(pixels, (4, 3, 2, 1))
    assert np.all(np.isfinite(log_p))
    total = np.exp(log_p.astype(np.float64)).sum(axis=0)
    np.testing.assert_allclose(total, 1.0, atol=2e-5)


@pytest.mark.parametrize("loc,log_scale", [(0.3, -7.0), (0.3, -25.0), (4.0, -3.0),
                                           (-4.0, -3.0), (0.5, 3.0), (0.0, -6.0), (1.0, -6.0)])
def test_extreme_parameters_stay_normalized_and_finite(loc, log_scale):
    d = _DiscretizedLogisticMixture([[0.0]], [[loc]], [[log_scale]])
    log_p = d.log_prob(tf.constant(LEVELS[:, None])).numpy()
    assert np.all(np.isfinite(log_p))
    assert np.exp(log_p.astype(np.float64)).sum() == pytest.approx(1.0, abs=2e-5)


def test_matches_tfp_quantized_logistic_including_the_edges(rng):
    """An independent reference: TFP's QuantizedDistribution on the 0..255 integer scale.

    Quantized puts P(Y = k) = F(k) - F(k - 1) with the tails in 0 and 255; our bin of
    level k is [k - 1/2, k + 1/2] / 255, so the reference logistic sits at 255 mu - 1/2.
    """
    loc = rng.uniform(-0.2, 1.2, size=(6, 1)).astype(np.float32)
    log_scale = rng.uniform(-5, 0, size=(6, 1)).astype(np.float32)
    ours = _DiscretizedLogisticMixture(np.zeros_like(loc), loc, log_scale)
    ref = tfd.QuantizedDistribution(
        tfd.Logistic(255.0 * loc[:, 0] - 0.5, 255.0 * np.exp(log_scale[:, 0])), low=0.0,
        high=255.0)
    k = np.arange(256, dtype=np.float32)[:, None]
    np.testing.assert_allclose(ours.log_prob(tf.constant(k / 255.0)).numpy(),
                               ref.log_prob(k).numpy(), atol=2e-3)
    # Edge bins hold the tails: P(0) = F(1/2 / 255), P(255) = 1 - F((255 - 1/2) / 255).
    logistic = tfd.Logistic(loc[:, 0], np.exp(log_scale[:, 0]))
    np.testing.assert_allclose(np.exp(ours.log_prob(tf.zeros([6])).numpy()),
                               logistic.cdf(0.5 / 255).numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.exp(ours.log_prob(tf.ones([6])).numpy()),
                               logistic.survival_function(1 - 0.5 / 255).numpy(),
                               rtol=1e-4, atol=1e-6)


def test_mixture_is_the_weighted_sum_of_its_components(rng):
    logits = rng.normal(size=(5, 3)).astype(np.float32)
    loc = rng.uniform(0, 1, size=(5, 3)).astype(np.float32)
    log_scale = rng.uniform(-4, -1, size=(5, 3)).astype(np.float32)
    mix = _DiscretizedLogisticMixture(logits, loc, log_scale)
    x = tf.constant(rng.integers(0, 256, size=(5,)).astype(np.float32) / 255)
    weights = tf.nn.softmax(logits).numpy()
    comps = [np.exp(_DiscretizedLogisticMixture(np.zeros((5, 1), np.float32), loc[:, m:m + 1],
                                                log_scale[:, m:m + 1]).log_prob(x).numpy())
             for m in range(3)]
    expected = sum(weights[:, m] * comps[m] for m in range(3))
    np.testing.assert_allclose(np.exp(mix.log_prob(x).numpy()), expected, rtol=1e-5)


def test_mean_and_samples(rng):
    lk = likelihoods.get("discretized_logistic_mixture", num_components=3)
    lk.build((2, 2, 1))
    params = tf.constant(rng.normal(size=(3, 2, 2, lk.params_per_channel)), tf.float32)
    d = lk.distribution(params)
    log_p = _all_levels_log_prob(d.distribution, (3, 2, 2, 1))
    exact_mean = (np.exp(log_p) * LEVELS[:, None, None, None, None]).sum(axis=0)
    np.testing.assert_allclose(d.mean().numpy(), exact_mean, atol=1e-5)
    samples = d.sample(3000, seed=(4, 2)).numpy()
    assert samples.shape == (3000, 3, 2, 2, 1)
    np.testing.assert_array_equal(np.round(samples * 255) / 255, samples)   # on the grid
    assert samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_allclose(samples.mean(axis=0), exact_mean, atol=0.03)
    np.testing.assert_array_equal(d.sample(5, seed=(1, 1)).numpy(),
                                  d.sample(5, seed=(1, 1)).numpy())


def test_validation_and_registry():
    assert likelihoods.get("discretized_logistic").params_per_channel == 2
    assert likelihoods.get("discretized_logistic_mixture").num_components == 5
    assert likelihoods.get("discretized_logistic_mixture").params_per_channel == 15
    assert likelihoods.get("discretized_logistic").support == "bytes"
    with pytest.raises(ValueError, match="num_components must be"):
        likelihoods.get("discretized_logistic", num_components=0)
    with pytest.raises(ValueError, match="discretized_logistic"):
        likelihoods.get("discretised_logistic")
    with pytest.raises(ValueError, match="only applies to a Bernoulli"):
        vaezoo.MLPVAE(likelihood="discretized_logistic", binarization="static")


@pytest.mark.parametrize("family,likelihood", [
    ("mlp", "discretized_logistic"), ("conv", "discretized_logistic_mixture")])
def test_models_train_save_and_report_bits_per_dim(family, likelihood, tmp_path):
    data, images, _ = mock_batches(n=16, batch_size=8)

    def factory():
        if family == "mlp":
            return vaezoo.MLPVAE(latent_dim=4, hidden_units=(32,), likelihood=likelihood, seed=0)
        return vaezoo.ConvVAE(latent_dim=4, filters=(8,), dense_units=16, likelihood=likelihood,
                              likelihood_kwargs={"num_components": 2}, seed=0)

    model = check_vae(factory, data, images, tmp_path)
    x, _ = model.preprocess(images)
    np.testing.assert_allclose(x.numpy() * 255, images, atol=1e-3)   # gray levels kept
    res = evaluation.log_likelihood(model, images, num_samples=8, progress=False)
    # Uniform over 256 values is 8 bits/dim; an untrained model is in that range.
    assert 0 < res["bits_per_dim"] < 12


def test_logit_bernoulli_log_prob_equals_tfd_bernoulli():
    from vaezoo.likelihoods.bernoulli import LogitBernoulli
    rng = np.random.default_rng(0)
    logits = np.concatenate([rng.normal(size=500) * 5, [-60.0, -20.0, 0.0, 20.0, 60.0]])
    logits = logits.astype("float32")
    for x in (rng.integers(0, 2, logits.shape).astype("float32"),
              rng.random(logits.shape).astype("float32")):          # fractional too
        fast = LogitBernoulli(logits=logits, dtype=tf.float32).log_prob(x).numpy()
        ref = tfd.Bernoulli(logits=logits, dtype=tf.float32).log_prob(x).numpy()
        np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-5)
        assert np.all(np.isfinite(fast))
    # gradients agree too (training differentiates through it)
    lt = tf.constant(logits)
    x = tf.constant(rng.integers(0, 2, logits.shape).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(lt)
        a = tf.reduce_sum(LogitBernoulli(logits=lt, dtype=tf.float32).log_prob(x))
        b = tf.reduce_sum(tfd.Bernoulli(logits=lt, dtype=tf.float32).log_prob(x))
    np.testing.assert_allclose(tape.gradient(a, lt), tape.gradient(b, lt), rtol=1e-5, atol=1e-6)
    # probs-parameterized instances keep TFP's formula
    p = LogitBernoulli(probs=np.float32([0.2, 0.9]), dtype=tf.float32)
    np.testing.assert_allclose(p.log_prob([1.0, 0.0]), np.log([0.2, 0.1]), rtol=1e-5)
