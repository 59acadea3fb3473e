"""A convolutional VAE for any H x W x C image."""

import keras

from vaezoo import validation
from vaezoo.models.base import VAE
from vaezoo.networks import conv_decoder, conv_encoder


@keras.saving.register_keras_serializable(package="vaezoo")
class ConvVAE(VAE):
    """A VAE with strided-convolution encoder and transposed-convolution decoder.

    Args:
      filters: channels of the encoder's stride-2 convolutions (the decoder mirrors them).
      kernel_size: convolution kernel size.
      dense_units: width of the dense layer between the convolutions and z (0: none).
      activation: Keras activation of the hidden layers.
      **kwargs: the base ``VAE`` arguments.

    Example:
      >>> model = vaezoo.ConvVAE(latent_dim=32, filters=(32, 64), likelihood="bernoulli",
      ...                        binarization="dynamic")
    """

    def __init__(self, filters=(32, 64), kernel_size=3, dense_units=256, activation="relu",
                 **kwargs):
        self.filters = validation.check_positive_ints("filters", filters, (32, 64))
        self.kernel_size = int(kernel_size)
        self.dense_units = int(dense_units)
        self.activation = activation
        keras.activations.get(activation)
        super().__init__(**kwargs)

    def _make_encoder(self, image_shape):
        return conv_encoder(self.filters, self.kernel_size, self.dense_units, self.activation,
                            name="encoder")

    def _make_decoder(self, image_shape, out_channels):
        return conv_decoder(image_shape, out_channels, self.filters, self.kernel_size,
                            self.dense_units, self.activation, name="decoder")

    def get_config(self):
        return {**super().get_config(), "filters": list(self.filters),
                "kernel_size": self.kernel_size, "dense_units": self.dense_units,
                "activation": self.activation}
