r"""A VAE with two stochastic layers (Burda, Grosse & Salakhutdinov 2016, section 5).

Generative model and approximate posterior, with z = [z1, z2] (z1 next to x):

    p(x, z1, z2) = p(z2) p(z1 | z2) p(x | z1),     p(z2) = N(0, I),
                   p(z1 | z2) = N(mu_p(z2), diag sigma_p(z2)^2)
    q(z1, z2 | x) = q(z1 | x) q(z2 | z1),
                   q(z1 | x) = N(mu_1(x), diag sigma_1(x)^2),
                   q(z2 | z1) = N(mu_2(z1), diag sigma_2(z1)^2)

Both chains are reparameterized (z1 = mu_1 + sigma_1 eps_1, then z2 = mu_2(z1) +
sigma_2(z1) eps_2), so the ELBO and the importance-weighted bound (``objective="iwae"``)
train every network. The joint densities are the product of the two conditionals:

    log q(z|x) = log q(z1|x) + log q(z2|z1),    log p(z) = log p(z2) + log p(z1|z2),

the KL has no closed form and is estimated by Monte Carlo, and the importance-sampled
log p(x) of ``vaezoo.evaluation`` uses z ~ q(z1, z2 | x) as proposal. Burda et al.'s
architecture (their Table 1, two stochastic layers): x -> 100-100 -> z1 (100) ->
50-50 -> z2 (50), the generative path mirrored, tanh units.

Example:
  >>> model = vaezoo.HierarchicalVAE(latent_dims=(100, 50),
  ...                                hidden_units=((100, 100), (50, 50)),
  ...                                activation="tanh", objective="iwae", num_samples=50,
  ...                                likelihood="bernoulli", binarization="dynamic")
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo import validation
from vaezoo.models.base import VAE
from vaezoo.models.precision import float32
from vaezoo.networks import mlp, mlp_decoder
from vaezoo.posteriors.gaussian import DiagonalGaussian

tfd = tfp.distributions


def check_latent_dims(latent_dims):
    """(size of z1, size of z2) as two positive ints, or a ValueError saying so."""
    dims = tuple(latent_dims) if isinstance(latent_dims, (list, tuple)) else ()
    if len(dims) != 2:
        raise ValueError(f"latent_dims must be (size of z1, size of z2); got {latent_dims!r}")
    return (validation.check_positive_int("latent_dims[0]", dims[0]),
            validation.check_positive_int("latent_dims[1]", dims[1]))


def conditional_gaussian(net, z):
    """N(loc, diag scale^2) from ``net`` applied to z [..., D] (any leading axes; the
    networks are built for [N, D]); scale as in DiagonalGaussian."""
    flat = float32(net(tf.reshape(z, [-1, z.shape[-1]])))  # float32 under any policy
    params = tf.reshape(flat, tf.concat([tf.shape(z)[:-1], [flat.shape[-1]]], axis=0))
    return DiagonalGaussian.distribution(None, params)


class TwoLevelGaussian(tfd.Distribution):
    """A two-level Gaussian chain over the concatenation [z1, z2].

    ``first`` is the distribution of the level drawn first (batch [B] or []), ``second``
    maps a draw of it to the conditional distribution of the other level. ``first_is_z1``
    says which level comes first: True for q(z1|x) q(z2|z1), False for p(z2) p(z1|z2).
    The event is always laid out as [z1, z2].

    ``mean()`` is exact for the first level; for the second it is the plug-in value
    E[second | first = mean of first] (the mean of a nonlinear chain has no closed form).
    """

    def __init__(self, first, second, first_is_z1, name="TwoLevelGaussian"):
        parameters = dict(locals())
        self._first, self._second, self._first_is_z1 = first, second, bool(first_is_z1)
        self._dims = (int(first.event_shape[-1]), None)
        super().__init__(dtype=tf.float32, reparameterization_type=tfd.FULLY_REPARAMETERIZED,
                         validate_args=False, allow_nan_stats=True, parameters=parameters,
                         name=name)

    def _second_dim(self):
        if self._dims[1] is None:
            probe = self._second(tf.zeros([1, self._dims[0]]))
            self._dims = (self._dims[0], int(probe.event_shape[-1]))
        return self._dims[1]

    def _batch_shape(self):
        return self._first.batch_shape

    def _batch_shape_tensor(self):
        return self._first.batch_shape_tensor()

    def _event_shape(self):
        return tf.TensorShape([self._dims[0] + self._second_dim()])

    def _event_shape_tensor(self):
        return tf.constant([self._dims[0] + self._second_dim()], tf.int32)

    def _layout(self, first, second):
        return tf.concat([first, second] if self._first_is_z1 else [second, first], axis=-1)

    def _split(self, z):
        d1 = self._dims[0] if self._first_is_z1 else self._second_dim()
        z1, z2 = z[..., :d1], z[..., d1:]
        return (z1, z2) if self._first_is_z1 else (z2, z1)

    def _sample_n(self, n, seed=None):
        first_seed, second_seed = tfp.random.split_seed(seed, n=2)
        first = self._first.sample(n, seed=first_seed)
        second = self._second(first).sample(seed=second_seed)
        return self._layout(first, second)

    def _log_prob(self, z):
        first, second = self._split(z)
        return self._first.log_prob(first) + self._second(first).log_prob(second)

    def log_prob_parts(self, z):
        """(log density of the z1 factor, of the z2 factor) at z [..., d1 + d2]; they sum
        to ``log_prob(z)`` (per-level rates and free bits of a hierarchical model)."""
        first, second = self._split(z)
        parts = (self._first.log_prob(first), self._second(first).log_prob(second))
        return parts if self._first_is_z1 else parts[::-1]

    def _mean(self):
        first = self._first.mean()
        return self._layout(first, self._second(first).mean())


@keras.saving.register_keras_serializable(package="vaezoo")
class HierarchicalVAE(VAE):
    """A VAE with two stochastic layers z1 (next to x) and z2 (see the module docstring).

    Args:
      latent_dims: (size of z1, size of z2).
      hidden_units: (hidden layers of x -> z1, hidden layers of z1 -> z2); the
        generative path uses them reversed (z2 -> z1, z1 -> x).
      activation: Keras activation of the hidden layers.
      gated: gated dense units (``vaezoo.networks.mlp``; Tomczak & Welling 2018's GatedDense)
        instead of plain ones; ``activation`` is that of the gated half.
      **kwargs: the base ``VAE`` arguments (likelihood, objective, num_samples,
        binarization, ...). The prior and posterior are the two-level Gaussians
        above, so ``prior`` must be "standard_normal" (the top level p(z2)) and
        ``posterior`` "gaussian"; ``latent_dim``, if given, must be the sum of
        ``latent_dims``.
    """

    def __init__(self, latent_dims=(100, 50), hidden_units=((100, 100), (50, 50)),
                 activation="tanh", gated=False, latent_dim=None, prior="standard_normal",
                 posterior="gaussian", **kwargs):
        self.latent_dims = check_latent_dims(latent_dims)
        units = tuple(hidden_units) if isinstance(hidden_units, (list, tuple)) else ()
        if len(units) != 2 or not all(isinstance(u, (list, tuple)) and u for u in units):
            raise ValueError("hidden_units must be two non-empty lists, (x -> z1, z1 -> z2), "
                             f"e.g. ((100, 100), (50, 50)); got {hidden_units!r}")
        self.hidden_units = tuple(validation.check_positive_ints("hidden_units", level,
                                                                 ((100, 100), (50, 50)))
                                  for level in units)
        self.activation = activation
        keras.activations.get(activation)  # fail early on an unknown activation name
        self.gated = validation.check_bool("gated", gated)
        total = sum(self.latent_dims)
        if latent_dim is not None and int(latent_dim) != total:
            raise ValueError(f"latent_dim={latent_dim} but latent_dims={list(latent_dims)} sum "
                             f"to {total}; leave latent_dim out")
        if prior != "standard_normal" or posterior != "gaussian":
            raise ValueError(
                "HierarchicalVAE brings its own two-level prior p(z2) p(z1|z2) and posterior "
                "q(z1|x) q(z2|z1); leave prior='standard_normal' and posterior='gaussian' "
                f"(got prior={prior!r}, posterior={posterior!r}). Other priors and "
                "posteriors go with MLPVAE or ConvVAE.")
        image_shape = kwargs.pop("image_shape", None)
        super().__init__(latent_dim=total, prior=prior, posterior=posterior, **kwargs)
        if image_shape is not None:
            self._build_for(tuple(int(d) for d in image_shape))

    # ------------------------------------------------------------------ building
    def _make_prior_layer(self, prior):
        return None      # p(z2) p(z1|z2): ``prior`` below

    def _make_posterior_layer(self, posterior):
        # q(z1|x) is the base class's posterior head, over z1 only.
        return DiagonalGaussian(self.latent_dims[0], name="q_z1")

    def _make_encoder(self, image_shape):
        return keras.Sequential([keras.layers.Flatten(),
                                 mlp(self.hidden_units[0], self.activation, gated=self.gated)],
                                name="encoder")

    def _make_decoder(self, image_shape, out_channels):
        return mlp_decoder(image_shape, out_channels, self.hidden_units[0], self.activation,
                           gated=self.gated)

    def _decoder_input_size(self):
        return self.latent_dims[0]  # p(x | z1)

    def _decoder_input(self, flat_z, z, y):
        return flat_z[:, :self.latent_dims[0]]

    def _build_for(self, image_shape):
        super()._build_for(image_shape)
        d1, d2 = self.latent_dims
        self.q_z2_net = keras.Sequential(
            [mlp(self.hidden_units[1], self.activation, gated=self.gated),
             keras.layers.Dense(2 * d2)],
            name="q_z2_given_z1")
        self.q_z2_net.build((None, d1))
        self.p_z1_net = keras.Sequential(
            [mlp(tuple(reversed(self.hidden_units[1])), self.activation, gated=self.gated),
             keras.layers.Dense(2 * d1)], name="p_z1_given_z2")
        self.p_z1_net.build((None, d2))

    # ------------------------------------------------------------------ the model
    def encode(self, x, y=None):
        """q(z1, z2 | x) = q(z1|x) q(z2|z1), event [d1 + d2] laid out as [z1, z2]."""
        q_z1 = super().encode(x, y)
        return TwoLevelGaussian(q_z1, lambda z1: conditional_gaussian(self.q_z2_net, z1),
                                first_is_z1=True)

    def prior(self, y=None):
        """p(z1, z2) = p(z2) p(z1|z2), event [d1 + d2] laid out as [z1, z2]."""
        self._require_built()
        self._check_no_condition(y, "y")
        d2 = self.latent_dims[1]
        p_z2 = tfd.Independent(tfd.Normal(tf.zeros([d2]), tf.ones([d2])),
                               reinterpreted_batch_ndims=1)
        return TwoLevelGaussian(p_z2, lambda z2: conditional_gaussian(self.p_z1_net, z2),
                                first_is_z1=False)

    def get_config(self):
        config = super().get_config()   # latent_dim: the total, checked on the way back
        return {**config, "latent_dims": list(self.latent_dims),
                "hidden_units": [list(u) for u in self.hidden_units],
                "activation": self.activation, "gated": self.gated}
