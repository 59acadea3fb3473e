"""Bernoulli likelihood for binary images.

log p(x|z) = sum_i x_i log sigmoid(l_i) + (1 - x_i) log sigmoid(-l_i), with the
decoder's logits l; the pixels are independent given z.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo.likelihoods.base import Likelihood

tfd = tfp.distributions


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
            tfd.Bernoulli(logits=params, dtype=tf.float32), reinterpreted_batch_ndims=3)
