r"""Convolutional trunks of gated or residual blocks, for any H x W x C image.

Two kinds of block (``block=``):

* ``"gated"``: the gated unit of Dauphin et al. (2017) and van den Oord et al.
  (2016) that Tomczak & Welling (2018) build their convolutional hierarchical
  VAE from,

      h <- a(W_h * h + b_h) * sigmoid(W_g * h + b_g)

  with ``a`` linear in their model; one convolution (or dense layer) of 2F
  channels computes both halves and ``GatedActivation`` combines them.
* ``"residual"``: ``h <- h + Conv1x1(a(Conv3x3(a(h))))``, the block of
  ``vaezoo.networks.residual``, with plain strided convolutions (and ``a``) to
  change the resolution.

``block_encoder`` is x [B, H, W, C] -> flat features [B, F]: a stem convolution,
then per entry f of ``filters`` a stride-2 convolution to f channels and a
block, then a convolution to ``feature_channels`` channels, flattened (so
F = ceil(H / 2^n) * ceil(W / 2^n) * feature_channels for n = len(filters)).
``block_decoder`` mirrors it, from a vector to [B, H, W, out_channels]: a dense
unit, a dense layer to the ceil(H / 2^n) x ceil(W / 2^n) grid, then per stage a
block and a stride-2 transposed convolution, cropped to H x W, and a last
convolution (no activation) to the likelihood's parameters. ``dense_stack`` is
the dense counterpart (gated dense units, or Dense layers with ``a``).

Reference:
  Tomczak & Welling, "VAE with a VampPrior", AISTATS 2018 (their convHVAE);
  Dauphin et al., "Language modeling with gated convolutional networks", ICML 2017.
"""

import keras

from vaezoo.networks.residual import grid_shape, residual_block
from vaezoo.registry import check_name

BLOCKS = ("gated", "residual")

#: The activation ``a`` of each block's main path when none is given: Tomczak &
#: Welling's linear gated unit, and the ReLU of the residual block.
DEFAULT_ACTIVATIONS = {"gated": "linear", "residual": "relu"}


def check_block(block):
    """``block`` if it is one of ``BLOCKS``, else a ValueError naming them."""
    return check_name("block", block, BLOCKS)


@keras.saving.register_keras_serializable(package="vaezoo")
class GatedActivation(keras.layers.Layer):
    """[..., 2F] -> [..., F]: ``activation(h) * sigmoid(g)`` for the halves (h, g)."""

    def __init__(self, activation="linear", **kwargs):
        super().__init__(**kwargs)
        self.activation = activation
        self._activation = keras.activations.get(activation)

    def call(self, inputs):
        h, g = keras.ops.split(inputs, 2, axis=-1)
        return self._activation(h) * keras.ops.sigmoid(g)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] // 2,)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


def gated_conv(h, filters, kernel_size, strides=1, activation="linear", transpose=False,
               name="gated"):
    """A gated (transposed) convolution of ``h`` to ``filters`` channels, "same" padding."""
    conv = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    h = conv(2 * filters, kernel_size, strides=strides, padding="same", name=f"{name}_conv")(h)
    return GatedActivation(activation, name=f"{name}_gate")(h)


def gated_dense(h, units, activation="linear", name="gated"):
    """A gated dense unit of ``h`` with ``units`` outputs."""
    h = keras.layers.Dense(2 * units, name=f"{name}_dense")(h)
    return GatedActivation(activation, name=f"{name}_gate")(h)


def _conv(h, block, filters, kernel_size, strides, activation, name, transpose=False):
    """A convolution that may change channels and resolution: gated, or plain with ``a``."""
    if block == "gated":
        return gated_conv(h, filters, kernel_size, strides, activation, transpose, name)
    conv = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    return conv(filters, kernel_size, strides=strides, padding="same", activation=activation,
                name=name)(h)


def _block(h, block, kernel_size, activation, name):
    """One block at ``h``'s resolution and channels."""
    if block == "gated":
        return gated_conv(h, h.shape[-1], kernel_size, 1, activation, name=name)
    return residual_block(h, h.shape[-1], activation, name)


def _dense(h, block, units, activation, name):
    if block == "gated":
        return gated_dense(h, units, activation, name)
    return keras.layers.Dense(units, activation=activation, name=name)(h)


def dense_stack(input_size, units, out_size, block="gated", activation="linear", name=None):
    """[N, input_size] -> [N, out_size]: one dense unit of ``block``'s kind per entry of
    ``units``, then a linear Dense layer (the parameters of a distribution)."""
    inputs = keras.Input((input_size,))
    h = inputs
    for i, u in enumerate(units):
        h = _dense(h, block, u, activation, f"hidden{i}")
    outputs = keras.layers.Dense(out_size, name="params")(h)
    return keras.Model(inputs, outputs, name=name)


def block_encoder(image_shape, filters=(32, 64), kernel_size=3, block="gated",
                  activation="linear", feature_channels=6, name=None):
    """[B, H, W, C] -> [B, F] flat features (see the module docstring)."""
    inputs = keras.Input(tuple(image_shape))
    h = _conv(inputs, block, filters[0], kernel_size, 1, activation, "stem")
    for i, f in enumerate(filters):
        h = _conv(h, block, f, kernel_size, 2, activation, f"down{i}")
        h = _block(h, block, kernel_size, activation, f"block{i}")
    h = _conv(h, block, feature_channels, kernel_size, 1, activation, "features")
    outputs = keras.layers.Flatten(name="flatten")(h)
    return keras.Model(inputs, outputs, name=name)


def block_decoder(image_shape, input_size, out_channels, filters=(32, 64), kernel_size=3,
                  block="gated", activation="linear", dense_units=300, name=None):
    """[B, input_size] -> [B, H, W, out_channels], no output activation (see the module
    docstring)."""
    height, width = image_shape[0], image_shape[1]
    n = len(filters)
    h0, w0 = grid_shape(image_shape, n)
    inputs = keras.Input((input_size,))
    h = _dense(inputs, block, dense_units, activation, "hidden")
    h = _dense(h, block, h0 * w0 * filters[-1], activation, "grid")
    h = keras.layers.Reshape((h0, w0, filters[-1]), name="to_grid")(h)
    for i in reversed(range(n)):
        h = _block(h, block, kernel_size, activation, f"block{i}")
        h = _conv(h, block, filters[max(i - 1, 0)], kernel_size, 2, activation, f"up{i}",
                  transpose=True)
    crop_h, crop_w = h0 * 2**n - height, w0 * 2**n - width
    if crop_h or crop_w:
        h = keras.layers.Cropping2D(((0, crop_h), (0, crop_w)), name="crop")(h)
    outputs = keras.layers.Conv2D(out_channels, kernel_size, padding="same", name="params")(h)
    return keras.Model(inputs, outputs, name=name)
