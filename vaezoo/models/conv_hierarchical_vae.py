r"""A convolutional VAE with two stochastic layers (Tomczak & Welling 2018, convHVAE).

Generative model and approximate posterior, with z = [z1, z2] (z1 next to x, z2 on top):

    p(x, z1, z2) = p(x | z1, z2) p(z1 | z2) p(z2),
                   p(z2): any vaezoo prior over z2 (``prior=``: "standard_normal",
                          "mixture", "vamp", ...),
                   p(z1 | z2) = N(mu_p(z2), diag sigma_p(z2)^2)
    q(z1, z2 | x) = q(z2 | x) q(z1 | x, z2),
                   q(z2 | x) = N(mu_2(x), diag sigma_2(x)^2),
                   q(z1 | x, z2) = N(mu_1(x, z2), diag sigma_1(x, z2)^2)

The decoder p(x | z1, z2) sees both levels (a "skip" from z2 to x), and both
posteriors see x, each through a convolutional trunk of its own; q(z1 | x, z2)
joins its trunk's features with z2 in a dense unit. The trunks are gated
convolutions (``block="gated"``, Tomczak & Welling's) or residual blocks
(``vaezoo.networks.blocks``). With ``prior="vamp"`` the top prior is the
VampPrior through the model's own q(z2|x), p(z2) = (1/K) sum_k q(z2 | u_k).

The ELBO of the two-level model, with z ~ q(z1, z2 | x) reparameterized
(z2 = mu_2 + sigma_2 eps_2, then z1 = mu_1(x, z2) + sigma_1(x, z2) eps_1):

    ELBO(x) = E_q[log p(x | z1, z2) + log p(z1 | z2) + log p(z2)
                  - log q(z1 | x, z2) - log q(z2 | x)]
            = -(distortion + rate),   rate = rate_z1 + rate_z2,
    distortion = -E_q[log p(x | z1, z2)],
    rate_z2    =  E_q[log q(z2 | x) - log p(z2)]            (KL(q(z2|x) || p(z2))),
    rate_z1    =  E_q[log q(z1 | x, z2) - log p(z1 | z2)]   (E_q(z2|x) KL(q(z1|x,z2) || p(z1|z2))),

both rates Monte-Carlo estimates on the same z. The joint densities are the products
of the conditionals (``TwoLevelGaussian``), so the importance-weighted bound
(``objective="iwae"``) and the importance-sampled log p(x) of ``vaezoo.evaluation``
use z ~ q(z1, z2 | x) as proposal, w = p(x, z1, z2) / q(z1, z2 | x).

Free bits (``free_bits = lambda`` nats per dimension) apply per level, each level
one group of Kingma et al. (2016, eq. 15):

    loss = distortion + beta_t * sum_{l = 1, 2} max(lambda * d_l, E_batch[rate_l])

with beta_t the KL warm-up of ``vaezoo.objectives``; beta and free bits do not
apply to the IWAE objective.

Departures from the paper's network: the decoder mirrors the encoder (a dense
layer to the coarse grid, then blocks and transposed convolutions) instead of
their stack of four full-resolution gated convolutions, and it takes [z1, z2] in
one dense unit instead of one per level.

Example:
  >>> model = vaezoo.ConvHierarchicalVAE(latent_dims=(40, 40), filters=(32, 64),
  ...                                    block="gated", prior="vamp",
  ...                                    prior_kwargs={"num_components": 500},
  ...                                    likelihood="bernoulli", binarization="dynamic")

Reference:
  Tomczak & Welling, "VAE with a VampPrior", AISTATS 2018: the two-level
  hierarchical VAE of their experiments in its convolutional form (convHVAE).
"""

import keras
import tensorflow as tf

from vaezoo import objectives
from vaezoo import priors as priors_lib
from vaezoo import validation
from vaezoo.models.base import VAE
from vaezoo.models.hierarchical_vae import (TwoLevelGaussian, check_latent_dims,
                                            conditional_gaussian)
from vaezoo.models.precision import float32
from vaezoo.networks import blocks
from vaezoo.posteriors.gaussian import DiagonalGaussian


@keras.saving.register_keras_serializable(package="vaezoo")
class ConvHierarchicalVAE(VAE):
    """A convolutional VAE with two stochastic layers z1 (next to x) and z2 (see the
    module docstring).

    Args:
      latent_dims: (size of z1, size of z2).
      filters: channels of the trunks' stride-2 stages; the inference trunks go down
        through them, the decoder back up.
      kernel_size: kernel size of the convolutions.
      block: "gated" (gated convolutions and dense units, Tomczak & Welling's) or
        "residual" (residual blocks, plain Dense layers).
      dense_units: width of the dense units: q(z1 | x, z2) has one on
        [features(x), z2], p(z1 | z2) two, the decoder one before its grid.
      feature_channels: channels of the last convolution of each inference trunk; the
        flattened features are ceil(H / 2^n) * ceil(W / 2^n) * feature_channels.
      activation: Keras activation of the blocks' main path; None: the block's own,
        linear for "gated" (h * sigmoid(g)), "relu" for "residual".
      **kwargs: the base ``VAE`` arguments. ``prior`` is p(z2), any vaezoo prior
        (with ``prior_kwargs``); ``free_bits`` applies per level; ``posterior`` must
        be "gaussian" (both levels are diagonal Gaussians); ``latent_dim``, if given,
        must be the sum of ``latent_dims``.

    Example:
      >>> model = vaezoo.ConvHierarchicalVAE(latent_dims=(40, 40), prior="vamp",
      ...                                    likelihood="bernoulli", binarization="dynamic")
      >>> model.compile(optimizer="adam")
      >>> model.fit(train_batches, epochs=10)
    """

    def __init__(self, latent_dims=(40, 40), filters=(32, 64), kernel_size=3, block="gated",
                 dense_units=300, feature_channels=6, activation=None, latent_dim=None,
                 posterior="gaussian", **kwargs):
        self.latent_dims = check_latent_dims(latent_dims)
        self.filters = validation.check_positive_ints("filters", filters, (32, 64))
        self.kernel_size = validation.check_positive_int("kernel_size", kernel_size, 3)
        self.block = blocks.check_block(block)
        self.dense_units = validation.check_positive_int("dense_units", dense_units, 300)
        self.feature_channels = validation.check_positive_int("feature_channels",
                                                              feature_channels, 6)
        self.activation = activation
        keras.activations.get(self._activation())  # fail early on an unknown name
        total = sum(self.latent_dims)
        if latent_dim is not None and latent_dim != total:
            raise ValueError(f"latent_dim={latent_dim!r} but latent_dims={list(self.latent_dims)} "
                             f"sum to {total}; leave latent_dim out")
        if posterior != "gaussian":
            raise ValueError(
                "ConvHierarchicalVAE's posterior is its own two-level Gaussian q(z2|x) "
                f"q(z1|x, z2); leave posterior='gaussian' (got {posterior!r}). Other "
                "posteriors go with MLPVAE or ConvVAE.")
        super().__init__(latent_dim=total, posterior=posterior, **kwargs)

    def _activation(self):
        return blocks.DEFAULT_ACTIVATIONS[self.block] if self.activation is None \
            else self.activation

    # ------------------------------------------------------------------ building
    def _make_prior_layer(self, prior):
        return priors_lib.get(prior, self.latent_dims[1], **self.prior_kwargs)   # p(z2)

    def _make_posterior_layer(self, posterior):
        # q(z2|x) is the base class's posterior head, over z2 only.
        return DiagonalGaussian(self.latent_dims[1], name="q_z2")

    def _make_encoder(self, image_shape):
        """The trunk of q(z2 | x): x -> features."""
        return blocks.block_encoder(image_shape, self.filters, self.kernel_size, self.block,
                                    self._activation(), self.feature_channels, name="encoder")

    def _make_decoder(self, image_shape, out_channels):
        """p(x | z1, z2): [z1, z2] -> the likelihood's parameters."""
        return blocks.block_decoder(image_shape, sum(self.latent_dims), out_channels,
                                    self.filters, self.kernel_size, self.block,
                                    self._activation(), self.dense_units, name="decoder")

    def _make_z1_encoder(self, image_shape):
        """The trunk of q(z1 | x, z2) on x: x -> features (its own weights)."""
        return blocks.block_encoder(image_shape, self.filters, self.kernel_size, self.block,
                                    self._activation(), self.feature_channels,
                                    name="z1_encoder")

    def _make_q_z1_net(self, features_size):
        """[features(x), z2] -> the parameters of q(z1 | x, z2)."""
        return blocks.dense_stack(features_size + self.latent_dims[1], (self.dense_units,),
                                  2 * self.latent_dims[0], self.block, self._activation(),
                                  name="q_z1_given_x_z2")

    def _make_p_z1_net(self):
        """z2 -> the parameters of p(z1 | z2)."""
        return blocks.dense_stack(self.latent_dims[1], (self.dense_units, self.dense_units),
                                  2 * self.latent_dims[0], self.block, self._activation(),
                                  name="p_z1_given_z2")

    def _build_for(self, image_shape):
        super()._build_for(image_shape)
        self.z1_encoder = self._make_z1_encoder(image_shape)
        self.z1_encoder.build((None,) + tuple(image_shape))
        features = self.z1_encoder.compute_output_shape((None,) + tuple(image_shape))[-1]
        self.q_z1_net = self._make_q_z1_net(int(features))
        self.q_z1_net.build((None, int(features) + self.latent_dims[1]))
        self.p_z1_net = self._make_p_z1_net()
        self.p_z1_net.build((None, self.latent_dims[1]))

    # ------------------------------------------------------------------ the model
    def encode(self, x, y=None):
        """q(z1, z2 | x) = q(z2|x) q(z1|x, z2), event [d1 + d2] laid out as [z1, z2]."""
        x = self._model_input(x)
        q_z2 = super().encode(x, y)
        features = float32(self.z1_encoder(x))  # once per batch, for every draw of z2
        return TwoLevelGaussian(q_z2, lambda z2: self._q_z1(features, z2), first_is_z1=False)

    def _q_z1(self, features, z2):
        """q(z1 | x, z2) for features(x) [B, F] and z2 [..., B, d2] (any leading axes)."""
        lead = tf.broadcast_dynamic_shape(tf.shape(z2)[:-1], tf.shape(features)[:-1])
        joint = tf.concat([tf.broadcast_to(features, tf.concat([lead, [features.shape[-1]]], 0)),
                           tf.broadcast_to(z2, tf.concat([lead, [self.latent_dims[1]]], 0))],
                          axis=-1)
        return conditional_gaussian(self.q_z1_net, joint)

    def prior(self, y=None):
        """p(z1, z2) = p(z2) p(z1|z2), event [d1 + d2] laid out as [z1, z2]; p(z2) is the
        ``prior=`` layer's distribution over z2."""
        self._require_built()
        p_z2 = super().prior(y)
        return TwoLevelGaussian(p_z2, lambda z2: conditional_gaussian(self.p_z1_net, z2),
                                first_is_z1=False)

    def _prior_encoder(self, x):
        # A prior defined through the encoder (VampPrior) is over z2: q(z2 | x).
        return super().encode(x)

    # ------------------------------------------------------------------ training
    def _terms(self, x, y, num_samples, seed, level_rates=False):
        """The base class's terms; with ``level_rates``, also ``rate_z1`` and ``rate_z2``
        [B] (module docstring), on the z the other terms were computed on (their
        conditionals' densities are evaluated a second time: only free bits need them)."""
        if not level_rates:
            return super()._terms(x, y, num_samples, seed)
        y = self._batch_condition(y)
        q, p = self.encode(x, y), self.prior(y)
        drawn = []

        def decode(z):
            drawn.append(z)   # the z of objectives.terms, for the per-level rates
            return self.decode(z, y)

        t = objectives.terms(x, q, p, decode, num_samples=num_samples, seed=seed,
                             importance_weighted=self.objective == "iwae")
        (log_q1, log_q2), (log_p1, log_p2) = (d.log_prob_parts(drawn[0]) for d in (q, p))
        t["rate_z1"] = tf.reduce_mean(log_q1 - log_p1, axis=0)
        t["rate_z2"] = tf.reduce_mean(log_q2 - log_p2, axis=0)
        return t, q, p

    def compute_objective(self, x, y=None, training=False):
        """(loss scalar, dict of per-example terms); free bits per level (module docstring)."""
        if not self.free_bits or self.objective == "iwae":
            return super().compute_objective(x, y, training)
        t, _, _ = self._terms(x, y, self.num_samples, self._stateless_seed(),
                              level_rates=True)
        beta = self.current_beta(training)
        rate = tf.add_n([tf.maximum(self.free_bits * d, tf.reduce_mean(t[f"rate_z{level}"]))
                         for level, d in zip((1, 2), self.latent_dims)])
        loss = tf.reduce_mean(t["distortion"]) + beta * rate
        if self.losses:
            loss = loss + tf.add_n(self.losses)
        return loss, t

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()   # latent_dim: the total, checked on the way back
        return {**config, "latent_dims": list(self.latent_dims), "filters": list(self.filters),
                "kernel_size": self.kernel_size, "block": self.block,
                "dense_units": self.dense_units, "feature_channels": self.feature_channels,
                "activation": self.activation}
