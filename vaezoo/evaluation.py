"""Evaluation of trained VAEs: marginal likelihood, ELBO and collapse diagnostics.

Importance-sampled log-likelihood (Burda, Grosse & Salakhutdinov, 2015)
------------------------------------------------------------------------
For an example ``x`` and ``K`` samples ``z_1..z_K ~ q(z|x)``::

    log w_k  = log p(x|z_k) + log p(z_k) - log q(z_k|x)
    log p(x) ~= L_K(x) = logmeanexp_k log w_k
                       = logsumexp_k log w_k - log K

``E[L_K] <= log p(x)`` (Jensen), ``E[L_K] <= E[L_{K+1}]``, and ``L_K -> log p(x)``
as ``K -> inf`` when the weights have finite variance.  So the estimate is a
*stochastic lower bound in expectation* that tightens with ``K``; ``K = 1`` is the
single-sample ELBO.  With the exact posterior ``q(z|x) = p(z|x)`` every weight
equals ``p(x)`` and the estimate is exact for any ``K``.

The encoder runs once per batch of images.  The ``K`` samples are drawn from
``q(z|x)`` and decoded in chunks of ``sample_batch`` samples and combined with a
streaming log-sum-exp (running maximum ``m`` and rescaled sum ``s``)::

    m' = max(m, max_k log w_k),  s' = s * exp(m - m') + sum_k exp(log w_k - m')
    logsumexp = m + log s

so memory is bounded for any ``K``.  Sample ``k`` of batch ``b`` is drawn with a
stateless seed that depends only on (``seed``, ``b``, ``k``, ``K``), never on the
chunking, so a given seed reproduces the same estimate for every ``sample_batch``
(up to float round-off in the summation order).

ELBO, rate and distortion
-------------------------
``ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) = -(distortion + rate)`` with
``distortion = -E_q[log p(x|z)]`` (Monte Carlo) and ``rate = KL(q || p)``
(analytic when ``tfd.kl_divergence`` knows the pair, Monte Carlo otherwise).

Bits per dimension
------------------
``bits/dim = -log p(x) / (H * W * C * ln 2)``, with ``log p(x)`` in nats.  For
discrete likelihoods (e.g. Bernoulli on binarized pixels) this is the code length
per pixel; for densities over continuous pixels it is only comparable across
models evaluated on the same scaling of the data.

Models of (x, y) with a class prior (M2)
----------------------------------------
For a model that classifies (``SemiSupervisedVAE``: ``p(y) = Cat(1/C)``,
``p(z)``, ``p(x|y,z)``) the likelihood of an image is the class summed out
exactly, with no label used::

    log p(x) = logsumexp_c [log p(y=c) + log p(x|y=c)],   p(y=c) = 1/C

each ``log p(x|y=c)`` the importance-sampled estimate above with ``K`` samples
from ``q(z|x,y=c)`` (so ``C * K`` decoder passes per image).
``log_likelihood`` does this for such models; a class-conditional model without
a class prior (``ConditionalVAE``) gets ``log p(x|y)`` with the labels in the
data.

Precision of the importance-sampling step
-----------------------------------------
By default the estimate computes in the model's own precision, its Keras
dtype policy (float32 unless the model was made with ``dtype=`` or under
``keras.config.set_dtype_policy``); the densities, log-weights and
log-sum-exp are float32 in every case. ``precision="float32"`` forces float32
throughout. The decoder runs ``K`` times per image, so it is nearly all of the
work (``K * N`` decoder passes), and ``precision="bfloat16"`` is an explicit
speed-up of it: the decoder's layers multiply in bfloat16 (Keras'
``mixed_bfloat16`` policy on the decoder's layers only, while the step is
traced); the encoder stays float32. bfloat16 keeps 8 significant bits, so the
decoder's logits move by a fraction of a percent; how much that moves
``log p(x)`` depends on the CPU's bfloat16 arithmetic (with and without native
bfloat16 dot products), and ``tests/test_evaluation_precision.py`` bounds it
on any CPU. Report such numbers as bfloat16 estimates.

Posterior-collapse diagnostics
------------------------------
* Active units (Burda et al., 2015): ``A_u = Cov_x(E_{q(z|x)}[z_u])``; unit
  ``u`` is active if ``A_u > threshold`` (0.01 by default).
* Per-dimension KL: ``E_x[KL(q(z_u|x) || p(z_u))]`` for factorized posteriors
  and priors (analytic for Gaussian pairs, Monte Carlo for other factorized
  pairs).  It sums to the mean rate.

Model interface (duck typed)
----------------------------
``model.preprocess(batch, training=False) -> (x, y)``, ``model.encode(x)``,
``model.decode(z)``, ``model.prior()``, ``model.image_shape``,
``model.latent_dim`` and, for :func:`classification_accuracy`,
``model.classify(x)``.  Models with a true ``is_conditional`` attribute are
called as ``encode(x, y)``, ``decode(z, y)`` and ``prior(y)``.

Data
----
Every function takes ``data`` as a ``tf.data.Dataset`` of batches (dicts
``{"image", "label"}``, ``(image, label)`` tuples or image tensors, whatever
``model.preprocess`` accepts; an unbatched dataset of single images is batched
automatically), or in-memory arrays (a NumPy array / tensor of images, or a
tuple / dict of arrays), which are sliced into batches of 500.
"""

import contextvars
import math
import warnings
import weakref

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tqdm.auto import tqdm

from vaezoo.validation import check_positive_int

tfd = tfp.distributions

__all__ = [
    "log_likelihood",
    "elbo",
    "bits_per_dim",
    "active_units",
    "kl_per_dimension",
    "classification_accuracy",
]

DEFAULT_BATCH_SIZE = 500
# Bound on chunk * batch * pixels (floats) for the decoded samples of one chunk.
_CHUNK_FLOATS = 4_000_000  # larger chunks were slower under XLA on CPU (cache misses)


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def bits_per_dim(nats, image_shape):
    """Convert a log-likelihood in nats to bits per dimension.

    Args:
      nats: log-likelihood ``log p(x)`` in nats per example (usually negative),
        a scalar or array.
      image_shape: ``(H, W, C)`` (any sequence of ints).

    Returns:
      ``-nats / (H * W * C * ln 2)`` (a float for scalar input, else an array).

    Example:
      >>> bits_per_dim(-784 * math.log(2), (28, 28, 1))
      1.0
    """
    num_dims = int(np.prod([int(d) for d in image_shape]))
    if num_dims <= 0:
        raise ValueError(f"image_shape must have positive size, got {image_shape}")
    out = -np.asarray(nats, dtype=np.float64) / (num_dims * math.log(2.0))
    return float(out) if out.ndim == 0 else out


def _is_conditional(model):
    return bool(getattr(model, "is_conditional", False))


def _sums_out_classes(model):
    """True for a model of (x, y) with a class prior p(y) (M2): log p(x) sums y out."""
    return _is_conditional(model) and callable(getattr(model, "classify", None)) and bool(
        getattr(model, "num_classes", 0))


def _encode(model, x, y):
    return model.encode(x, y) if _is_conditional(model) else model.encode(x)


def _decode(model, z, y):
    return model.decode(z, y) if _is_conditional(model) else model.decode(z)


def _prior(model, y):
    return model.prior(y) if _is_conditional(model) else model.prior()


def _image_spec(element_spec):
    if isinstance(element_spec, dict):
        return element_spec.get("image")
    if isinstance(element_spec, (tuple, list)):
        return element_spec[0] if element_spec else None
    return element_spec


def _iter_batches(data, image_shape, batch_size=DEFAULT_BATCH_SIZE):
    """Yields raw batches (whatever ``model.preprocess`` accepts) and a length hint."""
    if isinstance(data, tf.data.Dataset):
        shape = getattr(_image_spec(data.element_spec), "shape", tf.TensorShape(None))
        if (image_shape is not None and shape.rank == len(image_shape) and all(
                d is None or d == int(e) for d, e in zip(shape.as_list(), image_shape))):
            data = data.batch(batch_size)  # a dataset of single images
        card = int(data.cardinality())
        return iter(data), (card if card >= 0 else None)

    if isinstance(data, (np.ndarray, tf.Tensor)) or (
        isinstance(data, (tuple, list, dict)) and data
    ):
        if isinstance(data, list):
            data = tuple(data)
        data = tf.nest.map_structure(
            lambda a: a if isinstance(a, (np.ndarray, tf.Tensor)) else np.asarray(a), data)
        n = int(tf.nest.flatten(data)[0].shape[0])

        def gen():
            for start in range(0, n, batch_size):
                yield tf.nest.map_structure(
                    lambda a: tf.convert_to_tensor(a[start:start + batch_size]), data)

        return gen(), -(-n // batch_size)
    raise TypeError(
        "data must be a tf.data.Dataset, a NumPy array / tensor of images, or a tuple / "
        f"dict of arrays; got {type(data).__name__}")


def _preprocessed_batches(model, data, max_examples=None, progress=False, desc=None):
    """Yields ``(x, y)`` from ``model.preprocess``; stops after ``max_examples``."""
    batches, total = _iter_batches(data, getattr(model, "image_shape", None))
    seen = 0
    bar = tqdm(batches, total=total, desc=desc, disable=not progress, leave=False)
    try:
        for batch in bar:
            x, y = model.preprocess(batch, training=False)
            x = tf.convert_to_tensor(x)
            if not x.dtype.is_floating:
                x = tf.cast(x, tf.float32)
            if y is not None:
                y = tf.convert_to_tensor(y)
            if max_examples is not None:
                remaining = max_examples - seen
                if x.shape[0] > remaining:
                    x = x[:remaining]
                    y = None if y is None else y[:remaining]
            if x.shape[0] == 0:
                continue
            seen += int(x.shape[0])
            yield x, y, bar
            if max_examples is not None and seen >= max_examples:
                break
    finally:
        bar.close()


# Whether the traced step fuses the elementwise log-density work with XLA (set
# while tracing by _Compiled; see there).
_FUSE = contextvars.ContextVar("vaezoo_evaluation_fuse", default=False)


@tf.function(jit_compile=True, reduce_retracing=True)
def _fused_log_weights(p, q, prior, x, z):
    return p.log_prob(x) + prior.log_prob(z) - q.log_prob(z)


@tf.function(jit_compile=True, reduce_retracing=True)
def _fused_log_prob(p, x):
    return p.log_prob(x)


def _composite(*dists):
    return all(isinstance(d, tf.__internal__.CompositeTensor) for d in dists)


def _log_weights(p, q, prior, x, z):
    """log p(x|z) + log p(z) - log q(z|x), fused by XLA when tracing a CPU step."""
    if _FUSE.get() and _composite(p, q, prior):
        return _fused_log_weights(p, q, prior, x, z)
    return p.log_prob(x) + prior.log_prob(z) - q.log_prob(z)


def _log_prob(p, x):
    if _FUSE.get() and _composite(p):
        return _fused_log_prob(p, x)
    return p.log_prob(x)


#: ``log_likelihood(precision=...)`` values besides None (the model's own dtype policy).
PRECISIONS = ("float32", "bfloat16")


def check_precision(precision):
    """``precision`` if it is None or one of ``PRECISIONS``, else a ValueError."""
    if precision is None:
        return None
    from vaezoo.registry import lookup
    return lookup("precision", precision, {p: p for p in PRECISIONS})


def _accelerator_present():
    """Keras' rule for ``jit_compile="auto"``: XLA where a GPU or TPU is visible."""
    return any(d.device_type in ("GPU", "TPU") for d in tf.config.list_logical_devices())


class _decoder_policy:
    """While active (trace time only), the layers compute in the estimate's
    precision: float32 throughout for ``"float32"``, the decoder in
    ``mixed_bfloat16`` and the rest in float32 for ``"bfloat16"``. Holds the
    model weakly (the compiled steps are cached per model)."""

    def __init__(self, model_ref, precision):
        self._model_ref = model_ref
        self._decoder = "mixed_bfloat16" if precision == "bfloat16" else "float32"
        self._active = None

    def __enter__(self):
        from vaezoo.models.base import trunk_precision
        self._active = trunk_precision(self._model_ref(), "float32", self._decoder)
        return self._active.__enter__()

    def __exit__(self, *exc):
        active, self._active = self._active, None
        return active.__exit__(*exc)


class _Compiled:
    """A compiled evaluation step, XLA where it pays, with a fallback.

    On a GPU or TPU the whole step is one XLA computation. On a CPU, XLA's
    matrix products were several times slower than TensorFlow's oneDNN kernels
    here (``benchmarks/throughput.py``), while the elementwise log-densities over
    ``chunk * batch * pixels`` values are where XLA's fusion pays: so the step
    is a plain ``tf.function`` (oneDNN matmuls) whose log-density part is an
    XLA-compiled function taking the decoded ``tfd`` distributions (composite
    tensors) as arguments. If compilation fails, it falls back (once, with a
    warning) to a plain ``tf.function``.
    """

    def __init__(self, fn, name, policy=None):
        self._fn = fn
        self._name = name
        self._policy = policy  # a _decoder_policy, entered while tracing
        self._fuse_inner = not _accelerator_present()
        self._fast = tf.function(self._traced(fn, self._fuse_inner),
                                 jit_compile=not self._fuse_inner, reduce_retracing=True)
        self._plain = None

    def _traced(self, fn, fuse):
        def traced(*args):
            token = _FUSE.set(fuse)
            try:
                if self._policy is None:
                    return fn(*args)
                with self._policy:
                    return fn(*args)
            finally:
                _FUSE.reset(token)
        return traced

    def __call__(self, *args):
        if self._plain is None:
            try:
                return self._fast(*args)
            except tf.errors.ResourceExhaustedError:
                raise
            except Exception as err:  # noqa: BLE001 - XLA failures come in many types
                warnings.warn(
                    f"vaezoo.evaluation: XLA compilation of {self._name} failed "
                    f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
                    "falling back to a non-XLA tf.function.", RuntimeWarning, stacklevel=3)
                self._plain = tf.function(self._traced(self._fn, False), jit_compile=False,
                                          reduce_retracing=True)
        return self._plain(*args)


_STEP_CACHE = weakref.WeakKeyDictionary()


def _weak(model):
    """A weak reference to ``model`` (cached steps must not keep the model alive)."""
    try:
        return weakref.ref(model)
    except TypeError:
        return lambda: model


def _cached_step(model, key, make):
    """Reuses compiled steps across calls for the same model (avoids recompiling).

    ``make`` must reach the model only through :func:`_weak`, or the cache entry
    would keep its own key alive.
    """
    try:
        per_model = _STEP_CACHE.setdefault(model, {})
    except TypeError:  # not weak-referenceable / hashable
        return make()
    if key not in per_model:
        per_model[key] = make()
    return per_model[key]


def _base_seed(seed):
    seed = int(seed)
    return tf.constant([seed & 0x7FFFFFFF, (seed >> 31) & 0x7FFFFFFF], tf.int32)


def _batch_seed(base, index, salt=0):
    s = tf.random.experimental.stateless_fold_in(base, index)
    return tf.random.experimental.stateless_fold_in(s, salt) if salt else s


def _mean_and_stderr(values):
    values = np.asarray(values, np.float64)
    mean = float(values.mean())
    stderr = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else float("nan")
    return mean, stderr


def _empty_error(what):
    return ValueError(f"{what}: the dataset is empty (no examples to evaluate)")


# ---------------------------------------------------------------------------
# Importance-sampled log-likelihood
# ---------------------------------------------------------------------------


def _default_sample_batch(num_samples, batch_size, image_shape):
    pixels = int(np.prod(image_shape))
    return int(max(1, min(num_samples, _CHUNK_FLOATS // max(1, batch_size * pixels))))


def _make_iwae_fn(model_ref, num_samples, chunk, precision=None):
    n_full, rem = divmod(num_samples, chunk)
    log_k = math.log(num_samples)

    def batch_log_px(x, y, seed):
        model = model_ref()
        q = _encode(model, x, y)  # once per batch
        prior = _prior(model, y)
        # One seed per sample index: independent of the chunking.
        seeds = tf.random.stateless_uniform(
            [num_samples, 2], seed=seed, minval=None, maxval=None, dtype=tf.int32)

        def log_weights(chunk_seeds):
            z = tf.map_fn(lambda s: q.sample(seed=s), chunk_seeds,
                          fn_output_signature=q.dtype)  # [n, B, D]
            return _log_weights(_decode(model, z, y), q, prior, x, z)  # [n, B]

        def update(m, s, lw):
            lw = tf.cast(lw, tf.float32)
            new_m = tf.maximum(m, tf.reduce_max(lw, axis=0))
            safe_m = tf.where(tf.math.is_finite(new_m), new_m, tf.zeros_like(new_m))
            s = s * tf.exp(m - safe_m) + tf.reduce_sum(tf.exp(lw - safe_m), axis=0)
            return new_m, s

        batch = tf.shape(x)[0]
        m = tf.fill([batch], tf.constant(-np.inf, tf.float32))
        s = tf.zeros([batch], tf.float32)
        if n_full == 1:
            m, s = update(m, s, log_weights(seeds[:chunk]))
        elif n_full > 1:
            def body(i, m, s):
                # tf.slice keeps the chunk size static (XLA needs static shapes).
                m, s = update(m, s, log_weights(tf.slice(seeds, [i * chunk, 0], [chunk, 2])))
                return i + 1, m, s

            _, m, s = tf.while_loop(
                lambda i, m, s: i < n_full, body, (tf.constant(0), m, s),
                maximum_iterations=n_full)
        if rem:
            m, s = update(m, s, log_weights(seeds[n_full * chunk:]))
        return m + tf.math.log(s) - log_k

    return _Compiled(batch_log_px, "the importance-sampling step",
                     None if precision is None else _decoder_policy(model_ref, precision))


def _class_summed(step, num_classes, x, seed):
    """logsumexp_c [log p(x|y=c) - log C] per example, each term from ``step``."""
    batch = int(x.shape[0])
    per_class = np.stack([
        step(x, tf.fill([batch], tf.constant(c, tf.int64)), seed).numpy().astype(np.float64)
        for c in range(num_classes)])                              # [C, B]
    top = per_class.max(axis=0)
    return top + np.log(np.exp(per_class - top).sum(axis=0)) - math.log(num_classes)


def log_likelihood(model, data, num_samples=1000, *, sample_batch=None, max_examples=None,
                   seed=0, progress=True, return_per_example=False, precision=None):
    """Importance-sampled estimate of the mean log-likelihood ``log p(x)``.

    ``log p(x) ~= logmeanexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)]`` with
    ``z_k ~ q(z|x)``, ``k = 1..num_samples`` (Burda et al., 2015): a stochastic
    lower bound in expectation that tightens as ``num_samples`` grows.

    Args:
      model: a vaezoo VAE (see the module docstring for the interface).
      data: a ``tf.data.Dataset`` of batches, or a NumPy array / tensor of images
        (or a tuple / dict of arrays), batched here by 500.
      num_samples: importance samples ``K`` per example (positive int).
      sample_batch: samples decoded at once; default keeps
        ``sample_batch * batch * pixels`` around 4e6 floats.  Does not change the
        result (beyond float round-off) for a given seed.
      max_examples: evaluate at most this many examples.
      seed: integer seed; the same seed (and data batching) gives the same estimate.
      progress: show a tqdm progress bar over batches.
      return_per_example: also return the per-example estimates.
      precision: None (default: the model's dtype policy, float32 unless set),
        ``"float32"`` or ``"bfloat16"`` (the decoder's matrix products in
        bfloat16, an explicit speed-up; see the module docstring).

    Returns:
      dict with ``log_likelihood`` (mean nats per example), ``stderr`` (standard
      error of that mean over examples; NaN for one example), ``bits_per_dim``,
      ``num_samples``, ``num_examples``, ``precision`` (the one used: the name
      of the model's dtype policy for None),
      ``classes_summed_out`` (True for an M2 model: log p(x) with y summed out, see
      the module docstring) and, if asked, ``per_example``
      (float64 array of ``log p(x)`` estimates).

    Raises:
      ValueError: if ``num_samples`` / ``sample_batch`` is not positive or the
        data is empty.
    """
    num_samples = check_positive_int("num_samples", num_samples)
    if sample_batch is not None:
        sample_batch = min(check_positive_int("sample_batch", sample_batch), num_samples)
    if max_examples is not None:
        max_examples = check_positive_int("max_examples", max_examples)
    precision = check_precision(precision)
    base = _base_seed(seed)

    step = image_shape = None
    per_example = []
    for index, (x, y, bar) in enumerate(_preprocessed_batches(
            model, data, max_examples, progress, desc=f"log p(x), K={num_samples}")):
        if step is None:  # the first batch has built the model if it was not
            image_shape = tuple(int(d) for d in model.image_shape)
            chunk = sample_batch or _default_sample_batch(
                num_samples, int(x.shape[0]), image_shape)
            step = _cached_step(model, ("iwae", num_samples, chunk, precision),
                                lambda: _make_iwae_fn(_weak(model), num_samples, chunk,
                                                      precision))
        seed_b = _batch_seed(base, index)
        if _sums_out_classes(model):
            values = _class_summed(step, model.num_classes, x, seed_b)
        else:
            values = step(x, y, seed_b).numpy().astype(np.float64)
        per_example.append(values)
        if progress:
            bar.set_postfix(log_px=f"{np.mean(np.concatenate(per_example)):.3f}")
    if not per_example:
        raise _empty_error("log_likelihood")

    per_example = np.concatenate(per_example)
    mean, stderr = _mean_and_stderr(per_example)
    out = {
        "log_likelihood": mean,
        "stderr": stderr,
        "bits_per_dim": bits_per_dim(mean, image_shape),
        "num_samples": num_samples,
        "num_examples": int(per_example.size),
        "precision": precision or model.dtype_policy.name,
        "classes_summed_out": _sums_out_classes(model),
    }
    if return_per_example:
        out["per_example"] = per_example
    return out


# ---------------------------------------------------------------------------
# ELBO
# ---------------------------------------------------------------------------


def _rate(q, prior, z):
    """KL(q || prior) per example: analytic if registered, else Monte Carlo over ``z``."""
    try:
        return tfd.kl_divergence(q, prior)
    except NotImplementedError:
        return tf.reduce_mean(q.log_prob(z) - prior.log_prob(z), axis=0)


def elbo(model, data, *, num_samples=1, seed=0, progress=True, max_examples=None):
    """Mean evidence lower bound, with its rate / distortion split.

    ``ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)) = -(distortion + rate)``.

    Args:
      model: a vaezoo VAE.
      data: as for :func:`log_likelihood`.
      num_samples: Monte-Carlo samples of ``z ~ q(z|x)`` per example.
      seed: integer seed (stateless sampling; reproducible).
      progress: show a tqdm progress bar.
      max_examples: evaluate at most this many examples.

    Returns:
      dict with mean ``elbo``, ``rate``, ``distortion`` (nats per example),
      ``stderr`` (standard error of the mean ELBO over examples),
      ``bits_per_dim`` (of ``-elbo``), ``num_samples`` and ``num_examples``.
    """
    num_samples = check_positive_int("num_samples", num_samples)
    if max_examples is not None:
        max_examples = check_positive_int("max_examples", max_examples)
    base = _base_seed(seed)
    image_shape = tuple(int(d) for d in model.image_shape)

    model_ref = _weak(model)

    def batch_elbo(x, y, seed):
        model = model_ref()  # through a weak reference, see _cached_step
        q = _encode(model, x, y)
        prior = _prior(model, y)
        z = q.sample(num_samples, seed=seed)  # [S, B, D]
        distortion = -tf.reduce_mean(_log_prob(_decode(model, z, y), x), axis=0)
        rate = _rate(q, prior, z)
        return tf.broadcast_to(rate, tf.shape(distortion)), distortion

    step = _cached_step(model, ("elbo", num_samples),
                        lambda: _Compiled(batch_elbo, "the ELBO step"))
    rates, distortions = [], []
    for index, (x, y, bar) in enumerate(_preprocessed_batches(
            model, data, max_examples, progress, desc="ELBO")):
        rate, distortion = step(x, y, _batch_seed(base, index, salt=1))
        rates.append(rate.numpy().astype(np.float64))
        distortions.append(distortion.numpy().astype(np.float64))
    if not rates:
        raise _empty_error("elbo")
    rates, distortions = np.concatenate(rates), np.concatenate(distortions)
    mean, stderr = _mean_and_stderr(-(rates + distortions))
    return {
        "elbo": mean,
        "rate": float(rates.mean()),
        "distortion": float(distortions.mean()),
        "stderr": stderr,
        "bits_per_dim": bits_per_dim(mean, image_shape),
        "num_samples": num_samples,
        "num_examples": int(rates.size),
    }


# ---------------------------------------------------------------------------
# Posterior-collapse diagnostics
# ---------------------------------------------------------------------------


def active_units(model, data, threshold=0.01, *, num_samples=16, seed=0, max_examples=None,
                 progress=False):
    """Active latent units (Burda et al., 2015).

    ``A_u = Cov_x(E_{q(z|x)}[z_u])`` (variance over the data of the posterior
    mean of unit ``u``); unit ``u`` is active if ``A_u > threshold``.  The
    posterior mean is ``q.mean()``; if the posterior does not implement it
    (e.g. a flow) it is estimated from ``num_samples`` samples.

    Returns:
      dict with ``num_active`` (int), ``activity`` (float64 array ``[D]`` of
      ``A_u``), ``active`` (bool mask ``[D]``), ``threshold``, ``latent_dim``
      and ``num_examples``.
    """
    num_samples = check_positive_int("num_samples", num_samples)
    base = _base_seed(seed)

    model_ref = _weak(model)

    def batch_mean(x, y, seed):
        model = model_ref()  # through a weak reference, see _cached_step
        q = _encode(model, x, y)
        try:
            return q.mean()
        except NotImplementedError:
            return tf.reduce_mean(q.sample(num_samples, seed=seed), axis=0)

    step = _cached_step(model, ("mean", num_samples),
                        lambda: _Compiled(batch_mean, "the posterior-mean step"))
    count, total, total_sq, shift = 0, None, None, None
    for index, (x, y, _) in enumerate(_preprocessed_batches(
            model, data, max_examples, progress, desc="active units")):
        mu = step(x, y, _batch_seed(base, index, salt=2)).numpy().astype(np.float64)
        mu = mu.reshape(mu.shape[0], -1)
        if shift is None:  # shifted sums for a numerically stable variance
            shift = mu[0].copy()
            total, total_sq = np.zeros_like(shift), np.zeros_like(shift)
        d = mu - shift
        total += d.sum(0)
        total_sq += (d * d).sum(0)
        count += mu.shape[0]
    if count == 0:
        raise _empty_error("active_units")
    mean = total / count
    activity = np.maximum(total_sq / count - mean * mean, 0.0)
    active = activity > threshold
    return {
        "num_active": int(active.sum()),
        "activity": activity,
        "active": active,
        "threshold": float(threshold),
        "latent_dim": int(activity.size),
        "num_examples": int(count),
    }


def _factors(dist):
    """The per-dimension (scalar-event) distribution of a factorized ``[D]`` distribution.

    Returns a distribution with scalar events whose batch shape broadcasts to
    ``[..., D]``, or ``None`` if ``dist`` is not recognizably factorized.
    """
    if isinstance(dist, tfd.Independent):
        inner = dist.distribution
        if (inner.event_shape.rank == 0
                and _reinterpreted_ndims(dist) == 1):
            return inner
        return None
    if isinstance(dist, tfd.Sample):
        inner = dist.distribution
        if inner.event_shape.rank == 0 and dist.event_shape.rank == 1:
            # batch [...] -> add a broadcastable trailing axis for the D iid copies.
            return _expand_last(inner)
        return None
    if isinstance(dist, tfd.MultivariateNormalLinearOperator):
        scale = dist.scale
        if isinstance(scale, (tf.linalg.LinearOperatorDiag, tf.linalg.LinearOperatorIdentity,
                              tf.linalg.LinearOperatorScaledIdentity)):
            loc = dist.loc if dist.loc is not None else tf.zeros([], dist.dtype)
            return tfd.Normal(loc, tf.abs(scale.diag_part()))
    if isinstance(dist, tfd.Normal):  # scalar-event Normal with batch [..., D]
        return dist
    return None


def _reinterpreted_ndims(dist):
    n = dist.reinterpreted_batch_ndims
    return int(tf.get_static_value(n)) if n is not None else None


def _expand_last(inner):
    if isinstance(inner, tfd.Normal):
        return tfd.Normal(inner.loc[..., None], inner.scale[..., None])
    if isinstance(inner, tfd.Laplace):
        return tfd.Laplace(inner.loc[..., None], inner.scale[..., None])
    if inner.batch_shape.rank == 0:
        return inner  # a scalar batch broadcasts against [..., D]
    return None


def kl_per_dimension(model, data, *, num_samples=16, seed=0, max_examples=None,
                     progress=False):
    """Mean over the data of ``KL(q(z_u|x) || p(z_u))`` for every latent unit ``u``.

    Requires a factorized posterior and prior (``Independent`` of scalar
    distributions, ``Sample`` of a scalar distribution, or a diagonal
    ``MultivariateNormal*``).  The KL is analytic when TFP knows the pair (e.g.
    Normal / Normal) and a ``num_samples``-sample Monte-Carlo estimate otherwise.
    For such pairs the result sums to the mean rate ``E_x KL(q(z|x) || p(z))``.

    Returns:
      float64 array ``[D]``.

    Raises:
      NotImplementedError: for non-factorized posteriors or priors (full-covariance
        Gaussians, flows, mixtures): their per-dimension KL would need marginals
        that are not generally available.
    """
    num_samples = check_positive_int("num_samples", num_samples)
    base = _base_seed(seed)

    model_ref = _weak(model)

    def batch_kl(x, y, seed):
        model = model_ref()  # through a weak reference, see _cached_step
        q, prior = _encode(model, x, y), _prior(model, y)
        qf, pf = _factors(q), _factors(prior)
        if qf is None or pf is None:
            raise NotImplementedError(
                "kl_per_dimension needs a factorized (diagonal) posterior and prior; got "
                f"q={type(q).__name__}, p={type(prior).__name__}. Per-dimension KL of "
                "non-factorized distributions would need their marginals.")
        try:
            kl = tfd.kl_divergence(qf, pf)
        except NotImplementedError:
            z = qf.sample(num_samples, seed=seed)
            kl = tf.reduce_mean(qf.log_prob(z) - pf.log_prob(z), axis=0)
        return tf.broadcast_to(kl, tf.concat(
            [q.batch_shape_tensor(), q.event_shape_tensor()], axis=0))

    # Plain graph function: the structural NotImplementedError must surface as is.
    step = _cached_step(model, ("kl", num_samples),
                        lambda: tf.function(batch_kl, reduce_retracing=True))
    count, total = 0, None
    for index, (x, y, _) in enumerate(_preprocessed_batches(
            model, data, max_examples, progress, desc="KL per dimension")):
        kl = step(x, y, _batch_seed(base, index, salt=3)).numpy().astype(np.float64)
        total = kl.sum(0) if total is None else total + kl.sum(0)
        count += kl.shape[0]
    if count == 0:
        raise _empty_error("kl_per_dimension")
    return total / count


# ---------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------


def classification_accuracy(model, data, *, max_examples=None, progress=False):
    """Accuracy of ``argmax model.classify(x)`` against the labels from ``model.preprocess``.

    Examples with a label < 0 (unlabeled) are skipped.

    Returns:
      float in [0, 1].

    Raises:
      ValueError: if the data is empty or has no labeled examples.
    """
    correct, labeled, seen = 0, 0, 0
    for x, y, _ in _preprocessed_batches(model, data, max_examples, progress,
                                         desc="accuracy"):
        seen += int(x.shape[0])
        if y is None:
            raise ValueError("classification_accuracy: model.preprocess returned no labels")
        labels = np.asarray(y).reshape(-1).astype(np.int64)
        mask = labels >= 0
        if not mask.any():
            continue
        probs = np.asarray(model.classify(x))
        pred = probs.reshape(probs.shape[0], -1).argmax(axis=-1)
        correct += int((pred[mask] == labels[mask]).sum())
        labeled += int(mask.sum())
    if seen == 0:
        raise _empty_error("classification_accuracy")
    if labeled == 0:
        raise ValueError("classification_accuracy: no labeled examples (all labels < 0)")
    return correct / labeled
