r"""The evidence lower bound with its rate / distortion split.

    ELBO(x) = E_{q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z)) = -(distortion + rate)

with ``distortion = -E_q[log p(x|z)]``, a Monte-Carlo average over ``z ~ q(z|x)``,
and ``rate = KL(q(z|x) || p(z))``, analytic when ``tfd.kl_divergence`` knows the
pair and a Monte-Carlo average of ``log q(z|x) - log p(z)`` otherwise (Kingma &
Welling 2014; the rate-distortion reading is Alemi et al. 2018).
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo.evaluation.batches import empty_error, labelled_batches, mean_and_stderr
from vaezoo.evaluation.likelihood import bits_per_dim
from vaezoo.evaluation.steps import Step, base_seed, batch_seed, cached_step, log_prob
from vaezoo.validation import check_positive_int

tfd = tfp.distributions


def _rate(q, prior, z):
    """KL(q || prior) per example: analytic if registered, else Monte Carlo over ``z``."""
    try:
        return tfd.kl_divergence(q, prior)
    except NotImplementedError:
        return tf.reduce_mean(q.log_prob(z) - prior.log_prob(z), axis=0)


def _elbo_step(model, num_samples):
    """The step ``(x, y, seed) -> (rate, distortion)`` per example."""
    def make(fuse):
        def batch_elbo(x, y, seed):
            q = model.encode(x, y)
            prior = model.prior(y)
            z = q.sample(num_samples, seed=seed)  # [S, B, D]
            distortion = -tf.reduce_mean(log_prob(model.decode(z, y), x, fuse), axis=0)
            rate = _rate(q, prior, z)
            return tf.broadcast_to(rate, tf.shape(distortion)), distortion

        return batch_elbo

    return Step(make, "the ELBO step")


def elbo(model, data, *, num_samples=1, seed=0, progress=True, max_examples=None):
    """Mean evidence lower bound, with its rate / distortion split.

    ``ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)) = -(distortion + rate)``.

    Args:
      model: a vaezoo VAE.
      data: as for ``log_likelihood``.
      num_samples: Monte-Carlo samples of ``z ~ q(z|x)`` per example.
      seed: integer seed (stateless sampling; reproducible).
      progress: show a tqdm progress bar.
      max_examples: evaluate at most this many examples.

    Returns:
      dict with mean ``elbo``, ``rate``, ``distortion`` (nats per example),
      ``stderr`` (standard error of the mean ELBO over examples),
      ``bits_per_dim`` (of ``-elbo``), ``num_samples`` and ``num_examples``.

    Example:
      >>> res = elbo(model, test_images)
      >>> res["elbo"], res["rate"], res["distortion"]

    Reference:
      Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    """
    num_samples = check_positive_int("num_samples", num_samples)
    if max_examples is not None:
        max_examples = check_positive_int("max_examples", max_examples)
    base = base_seed(seed)
    image_shape = tuple(int(d) for d in model.image_shape)

    step = cached_step(model, ("elbo", num_samples), lambda: _elbo_step(model, num_samples))
    rates, distortions = [], []
    for index, (x, _, y) in enumerate(labelled_batches(model, data, max_examples,
                                                       progress=progress, desc="ELBO")):
        rate, distortion = step(x, y, batch_seed(base, index, salt=1))
        rates.append(rate.numpy().astype(np.float64))
        distortions.append(distortion.numpy().astype(np.float64))
    if not rates:
        raise empty_error("elbo")
    rates, distortions = np.concatenate(rates), np.concatenate(distortions)
    mean, stderr = mean_and_stderr(-(rates + distortions))
    return {
        "elbo": mean,
        "rate": float(rates.mean()),
        "distortion": float(distortions.mean()),
        "stderr": stderr,
        "bits_per_dim": bits_per_dim(mean, image_shape),
        "num_samples": num_samples,
        "num_examples": int(rates.size),
    }
