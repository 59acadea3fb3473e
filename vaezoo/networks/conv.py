"""Convolutional encoder and decoder trunks for any H x W x C image.

The encoder halves the resolution with each strided convolution; the decoder
starts from a ceil(H / 2^n) x ceil(W / 2^n) grid, doubles it n times with
transposed convolutions and crops to H x W, so odd sizes work too.
"""

import math

import keras


def conv_encoder(filters=(32, 64), kernel_size=3, dense_units=256, activation="relu", name=None):
    """[B, H, W, C] -> [B, dense_units] (or the flattened map if dense_units is 0)."""
    layers = [keras.layers.Conv2D(f, kernel_size, strides=2, padding="same", activation=activation)
              for f in filters]
    layers.append(keras.layers.Flatten())
    if dense_units:
        layers.append(keras.layers.Dense(dense_units, activation=activation))
    return keras.Sequential(layers, name=name)


def conv_decoder(image_shape, out_channels, filters=(32, 64), kernel_size=3, dense_units=256,
                 activation="relu", name=None):
    """[B, latent] -> [B, H, W, out_channels] (no activation on the output)."""
    height, width = image_shape[0], image_shape[1]
    n = len(filters)
    h0, w0 = math.ceil(height / 2**n), math.ceil(width / 2**n)
    top = filters[-1] if filters else 32
    layers = []
    if dense_units:
        layers.append(keras.layers.Dense(dense_units, activation=activation))
    layers += [keras.layers.Dense(h0 * w0 * top, activation=activation),
               keras.layers.Reshape((h0, w0, top))]
    layers += [keras.layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same",
                                            activation=activation)
               for f in reversed(filters)]
    crop_h, crop_w = h0 * 2**n - height, w0 * 2**n - width
    if crop_h or crop_w:
        layers.append(keras.layers.Cropping2D(((0, crop_h), (0, crop_w))))
    layers.append(keras.layers.Conv2D(out_channels, kernel_size, padding="same"))
    return keras.Sequential(layers, name=name)
