r"""A VQ-VAE: a grid of discrete codes, with a learned autoregressive prior.

van den Oord, Vinyals & Kavukcuoglu (2017), "Neural Discrete Representation
Learning". The encoder maps x to a grid of vectors z_e(x) [h, w, D]; each is
replaced by its nearest code of a learned codebook (``vaezoo.networks.
vector_quantizer``), giving the code grid k(x) in {1..K}^{h w} and z_q(x); the
decoder maps z_q to p(x|z_q), any vaezoo likelihood (Bernoulli on binarized
pixels, a discretized logistic mixture on the 256 gray levels, ...).

The posterior is deterministic, q(k|x) = 1[k = k(x)], so with a prior p(k)
over code grids the evidence lower bound is

    log p(x) >= ELBO(x) = log p(x | z_q(x)) + log p(k(x)),

since KL(q(k|x) || p(k)) = -log p(k(x)) (a point mass has zero entropy). The
metrics report it as in every vaezoo family: ``distortion`` = -log p(x|z_q),
``rate`` = -log p(k(x)) and ``elbo`` = -(rate + distortion), in nats per
image; with the uniform prior the rate is the constant h w log K of the paper.
An importance-sampled estimate with this q (``vaezoo.evaluation``) returns
exactly this bound, whatever its number of samples: it is a bound on log p(x),
not an estimate of it.

Training minimizes, per image (the paper's equation 3, summed over the grid),

    loss = distortion + ||sg(z_e) - z_q||^2 + beta ||z_e - sg(z_q)||^2 + rate,

with the straight-through estimator for the decoder's gradient to the encoder,
sg the stop-gradient and beta ``commitment_cost``. The codebook term is left
out with EMA codebook updates (``codebook_update="ema"``). The rate's gradient
reaches only the prior (the codes are integers), so the prior p(k), a gated
PixelCNN over the code grid (``vaezoo.priors.pixelcnn``; van den Oord et al.
2016), learns the codes of the encoder as it trains (``prior_training=
"joint"``); ``fit_prior`` then fits it on the codes of the frozen encoder, the
paper's second stage. ``sample`` draws code grids from the prior, not uniform
codes, and decodes them.

Example:
  >>> model = vaezoo.VQVAE(num_embeddings=128, embedding_dim=16,
  ...                      likelihood="discretized_logistic_mixture")
  >>> model.compile(optimizer="adam")
  >>> model.fit(train_batches, epochs=10)        # codebook, encoder, decoder (and prior)
  >>> model.fit_prior(train_batches, epochs=5)   # the PixelCNN on the frozen codes
  >>> model.sample(16)
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo import validation
from vaezoo.models import export as export_lib
from vaezoo.models import inputs
from vaezoo.models.base import VAE, _non_negative, _scale_for_replicas
from vaezoo.models.precision import float32
from vaezoo.networks.residual import grid_shape, residual_conv_decoder, residual_conv_encoder
from vaezoo.networks.vector_quantizer import VectorQuantizer
from vaezoo.priors.pixelcnn import GatedPixelCNN, uniform_codes
from vaezoo.registry import lookup

tfd = tfp.distributions

#: ``prior=``: a gated PixelCNN learned over the code grid, or the uniform prior.
PRIORS = ("pixelcnn", "uniform")
#: ``prior_training=``: the PixelCNN trains in ``fit`` alongside the autoencoder
#: ("joint"), or only in ``fit_prior`` ("separate").
PRIOR_TRAINING = ("joint", "separate")
#: Base ``VAE`` arguments that have no meaning with a deterministic posterior.
_NOT_TAKEN = ("posterior", "posterior_kwargs", "objective", "num_samples", "beta",
              "warmup_steps", "free_bits")


class CodeAssignment(tfd.Distribution):
    """q(k|x): the point mass on code grids ``codes`` (int32 [B, L]); batch [B], event [L].

    ``log_prob`` is 0 at the codes and -inf elsewhere; ``mean`` and ``mode`` are the
    codes themselves.
    """

    def __init__(self, codes, name="CodeAssignment"):
        parameters = dict(locals())
        self._codes = tf.convert_to_tensor(codes, tf.int32)
        super().__init__(dtype=tf.int32, reparameterization_type=tfd.NOT_REPARAMETERIZED,
                         validate_args=False, allow_nan_stats=True, parameters=parameters,
                         name=name)

    @property
    def codes(self):
        return self._codes

    def _batch_shape(self):
        return self._codes.shape[:-1]

    def _batch_shape_tensor(self):
        return tf.shape(self._codes)[:-1]

    def _event_shape(self):
        return self._codes.shape[-1:]

    def _event_shape_tensor(self):
        return tf.shape(self._codes)[-1:]

    def _sample_n(self, n, seed=None):
        return tf.broadcast_to(self._codes, tf.concat([[n], tf.shape(self._codes)], axis=0))

    def _log_prob(self, value):
        same = tf.reduce_all(tf.equal(tf.cast(value, tf.int32), self._codes), axis=-1)
        return tf.where(same, 0.0, -np.inf)

    def _mean(self):
        return self._codes

    def _mode(self):
        return self._codes

    def _entropy(self):
        return tf.zeros(tf.shape(self._codes)[:-1])


@keras.saving.register_keras_serializable(package="vaezoo")
class VQVAE(VAE):
    """A VQ-VAE with a gated PixelCNN prior (see the module docstring).

    Args:
      num_embeddings: K, the codebook size.
      embedding_dim: D, the size of a code vector.
      filters: channels of the encoder's stride-2 4x4 convolutions; the code grid
        is ceil(H / 2^n) x ceil(W / 2^n) for n = len(filters) (7 x 7 on 28 x 28
        images with two); the decoder mirrors them.
      num_residual_blocks: residual blocks after the downsampling (and before the
        upsampling), as in the paper.
      activation: Keras activation of the trunks.
      commitment_cost: beta of the commitment loss (the paper uses 0.25).
      codebook_update: "gradient" (codebook loss) or "ema" (moving averages).
      ema_decay: the decay of the moving averages (the EMA update, the use counts).
      restart_threshold: restart codes whose moving-average use per batch falls
        below this onto encoder outputs (0: never).
      prior: "pixelcnn" (learned, ``prior_kwargs`` are ``GatedPixelCNN``'s
        ``filters``, ``num_layers``, ``kernel_size``, ``embedding_size``) or
        "uniform".
      prior_training: "joint" (``fit`` trains the PixelCNN on the current codes
        too) or "separate" (only ``fit_prior`` trains it).
      likelihood, likelihood_kwargs, binarization, binarization_seed, image_shape,
        seed, dtype: as for the base ``VAE``. The posterior and objective are the
        VQ-VAE's own: ``posterior``, ``objective``, ``num_samples``, ``beta``,
        ``warmup_steps``, ``free_bits`` and ``latent_dim`` are not taken (the
        latent is the code grid; ``latent_dim`` becomes its size h w once built).
    """

    deterministic_posterior = True

    def __init__(self, num_embeddings=256, embedding_dim=16, filters=(32, 64),
                 num_residual_blocks=2, activation="relu", commitment_cost=0.25,
                 codebook_update="gradient", ema_decay=0.99, restart_threshold=0.0,
                 prior="pixelcnn", prior_kwargs=None, prior_training="joint",
                 likelihood="bernoulli", latent_dim=None, **kwargs):
        given = sorted(k for k in _NOT_TAKEN if k in kwargs)
        if given or latent_dim is not None:
            given += ["latent_dim"] if latent_dim is not None else []
            raise ValueError(
                f"VQVAE takes no {', '.join(given)}: its posterior is the deterministic "
                f"nearest-code assignment and its objective the VQ-VAE loss; its latent is "
                f"the code grid, whose size follows from image_shape and filters. Set "
                f"num_embeddings, embedding_dim, filters and commitment_cost instead.")
        self.num_embeddings = validation.check_positive_int("num_embeddings", num_embeddings, 256)
        self.embedding_dim = validation.check_positive_int("embedding_dim", embedding_dim, 16)
        self.filters = validation.check_positive_ints("filters", filters, (32, 64))
        self.num_residual_blocks = int(num_residual_blocks)
        if self.num_residual_blocks < 0:
            raise ValueError(f"num_residual_blocks must be >= 0; got {num_residual_blocks!r}")
        self.activation = activation
        keras.activations.get(activation)
        self.commitment_cost = _non_negative("commitment_cost", commitment_cost)
        # The quantizer checks its own arguments (update, decay, restart threshold).
        checked = VectorQuantizer(self.num_embeddings, self.embedding_dim, codebook_update,
                                  ema_decay, restart_threshold=restart_threshold)
        self.codebook_update, self.ema_decay = checked.update, checked.decay
        self.restart_threshold = checked.restart_threshold
        prior = lookup("VQVAE prior", prior, {p: p for p in PRIORS})
        self.prior_training = lookup("prior_training", prior_training,
                                     {p: p for p in PRIOR_TRAINING})
        image_shape = kwargs.pop("image_shape", None)
        super().__init__(latent_dim=1, likelihood=likelihood, **kwargs)
        self._prior_name, self.prior_kwargs = prior, dict(prior_kwargs or {})
        if prior == "pixelcnn":   # fail early on a bad PixelCNN argument
            GatedPixelCNN(self.num_embeddings, (2, 2), **self.prior_kwargs)
        self.latent_dim = None      # h * w once built
        self.grid_shape = None
        self.objective = "vqvae"
        names = ["loss", "elbo", "rate", "distortion", "codebook_loss", "commitment_loss",
                 "perplexity", "mse"]
        self._trackers = [keras.metrics.Mean(name=n) for n in names]
        self._stage = "joint"
        if image_shape is not None:
            self._build_for(tuple(int(d) for d in image_shape))

    # ------------------------------------------------------------------ building
    def _make_prior_layer(self, prior):
        return None      # the PixelCNN, built with the grid in _build_for (or uniform)

    def _make_posterior_layer(self, posterior):
        return None      # the nearest-code assignment of ``quantizer``

    def _build_for(self, image_shape):
        if len(image_shape) != 3 or any(d <= 0 for d in image_shape):
            raise ValueError(f"image_shape must be (height, width, channels); got {image_shape}")
        self.image_shape = image_shape
        self.grid_shape = grid_shape(image_shape, len(self.filters))
        self.latent_dim = self.grid_shape[0] * self.grid_shape[1]
        out_channels = image_shape[-1] * self.likelihood_layer.params_per_channel
        trunk = dict(filters=self.filters, num_residual_blocks=self.num_residual_blocks,
                     activation=self.activation)
        self.encoder = residual_conv_encoder(image_shape, self.embedding_dim, **trunk)
        self.quantizer = VectorQuantizer(self.num_embeddings, self.embedding_dim,
                                         self.codebook_update, self.ema_decay,
                                         restart_threshold=self.restart_threshold,
                                         name="codebook")
        self.quantizer.build()
        self.decoder = residual_conv_decoder(image_shape, self.embedding_dim, out_channels,
                                             **trunk)
        self.likelihood_layer.build(image_shape)
        if self._prior_name == "pixelcnn":
            self.prior_layer = GatedPixelCNN(self.num_embeddings, self.grid_shape,
                                             **self.prior_kwargs, name="prior")
            self.prior_layer.build((None,) + tuple(self.grid_shape))
        self.built = True

    # ------------------------------------------------------------------ the model
    def encode(self, x, y=None):
        """q(k|x): the point mass on the nearest-code grid k(x), int32, batch [B],
        event [h * w] (the grid in raster order)."""
        x = self._model_input(x)
        self._check_no_condition(y, "y")
        codes = self.quantizer.codes(float32(self.encoder(x)))
        return CodeAssignment(tf.reshape(codes, [-1, self.latent_dim]))

    def decode(self, z, y=None):
        """p(x|z_q) for code grids ``z`` (ints [..., h * w], raster order; any leading
        axes), a tfd.Distribution with event [H, W, C]."""
        self._require_built()
        self._check_no_condition(y, "y")
        codes = self._as_codes(z)
        h, w = self.grid_shape
        z_q = self.quantizer.lookup(tf.reshape(codes, [-1, h, w]))
        return self.likelihood_layer.distribution(
            self._with_leading_axes(self._decoder_params(z_q), codes))

    def _decoder_params(self, z_q):
        return float32(self.decoder(z_q))

    def _as_codes(self, z):
        """z as int32 code grids [..., h * w], checked eagerly (size, whole numbers, range)."""
        h, w = self.grid_shape
        z = inputs.as_latent(z, self.latent_dim, "VQVAE", dtype=tf.float64,
                             what="an integer array of code grids",
                             layout=f"[batch, {self.latent_dim}] (the {h} x {w} grid in raster "
                                    f"order; or [..., batch, {self.latent_dim}])")
        if tf.executing_eagerly():
            values = z.numpy()
            if values.size and (np.any(values != np.round(values)) or values.min() < 0
                                or values.max() >= self.num_embeddings):
                raise ValueError(f"codes must be whole numbers in [0, {self.num_embeddings}) "
                                 f"(num_embeddings); got values in [{values.min()}, "
                                 f"{values.max()}]")
        return tf.cast(z, tf.int32)

    def prior(self, y=None):
        """p(k): the gated PixelCNN over code grids (``PixelCNNCodes``), or the uniform
        distribution; int32, batch [], event [h * w]."""
        self._require_built()
        self._check_no_condition(y, "y")
        if self.prior_layer is not None:
            return self.prior_layer.distribution()
        return uniform_codes(self.grid_shape, self.num_embeddings)

    def _sample(self, n, y, seed):
        """Code grids drawn from the prior, decoded to the mean of p(x|z_q)."""
        return self.decode(self.prior().sample(n, seed=seed)).mean()

    # ------------------------------------------------------------------ training
    def _forward(self, x, with_mse=False):
        """The terms of the module docstring (per image, [B]; perplexity a scalar), the
        encoder outputs and their codes. ``with_mse``: also the mean squared error of
        the reconstruction mean (the exact mean of a discretized logistic mixture sums
        over its 256 levels, so training steps leave it to evaluation)."""
        z_e = float32(self.encoder(x))
        codes = self.quantizer.codes(z_e)
        z_q = self.quantizer.lookup(codes)
        straight_through = z_e + tf.stop_gradient(z_q - z_e)
        likelihood = self.likelihood_layer.distribution(self._decoder_params(straight_through))
        rate = -self.prior().log_prob(tf.reshape(codes, [-1, self.latent_dim]))
        distortion = -likelihood.log_prob(x)
        squared = lambda a, b: tf.reduce_sum(tf.square(a - b), axis=[1, 2, 3])  # noqa: E731
        t = {"elbo": -(rate + distortion), "rate": rate, "distortion": distortion,
             "codebook_loss": squared(tf.stop_gradient(z_e), z_q),
             "commitment_loss": squared(z_e, tf.stop_gradient(z_q)),
             "perplexity": self.quantizer.perplexity(codes)}
        if with_mse:
            t["mse"] = tf.reduce_mean(tf.square(likelihood.mean() - x), axis=[1, 2, 3])
        return t, z_e, codes

    def _loss(self, t):
        per_example = t["distortion"] + self.commitment_cost * t["commitment_loss"] + t["rate"]
        if self.codebook_update == "gradient":
            per_example = per_example + t["codebook_loss"]
        loss = tf.reduce_mean(per_example)
        return loss + tf.add_n(self.losses) if self.losses else loss

    def _terms(self, x, y, num_samples, seed):
        """({"elbo", "rate", "distortion"}, q, p) for a preprocessed batch (the ELBO is
        exact: there is nothing to sample)."""
        t = self._forward(x)[0]
        return ({k: t[k] for k in ("elbo", "rate", "distortion")}, self.encode(x),
                self.prior())

    def compute_objective(self, x, y=None, training=False):
        """(loss scalar, dict of the terms) for a preprocessed batch."""
        t = self._forward(x)[0]
        return self._loss(t), t

    def _trained_variables(self):
        prior = self.prior_layer.trainable_variables if self.prior_layer is not None else []
        if self._stage == "prior":
            return prior
        if self.prior_training == "separate":
            ids = {id(v) for v in prior}
            return [v for v in self.trainable_variables if id(v) not in ids]
        return self.trainable_variables

    def train_step(self, data):
        x, _ = self.preprocess(data, training=True)
        variables = self._trained_variables()
        with tf.GradientTape() as tape:
            t, z_e, codes = self._forward(x)
            loss = self._loss(t)
            scaled = self.optimizer.scale_loss(_scale_for_replicas(loss))
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        if self._stage == "joint":
            self.quantizer.apply_updates(z_e, codes, self._stateless_seed())
        return self._record(loss, t)

    def test_step(self, data):
        x, _ = self.preprocess(data, training=False)
        t = self._forward(x, with_mse=True)[0]
        return self._record(self._loss(t), t)

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit``: trains the encoder, codebook and decoder (and, with
        ``prior_training="joint"``, the prior)."""
        self._build_optimizer()
        return super().fit(x, y, *args, **kwargs)

    def fit_prior(self, x=None, *args, **kwargs):
        """``fit`` of the prior alone, on the codes of the frozen encoder and codebook
        (the paper's second stage); the metrics are those of ``fit``. Takes ``fit``'s
        arguments (``epochs``, ``callbacks``, ``validation_data``, ...)."""
        if self.prior_layer is None:
            raise ValueError("this VQVAE has prior='uniform': there is no prior to fit. "
                             "Build it with prior='pixelcnn'.")
        if self.optimizer is None:
            raise ValueError("compile the model before fit_prior (model.compile(optimizer=...))")
        self._stage, self.train_function = "prior", None
        try:
            return self.fit(x, None, *args, **kwargs)
        finally:
            self._stage, self.train_function = "joint", None

    def _build_optimizer(self):
        # Built for every trainable variable at once, so that the steps updating only
        # some of them (``prior_training="separate"``, ``fit_prior``) share one state.
        if self.built and self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    # ------------------------------------------------------------------ export, config
    def _export_endpoints(self):
        """The base endpoints, with ``decode`` taking int32 code grids [N, h * w]."""
        codes = [[tf.TensorSpec((None, self.latent_dim), tf.int32, name="codes")]]
        return [(name, fn, codes if name == "decode" else signatures)
                for name, fn, signatures in export_lib.endpoints(self)]

    def get_config(self):
        config = super().get_config()
        for key in _NOT_TAKEN + ("latent_dim",):
            config.pop(key, None)
        config.update(num_embeddings=self.num_embeddings, embedding_dim=self.embedding_dim,
                      filters=list(self.filters), num_residual_blocks=self.num_residual_blocks,
                      activation=self.activation, commitment_cost=self.commitment_cost,
                      codebook_update=self.codebook_update, ema_decay=self.ema_decay,
                      restart_threshold=self.restart_threshold,
                      prior_training=self.prior_training)
        return config
