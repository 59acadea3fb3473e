"""The approximate-posterior interface: encoder features -> q(z|x)."""

import keras

from vaezoo.validation import check_positive_int


class Posterior(keras.layers.Layer):
    """Turns encoder features into q(z|x), a distribution with event [latent_dim].

    ``params_size`` is how many encoder outputs it needs; ``distribution(params)``
    builds q from them (params: [B, params_size]).
    """

    def __init__(self, latent_dim, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)

    @property
    def params_size(self):
        return 2 * self.latent_dim

    def distribution(self, params):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim}
