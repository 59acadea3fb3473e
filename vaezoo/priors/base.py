"""The prior interface: a layer whose ``distribution()`` is p(z)."""

import keras

from vaezoo.validation import check_positive_int


class Prior(keras.layers.Layer):
    """p(z) over ``latent_dim`` dimensions, returned as a tfd.Distribution.

    ``distribution(y=None, encoder=None)``: ``y`` is the condition for
    conditional priors p(z|y); ``encoder`` is the model's x -> q(z|x) callable,
    for priors defined through the encoder (VampPrior). Priors that need
    neither ignore them.
    """

    def __init__(self, latent_dim, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)

    def distribution(self, y=None, encoder=None):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim}
