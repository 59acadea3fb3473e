"""The standard normal prior p(z) = N(0, I)."""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo.priors.base import Prior

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="vaezoo")
class StandardNormal(Prior):
    """p(z) = prod_j N(z_j; 0, 1); the KL to a diagonal Gaussian q is closed-form."""

    def distribution(self, y=None, encoder=None):
        zeros = tf.zeros([self.latent_dim])
        return tfd.Independent(tfd.Normal(zeros, 1.0), reinterpreted_batch_ndims=1)
