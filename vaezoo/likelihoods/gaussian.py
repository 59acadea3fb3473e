"""Gaussian likelihoods on pixels scaled to [0, 1].

log p(x|z) = sum_i log N(x_i; mu_i(z), sigma_i^2)

with three choices for sigma (Lucas et al. 2019 and Rybkin et al. 2021 discuss
why learning it matters):

* ``"gaussian"``: fixed sigma (``scale``, default 0.1);
* ``"gaussian_pixelwise"``: one free, learned sigma per pixel (shared by all
  examples), initialised at ``scale``;
* ``"gaussian_heteroscedastic"``: sigma_i(z) predicted by the decoder for every
  example and pixel.

These are densities of continuous values: their nats are not comparable with
those of a discrete likelihood (Bernoulli, discretized logistic).
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo.likelihoods.base import Likelihood

tfd = tfp.distributions

_MIN_SCALE = 1e-3


def _check_scale(scale):
    if not (isinstance(scale, (int, float)) and scale > 0):
        raise ValueError(f"scale must be a positive number; got {scale!r}")
    return float(scale)


@keras.saving.register_keras_serializable(package="vaezoo")
class Gaussian(Likelihood):
    """Independent Gaussian pixels with a fixed standard deviation ``scale``."""

    params_per_channel = 1

    def __init__(self, scale=0.1, **kwargs):
        super().__init__(**kwargs)
        self.scale = _check_scale(scale)

    def distribution(self, params):
        return tfd.Independent(tfd.Normal(params, self.scale), reinterpreted_batch_ndims=3)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="vaezoo")
class GaussianPixelwise(Gaussian):
    """Gaussian with a learned standard deviation per pixel, shared across examples."""

    def build(self, image_shape):
        super().build(image_shape)
        # softplus^{-1}(scale - min) so the initial sigma is `scale`.
        init = float(np.log(np.expm1(max(self.scale - _MIN_SCALE, 1e-6))))
        self.raw_scale = self.add_weight(
            name="raw_scale", shape=tuple(image_shape),
            initializer=keras.initializers.Constant(init))

    def distribution(self, params):
        scale = tf.nn.softplus(self.raw_scale) + _MIN_SCALE
        return tfd.Independent(tfd.Normal(params, scale), reinterpreted_batch_ndims=3)


@keras.saving.register_keras_serializable(package="vaezoo")
class GaussianHeteroscedastic(Gaussian):
    """Gaussian whose per-pixel standard deviation is predicted by the decoder."""

    params_per_channel = 2

    def distribution(self, params):
        loc, raw = tf.split(params, 2, axis=-1)
        offset = float(np.log(np.expm1(self.scale)))
        scale = tf.nn.softplus(raw + offset) + _MIN_SCALE
        return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=3)
