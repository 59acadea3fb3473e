"""Bernoulli likelihood for binary images.

log p(x|z) = sum_i x_i log sigmoid(l_i) + (1 - x_i) log sigmoid(-l_i), with the
decoder's logits l; the pixels are independent given z.

Since log sigmoid(l) - log sigmoid(-l) = l, each term is

    x l - softplus(l),

one softplus per pixel (whose gradient is sigmoid(l), exact also at l = 0);
``tfd.Bernoulli.log_prob`` evaluates two softplus per pixel (for both outcomes)
and two ``multiply_no_nan`` products. The log-density is
most of the elementwise work of training and of the importance-sampled
log-likelihood (``K`` decoded images per test image), so the pixels use
:class:`LogitBernoulli`, a ``tfd.Bernoulli`` whose ``log_prob`` is the form above
(the same values; tested against ``tfd.Bernoulli``).
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo.likelihoods.base import Likelihood

tfd = tfp.distributions


class LogitBernoulli(tfd.Bernoulli):
    """``tfd.Bernoulli(logits=...)`` with log_prob = x l - softplus(l) (finite logits)."""

    def _log_prob(self, event):
        if self._logits is None:
            return super()._log_prob(event)
        logits = tf.convert_to_tensor(self._logits)
        event = tf.cast(event, logits.dtype)
        return event * logits - tf.nn.softplus(logits)


@keras.saving.register_keras_serializable(package="vaezoo")
class Bernoulli(Likelihood):
    """Independent Bernoulli pixels; decoder outputs logits.

    Example:
      >>> vaezoo.MLPVAE(likelihood="bernoulli", binarization="dynamic")
    """

    params_per_channel = 1
    support = "binary"

    def distribution(self, params):
        return tfd.Independent(
            LogitBernoulli(logits=params, dtype=tf.float32), reinterpreted_batch_ndims=3)
