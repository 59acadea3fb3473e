r"""Discretized logistic likelihoods for 8-bit images (PixelCNN++ style).

Salimans, Karpathy, Chen & Kingma (2017), "PixelCNN++", section 2.1. A pixel
takes one of the 256 values x_k = k / 255, k = 0..255 (the model's
``preprocess`` scales uint8 images to [0, 1]). With a logistic of location mu
and scale s, and the half bin width delta = 1 / (2 * 255), each value gets the
logistic mass of its bin:

    P(x_k) = sigma((x_k + delta - mu) / s) - sigma((x_k - delta - mu) / s),  0 < k < 255
    P(x_0) = sigma((x_0 + delta - mu) / s)                 (the whole left tail)
    P(x_255) = 1 - sigma((x_255 - delta - mu) / s)          (the whole right tail)

so the 256 probabilities sum to exactly 1. The mixture version has M
components per pixel, P(x) = sum_m pi_m P_m(x), with logits, locations and
log-scales predicted by the decoder (3 M numbers per pixel and channel; 2
for M = 1, which needs no logits). Pixels and channels are independent given
z (PixelCNN++ also makes the channels of one pixel autoregressive; a VAE
decoder that predicts all channels at once does not).

Numerics: the difference of two sigmoids is computed in log space, on the
side of the logistic where it does not cancel (for a bin right of mu,
sigma(-a) - sigma(-b) instead of sigma(b) - sigma(a)), with ``log_sub_exp``;
the log scale is bounded below by ``min_log_scale`` (PixelCNN++ uses -7).

Log-likelihoods are of discrete values, so they are comparable across models
and convertible to bits per dimension: bits/dim = -log p(x) / (H W C ln 2).
"""

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo.likelihoods.base import Likelihood

tfd = tfp.distributions

NUM_LEVELS = 256
_HALF_BIN = 0.5 / (NUM_LEVELS - 1)


def _log_bin_mass(x, loc, log_scale):
    """log P(x) for x on the grid k / 255 under a discretized logistic (broadcasting)."""
    inv_scale = tf.exp(-log_scale)
    lower = (x - _HALF_BIN - loc) * inv_scale
    upper = (x + _HALF_BIN - loc) * inv_scale
    # Interior bins: log(sigma(upper) - sigma(lower)), computed on the non-cancelling side.
    right = (lower + upper) > 0.0
    big = tf.where(right, tf.math.log_sigmoid(-lower), tf.math.log_sigmoid(upper))
    small = tf.where(right, tf.math.log_sigmoid(-upper), tf.math.log_sigmoid(lower))
    # The bin has positive mass, so big > small; keep a gap so log_sub_exp stays finite.
    interior = tfp.math.log_sub_exp(big, tf.minimum(small, big - 1e-6))
    first = tf.math.log_sigmoid(upper)                 # x = 0: the mass of (-inf, delta]
    last = tf.math.log_sigmoid(-lower)                 # x = 1: the mass of [1 - delta, inf)
    return tf.where(x < _HALF_BIN, first, tf.where(x > 1.0 - _HALF_BIN, last, interior))


class _DiscretizedLogisticMixture(tfd.Distribution):
    """Per-pixel mixture of discretized logistics on {0, 1/255, ..., 1}; scalar events.

    Parameters have a trailing component axis [..., M]; the batch shape is [...].
    """

    def __init__(self, logits, loc, log_scale, validate_args=False, allow_nan_stats=True,
                 name="DiscretizedLogisticMixture"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._logits = tf.convert_to_tensor(logits, tf.float32)
            self._loc = tf.convert_to_tensor(loc, tf.float32)
            self._log_scale = tf.convert_to_tensor(log_scale, tf.float32)
            super().__init__(dtype=tf.float32,
                             reparameterization_type=tfd.NOT_REPARAMETERIZED,
                             validate_args=validate_args, allow_nan_stats=allow_nan_stats,
                             parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return dict(logits=tfp.util.ParameterProperties(event_ndims=1),
                    loc=tfp.util.ParameterProperties(event_ndims=1),
                    log_scale=tfp.util.ParameterProperties(event_ndims=1))

    def _batch_shape(self):
        return tf.broadcast_static_shape(self._loc.shape, self._logits.shape)[:-1]

    def _batch_shape_tensor(self):
        return tf.broadcast_dynamic_shape(tf.shape(self._loc), tf.shape(self._logits))[:-1]

    def _event_shape(self):
        return tf.TensorShape([])

    def _event_shape_tensor(self):
        return tf.constant([], tf.int32)

    def _log_prob(self, x):
        x = tf.convert_to_tensor(x, tf.float32)[..., None]
        log_mass = _log_bin_mass(x, self._loc, self._log_scale)
        return tf.reduce_logsumexp(tf.nn.log_softmax(self._logits) + log_mass, axis=-1)

    def _mean(self):
        # Exact, summed by parts: with x_k = k / 255, E[x] = sum_k x_k P(x_k)
        # = (1 / 255) sum_{k=1}^{255} P(x >= x_k), and P(x >= x_k) = 1 - F((k - 1/2) / 255),
        # one sigmoid per level (F the logistic CDF; the tails belong to the end bins).
        edges = (tf.range(1, NUM_LEVELS, dtype=tf.float32) - 0.5) / (NUM_LEVELS - 1)
        survival = tf.sigmoid((self._loc[..., None] - edges) * tf.exp(-self._log_scale[..., None]))
        component_means = tf.reduce_sum(survival, axis=-1) / (NUM_LEVELS - 1)   # [..., M]
        return tf.reduce_sum(tf.nn.softmax(self._logits) * component_means, axis=-1)

    def _sample_n(self, n, seed=None):
        seed_m, seed_u = tfp.random.split_seed(seed, n=2)
        shape = tf.concat([[n], self._batch_shape_tensor()], axis=0)
        logits = tf.broadcast_to(self._logits, tf.concat([shape[1:], tf.shape(self._logits)[-1:]],
                                                         axis=0))
        component = tfd.Categorical(logits=logits).sample(n, seed=seed_m)     # [n, ...]
        pick = tf.one_hot(component, tf.shape(logits)[-1])
        loc = tf.reduce_sum(pick * self._loc, axis=-1)
        log_scale = tf.reduce_sum(pick * self._log_scale, axis=-1)
        u = tf.random.stateless_uniform(shape, seed=seed_u, minval=1e-5, maxval=1.0 - 1e-5)
        value = loc + tf.exp(log_scale) * (tf.math.log(u) - tf.math.log1p(-u))
        # Rounding to the nearest level = falling into that level's bin (tails included).
        return tf.clip_by_value(tf.round(value * (NUM_LEVELS - 1)), 0.0,
                                NUM_LEVELS - 1.0) / (NUM_LEVELS - 1)


def _check(name, value, low, high=None, kind=(int,)):
    ok = isinstance(value, kind) and not isinstance(value, bool) and value >= low and (
        high is None or value <= high)
    if not ok:
        bound = f">= {low}" + ("" if high is None else f" and <= {high}")
        raise ValueError(f"{name} must be a number {bound}; got {value!r}")
    return value


@keras.saving.register_keras_serializable(package="vaezoo")
class DiscretizedLogistic(Likelihood):
    """Mixture of ``num_components`` discretized logistics per pixel (1: a single logistic).

    The decoder outputs, per image channel, ``num_components`` logits (omitted
    when there is one component), locations (in pixel units of [0, 1], offset
    by 0.5 so that a zero output is mid-gray) and log-scales (offset by
    ``init_log_scale``, floored at ``min_log_scale``).

    Args:
      num_components: M, the number of logistics per pixel.
      min_log_scale: lower bound of the log scale (PixelCNN++: -7).
      init_log_scale: log scale when the decoder outputs zero (log(1/16) by default).

    Example:
      >>> vaezoo.ConvVAE(likelihood="discretized_logistic_mixture",
      ...                likelihood_kwargs={"num_components": 5})   # uint8 images in

    Reference:
      Salimans et al., "PixelCNN++", ICLR 2017, eq. (2).
    """

    support = "bytes"

    def __init__(self, num_components=1, min_log_scale=-7.0, init_log_scale=math.log(1 / 16),
                 **kwargs):
        super().__init__(**kwargs)
        self.num_components = _check("num_components", num_components, 1)
        self.min_log_scale = float(_check("min_log_scale", min_log_scale, -30.0, 0.0,
                                          (int, float)))
        self.init_log_scale = float(_check("init_log_scale", init_log_scale, self.min_log_scale,
                                           None, (int, float)))
        m = self.num_components
        self.params_per_channel = 2 if m == 1 else 3 * m

    def distribution(self, params):
        m = self.num_components
        shape = tf.concat([tf.shape(params)[:-1], [-1, self.params_per_channel]], axis=0)
        params = tf.reshape(params, shape)                     # [..., H, W, C, P]
        if m == 1:
            logits = tf.zeros_like(params[..., :1])
            loc, raw_scale = params[..., :1], params[..., 1:]
        else:
            logits, loc, raw_scale = tf.split(params, 3, axis=-1)
            # Spread the initial locations over [0, 1] so components start apart.
            loc = loc + tf.constant(np.linspace(-0.4, 0.4, m), tf.float32)
        loc = loc + 0.5
        log_scale = self.min_log_scale + tf.nn.softplus(
            raw_scale + float(np.log(np.expm1(self.init_log_scale - self.min_log_scale))))
        pixels = _DiscretizedLogisticMixture(logits, loc, log_scale)
        return tfd.Independent(pixels, reinterpreted_batch_ndims=3)

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components,
                "min_log_scale": self.min_log_scale, "init_log_scale": self.init_log_scale}


@keras.saving.register_keras_serializable(package="vaezoo")
class DiscretizedLogisticMixture(DiscretizedLogistic):
    """``DiscretizedLogistic`` with 5 components by default (PixelCNN++ uses 10 for RGB)."""

    def __init__(self, num_components=5, **kwargs):
        super().__init__(num_components=num_components, **kwargs)
