"""The families that regularize the codes: beta-VAE (capacity), beta-TC-VAE, FactorVAE,
DIP-VAE, InfoVAE and WAE; their regularizers against hand computations.

The Keras workflows and the dtype policies run over these families with every other
(``harness.FAMILIES``); here: the shared harness, each loss against its formula on one
batch, the estimators of ``vaezoo.regularizers`` against brute-force NumPy, and the
errors where options enter.
"""

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp
from scipy.stats import norm

import keras
from harness import check_vae, mock_batches
from vaezoo import models, regularizers

CONV = {"latent_dim": 3, "filters": (4, 8), "dense_units": 16, "likelihood": "bernoulli",
        "binarization": "dynamic", "seed": 0}
CASES = {
    "BetaVAE": {"beta": 4.0},
    "BetaVAE-capacity": {"capacity_max": 5.0, "capacity_steps": 10, "gamma": 100.0},
    "BetaTCVAE": {"dataset_size": 16, "tc_weight": 6.0},
    "BetaTCVAE-mss": {"dataset_size": 16, "tc_estimator": "mss"},
    "FactorVAE": {"tc_weight": 10.0, "discriminator_units": (16, 16)},
    "DIPVAE": {"dip_type": "i", "lambda_offdiagonal": 5.0},
    "DIPVAE-ii": {"dip_type": "ii"},
    "InfoVAE": {"alpha": 0.5, "info_lambda": 10.0, "kernel": "rbf"},
    "WAE": {"mmd_weight": 10.0},
}
EXTRA = {"BetaVAE": ("capacity",), "BetaTCVAE": ("mutual_information", "total_correlation",
                                                 "dimension_kl"),
         "FactorVAE": ("total_correlation", "discriminator_loss", "discriminator_accuracy"),
         "DIPVAE": ("dip",), "InfoVAE": ("mmd",), "WAE": ("mmd",)}


def build(case, **overrides):
    family = case.split("-")[0]
    return getattr(models, family)(**{**CONV, **CASES[case], **overrides})


def batch(n=8, seed=0):
    _, images, _ = mock_batches(n=n, batch_size=n, seed=seed)
    return images


@pytest.mark.parametrize("case", sorted(CASES))
def test_through_the_shared_harness(case, tmp_path):
    data, images, _ = mock_batches(n=16, batch_size=8)
    model = check_vae(lambda: build(case), data, images[:4], tmp_path,
                      loss_is_negative_elbo=False)
    history = model.fit(data, epochs=1, verbose=0).history
    reported = set(EXTRA[case.split("-")[0]]) if case != "BetaVAE" else set()  # no capacity
    assert reported <= set(history), (sorted(history), reported)
    for name in reported:
        assert np.isfinite(history[name][0]), (name, history[name])


def _objective(model, x, training=False):
    loss, t = model.compute_objective(x, training=training)
    return float(loss), {k: np.asarray(v) for k, v in t.items()}


def _compiled(case, **overrides):
    model = build(case, image_shape=(28, 28, 1), **overrides)
    model.compile(optimizer="adam")
    return model


def test_beta_vae_weights_the_kl():
    model = _compiled("BetaVAE")
    x = model.preprocess(batch())[0]
    loss, t = _objective(model, x)
    np.testing.assert_allclose(loss, t["distortion"].mean() + 4.0 * t["rate"].mean(), rtol=1e-5)


def test_capacity_pulls_the_kl_towards_a_growing_target():
    model = _compiled("BetaVAE-capacity")
    x = model.preprocess(batch())[0]
    loss, t = _objective(model, x)                       # evaluation: C = C_max
    np.testing.assert_allclose(float(t["capacity"]), 5.0)
    np.testing.assert_allclose(loss, t["distortion"].mean() + 100.0 * abs(t["rate"].mean() - 5.0),
                               rtol=1e-5)
    model.optimizer.iterations.assign(4)                 # training at step 4 of 10: C = 2
    loss, t = _objective(model, x, training=True)
    np.testing.assert_allclose(float(t["capacity"]), 2.0, rtol=1e-6)
    np.testing.assert_allclose(loss, t["distortion"].mean() + 100.0 * abs(t["rate"].mean() - 2.0),
                               rtol=1e-5)
    np.testing.assert_allclose(regularizers.capacity(25, 5.0, 10), 5.0)


def test_beta_tc_vae_weights_the_three_parts_of_the_kl():
    model = _compiled("BetaTCVAE", mi_weight=2.0, tc_weight=6.0, dimension_kl_weight=0.5)
    x = model.preprocess(batch())[0]
    loss, t = _objective(model, x)
    expected = t["distortion"].mean() + (2.0 * t["mutual_information"] + 6.0 * t[
        "total_correlation"] + 0.5 * t["dimension_kl"]).mean()
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_dip_vae_adds_the_covariance_penalty():
    for case, lambda_d in (("DIPVAE", 50.0), ("DIPVAE-ii", 10.0)):
        model = _compiled(case)
        assert model.lambda_diagonal == lambda_d          # the paper's ratio to lambda_od
        x = model.preprocess(batch())[0]
        loss, t = _objective(model, x)
        q = model.encode(x)
        loc, scale = q.distribution.loc.numpy(), q.distribution.scale.numpy()
        cov = np.cov(loc.T, bias=True) + (np.diag((scale ** 2).mean(0)) if case != "DIPVAE"
                                          else 0.0)
        off = cov - np.diag(np.diag(cov))
        penalty = (model.lambda_offdiagonal * (off ** 2).sum()
                   + lambda_d * ((np.diag(cov) - 1) ** 2).sum())
        np.testing.assert_allclose(float(t["dip"]), penalty, rtol=1e-4)
        np.testing.assert_allclose(loss, -t["elbo"].mean() + penalty, rtol=1e-4)


def test_info_vae_and_wae_weight_the_kl_and_the_mmd():
    model = _compiled("InfoVAE")
    x = model.preprocess(batch())[0]
    loss, t = _objective(model, x)
    np.testing.assert_allclose(
        loss, t["distortion"].mean() + 0.5 * t["rate"].mean() + (0.5 + 10.0 - 1.0) * t["mmd"],
        rtol=1e-5)
    wae = _compiled("WAE")
    loss, t = _objective(wae, x)
    np.testing.assert_allclose(loss, t["distortion"].mean() + 10.0 * t["mmd"], rtol=1e-5)
    config = wae.get_config()
    assert config["mmd_weight"] == 10.0 and "alpha" not in config and "info_lambda" not in config


def test_factor_vae_trains_both_networks_and_saves_both_optimizers(tmp_path):
    model = _compiled("FactorVAE")
    data, _, _ = mock_batches(n=16, batch_size=8)
    vae_before = [w.numpy() for w in model._vae_variables()]
    disc_before = [w.numpy() for w in model.discriminator.trainable_variables]
    model.fit(data, epochs=2, verbose=0)
    assert int(model.optimizer.iterations) == 4
    assert int(model.discriminator_optimizer.iterations) == 4
    assert all(np.any(a != b.numpy()) for a, b in zip(disc_before,
                                                      model.discriminator.trainable_variables))
    assert any(np.any(a != b.numpy()) for a, b in zip(vae_before, model._vae_variables()))
    # Each optimizer holds state for its own variables only.
    for optimizer, variables in ((model.optimizer, model._vae_variables()),
                                 (model.discriminator_optimizer,
                                  model.discriminator.trainable_variables)):
        alone = keras.optimizers.Adam()
        alone.build(variables)
        assert len(optimizer.variables) == len(alone.variables)
    path = str(tmp_path / "factor.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert int(loaded.discriminator_optimizer.iterations) == 4
    assert loaded.discriminator_optimizer.learning_rate.numpy() == pytest.approx(1e-4)
    for a, b in zip(model.discriminator_optimizer.variables,
                    loaded.discriminator_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_factor_vae_permutes_each_code_dimension_separately():
    from vaezoo.models.factor_vae import _permute_dims
    z = tf.constant(np.arange(40, dtype=np.float32).reshape(10, 4))
    permuted = _permute_dims(z, tf.constant([3, 4])).numpy()
    np.testing.assert_array_equal(np.sort(permuted, axis=0), z.numpy())  # same values per dim
    orders = permuted // 4                                               # row each came from
    assert len({tuple(orders[:, d]) for d in range(4)}) > 1              # not one shared order


# ---------------------------------------------------------------------- the estimators
def _posteriors(m=6, d=3, seed=0):
    rng = np.random.default_rng(seed)
    loc = rng.normal(size=(m, d)).astype(np.float32)
    scale = rng.uniform(0.3, 1.5, size=(m, d)).astype(np.float32)
    z = (loc + scale * rng.normal(size=(m, d))).astype(np.float32)
    return z, loc, scale


def _decomposition(z, loc, scale, n, estimator):
    q = lambda z, loc, scale: np.sum(norm.logpdf(z, loc, scale), -1)
    log_q = np.array([q(z[i], loc[i], scale[i]) for i in range(len(z))])
    log_p = np.sum(norm.logpdf(z), -1)
    f32 = lambda a: tf.constant(a, tf.float32)
    got = regularizers.kl_decomposition(f32(z), f32(loc), f32(scale), f32(log_q), f32(log_p), n,
                                        estimator)
    return [np.asarray(v) for v in got], log_q, log_p


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_kl_decomposition_against_brute_force(estimator):
    z, loc, scale = _posteriors()
    m, n = len(z), 1000
    (mi, tc, dim_kl), log_q, log_p = _decomposition(z, loc, scale, n, estimator)
    # log q(z_i | x_j) and log q(z_id | x_j), one loop each.
    joint = np.array([[np.sum(norm.logpdf(z[i], loc[j], scale[j])) for j in range(m)]
                      for i in range(m)])
    dims = np.array([[norm.logpdf(z[i], loc[j], scale[j]) for j in range(m)] for i in range(m)])
    if estimator == "mws":
        log_w = np.full((m, m), -np.log(n * m))
    else:
        log_w = np.full((m, m), np.log((n - 1) / (n * (m - 1))))
        np.fill_diagonal(log_w, -np.log(n))
    log_qz = logsumexp(joint + log_w, axis=1)
    log_marg = logsumexp(dims + log_w[:, :, None], axis=1).sum(-1)
    np.testing.assert_allclose(mi, log_q - log_qz, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tc, log_qz - log_marg, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dim_kl, log_marg - log_p, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mi + tc + dim_kl, log_q - log_p, rtol=1e-4, atol=1e-4)


def test_stratified_estimate_is_exact_when_the_batch_is_the_data():
    """With N = M the stratified q(z) is the exact aggregate posterior: identical
    posteriors have q(z) = q(z|x), so MI = TC = 0."""
    z, loc, scale = _posteriors()
    loc[:], scale[:] = loc[0], scale[0]
    (mi, tc, _), _, _ = _decomposition(z, loc, scale, len(z), "mss")
    np.testing.assert_allclose(mi, 0.0, atol=1e-5)
    np.testing.assert_allclose(tc, 0.0, atol=1e-5)


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_mmd_against_brute_force(kernel):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(7, 3)).astype(np.float32)
    b = rng.normal(1.0, 1.0, size=(5, 3)).astype(np.float32)
    c = 2.0 * 3

    def k(u, v):
        sq = np.sum((u - v) ** 2)
        return c / (c + sq) if kernel == "imq" else np.exp(-sq / c)

    kaa = sum(k(a[i], a[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    kbb = sum(k(b[i], b[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    kab = sum(k(a[i], b[j]) for i in range(7) for j in range(5)) / 35
    got = float(regularizers.mmd(tf.constant(a), tf.constant(b), kernel))
    np.testing.assert_allclose(got, kaa + kbb - 2 * kab, rtol=1e-5)
    # Unbiased: about 0 between two samples of one distribution, clearly more between two.
    same = np.mean([float(regularizers.mmd(tf.constant(rng.normal(size=(64, 3)), tf.float32),
                                           tf.constant(rng.normal(size=(64, 3)), tf.float32),
                                           kernel)) for _ in range(20)])
    apart = float(regularizers.mmd(tf.constant(rng.normal(size=(64, 3)), tf.float32),
                                   tf.constant(rng.normal(2.0, 1.0, size=(64, 3)), tf.float32),
                                   kernel))
    assert abs(same) < 0.01 < apart


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("family, kwargs, message", [
    ("BetaVAE", {"capacity_max": 5.0, "beta": 4.0}, "has no beta"),
    ("BetaVAE", {"capacity_max": 5.0, "warmup_steps": 10}, "capacity_steps"),
    ("BetaVAE", {"gamma": -1.0}, "gamma must be a number >= 0"),
    ("BetaTCVAE", {}, "needs dataset_size="),
    ("BetaTCVAE", {"dataset_size": 10, "beta": 2.0}, "tc_weight"),
    ("BetaTCVAE", {"dataset_size": 10, "tc_estimator": "exact"}, "tc_estimator must be one of"),
    ("BetaTCVAE", {"dataset_size": 10, "posterior": "iaf"}, "posterior='gaussian'"),
    ("DIPVAE", {"dip_type": "iii"}, "dip_type must be one of"),
    ("InfoVAE", {"alpha": 2.0}, "alpha must be a number <= 1"),
    ("InfoVAE", {"alpha": 0.0, "info_lambda": 0.5}, "alpha + info_lambda - 1 >= 0"),
    ("InfoVAE", {"kernel": "cosine"}, "kernel must be one of"),
    ("InfoVAE", {"beta": 2.0}, "1 - alpha"),
    ("WAE", {"alpha": 0.5}, "WAE is InfoVAE with alpha=1"),
    ("WAE", {"free_bits": 1.0}, "no KL term"),
    ("FactorVAE", {"objective": "iwae"}, "objective must be 'elbo'"),
    ("FactorVAE", {"discriminator_units": ()}, "discriminator_units"),
])
def test_bad_options_are_clear_errors(family, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("+", r"\+")):
        getattr(models, family)(**{**CONV, **kwargs})
