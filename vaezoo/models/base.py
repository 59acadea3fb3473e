r"""The base variational autoencoder: encoder, prior, decoder as TFP distributions.

A VAE (Kingma & Welling 2014; Rezende et al. 2014) models an image x through a
latent z:

    p(z)            the prior                  ``model.prior()``
    p(x|z)          the likelihood (decoder)   ``model.decode(z)``
    q(z|x)          the amortized approximate posterior (encoder) ``model.encode(x)``

and is trained by maximizing the evidence lower bound

    log p(x) >= ELBO(x) = E_{q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z))

with reparameterized samples of z (see ``vaezoo.objectives`` for the ELBO,
beta, warm-up, free bits and the importance-weighted bound). The metrics are
reported in nats per example: ``elbo``, ``rate`` = KL and ``distortion`` =
-E_q[log p(x|z)], with ``loss`` the quantity minimized.

Subclasses only say how to build the two trunks (``_make_encoder`` and
``_make_decoder``); the objective, ``train_step``, ``test_step``, sampling and
the checked Keras entry points live here once. What is not the model itself
lives in sibling modules the class delegates to: the input handling
(``vaezoo.models.inputs``), the dtype policy (``vaezoo.models.precision``),
the weights files (``vaezoo.models.weights``), the compile arguments
(``vaezoo.models.compiling``) and the SavedModel endpoints
(``vaezoo.models.export``).

Over 400 lines because it is the one base class of every family: each public
method (the model's probability, sampling, the Keras entry points, saving,
export, presets) is defined once here, most of it as docstrings and the hooks
the families override; the work behind them lives in the sibling modules.
"""

import os

import keras
import tensorflow as tf

from vaezoo import likelihoods as likelihoods_lib
from vaezoo import objectives
from vaezoo import optimizers
from vaezoo import posteriors as posteriors_lib
from vaezoo import priors as priors_lib
from vaezoo import progress
from vaezoo import validation
from vaezoo.batches import unpack_batch
from vaezoo.models import compiling
from vaezoo.models import export as export_lib
from vaezoo.models import inputs
from vaezoo.models import weights as weights_lib
from vaezoo.models.precision import adopt_policy, check_precision, float32

def _non_negative(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a number >= 0; got {value!r}")
    return float(value)


def _multi_worker():
    """True under a MultiWorkerMirroredStrategy spanning more than one worker."""
    strategy = tf.distribute.get_strategy()
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)())


def _scale_for_replicas(loss):
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss * (1.0 / replicas)


@keras.saving.register_keras_serializable(package="vaezoo")
class VAE(keras.Model):
    """Base class of every vaezoo VAE.

    Args:
      latent_dim: size of z.
      likelihood: name of p(x|z): "bernoulli", "gaussian" (fixed sigma),
        "gaussian_pixelwise" (learned per-pixel sigma), "gaussian_heteroscedastic"
        (sigma predicted by the decoder); see ``vaezoo.likelihoods``.
      prior: name of p(z): "standard_normal", "mixture"; see ``vaezoo.priors``.
      posterior: name of q(z|x): "gaussian"; see ``vaezoo.posteriors``.
      binarization: for a Bernoulli likelihood, how gray levels become {0, 1}:
        "dynamic" (a fresh Bernoulli draw each training step; the static draw
        for evaluation), "static" (one content-addressed draw with
        ``binarization_seed``, see ``vaezoo.preprocessing``), or None (the
        input must already be float in [0, 1]; uint8 input is an error).
      objective: "elbo" or "iwae" (the importance-weighted bound with
        ``num_samples`` samples).
      num_samples: z samples per example in training.
      beta: weight of the KL term (1 is the ELBO).
      warmup_steps: linear KL warm-up from 0 to ``beta`` over this many steps.
      free_bits: nats per latent dimension below which the KL is not penalized.
      likelihood_kwargs, prior_kwargs, posterior_kwargs: extra arguments of those.
      image_shape: (H, W, C); taken from the first batch when None.
      binarization_seed: seed of the static binarization.
      seed: seed of the model's sampling (a ``keras.random.SeedGenerator``).
      dtype: the Keras dtype policy the model computes in, one of
        ``vaezoo.models.precision.PRECISIONS``
        ("float32", "mixed_bfloat16", "mixed_float16"); default: the global
        policy (``keras.config.set_dtype_policy``), float32 unless set. Every
        layer of the model computes in it (training, ``evaluate``, ``encode``,
        ``decode``); the distributions' parameters, densities and losses stay
        float32. Under "mixed_float16" ``compile`` wraps the optimizer in a
        ``keras.optimizers.LossScaleOptimizer`` (Keras' own loss scaling).

    Example:
      >>> model = vaezoo.MLPVAE(latent_dim=50, likelihood="bernoulli", binarization="dynamic")
      >>> model.compile(optimizer="adam")
      >>> model.fit(tfds.load("fashion_mnist", split="train").batch(128), epochs=10)
    """

    is_conditional = False
    #: Whether q(z|x) is a point mass (a VQ-VAE's nearest codes): log-likelihood
    #: "estimates" of such a model are its ELBO, a bound (``vaezoo.evaluation``).
    deterministic_posterior = False

    #: The config entries a model learns from its first batch when they are not
    #: given (``image_shape``; conditional families add ``condition_shape``):
    #: ``save_weights`` records them, ``load_weights`` builds a fresh model from them.
    SHAPE_KEYS = ("image_shape",)

    #: Names of the terms a family reports beside the ELBO's (a regularizer's ``tc``,
    #: ``mmd``...): one ``keras.metrics.Mean`` each, like ``elbo``.
    EXTRA_METRICS = ()

    def __init__(self, latent_dim=32, likelihood="bernoulli", prior="standard_normal",
                 posterior="gaussian", binarization=None, objective="elbo", num_samples=1,
                 beta=1.0, warmup_steps=0, free_bits=0.0, likelihood_kwargs=None,
                 prior_kwargs=None, posterior_kwargs=None, image_shape=None,
                 binarization_seed=0, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_precision(self.dtype_policy.name, "a VAE's dtype policy (dtype= or "
                         "keras.config.set_dtype_policy)")
        self.latent_dim = validation.check_positive_int("latent_dim", latent_dim)
        self.likelihood_kwargs = dict(likelihood_kwargs or {})
        self.prior_kwargs = dict(prior_kwargs or {})
        self.posterior_kwargs = dict(posterior_kwargs or {})
        self.likelihood_layer = likelihoods_lib.get(likelihood, **self.likelihood_kwargs)
        self.prior_layer = self._make_prior_layer(prior)
        self.posterior_layer = self._make_posterior_layer(posterior)
        self.likelihood, self._prior_name, self.posterior = likelihood, prior, posterior
        self.binarization = inputs.check_binarization(binarization, likelihood,
                                                      self.likelihood_layer.support)
        self.objective = objectives.check_objective(objective)
        self.num_samples = validation.check_positive_int("num_samples", num_samples)
        self.beta = _non_negative("beta", beta)
        self.warmup_steps = int(_non_negative("warmup_steps", warmup_steps))
        self.free_bits = _non_negative("free_bits", free_bits)
        self.binarization_seed = int(binarization_seed)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        names = ["loss", "elbo", "rate", "distortion"] + (["iwae"] if objective == "iwae" else [])
        names += list(self.EXTRA_METRICS)
        self._trackers = [keras.metrics.Mean(name=n) for n in names]
        self.image_shape = None
        if image_shape is not None:
            self._build_for(tuple(int(d) for d in image_shape))

    def __setattr__(self, name, value):
        # A layer this model holds computes in the model's dtype policy (``dtype=``).
        if isinstance(value, keras.layers.Layer) and getattr(self, "_dtype_policy", None):
            adopt_policy(value, self.dtype_policy)
        super().__setattr__(name, value)

    # ------------------------------------------------------------------ building
    def _make_prior_layer(self, prior):
        """The layer of p(z) named ``prior`` (``vaezoo.priors``); a family with a prior
        of its own returns None here and sets ``prior_layer`` itself (or not at all)."""
        return priors_lib.get(prior, self.latent_dim, **self.prior_kwargs)

    def _make_posterior_layer(self, posterior):
        """The layer of q(z|x) named ``posterior`` (``vaezoo.posteriors``)."""
        return posteriors_lib.get(posterior, self.latent_dim, **self.posterior_kwargs)

    def _make_encoder(self, image_shape):
        """x [B, H, W, C] -> features [B, F]. Subclasses implement."""
        raise NotImplementedError

    def _make_decoder(self, image_shape, out_channels):
        """z [B, latent_dim] -> decoder parameters [B, H, W, out_channels]."""
        raise NotImplementedError

    def _build_for(self, image_shape):
        if len(image_shape) != 3 or any(d <= 0 for d in image_shape):
            raise ValueError(f"image_shape must be (height, width, channels); got {image_shape}")
        self.image_shape = image_shape
        out_channels = image_shape[-1] * self.likelihood_layer.params_per_channel
        self.encoder = self._make_encoder(image_shape)
        self.encoder.build((None,) + self._encoder_input_shape(image_shape))
        features = self.encoder.compute_output_shape((None,) + self._encoder_input_shape(image_shape))
        self.posterior_head = keras.layers.Dense(self.posterior_layer.params_size,
                                                 name="posterior_head")
        self.posterior_head.build(features)
        self.posterior_layer.build(features)
        self.decoder = self._make_decoder(image_shape, out_channels)
        self.decoder.build((None, self._decoder_input_size()))
        self.likelihood_layer.build(image_shape)
        if self.prior_layer is not None and not self.prior_layer.built:
            self.prior_layer.build(image_shape)  # image-space priors (VampPrior) need it
        self.built = True

    def _encoder_input_shape(self, image_shape):
        return image_shape

    def _decoder_input_size(self):
        return self.latent_dim

    def build(self, input_shape=None):
        if self.image_shape is not None:
            return
        if isinstance(input_shape, dict):
            input_shape = input_shape.get("image")
        elif isinstance(input_shape, (tuple, list)) and input_shape and isinstance(
                input_shape[0], (tuple, list)):
            input_shape = input_shape[0]
        shape = tuple(input_shape)[1:]
        if len(shape) == 2:
            shape = shape + (1,)
        self._build_for(shape)

    # ------------------------------------------------------------------ data
    def preprocess(self, data, training=False):
        """A batch (dict, tuple or tensor) -> (x on the likelihood's support, labels or None).

        uint8 images are divided by 255; float images must be in [0, 1]. For a
        Bernoulli likelihood, ``binarization`` then maps gray levels to {0, 1}.
        """
        images, labels = unpack_batch(data)
        return inputs.on_support(self, self._as_image_batch(images), training), labels

    def _as_image_batch(self, images):
        """Checks rank, shape and dtype; adds the channel axis to [B, H, W] gray images."""
        return inputs.as_image_batch(self, images)

    # ------------------------------------------------------------------ the model
    def encode(self, x, y=None):
        """q(z|x): a tfd.Distribution with batch [B] and event [latent_dim].

        ``x`` is a batch on the likelihood's support (as ``preprocess`` returns);
        uint8 images are preprocessed first.
        """
        x = self._model_input(x)
        self._check_no_condition(y, "y")
        features = self.encoder(self._encoder_input(x, y))
        return self.posterior_layer.distribution(float32(self.posterior_head(features)))

    def _encoder_input(self, x, y):
        """What the encoder trunk sees: x here; conditional families add y (shape
        ``_encoder_input_shape``)."""
        return x

    def _model_input(self, x):
        x = self._as_image_batch(x)
        if x.dtype == tf.uint8:
            x = self.preprocess(x)[0]
        return x

    def decode(self, z, y=None):
        """p(x|z): a tfd.Distribution with event [H, W, C]; z may have leading sample axes."""
        self._require_built()
        z = self._as_latent(z)
        self._check_no_condition(y, "y")
        params = self._decode_params(tf.reshape(z, [-1, self.latent_dim]), z, y)
        return self.likelihood_layer.distribution(params)

    def _as_latent(self, z):
        """z as float32 [..., latent_dim], its size checked (``inputs.as_latent``)."""
        return inputs.as_latent(z, self.latent_dim, type(self).__name__)

    def _check_no_condition(self, y, argument):
        """An explicitly given y / condition is an error on an unconditional model."""
        if y is not None and not self.is_conditional:
            raise ValueError(
                f"{type(self).__name__} is unconditional (not a conditional model): it takes no "
                f"labels, but {argument}= was given (a VAE's target is its input: fit(x) needs "
                f"no y). Drop {argument}, or use ConditionalVAE for class-conditional "
                f"generation.")

    def _batch_condition(self, labels):
        """The labels of a batch as this model's y: None for an unconditional model (the
        labels a tfds batch carries are data it does not use, not an error)."""
        return labels if self.is_conditional else None

    def _labels_argument(self, y, n, where):
        """The ``y`` given to ``fit`` / ``evaluate`` checked for ``n`` examples (see
        ``vaezoo.validation.checked_call``); an error on an unconditional model."""
        self._check_no_condition(y, "y")
        return y

    def _decode_params(self, flat_z, z, y):
        """Runs the decoder on [N, D] and restores z's leading axes on the output."""
        out = float32(self.decoder(self._decoder_input(flat_z, z, y)))
        return self._with_leading_axes(out, z)

    def _with_leading_axes(self, out, z):
        """Decoder output [N, H, W, P] for the N = prod(lead) latents of z [*lead, ...]
        reshaped to [*lead, H, W, P]."""
        lead = tf.shape(z)[:-1]
        out = tf.reshape(out, tf.concat([lead, tf.shape(out)[1:]], axis=0))
        static = z.shape[:-1].concatenate(self.image_shape[:2] + (out.shape[-1],))
        return tf.ensure_shape(out, static)

    def _decoder_input(self, flat_z, z, y):
        """What the decoder trunk sees, [N, _decoder_input_size()]: flat_z here;
        conditional families concatenate y, broadcast over z's leading sample axes."""
        return flat_z

    def prior(self, y=None):
        """p(z): a tfd.Distribution with event [latent_dim]."""
        self._check_no_condition(y, "y")
        return self.prior_layer.distribution(y=y, encoder=self._prior_encoder)

    def _prior_encoder(self, x):
        return self.encode(x)

    # ------------------------------------------------------------------ public helpers
    def _stateless_seed(self, seed=None):
        if seed is None:
            return tf.cast(self.seed_generator.next(), tf.int32)
        return tf.constant([int(seed), 0], tf.int32)

    def sample(self, n, seed=None, condition=None):
        """n images drawn from the model: z ~ p(z), then the mean of p(x|z).

        Returns a float32 tensor [n, H, W, C] (pixel probabilities for Bernoulli).
        """
        n = validation.check_positive_int("n", n)
        self._require_built()
        y = self._check_condition(condition, n)
        return self._sample(n, y, self._stateless_seed(seed))

    def _sample(self, n, y, seed):
        """``sample`` on checked arguments (``n`` may be a tensor, as in ``export``)."""
        p = self.prior(y)
        # A conditional prior p(z|y) already has one batch member per condition.
        z = p.sample(() if p.batch_shape.rank else n, seed=seed)
        return self.decode(z, y).mean()

    def _check_condition(self, condition, n):
        """The y of ``sample(n, condition=...)``: None here (and an error if given)."""
        self._check_no_condition(condition, "condition")
        return None

    def reconstruct(self, x, y=None):
        """Deterministic reconstruction: the mean of p(x | z = mean of q(z|x)).

        ``y`` (conditional models) defaults to the labels of the batch ``x``.
        """
        self._check_no_condition(y, "y")
        xs, labels = self.preprocess(x)
        y = self._batch_condition(labels) if y is None else y
        return self.decode(self.posterior_point(self.encode(xs, y)), y).mean()

    def elbo(self, x, num_samples=1, seed=None):
        """Per-example ELBO in nats, a [B] tensor."""
        xs, y = self.preprocess(x)
        num_samples = validation.check_positive_int("num_samples", num_samples)
        return self._terms(xs, y, num_samples=num_samples,
                           seed=self._stateless_seed(seed))[0]["elbo"]

    def call(self, inputs, training=False):
        """The reconstruction mean, so ``predict`` works on any batch format."""
        x, labels = self.preprocess(inputs, training=False)
        y = self._batch_condition(labels)
        return self.decode(self.posterior_point(self.encode(x, y)), y).mean()

    @staticmethod
    def posterior_point(approx_posterior):
        """A deterministic latent point of q(z|x): its mean, or for a flow posterior
        (no closed-form mean) the flow applied to its base distribution's mean."""
        try:
            return approx_posterior.mean()
        except NotImplementedError:
            if hasattr(approx_posterior, "bijector"):
                return approx_posterior.bijector.forward(approx_posterior.distribution.mean())
            raise

    def _require_built(self):
        if self.image_shape is None:
            raise ValueError(
                "the model is not built yet: fit it on data, call it on a batch, or construct "
                "it with image_shape=(height, width, channels)")

    # ------------------------------------------------------------------ training
    def _terms(self, x, y, num_samples, seed):
        y = self._batch_condition(y)
        q = self.encode(x, y)
        p = self.prior(y)
        t = objectives.terms(x, q, p, lambda z: self.decode(z, y), num_samples=num_samples,
                             seed=seed, importance_weighted=self.objective == "iwae")
        return t, q, p

    def current_beta(self, training=False, beta=None):
        """The KL weight of this step: ``beta`` (default ``self.beta``) warmed up over
        ``warmup_steps`` from the optimizer's step when training, else ``beta``."""
        beta = self.beta if beta is None else beta
        if training and self.optimizer is not None:
            return objectives.warmup_beta(beta, self.warmup_steps, self.optimizer.iterations)
        return beta

    def compute_objective(self, x, y=None, training=False):
        """(loss scalar, dict of per-example terms) for a preprocessed batch."""
        t, q, p = self._terms(x, y, self.num_samples, self._stateless_seed())
        beta = self.current_beta(training)
        loss = objectives.loss(t, objective=self.objective, beta=beta, free_bits=self.free_bits,
                               approx_posterior=q, prior=p)
        if self.losses:
            loss = loss + tf.add_n(self.losses)
        return loss, t

    @property
    def metrics(self):
        return list(self._trackers)

    def _record(self, loss, t):
        values = {"loss": loss, **{k: tf.reduce_mean(v) for k, v in t.items()}}
        # A step reports the trackers of the terms it computed (a VQVAE's training
        # steps leave ``mse`` to evaluation).
        trackers = [m for m in self._trackers if m.name in values]
        for tracker in trackers:
            tracker.update_state(values[tracker.name])
        results = {m.name: m.result() for m in trackers}
        if _multi_worker():
            # Keras reduces step outputs across workers with reduce(MEAN, axis=0),
            # which rejects scalars: give it one value per replica.
            results = {k: tf.reshape(v, [1]) for k, v in results.items()}
        return results

    def compile(self, optimizer="adam", *, steps_per_execution="auto", jit_compile="auto",
                loss=None, loss_weights=None, metrics=None, weighted_metrics=None, **kwargs):
        """``keras.Model.compile``, with the loss and metrics the model defines itself.

        Args:
          optimizer: as for ``keras.Model.compile``: ``"adam"`` (the default) is
            ``keras.optimizers.Adam()``. ``"fused_adam"`` opts into
            :class:`vaezoo.optimizers.FusedAdam` (the same update, one fused
            kernel per variable).
          steps_per_execution: Keras' argument. ``"auto"`` (the default) runs
            ``compiling.DEFAULT_STEPS_PER_EXECUTION`` (32) train steps per call
            into the TF graph: one Python round trip per 32 batches instead of
            one per batch, the same steps and numbers; callbacks then see every
            32nd batch. An int sets it (1 is Keras' default).
          jit_compile: Keras' argument and default: ``"auto"`` lets Keras decide
            (XLA on a GPU or TPU, off on a CPU-only machine and under
            ``tf.distribute``); True / False force it.
          loss, loss_weights, metrics, weighted_metrics: not taken. A VAE's loss
            is its objective (``objective=``, ``beta=``, ``warmup_steps=``,
            ``free_bits=`` of the model) and its metrics are the objective's
            terms (``loss``, ``elbo``, ``rate``, ``distortion``), so giving them
            is a ValueError rather than being ignored.
          **kwargs: any other ``keras.Model.compile`` argument (``run_eagerly``,
            ``auto_scale_loss``).

        The precision is the model's dtype policy (``dtype=`` of the constructor,
        else ``keras.config.set_dtype_policy``), not a compile argument; under
        ``"mixed_float16"`` Keras wraps the optimizer in a ``LossScaleOptimizer``.
        """
        compiling.refuse_keras_losses(loss=loss, loss_weights=loss_weights, metrics=metrics,
                                      weighted_metrics=weighted_metrics)
        steps = compiling.check_compile_arguments(steps_per_execution, jit_compile, kwargs)
        optimizer = keras.optimizers.get(optimizers.get(optimizer))
        super().compile(optimizer=optimizer, jit_compile=jit_compile,
                        steps_per_execution=steps, **kwargs)
        # What get_compile_config saves: the arguments as given (under mixed_float16
        # Keras wraps the optimizer again on load).
        self._vaezoo_compile_args = compiling.saved_config(
            optimizer, {"jit_compile": jit_compile, "steps_per_execution": steps_per_execution},
            kwargs)

    def get_compile_config(self):
        """The ``compile`` arguments, saved in ``.keras`` files (see ``compile_from_config``)."""
        return getattr(self, "_vaezoo_compile_args", None)

    def compile_from_config(self, config):
        """Re-compiles a loaded model as it was saved, optimizer state included.

        Configs saved by earlier versions may hold ``precision`` (the precision is
        now the model's dtype policy: "auto" and a value equal to the policy are
        dropped, any other with a warning) and loss / metrics that were ignored
        then (dropped with a warning).
        """
        config = compiling.compile_arguments_from(config, self.dtype_policy.name)
        self.compile(**config)
        if self.built:
            self._build_optimizers()  # so their saved state can load

    def _build_optimizers(self):
        """Builds the optimizer for the variables it trains (a family with a second
        optimizer builds both), so that a checkpoint's optimizer state can load."""
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    @property
    def training_precision(self):
        """The precision the model trains (and computes) in: its dtype policy's
        name, one of ``vaezoo.models.precision.PRECISIONS``."""
        return self.dtype_policy.name

    def train_step(self, data):
        x, y = self.preprocess(data, training=True)
        with tf.GradientTape() as tape:
            loss, t = self.compute_objective(x, y, training=True)
            # Under tf.distribute each replica sees 1/R of the global batch and the
            # optimizer SUMS the replicas' gradients, so the per-replica mean loss
            # is divided by R to get the gradient of the global-batch mean.
            # scale_loss: the loss scale of a LossScaleOptimizer (mixed_float16).
            scaled = self.optimizer.scale_loss(_scale_for_replicas(loss))
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return self._record(loss, t)

    def test_step(self, data):
        x, y = self.preprocess(data, training=False)
        loss, t = self.compute_objective(x, y, training=False)
        return self._record(loss, t)

    def predict_step(self, data):
        return self(data, training=False)

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim, likelihood=self.likelihood, prior=self._prior_name,
            posterior=self.posterior, binarization=self.binarization, objective=self.objective,
            num_samples=self.num_samples, beta=self.beta, warmup_steps=self.warmup_steps,
            free_bits=self.free_bits, likelihood_kwargs=self.likelihood_kwargs,
            prior_kwargs=self.prior_kwargs, posterior_kwargs=self.posterior_kwargs,
            image_shape=self.image_shape, binarization_seed=self.binarization_seed,
            seed=self.seed)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("trainable", None)
        return cls(**config)  # dtype included: a model reloads in its own dtype policy

    # ------------------------------------------------------------------ checked Keras entry points
    # Input checks run here, outside the compiled step (tf.debugging asserts are no-ops
    # under XLA); see vaezoo.validation.
    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit`` with the input checked first (see ``vaezoo.validation``).

        Its progress bar counts the batches truly trained under
        ``steps_per_execution`` (``vaezoo.progress.BatchProgbarLogger``) unless
        ``callbacks`` holds a progress bar.
        """
        if len(args) < 4:  # callbacks given by keyword (Keras' fit: x, y, batch_size, ...)
            kwargs["callbacks"] = progress.with_progress_bar(kwargs.get("callbacks"))
        return validation.checked_call(self, super().fit, "fit", x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.evaluate`` with the input checked first."""
        return validation.checked_call(self, super().evaluate, "evaluate", x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        """``keras.Model.predict`` with the input checked first."""
        return validation.checked_call(self, lambda x, y, *a, **k: super(VAE, self).predict(
            x, *a, **k), "predict", x, None, *args, **kwargs)

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """``keras.Model.save_weights``; a ``.weights.h5`` file also records the shapes
        the model was built for (``SHAPE_KEYS``), so that ``load_weights`` into a
        fresh, unbuilt model of the same config works."""
        result = super().save_weights(filepath, overwrite=overwrite,
                                      max_shard_size=max_shard_size)
        path = os.fspath(filepath)
        if self.built and path.endswith(".h5") and os.path.exists(path):
            weights_lib.record_shapes(path, self._shapes())
        return result

    def _shapes(self):
        return {k: list(getattr(self, k)) for k in self.SHAPE_KEYS
                if getattr(self, k, None) is not None}

    def load_weights(self, filepath, *args, **kwargs):
        """``keras.Model.load_weights`` with clear errors for damaged or foreign files.

        An unbuilt model (constructed without ``image_shape``) is first built for
        the shapes the file records (``save_weights``, a ``.keras`` file's config).
        """
        def load(path):
            weights_lib.build_like(self, path)
            return super(VAE, self).load_weights(path, *args, **kwargs)

        try:
            return weights_lib.load_weights(self, filepath, load)
        except weights_lib.ShapeError as e:  # not a ValueError, so not taken for a foreign file
            raise ValueError(str(e)) from None

    # ------------------------------------------------------------------ export
    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None,
               **kwargs):
        """``keras.Model.export``; a SavedModel gets vaezoo's inference endpoints:
        ``reconstruct``, ``encode``, ``decode``, ``sample`` (and a family's own),
        described in ``vaezoo.models.export``. Other formats are Keras' own,
        exporting ``call`` (the reconstruction).

        Example:
          >>> model.export("exported")
          >>> loaded = tf.saved_model.load("exported")
          >>> loaded.encode(images)["mean"], loaded.sample(16, 0)
        """
        self._require_built()
        if format != "tf_saved_model":
            if input_signature is None:
                input_signature = [keras.InputSpec(shape=(None,) + tuple(self.image_shape),
                                                   dtype="float32")]
            return super().export(filepath, format=format, verbose=verbose,
                                  input_signature=input_signature, **kwargs)
        if input_signature is not None or kwargs:
            given = sorted(kwargs) + (["input_signature"] if input_signature is not None else [])
            raise ValueError(
                f"export(format='tf_saved_model') writes vaezoo's endpoints with their own "
                f"signatures; it takes no {', '.join(given)}. For other endpoints, build a "
                f"keras.export.ExportArchive yourself.")
        export_lib.write_saved_model(self, filepath, verbose)

    @property
    def _default_save_signature(self):
        # TensorFlow's SavedModel hook; Keras' version calls the model on float32
        # tensors of the shapes ``build`` was given, labels included, which a
        # conditional model refuses. ``export`` writes vaezoo's own endpoints.
        return None

    def _accepts_uint8(self):
        """Whether ``preprocess`` takes uint8 images (not a Bernoulli model without
        binarization, whose pixels must already be in {0, 1})."""
        return not (self.likelihood_layer.support == "binary" and self.binarization is None)

    def _image_specs(self):
        """The input specs of the images in ``export``'s endpoints."""
        return export_lib.image_specs(self)

    def _condition_specs(self):
        """The input specs ``y`` may have in ``export``'s endpoints; [] without a condition."""
        return []

    def _export_endpoints(self):
        """(name, function, list of input signatures) of each endpoint of ``export``."""
        return export_lib.endpoints(self)

    # ------------------------------------------------------------------ presets
    @classmethod
    def from_preset(cls, preset, *, compile=True):
        """A trained model from a preset: a pretrained entry name or a preset directory.

        A preset is a folder holding ``config.toml``, ``model.weights.h5`` and a
        ``metadata.json`` card with their sha256 (``vaezoo.presets``): the
        pretrained zoo entries, folders written by ``save_to_preset``, and run
        directories of ``vaezoo train``. The files are verified before use; the
        model comes back compiled with the preset's optimizer (``compile=False``
        to skip), ready to ``fit`` (fine-tune) or ``evaluate``.

        Called on a family class (``vaezoo.MLPVAE.from_preset``), the preset must
        hold that family (or a subclass): otherwise a ValueError names the class
        to call. ``vaezoo.VAE.from_preset`` returns whichever family it holds.

        Example:
          >>> model = vaezoo.MLPVAE.from_preset("mlp_vae_fashion_mnist")
          >>> model.fit(train_batches, epochs=1)
        """
        from vaezoo import presets  # why: presets sit above the models (they load them)
        return presets.load(preset, family=cls, compile=compile)

    def save_to_preset(self, preset_dir, *, config=None, metadata=None):
        """Write this model as a preset that ``from_preset`` and ``vaezoo.load`` read back.

        Args:
          preset_dir: the directory to write (replaced atomically if it exists).
          config: optional config tables kept beside ``[model]`` (``data``,
            ``optimizer``, ``training``, ``evaluation``, ``description``);
            default: those of the preset this model was loaded from.
          metadata: extra fields of the ``metadata.json`` card (metrics, ...).

        The ``[model]`` table is ``get_config()``; a compiled model's optimizer
        config is kept in the card, so ``from_preset`` compiles with it.

        Example:
          >>> model.save_to_preset("presets/my_mlp")
          >>> again = vaezoo.VAE.from_preset("presets/my_mlp")
        """
        from vaezoo import presets  # why: presets sit above the models (they load them)
        return presets.save(self, preset_dir, config=config, metadata=metadata)
