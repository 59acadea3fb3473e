r"""Posterior-collapse diagnostics and classification accuracy.

* Active units (Burda, Grosse & Salakhutdinov, 2016)::

      A_u = Cov_x(E_{q(z|x)}[z_u]),   unit u active  iff  A_u > 0.01

  the variance over the data of the posterior mean of unit ``u``.
* KL per dimension: ``E_x[KL(q(z_u|x) || p(z_u))]`` for a factorized posterior
  and prior (analytic for pairs TFP knows, e.g. Normal / Normal, Monte Carlo
  otherwise); it sums to the mean rate ``E_x KL(q(z|x) || p(z))``.
* Classification accuracy of ``argmax_c q(y=c|x)`` (``model.classify``) against
  the labels, unlabeled examples (label < 0) skipped.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo.evaluation.batches import empty_error, labelled_batches
from vaezoo.evaluation.steps import Step, base_seed, batch_seed, cached_step
from vaezoo.validation import check_positive_int

tfd = tfp.distributions


def _posterior_mean_step(model, num_samples):
    """The step ``(x, y, seed) -> E_q[z]``, from ``num_samples`` draws if ``q`` has no mean."""
    def make(fuse):
        def batch_mean(x, y, seed):
            q = model.encode(x, y)
            try:
                return q.mean()
            except NotImplementedError:
                return tf.reduce_mean(q.sample(num_samples, seed=seed), axis=0)

        return batch_mean

    return Step(make, "the posterior-mean step")


def active_units(model, data, threshold=0.01, *, num_samples=16, seed=0, max_examples=None,
                 progress=False):
    """Active latent units: ``A_u = Cov_x(E_{q(z|x)}[z_u]) > threshold``.

    The posterior mean is ``q.mean()``; if the posterior does not implement it
    (e.g. a flow) it is estimated from ``num_samples`` samples. The variance
    over the data is accumulated from sums shifted by the first example (stable
    in one pass).

    Args:
      model: a vaezoo VAE.
      data: as for ``log_likelihood``.
      threshold: a unit is active if its ``A_u`` exceeds this (0.01, as Burda et al.).
      num_samples, seed: for posteriors without an analytic mean.
      max_examples: use at most this many examples.
      progress: show a progress bar.

    Returns:
      dict with ``num_active`` (int), ``activity`` (float64 array ``[D]`` of
      ``A_u``), ``active`` (bool mask ``[D]``), ``threshold``, ``latent_dim``
      and ``num_examples``.

    Example:
      >>> active_units(model, test_images)["num_active"]

    Reference:
      Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
    """
    num_samples = check_positive_int("num_samples", num_samples)
    base = base_seed(seed)
    step = cached_step(model, ("mean", num_samples),
                       lambda: _posterior_mean_step(model, num_samples))
    count, total, total_sq, shift = 0, None, None, None
    for index, (x, _, y) in enumerate(labelled_batches(model, data, max_examples,
                                                       progress=progress,
                                                       desc="active units")):
        mu = step(x, y, batch_seed(base, index, salt=2)).numpy().astype(np.float64)
        mu = mu.reshape(mu.shape[0], -1)
        if shift is None:
            shift = mu[0].copy()
            total, total_sq = np.zeros_like(shift), np.zeros_like(shift)
        d = mu - shift
        total += d.sum(0)
        total_sq += (d * d).sum(0)
        count += mu.shape[0]
    if count == 0:
        raise empty_error("active_units")
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
        if inner.event_shape.rank == 0 and _reinterpreted_ndims(dist) == 1:
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


def _kl_step(model, num_samples):
    """The step ``(x, y, seed) -> KL(q(z_u|x) || p(z_u))`` per example and unit."""
    def make(fuse):
        def batch_kl(x, y, seed):
            q, prior = model.encode(x, y), model.prior(y)
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

        return batch_kl

    return Step(make, "the KL-per-dimension step")


def kl_per_dimension(model, data, *, num_samples=16, seed=0, max_examples=None,
                     progress=False):
    """Mean over the data of ``KL(q(z_u|x) || p(z_u))`` for every latent unit ``u``.

    Requires a factorized posterior and prior (``Independent`` of scalar
    distributions, ``Sample`` of a scalar distribution, or a diagonal
    ``MultivariateNormal*``). The KL is analytic when TFP knows the pair (e.g.
    Normal / Normal) and a ``num_samples``-sample Monte-Carlo estimate otherwise.
    For such pairs the result sums to the mean rate ``E_x KL(q(z|x) || p(z))``.

    Args:
      model: a vaezoo VAE.
      data: as for ``log_likelihood``.
      num_samples, seed: for pairs without an analytic KL.
      max_examples: use at most this many examples.
      progress: show a progress bar.

    Returns:
      float64 array ``[D]``.

    Raises:
      NotImplementedError: for non-factorized posteriors or priors (full-covariance
        Gaussians, flows, mixtures): their per-dimension KL would need marginals
        that are not generally available.

    Example:
      >>> np.argsort(-kl_per_dimension(model, test_images))   # the informative units first
    """
    num_samples = check_positive_int("num_samples", num_samples)
    base = base_seed(seed)
    step = cached_step(model, ("kl", num_samples), lambda: _kl_step(model, num_samples))
    count, total = 0, None
    for index, (x, _, y) in enumerate(labelled_batches(model, data, max_examples,
                                                       progress=progress,
                                                       desc="KL per dimension")):
        kl = step(x, y, batch_seed(base, index, salt=3)).numpy().astype(np.float64)
        total = kl.sum(0) if total is None else total + kl.sum(0)
        count += kl.shape[0]
    if count == 0:
        raise empty_error("kl_per_dimension")
    return total / count


def classification_accuracy(model, data, *, max_examples=None, progress=False):
    """Accuracy of ``argmax_c model.classify(x)`` against the labels of ``data``.

    Examples with a label < 0 (unlabeled) are skipped.

    Args:
      model: a classifier with ``preprocess`` and ``classify(x) -> [B, C]``
        probabilities (``SemiSupervisedVAE``, the M1+M2 recipe).
      data: labelled examples, in any format of ``log_likelihood``.
      max_examples: use at most this many examples.
      progress: show a progress bar.

    Returns:
      float in [0, 1].

    Raises:
      ValueError: if the data is empty or has no labeled examples.

    Example:
      >>> classification_accuracy(model, {"image": test_images, "label": test_labels})
    """
    correct, labeled, seen = 0, 0, 0
    for x, labels, _ in labelled_batches(model, data, max_examples, progress=progress,
                                         desc="accuracy"):
        seen += int(x.shape[0])
        if labels is None:
            raise ValueError("classification_accuracy: model.preprocess returned no labels")
        labels = np.asarray(labels).reshape(-1).astype(np.int64)
        mask = labels >= 0
        if not mask.any():
            continue
        probs = np.asarray(model.classify(x))
        pred = probs.reshape(probs.shape[0], -1).argmax(axis=-1)
        correct += int((pred[mask] == labels[mask]).sum())
        labeled += int(mask.sum())
    if seen == 0:
        raise empty_error("classification_accuracy")
    if labeled == 0:
        raise ValueError("classification_accuracy: no labeled examples (all labels < 0)")
    return correct / labeled
