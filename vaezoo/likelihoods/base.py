"""The likelihood interface: decoder parameters -> tfd.Distribution over images."""

import keras


class Likelihood(keras.layers.Layer):
    """Maps the decoder's output to p(x|z), a distribution with event [H, W, C].

    A subclass says how many decoder channels it needs per image channel
    (``params_per_channel``), which pixel values it models (``support``:
    ``"binary"`` for {0,1}, ``"unit_interval"`` for [0, 1], ``"bytes"`` for the
    256 levels of an 8-bit image scaled to [0, 1]) and builds the distribution
    in ``distribution(params)``. Learned parameters that do not depend on z
    (a per-pixel variance) are weights created in ``build(image_shape)``.
    """

    params_per_channel = 1
    support = "unit_interval"

    def build(self, image_shape):
        self.image_shape = tuple(image_shape)
        self.built = True

    def distribution(self, params):
        """params: [..., H, W, C * params_per_channel] -> tfd.Distribution."""
        raise NotImplementedError

    def compute_output_shape(self, image_shape):
        """The shape of a batch drawn from p(x|z): [batch, H, W, C].

        Keras calls it with the arguments ``build`` was given (as ``summary`` does),
        so it takes ``image_shape`` like ``build``.
        """
        return (None,) + tuple(image_shape)
