r"""The importance-sampled log-likelihood and bits per dimension.

Importance-sampled log-likelihood (Burda, Grosse & Salakhutdinov, 2016)
------------------------------------------------------------------------
For an example ``x`` and ``K`` samples ``z_1..z_K ~ q(z|x)``::

    log w_k  = log p(x|z_k) + log p(z_k) - log q(z_k|x)
    log p(x) ~= L_K(x) = logmeanexp_k log w_k
                       = logsumexp_k log w_k - log K

``E[L_K] <= log p(x)`` (Jensen), ``E[L_K] <= E[L_{K+1}]``, and ``L_K -> log p(x)``
as ``K -> inf`` when the weights have finite variance. So the estimate is a
*stochastic lower bound in expectation* that tightens with ``K``; ``K = 1`` is the
single-sample ELBO. With the exact posterior ``q(z|x) = p(z|x)`` every weight
equals ``p(x)`` and the estimate is exact for any ``K``.

The encoder runs once per batch. The ``K`` samples are decoded in chunks of
``sample_batch`` and combined by a streaming log-sum-exp (running maximum ``m``,
rescaled sum ``s``)::

    m' = max(m, max_k log w_k),  s' = s * exp(m - m') + sum_k exp(log w_k - m')
    logsumexp = m + log s

so memory is bounded for any ``K``. Sample ``k`` of batch ``b`` is drawn with a
stateless seed that depends only on (``seed``, ``b``, ``k``, ``K``), never on the
chunking: a seed gives the same estimate for every ``sample_batch`` (up to float
round-off in the summation order).

Models of (x, y) with a class prior (M2, Kingma et al. 2014)
-----------------------------------------------------------
For a model that classifies (``SemiSupervisedVAE``: ``p(y) = Cat(1/C)``,
``p(z)``, ``p(x|y,z)``) the class is summed out exactly, with no label used::

    log p(x) = logsumexp_c [log p(y=c) + log p(x|y=c)],   p(y=c) = 1/C

each ``log p(x|y=c)`` the estimate above with ``K`` samples from ``q(z|x,y=c)``
(``C * K`` decoder passes per image). A class-conditional model without a class
prior (``ConditionalVAE``) gets ``log p(x|y)`` with the labels in the data.

A model with latents beyond z (``AuxiliaryDGM``: the auxiliary a) gives its
one-sample log weights itself, ``joint_log_weights(x, y, seed)`` =
``log p(x, a, z|y) - log q(a, z|x, y)`` with ``(a, z) ~ q(a|x) q(z|a,y,x)``; the
same logmeanexp over ``K`` draws estimates ``log p(x|y)``.

Deterministic posteriors (VQ-VAE)
---------------------------------
When q(z|x) is a point mass on z(x) (``VQVAE``: the nearest-code grid), every
weight is the same, ``log p(x|z(x)) + log p(z(x))``, and the estimate is exactly
that ELBO for every ``K``: a bound on ``log p(x)``, not an estimate of it. The
result then says so: ``"estimate": "bound"`` (otherwise ``"importance_sampled"``).

Bits per dimension
------------------
``bits/dim = -log p(x) / (H * W * C * ln 2)``, ``log p(x)`` in nats. For discrete
likelihoods (Bernoulli on binarized pixels) this is the code length per pixel;
for densities over continuous pixels it compares only models evaluated on the
same scaling of the data.

Precision
---------
By default the estimate computes in the model's Keras dtype policy (float32
unless the model was made with ``dtype=`` or under
``keras.config.set_dtype_policy``); densities, log-weights and the log-sum-exp
are float32 in every case. ``precision="float32"`` forces float32 throughout;
``precision="bfloat16"`` runs the decoder, ``K * N`` passes and nearly all of the
work, under ``mixed_bfloat16`` and the encoder in float32: an explicit speed-up
whose estimate moves by bfloat16's rounding (8 significant bits; bounded by
``tests/test_evaluation_precision.py``). Report such numbers as bfloat16 estimates.
"""

import math

import numpy as np
import tensorflow as tf

from vaezoo.evaluation.batches import empty_error, labelled_batches, mean_and_stderr
from vaezoo.evaluation.steps import (Step, base_seed, batch_seed, cached_step,
                                     check_precision, log_weights, precision_scope)
from vaezoo.validation import check_positive_int

# Bound on sample_batch * batch * pixels (floats) of the decoded samples of one chunk.
_CHUNK_FLOATS = 4_000_000


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


def sums_out_classes(model):
    """True for a model of (x, y) with a class prior p(y) (M2): log p(x) sums y out."""
    return bool(model.is_conditional and callable(getattr(model, "classify", None))
                and getattr(model, "num_classes", 0))


def _default_sample_batch(num_samples, batch_size, image_shape):
    pixels = int(np.prod(image_shape))
    return int(max(1, min(num_samples, _CHUNK_FLOATS // max(1, batch_size * pixels))))


def iwae_step(model, num_samples, chunk, precision=None):
    """The compiled step ``(x, y, seed) -> L_K(x)`` per example, ``K = num_samples``.

    ``chunk`` samples are decoded at once; ``precision`` as in :func:`log_likelihood`.
    For an M2 model, ``y`` is one class for every example (``log p(x|y)``).
    """
    n_full, rem = divmod(num_samples, chunk)
    log_k = math.log(num_samples)
    # A model with latents beyond z gives its one-sample log weights itself:
    # joint_log_weights(x, y, seed) -> log p(x, latents | y) - log q(latents | x, y), [B].
    joint = getattr(model, "joint_log_weights", None)

    def make(fuse):
        def batch_log_px(x, y, seed):
            q = model.encode(x, y)  # once per batch
            prior = model.prior(y)
            # One seed per sample index: independent of the chunking.
            seeds = tf.random.stateless_uniform(
                [num_samples, 2], seed=seed, minval=None, maxval=None, dtype=tf.int32)

            def chunk_log_weights(chunk_seeds):
                if joint is not None:  # latents beyond z (AuxiliaryDGM): the model's weights
                    return tf.map_fn(lambda s: joint(x, y, s), chunk_seeds,
                                     fn_output_signature=tf.float32)  # [n, B]
                z = tf.map_fn(lambda s: q.sample(seed=s), chunk_seeds,
                              fn_output_signature=q.dtype)  # [n, B, D]
                return log_weights(model.decode(z, y), q, prior, x, z, fuse)  # [n, B]

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
                m, s = update(m, s, chunk_log_weights(seeds[:chunk]))
            elif n_full > 1:
                def body(i, m, s):
                    # tf.slice keeps the chunk size static (XLA needs static shapes).
                    chunk_seeds = tf.slice(seeds, [i * chunk, 0], [chunk, 2])
                    m, s = update(m, s, chunk_log_weights(chunk_seeds))
                    return i + 1, m, s

                _, m, s = tf.while_loop(
                    lambda i, m, s: i < n_full, body, (tf.constant(0), m, s),
                    maximum_iterations=n_full)
            if rem:
                m, s = update(m, s, chunk_log_weights(seeds[n_full * chunk:]))
            return m + tf.math.log(s) - log_k

        return batch_log_px

    return Step(make, "the importance-sampling step",
                scope=lambda: precision_scope(model, precision))


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
    ``z_k ~ q(z|x)``, ``k = 1..num_samples``: a stochastic lower bound in
    expectation that tightens as ``num_samples`` grows (see the module docstring;
    for an M2 model the class is summed out).

    Args:
      model: a vaezoo VAE (``preprocess``, ``encode``, ``decode``, ``prior``,
        ``is_conditional``, ``image_shape``, ``dtype_policy``).
      data: a ``tf.data.Dataset`` of batches, or a NumPy array / tensor of images
        (or a tuple / dict of arrays), batched here by 500.
      num_samples: importance samples ``K`` per example (positive int).
      sample_batch: samples decoded at once; default keeps
        ``sample_batch * batch * pixels`` around 4e6 floats. Does not change the
        result (beyond float round-off) for a given seed.
      max_examples: evaluate at most this many examples.
      seed: integer seed; the same seed (and data batching) gives the same estimate.
      progress: show a tqdm progress bar over batches.
      return_per_example: also return the per-example estimates.
      precision: None (default: the model's dtype policy), ``"float32"`` or
        ``"bfloat16"`` (the decoder in bfloat16, an explicit speed-up).

    Returns:
      dict with ``log_likelihood`` (mean nats per example), ``stderr`` (standard
      error of that mean over examples; NaN for one example), ``bits_per_dim``,
      ``num_samples``, ``num_examples``, ``precision`` (the one used: the name
      of the model's dtype policy for None), ``classes_summed_out`` (True for an
      M2 model), ``estimate`` ("bound" for a deterministic posterior, see the
      module docstring, else "importance_sampled") and, if asked, ``per_example``
      (float64 array of estimates).

    Raises:
      ValueError: if ``num_samples`` / ``sample_batch`` is not positive, the
        precision is unknown or the data is empty.

    Example:
      >>> log_likelihood(model, test_images, num_samples=1000)["log_likelihood"]

    Reference:
      Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
    """
    num_samples = check_positive_int("num_samples", num_samples)
    if sample_batch is not None:
        sample_batch = min(check_positive_int("sample_batch", sample_batch), num_samples)
    if max_examples is not None:
        max_examples = check_positive_int("max_examples", max_examples)
    precision = check_precision(precision)
    base = base_seed(seed)
    sum_classes = sums_out_classes(model)

    step = image_shape = None
    per_example = []
    with labelled_batches(model, data, max_examples, progress=progress,
                          desc=f"log p(x), K={num_samples}") as bar:
        for index, (x, _, y) in enumerate(bar):
            if step is None:  # the first batch has built the model if it was not
                image_shape = tuple(int(d) for d in model.image_shape)
                chunk = sample_batch or _default_sample_batch(
                    num_samples, int(x.shape[0]), image_shape)
                step = cached_step(model, ("iwae", num_samples, chunk, precision),
                                   lambda: iwae_step(model, num_samples, chunk, precision))
            seed_b = batch_seed(base, index)
            if sum_classes:
                values = _class_summed(step, model.num_classes, x, seed_b)
            else:
                values = step(x, y, seed_b).numpy().astype(np.float64)
            per_example.append(values)
            if progress:
                bar.set_postfix(log_px=f"{np.mean(np.concatenate(per_example)):.3f}")
    if not per_example:
        raise empty_error("log_likelihood")

    per_example = np.concatenate(per_example)
    mean, stderr = mean_and_stderr(per_example)
    out = {
        "log_likelihood": mean,
        "stderr": stderr,
        "bits_per_dim": bits_per_dim(mean, image_shape),
        "num_samples": num_samples,
        "num_examples": int(per_example.size),
        "precision": precision or model.dtype_policy.name,
        "classes_summed_out": sum_classes,
        "estimate": "bound" if getattr(model, "deterministic_posterior", False)
        else "importance_sampled",
    }
    if return_per_example:
        out["per_example"] = per_example
    return out
