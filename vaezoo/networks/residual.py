r"""Residual convolutional trunks that keep a spatial latent grid (VQ-VAE style).

van den Oord, Vinyals & Kavukcuoglu (2017), "Neural Discrete Representation
Learning", section 4.1: strided convolutions down to a grid, then residual
blocks

    h <- h + Conv1x1(ReLU(Conv3x3(ReLU(h))))

and, in the decoder, the same blocks followed by transposed convolutions back
to the image. Unlike ``vaezoo.networks.conv`` there is no dense layer: the
encoder's output is a grid [B, h, w, C] with h = ceil(H / 2^n), w = ceil(W / 2^n)
for n strided layers, and the decoder takes such a grid.
"""

import math

import keras


def grid_shape(image_shape, num_downsamplings):
    """(h, w) of the latent grid of an image of ``image_shape`` after ``num_downsamplings``
    stride-2 convolutions with "same" padding."""
    h, w = image_shape[0], image_shape[1]
    for _ in range(num_downsamplings):
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    return h, w


def residual_block(h, channels, activation, name):
    inner = keras.layers.Activation(activation)(h)
    inner = keras.layers.Conv2D(channels, 3, padding="same", activation=activation,
                                name=f"{name}_conv3")(inner)
    inner = keras.layers.Conv2D(h.shape[-1], 1, name=f"{name}_conv1")(inner)
    return keras.layers.Add(name=f"{name}_add")([h, inner])


def residual_conv_encoder(image_shape, out_channels, filters=(32, 64), num_residual_blocks=2,
                          residual_channels=None, activation="relu", name="encoder"):
    """[B, H, W, C] -> [B, h, w, out_channels]: ``len(filters)`` stride-2 4x4 convolutions,
    a 3x3 convolution, ``num_residual_blocks`` residual blocks, a 1x1 projection."""
    inputs = keras.Input(tuple(image_shape))
    h = inputs
    for i, f in enumerate(filters):
        h = keras.layers.Conv2D(f, 4, strides=2, padding="same", activation=activation,
                                name=f"down{i}")(h)
    top = filters[-1] if filters else 32
    h = keras.layers.Conv2D(top, 3, padding="same", name="trunk")(h)
    for i in range(num_residual_blocks):
        h = residual_block(h, residual_channels or top, activation, f"res{i}")
    h = keras.layers.Activation(activation)(h)
    outputs = keras.layers.Conv2D(out_channels, 1, name="project")(h)
    return keras.Model(inputs, outputs, name=name)


def residual_conv_decoder(image_shape, in_channels, out_channels, filters=(32, 64),
                          num_residual_blocks=2, residual_channels=None, activation="relu",
                          name="decoder"):
    """[B, h, w, in_channels] -> [B, H, W, out_channels] (no output activation): the
    encoder mirrored, transposed stride-2 convolutions, cropped to H x W."""
    height, width = image_shape[0], image_shape[1]
    n = len(filters)
    h0, w0 = grid_shape(image_shape, n)
    top = filters[-1] if filters else 32
    inputs = keras.Input((h0, w0, in_channels))
    h = keras.layers.Conv2D(top, 3, padding="same", name="trunk")(inputs)
    for i in range(num_residual_blocks):
        h = residual_block(h, residual_channels or top, activation, f"res{i}")
    h = keras.layers.Activation(activation)(h)
    for i, f in enumerate(reversed(filters)):
        h = keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same", activation=activation,
                                         name=f"up{i}")(h)
    crop_h, crop_w = h0 * 2**n - height, w0 * 2**n - width
    if crop_h or crop_w:
        h = keras.layers.Cropping2D(((0, crop_h), (0, crop_w)))(h)
    outputs = keras.layers.Conv2D(out_channels, 3, padding="same", name="params")(h)
    return keras.Model(inputs, outputs, name=name)
