"""The fully connected VAE of Kingma & Welling (2014), for any image shape."""


import keras

from vaezoo import validation
from vaezoo.models.base import VAE
from vaezoo.networks import mlp, mlp_decoder


@keras.saving.register_keras_serializable(package="vaezoo")
class MLPVAE(VAE):
    """A VAE whose encoder and decoder are MLPs (the decoder mirrors the encoder).

    Args:
      hidden_units: hidden layer sizes of the encoder; the decoder uses them reversed.
      activation: Keras activation of the hidden layers.
      gated: gated dense units (Tomczak & Welling 2018's GatedDense, ``vaezoo.networks.mlp``)
        instead of plain ones; ``activation`` is then that of the gated half ("linear" in
        the paper).
      **kwargs: the base ``VAE`` arguments (latent_dim, likelihood, prior, ...).

    Example:
      >>> model = vaezoo.MLPVAE(latent_dim=50, hidden_units=(500, 500),
      ...                       likelihood="bernoulli", binarization="dynamic")
    """

    def __init__(self, hidden_units=(500, 500), activation="relu", gated=False, **kwargs):
        self.hidden_units = validation.check_positive_ints("hidden_units", hidden_units,
                                                           (500, 500))
        self.activation = activation
        keras.activations.get(activation)  # fail early on an unknown activation name
        self.gated = validation.check_bool("gated", gated)
        super().__init__(**kwargs)

    def _make_encoder(self, image_shape):
        trunk = mlp(self.hidden_units, self.activation, gated=self.gated)
        return keras.Sequential([keras.layers.Flatten(), trunk], name="encoder")

    def _make_decoder(self, image_shape, out_channels):
        return mlp_decoder(image_shape, out_channels, self.hidden_units, self.activation,
                           gated=self.gated)

    def get_config(self):
        return {**super().get_config(), "hidden_units": list(self.hidden_units),
                "activation": self.activation, "gated": self.gated}


