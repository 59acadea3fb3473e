"""Diagonal Gaussian posterior q(z|x) = N(mu(x), diag(sigma(x)^2)).

Sampling is reparameterized: z = mu + sigma * eps, eps ~ N(0, I) (Kingma &
Welling 2014), so gradients flow through the sample into the encoder.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo.posteriors.base import Posterior

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="vaezoo")
class DiagonalGaussian(Posterior):
    """sigma = softplus(raw) + 1e-4 keeps the scale positive and bounded away from 0."""

    def distribution(self, params):
        loc, raw_scale = tf.split(params, 2, axis=-1)
        scale = tf.nn.softplus(raw_scale) + 1e-4
        return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)
