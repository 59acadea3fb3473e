"""AuxiliaryDGM (ADGM and SDGM, Maaløe et al. 2016): bounds by hand, exact likelihoods, recipe."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import vaezoo
from harness import (check_keras_workflows, check_semi_supervised_objective, check_vae,
                     family_model, mock_batches, workflow_data)
from vaezoo import evaluation
from vaezoo.models.auxiliary_dgm import AuxiliaryDGM
from vaezoo.recipes.m1_m2 import M1M2, train_m1_m2

tfd = tfp.distributions


def tiny(variant="adgm", **kw):
    return vaezoo.AuxiliaryDGM(**{
        "variant": variant, "num_classes": 3, "latent_dim": 2, "hidden_units": (8,),
        "classifier_hidden_units": (8,), "auxiliary_dim": 2, "auxiliary_hidden_units": (8,),
        "likelihood": "bernoulli", "seed": 0, **kw})


@pytest.mark.slow
def test_sdgm_through_the_keras_workflows(tmp_path):
    """The harness runs the ADGM (its FAMILIES line); here the SDGM variant."""
    images, labels = workflow_data()
    check_keras_workflows(lambda **kw: family_model("AuxiliaryDGM", variant="sdgm", **kw),
                          images, labels, tmp_path, tensorboard=False)


@pytest.mark.parametrize("variant", ["adgm", "sdgm"])
def test_harness_classify_save_load(variant, tmp_path):
    data, images, labels = mock_batches(n=16, batch_size=8, num_classes=3, as_dict=False)
    model = check_vae(lambda: tiny(variant, binarization="dynamic", alpha=0.0), data, images,
                      tmp_path, labels=labels)
    probs = model.classify(images).numpy()
    assert probs.shape == (16, 3)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(model.classify(images).numpy(), probs)   # deterministic
    loaded = keras.models.load_model(str(tmp_path / "model.keras"))
    assert loaded.variant == variant
    np.testing.assert_allclose(loaded.classify(images), probs, rtol=1e-5, atol=1e-6)


def test_conv_trunk_any_image_shape(tmp_path):
    """trunk="conv": y and a enter the convolutional encoder as constant channels; odd sizes
    work, and the model saves and loads."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 9, 7, 1), dtype=np.uint8)
    for variant in ("adgm", "sdgm"):
        model = tiny(variant, trunk="conv", filters=(4,), dense_units=0, hidden_units=(8,),
                     binarization="dynamic")
        model.compile(optimizer="adam")
        model.fit(x, np.array([0, 1, 2, -1, -1, -1, 1, -1]), batch_size=4, epochs=1, verbose=0)
        assert model.encoder.layers[0].input.shape[-1] == 1 + 3 + 2   # x, y, a channels
        assert model.sample(2, condition=1, seed=0).shape == (2, 9, 7, 1)
        model.save(str(tmp_path / f"{variant}.keras"))
        loaded = keras.models.load_model(str(tmp_path / f"{variant}.keras"))
        np.testing.assert_allclose(loaded.classify(x), model.classify(x), rtol=1e-5, atol=1e-6)


def _sharp_posteriors(model):
    """q(z|a,y,x) with scale 1e-4: z is its mean up to 1e-4."""
    kernel, bias = model.posterior_head.get_weights()
    kernel[:, model.latent_dim:] = 0.0
    bias[model.latent_dim:] = -40.0
    model.posterior_head.set_weights([kernel, bias])


def _at_the_mean(model):
    """Draws a at the mean of q(a|x) (with its log density there): the bounds become
    deterministic functions of the public distributions."""
    def draw(x, seed):
        q = model.auxiliary_posterior(x)
        return q.mean(), q.log_prob(q.mean())
    model._draw_auxiliary = draw


def _labeled_bound(model, x, k):
    """L(x, k | a = mean q(a|x)) from the public pieces (paper eq. 5): log p(x|.) + log p(a|.)
    - log q(a|x) - KL(q(z|a,y,x) || p(z)) - log K, at z = the mean of q(z|a,y,x)."""
    y = np.full(len(x), k)
    q_a = model.auxiliary_posterior(x)
    a = q_a.mean()
    q_z = model.encode(x, y)                     # q(z | a = mean, y, x)
    z = q_z.mean()
    log_px = model.decode(z, y).log_prob(x) if model.variant == "adgm" else \
        model.likelihood_layer.distribution(model.decoder(tf.concat(
            [z, tf.one_hot(y, model.num_classes), a], -1))).log_prob(x)
    log_pa = model.auxiliary_prior(x, tf.constant(y, tf.int32), z).log_prob(a)
    kl = tfd.kl_divergence(q_z, model.prior(y))
    return log_px + log_pa - q_a.log_prob(a) - kl - math.log(model.num_classes)


@pytest.mark.parametrize("variant", ["adgm", "sdgm"])
def test_bounds_match_a_hand_computation(variant):
    k = 3
    model = tiny(variant, alpha=2.5, image_shape=(4, 4, 1))
    _sharp_posteriors(model)
    _at_the_mean(model)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.integers(0, 2, size=(5, 4, 4, 1)).astype(np.float32))
    bounds = np.stack([_labeled_bound(model, x, c).numpy() for c in range(k)], -1)   # [B, K]
    a = model.auxiliary_posterior(x).mean()
    qy = tf.nn.softmax(model.classifier_logits(x, a=a)).numpy()   # q(y | a, x)
    # z is drawn at the posterior's scale floor 1e-4, not at its mean: with these weights the
    # gradients move a bound by up to ~0.02 nats, far below any wrong term (log K,
    # H(q(y|a,x)), log q(a|x) are each ~1 nat here).
    check_semi_supervised_objective(model, x, bounds, qy, np.array([-1, 0, 2, -1, 1]), 2.5,
                                    atol=0.05)


def _exact_log_px_given_y(model, x, y, grid=np.linspace(-7, 7, 1401)):
    """log p(x|y) by quadrature over z (and a for SDGM), latent_dim = auxiliary_dim = 1."""
    x = tf.constant(x)
    n, g = len(grid), tf.constant(grid[:, None], tf.float32)
    step = grid[1] - grid[0]
    log_pz = tfd.Normal(0.0, 1.0).log_prob(g[:, 0])                    # [G]
    out = []
    for i in range(x.shape[0]):
        xi = tf.repeat(x[i:i + 1], n, axis=0)
        yi = tf.fill([n], y)
        if model.variant == "adgm":      # p(x|y) = int p(x|y,z) p(z) dz
            log_px = model.decode(g, yi).log_prob(xi)
            out.append(tf.reduce_logsumexp(log_px + log_pz) + math.log(step))
            continue
        # SDGM: p(x|y) = int int p(x|a,y,z) p(a|y,z) p(z) da dz, on the grid's n x n pairs
        zz = tf.repeat(g, n, axis=0)                                        # z_j, a_k
        aa = tf.tile(g, [n, 1])
        xx, yy = tf.repeat(x[i:i + 1], n * n, axis=0), tf.fill([n * n], y)
        log_pa = model.auxiliary_prior(xx, yy, zz).log_prob(aa)
        dec = model.decoder(tf.concat([zz, tf.one_hot(yy, model.num_classes), aa], -1))
        log_px = model.likelihood_layer.distribution(dec).log_prob(xx)
        log_joint = log_px + log_pa + tf.repeat(log_pz, n)
        out.append(tf.reduce_logsumexp(log_joint) + 2 * math.log(step))
    return np.array([float(v) for v in out])


@pytest.mark.parametrize("variant", ["adgm", "sdgm"])
def test_importance_sampling_recovers_the_exact_likelihood(variant):
    """On a model small enough to integrate (z and a one-dimensional, 2x2 binary images)
    the importance-sampled log p(x|y) over (a, z) ~ q(a|x) q(z|a,y,x) matches quadrature,
    and log_likelihood's class-summed estimate matches logsumexp_y log p(x|y) - log K."""
    model = tiny(variant, latent_dim=1, auxiliary_dim=1, image_shape=(2, 2, 1),
                 hidden_units=(4,), auxiliary_hidden_units=(4,))
    # Proposals q(a|x), q(z|a,y,x) broader than p(a|.), p(z) keep the importance weights
    # bounded, so a few thousand draws reach quadrature accuracy.
    for layer, scale_bias in ((model.auxiliary_encoder.layers[-1], 3.0),
                              (model.auxiliary_decoder.layers[-1], 0.0),
                              (model.posterior_head, 2.0)):
        kernel, bias = layer.get_weights()
        kernel[:, 1:] = 0.0
        bias[1:] = scale_bias
        layer.set_weights([kernel, bias])
    x = np.array([[[[1], [0]], [[1], [1]]], [[[0], [0]], [[1], [0]]]], np.float32)
    grid = np.linspace(-7, 7, 1401 if variant == "adgm" else 301)
    exact = np.stack([_exact_log_px_given_y(model, x, c, grid) for c in range(3)])   # [K, B]
    result = evaluation.log_likelihood(model, x, num_samples=20000, progress=False,
                                       return_per_example=True)
    expected = np.logaddexp.reduce(exact, axis=0) - math.log(3)
    np.testing.assert_allclose(result["per_example"], expected, atol=0.03)
    assert result["estimate"] == "importance_sampled"


def test_unlabeled_data_trains_the_classifier():
    """With alpha = 0 and no labels, U(x) still reaches q(y|a,x) (through its weights on the
    class bounds and its entropy)."""
    model = tiny(alpha=0.0, image_shape=(4, 4, 1))
    x = tf.constant(np.random.default_rng(0).integers(0, 2, (8, 4, 4, 1)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss, _ = model.compute_objective(x, tf.fill([8], -1))
    grads = tape.gradient(loss, model.classifier.trainable_weights
                          + model.auxiliary_encoder.trainable_weights)
    assert all(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)


def test_m1_plus_adgm_recipe(tmp_path):
    _, images, labels = mock_batches(n=64, batch_size=8, num_classes=3)
    partial = labels.copy()
    partial[8:] = -1
    recipe = train_m1_m2(images, partial, m1_epochs=1, m2_epochs=1, seed=0, batch_size=16,
                         labeled_per_batch=4,
                         m1_kwargs={"latent_dim": 4, "hidden_units": (16,)},
                         m2_class=AuxiliaryDGM,
                         m2_kwargs={"variant": "sdgm", "auxiliary_dim": 3,
                                    "hidden_units": (8,), "classifier_hidden_units": (8,),
                                    "auxiliary_hidden_units": (8,)})
    assert isinstance(recipe.m2, AuxiliaryDGM)
    probs = recipe.classify(images[:5]).numpy()
    recipe.save(str(tmp_path / "m1adgm.keras"))
    loaded = keras.models.load_model(str(tmp_path / "m1adgm.keras"))
    np.testing.assert_allclose(loaded.classify(images[:5]), probs, rtol=1e-5, atol=1e-6)
    # An ensemble of second stages averages their q(y|f(x)), and saves and loads whole.
    other = vaezoo.SemiSupervisedVAE(num_classes=3, latent_dim=2, hidden_units=(8,),
                                     classifier_hidden_units=(8,), feature_inputs=True,
                                     likelihood="gaussian", binarization=None,
                                     image_shape=(1, 1, 4), seed=1)
    both = M1M2(recipe.m1, recipe.m2, [other])
    expected = (probs + M1M2(recipe.m1, other).classify(images[:5]).numpy()) / 2
    np.testing.assert_allclose(both.classify(images[:5]), expected, rtol=1e-5, atol=1e-6)
    both.save(str(tmp_path / "ensemble.keras"))
    np.testing.assert_allclose(keras.models.load_model(str(tmp_path / "ensemble.keras"))
                               .classify(images[:5]), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="m2_class must be SemiSupervisedVAE or a subclass"):
        train_m1_m2(images, partial, m1=recipe.m1, m2_class=vaezoo.MLPVAE, batch_size=16,
                    labeled_per_batch=4)


def test_option_errors():
    with pytest.raises(ValueError, match="variant must be 'adgm'.*or 'sdgm'.*got 'agdm'"):
        tiny("agdm")
    with pytest.raises(ValueError, match="auxiliary_dim"):
        tiny(auxiliary_dim=0)
    with pytest.raises(ValueError, match="prediction_samples"):
        tiny(prediction_samples=0)
    with pytest.raises(ValueError, match="alpha must be a number"):
        tiny(alpha=-1)
    with pytest.raises(ValueError, match="needs class labels"):
        tiny(image_shape=(4, 4, 1)).elbo(np.zeros((2, 4, 4, 1), np.float32))
