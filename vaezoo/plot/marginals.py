"""The prior's per-dimension marginals: the quantiles a manifold grid is laid on, and the
mean and standard deviation a traversal walks in."""

import numpy as np
import tensorflow as tf

from vaezoo.plot.codes import require_continuous_latent


def tf_seed(seed):
    """A stateless TensorFlow seed [2] from an integer."""
    return tf.constant([int(seed), 0], tf.int32)


def prior_marginals(model, y=None, num_samples=20_000, seed=0):
    """(quantile function, mean [D], stddev [D]) of the prior's per-dimension marginals.

    Exact for a factorized prior (``Independent`` of scalar distributions with a
    ``quantile``); otherwise (e.g. a mixture) the empirical quantiles, mean and
    standard deviation of ``num_samples`` prior draws. ``y`` is the condition of
    a conditional prior p(z|y) (the first example's marginals are returned);
    None for an unconditional model. The quantile function maps [n]
    probabilities to [n, D] latent values.

    Example:
      >>> quantile, mean, std = prior_marginals(model)   # a standard normal prior
      >>> quantile([0.5, 0.975])[:, 0]                     # [0.0, 1.96]
    """
    require_continuous_latent(
        model, "prior_marginals", "the quantiles, mean and stddev of code indices mean nothing",
        "sample_grid (images) or model.prior().sample(n) (code grids)")
    prior = model.prior(y)
    inner = getattr(prior, "distribution", None)
    if type(prior).__name__ == "Independent" and inner.event_shape.rank == 0:
        try:
            dim, shape = model.latent_dim, tuple(prior.batch_shape) + tuple(prior.event_shape)

            def first(values):  # the first batch member's [D] values (a conditional prior)
                return np.broadcast_to(np.asarray(values, np.float64), shape).reshape(-1, dim)[0]

            mean, std = first(inner.mean()), first(inner.stddev())
            inner.quantile(0.5)

            def quantile(p):
                p = np.asarray(p, np.float32).reshape((-1,) + (1,) * len(shape))
                values = np.asarray(inner.quantile(p), np.float64)
                return np.broadcast_to(values, (len(p),) + shape).reshape(len(p), -1, dim)[:, 0]

            return quantile, mean, std
        except NotImplementedError:  # a scalar distribution without a quantile function
            pass
    draws = np.asarray(prior.sample(num_samples, seed=tf_seed(seed)), np.float64)
    draws = draws.reshape(-1, model.latent_dim)

    def empirical(p):
        return np.quantile(draws, np.asarray(p, np.float64), axis=0)

    return empirical, draws.mean(0), draws.std(0)
