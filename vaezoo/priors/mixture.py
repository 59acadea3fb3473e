"""A learnable mixture-of-Gaussians prior.

p(z) = sum_k pi_k N(z; mu_k, diag(sigma_k^2)), with pi = softmax(w), all of
w, mu, log sigma learned with the model. There is no closed-form KL(q || p), so
the rate is estimated by Monte Carlo: E_q[log q(z|x) - log p(z)].
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo.priors.base import Prior
from vaezoo.validation import check_positive_int

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="vaezoo")
class MixtureOfGaussians(Prior):
    """Learnable mixture of ``num_components`` diagonal Gaussians.

    Args:
      latent_dim: size of z.
      num_components: number of mixture components (> 0).
    """

    def __init__(self, latent_dim, num_components=10, **kwargs):
        super().__init__(latent_dim, **kwargs)
        self.num_components = check_positive_int("num_components", num_components, 10)
        k, d = num_components, latent_dim
        self.locs = self.add_weight(
            name="locs", shape=(k, d), initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.raw_scales = self.add_weight(name="raw_scales", shape=(k, d), initializer="zeros")
        self.logits = self.add_weight(name="logits", shape=(k,), initializer="zeros")
        self.built = True

    def distribution(self, y=None, encoder=None):
        components = tfd.Independent(
            tfd.Normal(self.locs, tf.nn.softplus(self.raw_scales + 0.5413) + 1e-4),
            reinterpreted_batch_ndims=1)
        return tfd.MixtureSameFamily(tfd.Categorical(logits=self.logits), components)

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components}
