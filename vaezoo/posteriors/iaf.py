r"""Inverse autoregressive flow posterior (Kingma et al. 2016).

Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling (2016), "Improved
variational inference with inverse autoregressive flow", NeurIPS, section 4.
The encoder outputs mu, sigma and a context vector h; then

    z_0 = mu + sigma * eps,              eps ~ N(0, I)
    z_t = sigma_t * (z_{t-1} - m_t),     t = 1..T
    [m_t, s_t] = MADE_t(z_{t-1}, h),     sigma_t = sigmoid(s_t + forget_bias)

where MADE_t is autoregressive: m_t,i and s_t,i depend on z_{t-1,<i} only
(Germain et al. 2015, masked dense layers), so the Jacobian of each step is
triangular with diagonal sigma_t and

    log q(z_T|x) = log N(z_0; mu, sigma^2) - sum_t sum_i log sigma_t,i.

This is the paper's eq. (10) z_t = mu_t + sigma_t z_{t-1} with
mu_t = -sigma_t m_t; the sigmoid keeps every step a contraction-or-identity
map in each coordinate, the stabilized form of eq. (14). The order of the
coordinates is reversed between steps.

Each step is ``tfb.Invert(tfb.MaskedAutoregressiveFlow(fn))``: the inverse of
a MAF, x = (y - shift(y)) exp(-log_scale(y)), is one parallel pass, which is
the IAF's sampling direction. Evaluating log q at a z that was *not* just
sampled from it (e.g. q(z|u_k) inside a VampPrior) needs the sequential
inverse (D passes); at a z sampled from the same distribution object TFP's
bijector cache avoids it.

The MADE is written here with Keras 3 weights (TFP's ``AutoregressiveNetwork``
is a Keras 2 layer), so its weights train with the model and are saved in
``.keras`` files.

KL(q || p) has no closed form; the rate is the Monte-Carlo estimate
E_q[log q(z|x) - log p(z)] (``vaezoo.objectives.terms``). ``mean()`` is not
available in closed form either: the models use the flow applied to mu as
their deterministic latent point (``VAE.posterior_point``).
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo.posteriors.base import Posterior
from vaezoo.validation import check_positive_int, check_positive_ints

tfd = tfp.distributions
tfb = tfp.bijectors


def _made_masks(latent_dim, hidden_units):
    """Masks of a MADE with input degrees 1..D: [D, H1], [H1, H2], ..., [H_L, D]."""
    in_deg = np.arange(1, latent_dim + 1)
    degrees = [in_deg]
    for units in hidden_units:
        degrees.append(np.arange(units) % max(1, latent_dim - 1) + 1)
    masks = [(later[None, :] >= earlier[:, None]).astype("float32")
             for earlier, later in zip(degrees[:-1], degrees[1:])]
    # Output i sees hidden units of degree < i: strictly autoregressive.
    masks.append((in_deg[None, :] > degrees[-1][:, None]).astype("float32"))
    return masks


class _MADE(keras.layers.Layer):
    """Masked autoencoder z [..., D], context h [..., C] -> (m, s), each [..., D]."""

    def __init__(self, latent_dim, context_units, hidden_units, activation, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.context_units = latent_dim, context_units
        self.hidden_units = tuple(hidden_units)
        self.activation = keras.activations.get(activation)
        self.masks = _made_masks(latent_dim, self.hidden_units)

    def build(self, input_shape=None):
        sizes = (self.latent_dim,) + self.hidden_units
        self.kernels, self.biases = [], []
        for i, (n_in, n_out) in enumerate(zip(sizes, self.hidden_units)):
            self.kernels.append(self.add_weight(name=f"kernel{i}", shape=(n_in, n_out),
                                                initializer="glorot_uniform"))
            self.biases.append(self.add_weight(name=f"bias{i}", shape=(n_out,),
                                               initializer="zeros"))
        if self.context_units:
            self.context_kernel = self.add_weight(
                name="context_kernel", shape=(self.context_units, self.hidden_units[0]),
                initializer="glorot_uniform")
        # Zero output layer: m = 0 and s = 0 at initialization.
        self.out_kernel = self.add_weight(name="out_kernel",
                                          shape=(sizes[-1], 2 * self.latent_dim),
                                          initializer="zeros")
        self.out_bias = self.add_weight(name="out_bias", shape=(2 * self.latent_dim,),
                                        initializer="zeros")
        self.built = True

    def call(self, z, context=None):
        h = z
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            h = tf.tensordot(h, kernel * self.masks[i], axes=1) + bias
            if i == 0 and context is not None and self.context_units:
                h = h + tf.tensordot(context, self.context_kernel, axes=1)
            h = self.activation(h)
        mask = np.concatenate([self.masks[-1], self.masks[-1]], axis=1)
        out = tf.tensordot(h, self.out_kernel * mask, axes=1) + self.out_bias
        return tf.split(out, 2, axis=-1)


@keras.saving.register_keras_serializable(package="vaezoo")
class IAFPosterior(Posterior):
    """Diagonal Gaussian followed by ``num_flows`` IAF steps conditioned on an encoder context.

    The encoder head gives ``params_size = 2 * latent_dim + context_units``
    numbers per example: loc, raw scale (sigma = softplus + 1e-4) and the
    context h.

    Args:
      latent_dim: size of z.
      num_flows: T, the number of IAF steps.
      hidden_units: hidden layer sizes of each step's MADE.
      context_units: size of the context vector h (0: no context).
      forget_bias: added to s_t before the sigmoid (sigma_t starts at sigmoid(forget_bias)).
      activation: Keras activation of the MADE's hidden layers.

    Example:
      >>> vaezoo.MLPVAE(latent_dim=50, posterior="iaf",
      ...               posterior_kwargs={"num_flows": 2, "hidden_units": [320, 320]})

    Reference:
      Kingma et al., "Improved variational inference with inverse autoregressive
      flow", NeurIPS 2016.
    """

    def __init__(self, latent_dim, num_flows=2, hidden_units=(256, 256), context_units=64,
                 forget_bias=2.0, activation="elu", **kwargs):
        super().__init__(latent_dim, **kwargs)
        num_flows = check_positive_int("num_flows", num_flows, 2)
        hidden_units = check_positive_ints("hidden_units", hidden_units, (256, 256))
        if isinstance(context_units, bool) or not isinstance(context_units, int) \
                or context_units < 0:
            raise ValueError(f"context_units must be an integer >= 0; got {context_units!r}")
        keras.activations.get(activation)
        self.num_flows, self.hidden_units = num_flows, hidden_units
        self.context_units, self.forget_bias = context_units, float(forget_bias)
        self.activation = activation
        self.mades = [_MADE(latent_dim, context_units, hidden_units, activation, name=f"made{i}")
                      for i in range(num_flows)]

    @property
    def params_size(self):
        return 2 * self.latent_dim + self.context_units

    def build(self, input_shape=None):
        for made in self.mades:
            made.build()
        self.built = True

    def _step_fn(self, made, context):
        def fn(z, **condition_kwargs):
            m, s = made(z, context)
            # exp(-log_scale) = sigmoid(s + b): the IAF step z' = sigmoid(s + b) * (z - m).
            return m, tf.nn.softplus(-(s + self.forget_bias))
        return fn

    def bijector(self, context=None):
        """The flow z_0 -> z_T for a context [..., context_units] (a ``tfb.Chain``)."""
        reverse = tfb.Permute(permutation=np.arange(self.latent_dim)[::-1].copy())
        steps = []
        for i, made in enumerate(self.mades):
            if i:
                steps.append(reverse)
            steps.append(tfb.Invert(tfb.MaskedAutoregressiveFlow(
                shift_and_log_scale_fn=self._step_fn(made, context))))
        return tfb.Chain(list(reversed(steps)))

    def distribution(self, params):
        if not self.built:
            self.build()
        d = self.latent_dim
        loc, raw_scale, context = params[..., :d], params[..., d:2 * d], params[..., 2 * d:]
        base = tfd.Independent(tfd.Normal(loc, tf.nn.softplus(raw_scale) + 1e-4),
                               reinterpreted_batch_ndims=1)
        return tfd.TransformedDistribution(base, self.bijector(context))

    def get_config(self):
        return {**super().get_config(), "num_flows": self.num_flows,
                "hidden_units": list(self.hidden_units), "context_units": self.context_units,
                "forget_bias": self.forget_bias, "activation": self.activation}
