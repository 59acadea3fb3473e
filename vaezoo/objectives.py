r"""Training objectives: the ELBO, the importance-weighted bound, beta, warm-up, free bits.

Evidence lower bound (Kingma & Welling 2014), per example, in nats:

    ELBO(x) = E_{q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z))
            = -(distortion + rate)

with ``distortion = -E_q[log p(x|z)]`` (Monte Carlo over ``num_samples`` z)
and ``rate = KL(q || p)``, closed-form when TFP registers it for the pair,
otherwise the Monte-Carlo estimate E_q[log q(z|x) - log p(z)] on the same z.

beta-weighted loss (Higgins et al. 2017), with a linear KL warm-up over
``warmup_steps`` (Bowman et al. 2016; Sønderby et al. 2016):

    loss = distortion + beta_t * rate,   beta_t = beta * min(1, (t + 1) / warmup_steps)

with t = ``optimizer.iterations`` (the step being taken, from 0), so the schedule
state is an optimizer variable and is restored with a training checkpoint.

Free bits (Kingma et al. 2016, "Improved variational inference with inverse
autoregressive flow", eq. 15): with ``free_bits = lambda`` nats per latent
dimension, the rate term is replaced by

    sum_j max(lambda, E_batch[KL_j])

where KL_j is the KL of dimension j (when q and p factorize over dimensions),
or by max(lambda * D, E_batch[KL]) for the whole latent otherwise.

Importance-weighted bound (Burda, Grosse & Salakhutdinov 2016), k samples:

    L_k(x) = E_{z_1..z_k ~ q}[ log (1/k) sum_i p(x, z_i) / q(z_i|x) ]

L_1 = ELBO <= L_k <= L_{k+1} <= log p(x). Training on L_k (``objective="iwae"``)
gives tighter likelihoods; beta and free bits do not apply to it.
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

OBJECTIVES = ("elbo", "iwae")


def check_objective(objective):
    """Validate an objective name (ValueError with the valid names)."""
    from vaezoo.registry import check_name

    return check_name("objective", objective, OBJECTIVES)


def analytic_kl(approx_posterior, prior):
    """Closed-form KL(q || p) per example, or None when TFP has none for the pair."""
    try:
        return tfd.kl_divergence(approx_posterior, prior)
    except NotImplementedError:
        return None


def kl_per_dimension(approx_posterior, prior):
    """[..., D] per-dimension KL when both factorize into univariate Normals, else None."""
    def base(d):
        if isinstance(d, tfd.Independent) and isinstance(d.distribution, tfd.Normal):
            return d.distribution
        return None

    q, p = base(approx_posterior), base(prior)
    if q is None or p is None:
        return None
    return tfd.kl_divergence(q, p)


def terms(x, approx_posterior, prior, decode, *, num_samples=1, seed=None,
          importance_weighted=False):
    """Per-example ELBO terms for a batch.

    Args:
      x: [B, H, W, C] images on the likelihood's support.
      approx_posterior: q(z|x), batch [B], event [D].
      prior: p(z), event [D].
      decode: callable z [S, B, D] -> p(x|z) with batch [S, B].
      num_samples: S, the number of z per example.
      seed: a stateless seed (shape [2] int) for the z samples.
      importance_weighted: also return ``iwae``, the k=S importance-weighted bound.

    Returns:
      dict of [B] tensors: ``elbo``, ``rate``, ``distortion`` (and ``iwae``).
    """
    z = approx_posterior.sample(num_samples, seed=seed)             # [S, B, D]
    log_px_z = decode(z).log_prob(x)                               # [S, B]
    distortion = -tf.reduce_mean(log_px_z, axis=0)
    log_qz = log_pz = None
    rate = analytic_kl(approx_posterior, prior)
    if rate is None or importance_weighted:
        log_qz = approx_posterior.log_prob(z)
        log_pz = prior.log_prob(z)
    if rate is None:
        rate = tf.reduce_mean(log_qz - log_pz, axis=0)
    out = {"elbo": -(distortion + rate), "rate": rate, "distortion": distortion}
    if importance_weighted:
        log_w = log_px_z + log_pz - log_qz
        out["iwae"] = tf.reduce_logsumexp(log_w, axis=0) - math.log(num_samples)
    return out


def warmup_beta(beta, warmup_steps, step):
    """beta_t = beta * min(1, (step + 1) / warmup_steps); beta when warmup_steps is 0."""
    if not warmup_steps:
        return tf.constant(beta, tf.float32)
    frac = tf.minimum(1.0, tf.cast(step + 1, tf.float32) / float(warmup_steps))
    return beta * frac


def free_bits_rate(rate, free_bits, approx_posterior=None, prior=None):
    """The rate term with free bits (scalar, averaged over the batch)."""
    if not free_bits:
        return tf.reduce_mean(rate)
    per_dim = None
    if approx_posterior is not None and prior is not None:
        per_dim = kl_per_dimension(approx_posterior, prior)
    if per_dim is not None:
        return tf.reduce_sum(tf.maximum(free_bits, tf.reduce_mean(per_dim, axis=0)))
    dims = approx_posterior.event_shape[-1] if approx_posterior is not None else 1
    return tf.maximum(free_bits * dims, tf.reduce_mean(rate))


def loss(batch_terms, *, objective="elbo", beta=1.0, free_bits=0.0, approx_posterior=None,
         prior=None):
    """Scalar training loss (mean over the batch) from the per-example terms."""
    if objective == "iwae":
        return -tf.reduce_mean(batch_terms["iwae"])
    rate = free_bits_rate(batch_terms["rate"], free_bits, approx_posterior, prior)
    return tf.reduce_mean(batch_terms["distortion"]) + beta * rate
