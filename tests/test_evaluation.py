"""Tests of vaezoo.evaluation against probabilistic PCA, whose log p(x) is exact.

PPCA: p(z) = N(0, I_D), p(x|z) = N(Wz + b, s^2 I_P), so x ~ N(b, W W^T + s^2 I)
and the posterior is p(z|x) = N(M^-1 W^T (x - b), s^2 M^-1), M = W^T W + s^2 I.
"""

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

from vaezoo import evaluation  # noqa: E402

tfd = tfp.distributions

IMAGE_SHAPE = (4, 4, 1)
P = 16
D = 4
SIGMA = 0.5


class PPCA:
    """Linear-Gaussian VAE with the exact (or a perturbed) posterior."""

    is_conditional = False
    dtype_policy = keras.DTypePolicy("float32")

    def __init__(self, image_shape=IMAGE_SHAPE, latent_dim=D, sigma=SIGMA, seed=0,
                 mean_shift=0.0, scale_factor=1.0, prior_kind="mvn_diag"):
        rng = np.random.default_rng(seed)
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        p = int(np.prod(image_shape))
        self.W = rng.normal(size=(p, latent_dim)) * 0.8
        self.b = rng.normal(size=p) * 0.3
        self.sigma = sigma
        m = self.W.T @ self.W + sigma**2 * np.eye(latent_dim)
        self.m_inv = np.linalg.inv(m)
        cov = sigma**2 * self.m_inv * scale_factor
        self._W = tf.constant(self.W, tf.float32)
        self._b = tf.constant(self.b, tf.float32)
        self._A = tf.constant(self.m_inv @ self.W.T, tf.float32)  # [D, P]
        self._post_tril = tf.constant(np.linalg.cholesky(cov), tf.float32)
        self._shift = tf.constant(mean_shift, tf.float32)
        self.prior_kind = prior_kind

    # -- the vaezoo model interface ------------------------------------------------
    def preprocess(self, batch, training=False):
        if isinstance(batch, dict):
            x, y = batch["image"], batch.get("label")
        elif isinstance(batch, (tuple, list)):
            x, y = batch[0], (batch[1] if len(batch) > 1 else None)
        else:
            x, y = batch, None
        return tf.cast(x, tf.float32), y

    def _flat(self, x):
        return tf.reshape(x, [-1, int(np.prod(self.image_shape))])

    def _post_loc(self, x):
        return tf.matmul(self._flat(x) - self._b, self._A, transpose_b=True) + self._shift

    def encode(self, x, y=None):
        return tfd.MultivariateNormalTriL(self._post_loc(x), self._post_tril)

    def decode(self, z, y=None):
        loc = tf.einsum("...d,pd->...p", z, self._W) + self._b
        loc = tf.reshape(loc, tf.concat([tf.shape(z)[:-1], self.image_shape], 0))
        return tfd.Independent(tfd.Normal(loc, self.sigma), 3)

    def prior(self, y=None):
        zeros = tf.zeros([self.latent_dim])
        if self.prior_kind == "independent":
            return tfd.Independent(tfd.Normal(zeros, 1.0), 1)
        return tfd.MultivariateNormalDiag(zeros, tf.ones([self.latent_dim]))

    # -- ground truth ------------------------------------------------------------
    def exact_log_px(self, x):
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        cov = self.W @ self.W.T + self.sigma**2 * np.eye(len(self.b))
        diff = x - self.b
        _, logdet = np.linalg.slogdet(cov)
        maha = np.einsum("np,pq,nq->n", diff, np.linalg.inv(cov), diff)
        return -0.5 * (maha + logdet + len(self.b) * math.log(2 * math.pi))

    def sample_data(self, n, seed=1):
        rng = np.random.default_rng(seed)
        z = rng.normal(size=(n, self.latent_dim))
        x = z @ self.W.T + self.b + self.sigma * rng.normal(size=(n, len(self.b)))
        return x.reshape((n,) + self.image_shape).astype(np.float32)


class DiagPPCA(PPCA):
    """PPCA with a diagonal-Gaussian encoder whose mean ignores the last dims."""

    def __init__(self, num_dead=2, **kwargs):
        super().__init__(prior_kind="independent", **kwargs)
        self.num_dead = num_dead

    def encode(self, x, y=None):
        loc = self._post_loc(x)
        live = self.latent_dim - self.num_dead
        loc = tf.concat([loc[:, :live], tf.zeros_like(loc[:, live:])], axis=1)
        scale = tf.sqrt(tf.constant(np.diag(self.sigma**2 * self.m_inv), tf.float32))
        return tfd.Independent(tfd.Normal(loc, scale * tf.ones_like(loc)), 1)


class ConditionalPPCA(PPCA):
    """PPCA whose offset depends on a label: b_y = b + y * delta."""

    is_conditional = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.delta = np.linspace(-1.0, 1.0, len(self.b))
        self._delta = tf.constant(self.delta, tf.float32)

    def _offset(self, y):
        return self._b + tf.cast(y, tf.float32)[:, None] * self._delta

    def encode(self, x, y):
        loc = tf.matmul(self._flat(x) - self._offset(y), self._A, transpose_b=True)
        return tfd.MultivariateNormalTriL(loc, self._post_tril)

    def decode(self, z, y):
        loc = tf.einsum("...d,pd->...p", z, self._W) + self._offset(y)  # y broadcasts over K
        loc = tf.reshape(loc, tf.concat([tf.shape(z)[:-1], self.image_shape], 0))
        return tfd.Independent(tfd.Normal(loc, self.sigma), 3)

    def prior(self, y):
        return super().prior()

    def exact_log_px_given_y(self, x, y):
        out = np.empty(len(x))
        for label in np.unique(y):
            sel = y == label
            shifted = np.asarray(x[sel], np.float64).reshape(sel.sum(), -1) - label * self.delta
            out[sel] = self.exact_log_px(shifted)
        return out


@pytest.fixture(scope="module")
def exact_model():
    return PPCA()


@pytest.fixture(scope="module")
def perturbed_model():
    return PPCA(mean_shift=0.1, scale_factor=1.5)


@pytest.fixture(scope="module")
def data(exact_model):
    return exact_model.sample_data(300)


@pytest.fixture(scope="module")
def perturbed_results(perturbed_model, data):
    ds = tf.data.Dataset.from_tensor_slices(data).batch(100)  # one batch shape: one compile
    out = {}
    for k in (1, 1000):
        out[k] = evaluation.log_likelihood(perturbed_model, ds, k, seed=3, progress=False,
                                           return_per_example=True)
    return out


# --- exact posterior: every importance weight equals p(x) ------------------------


@pytest.mark.parametrize("k", [1, 64])  # 64 = 12 chunks of 5 + a remainder of 4
def test_exact_posterior_gives_exact_log_likelihood(exact_model, data, k):
    res = evaluation.log_likelihood(exact_model, data, k, sample_batch=5, progress=False,
                                    return_per_example=True)
    exact = exact_model.exact_log_px(data)
    np.testing.assert_allclose(res["per_example"], exact, atol=1e-4, rtol=0)
    assert res["num_examples"] == len(data)
    assert res["num_samples"] == k
    assert abs(res["log_likelihood"] - exact.mean()) < 1e-4
    np.testing.assert_allclose(res["stderr"], exact.std(ddof=1) / math.sqrt(len(data)),
                               rtol=1e-3)
    np.testing.assert_allclose(res["bits_per_dim"], -exact.mean() / (P * math.log(2)),
                               rtol=1e-5)


def test_exact_posterior_elbo_is_exact(exact_model, data):
    # log p(x,z) - log q(z|x) = log p(x) for every z; with the analytic rate only the
    # Monte-Carlo distortion is noisy, so average over many samples.
    res = evaluation.elbo(exact_model, data, num_samples=400, progress=False)
    exact = exact_model.exact_log_px(data).mean()
    assert abs(res["elbo"] - exact) < 0.05
    assert res["elbo"] == pytest.approx(-(res["rate"] + res["distortion"]), abs=1e-6)
    assert res["rate"] > 0
    assert res["num_examples"] == len(data)


def test_conditional_model_passes_labels(data):
    model = ConditionalPPCA()
    labels = np.arange(len(data)) % 3
    x = data + (labels[:, None, None, None] * model.delta.reshape(IMAGE_SHAPE)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices({"image": x, "label": labels}).batch(100)
    res = evaluation.log_likelihood(model, ds, 5, progress=False, return_per_example=True)
    np.testing.assert_allclose(res["per_example"], model.exact_log_px_given_y(x, labels),
                               atol=1e-4, rtol=0)


# --- perturbed posterior: a stochastic lower bound that tightens with K ---------------


def test_perturbed_posterior_converges(perturbed_model, perturbed_results, data):
    exact = perturbed_model.exact_log_px(data)
    r1, r1000 = perturbed_results[1], perturbed_results[1000]
    gap1 = exact.mean() - r1["log_likelihood"]
    gap1000 = exact.mean() - r1000["log_likelihood"]
    print(f"\nexact {exact.mean():.4f}  K=1 {r1['log_likelihood']:.4f}  "
          f"K=1000 {r1000['log_likelihood']:.4f}  stderr {r1000['stderr']:.4f}")
    assert gap1 > 0.05  # the perturbation costs something at K=1
    assert abs(gap1000) < 0.05
    assert gap1000 < gap1
    # Per-example: the K=1000 estimates are close to exact, much closer than K=1.
    err1000 = np.mean(np.abs(r1000["per_example"] - exact))
    err1 = np.mean(np.abs(r1["per_example"] - exact))
    assert err1000 < 0.05
    assert err1000 < 0.2 * err1


def test_elbo_below_estimate_below_exact(perturbed_model, perturbed_results, data):
    exact = perturbed_model.exact_log_px(data).mean()
    est = perturbed_results[1000]["log_likelihood"]
    res = evaluation.elbo(perturbed_model, data, num_samples=50, progress=False)
    assert res["elbo"] < est <= exact + 0.02
    # The ELBO is below exact by about the mean KL(q || p(z|x)) > 0.
    assert res["elbo"] < exact - 0.05
    assert res["stderr"] > 0


# --- reproducibility ----------------------------------------------------------------


def test_same_seed_same_result_for_any_chunking(perturbed_model, data):
    kw = dict(max_examples=100, progress=False, return_per_example=True, seed=11)
    a = evaluation.log_likelihood(perturbed_model, data, 50, sample_batch=7, **kw)
    b = evaluation.log_likelihood(perturbed_model, data, 50, sample_batch=50, **kw)
    c = evaluation.log_likelihood(perturbed_model, data, 50, sample_batch=7, **kw)
    d = evaluation.log_likelihood(perturbed_model, data, 50, sample_batch=7,
                                  **{**kw, "seed": 12})
    assert a["num_examples"] == 100
    np.testing.assert_array_equal(a["per_example"], c["per_example"])
    np.testing.assert_allclose(a["per_example"], b["per_example"], atol=1e-5, rtol=0)
    assert np.max(np.abs(a["per_example"] - d["per_example"])) > 1e-4


# --- input handling and validation ---------------------------------------------------


def test_bits_per_dim_arithmetic():
    assert evaluation.bits_per_dim(-784 * math.log(2), (28, 28, 1)) == pytest.approx(1.0)
    assert evaluation.bits_per_dim(-100.0, (4, 4, 1)) == pytest.approx(100 / (16 * math.log(2)))
    np.testing.assert_allclose(evaluation.bits_per_dim(np.array([-3072 * math.log(2) * 2, 0.0]),
                                                       (32, 32, 3)), [2.0, 0.0])


@pytest.mark.parametrize("k", [0, -5])
def test_invalid_num_samples(exact_model, data, k):
    with pytest.raises(ValueError, match="num_samples"):
        evaluation.log_likelihood(exact_model, data, k, progress=False)


def test_empty_dataset(exact_model):
    empty = tf.data.Dataset.from_tensor_slices(np.zeros((0,) + IMAGE_SHAPE, np.float32)).batch(8)
    with pytest.raises(ValueError, match="dataset is empty"):
        evaluation.log_likelihood(exact_model, empty, 10, progress=False)
    with pytest.raises(ValueError, match="dataset is empty"):
        evaluation.elbo(exact_model, np.zeros((0,) + IMAGE_SHAPE, np.float32), progress=False)


def test_input_formats_agree(exact_model, data):
    x = data[:40]
    labels = np.zeros(40, np.int64)
    inputs = [
        x,  # NumPy array
        tf.constant(x),  # tensor
        (x, labels),  # tuple of arrays
        tf.data.Dataset.from_tensor_slices(x),  # unbatched dataset of images
        tf.data.Dataset.from_tensor_slices((x, labels)).batch(20),
        tf.data.Dataset.from_tensor_slices({"image": x, "label": labels}).batch(20),
    ]
    exact = exact_model.exact_log_px(x).mean()
    for inp in inputs:
        res = evaluation.log_likelihood(exact_model, inp, 2, sample_batch=2, progress=True)
        assert res["num_examples"] == 40
        assert res["log_likelihood"] == pytest.approx(exact, abs=1e-4)


# --- collapse diagnostics ------------------------------------------------------------


def test_active_units_counts_live_dimensions(data):
    model = DiagPPCA(num_dead=2)
    res = evaluation.active_units(model, data)
    assert res["num_active"] == D - 2
    assert res["latent_dim"] == D
    assert res["activity"].shape == (D,)
    np.testing.assert_allclose(res["activity"][-2:], 0.0, atol=1e-10)
    assert np.all(res["activity"][:2] > 0.01)
    assert res["active"].tolist() == [True, True, False, False]
    assert evaluation.active_units(model, data, threshold=1e9)["num_active"] == 0


def test_kl_per_dimension(data):
    model = DiagPPCA(num_dead=2)
    kl = evaluation.kl_per_dimension(model, data)
    assert kl.shape == (D,)
    x = tf.constant(data)
    full = tfd.kl_divergence(model.encode(x), model.prior()).numpy().mean()
    assert kl.sum() == pytest.approx(full, rel=1e-5)
    # Dead units: q = N(0, s^2) for every x, so KL is the same closed form for all.
    s2 = np.diag(SIGMA**2 * model.m_inv)[-2:]
    np.testing.assert_allclose(kl[-2:], 0.5 * (s2 - 1 - np.log(s2)), rtol=1e-5)
    # The same KL with the rate computed by the ELBO.
    assert evaluation.elbo(model, data, progress=False)["rate"] == pytest.approx(full, rel=1e-5)


def test_kl_per_dimension_monte_carlo_and_unsupported(data):
    class LaplacePrior(DiagPPCA):
        def prior(self, y=None):
            return tfd.Sample(tfd.Laplace(0.0, 1.0), self.latent_dim)

    model = LaplacePrior(num_dead=0)
    kl = evaluation.kl_per_dimension(model, data[:100], num_samples=2000)
    x = tf.constant(data[:100])
    q = model.encode(x)
    z = q.sample(4000, seed=[1, 2])
    ref = tf.reduce_mean(q.distribution.log_prob(z) - tfd.Laplace(0.0, 1.0).log_prob(z),
                         axis=[0, 1]).numpy()
    np.testing.assert_allclose(kl, ref, atol=0.03)

    with pytest.raises(NotImplementedError, match="factorized"):
        evaluation.kl_per_dimension(PPCA(), data)  # full-covariance posterior


def test_classification_accuracy():
    class Classifier(PPCA):
        def classify(self, x):
            # Predicts class 1 iff the first pixel is positive.
            first = tf.reshape(x, [tf.shape(x)[0], -1])[:, 0]
            return tf.stack([tf.cast(first <= 0, tf.float32), tf.cast(first > 0, tf.float32)],
                            axis=1)

    x = np.zeros((6,) + IMAGE_SHAPE, np.float32)
    x[:3, 0, 0, 0] = 1.0
    labels = np.array([1, 1, 0, 0, 0, -1])  # one wrong of five labeled
    ds = tf.data.Dataset.from_tensor_slices({"image": x, "label": labels}).batch(4)
    assert evaluation.classification_accuracy(Classifier(), ds) == pytest.approx(4 / 5)
    with pytest.raises(ValueError, match="no labeled"):
        evaluation.classification_accuracy(Classifier(), (x, -np.ones(6, np.int64)))


class CountingPPCA(PPCA):
    """PPCA that counts its encoder's traces (Python runs only while a step traces)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.traces = 0

    def encode(self, x, y=None):
        self.traces += 1
        # Not super(): autograph resolves a bare super() by reading the locals of every
        # calling frame, which keeps this test's model referenced while the test runs.
        return PPCA.encode(self, x, y)


def test_compiled_steps_are_reused_and_do_not_keep_the_model_alive(data):
    import gc
    import weakref

    model = CountingPPCA(seed=5)
    evaluation.log_likelihood(model, data[:20], 3, progress=False)
    evaluation.elbo(model, data[:20], progress=False)
    traced = model.traces
    assert traced > 0
    evaluation.log_likelihood(model, data[:20], 3, progress=False)
    evaluation.elbo(model, data[:20], progress=False)
    assert model.traces == traced  # the second evaluation reuses the traced steps
    ref = weakref.ref(model)
    del model
    for _ in range(3):  # the cache on the model is a cycle (steps -> model): gc frees it
        gc.collect()
        if ref() is None:
            break
    assert ref() is None


def test_xla_step_compiles_without_fallback(data):
    import warnings

    model = PPCA(seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the fallback warns
        evaluation.log_likelihood(model, data[:30], 23, sample_batch=5, progress=False)
        evaluation.elbo(model, data[:30], progress=False)
        evaluation.active_units(model, data[:30])


def test_an_error_in_the_model_is_raised_as_is(data):
    """Only XLA's own compilation errors make a step fall back; others propagate."""
    import warnings

    class Broken(PPCA):
        def decode(self, z, y=None):
            raise KeyError("a bug in the decoder")

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(KeyError, match="a bug in the decoder"):
            evaluation.log_likelihood(Broken(), data[:10], 2, progress=False)


def test_unconditional_models_get_no_labels(data):
    """The labels a batch carries reach a conditional model only (y = None otherwise)."""
    class Strict(PPCA):
        def encode(self, x, y=None):
            assert y is None
            return super().encode(x)

    labelled = {"image": data[:20], "label": np.zeros(20, np.int64)}
    res = evaluation.log_likelihood(Strict(), labelled, 2, progress=False)
    assert res["num_examples"] == 20
