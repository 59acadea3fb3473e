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
``_make_decoder``); the input handling, the objective, ``train_step``,
``test_step``, sampling and saving live here once.
"""

import inspect

import keras
import numpy as np
import tensorflow as tf

from vaezoo import hardware
from vaezoo import likelihoods as likelihoods_lib
from vaezoo import objectives
from vaezoo import optimizers
from vaezoo import pipeline
from vaezoo import posteriors as posteriors_lib
from vaezoo import priors as priors_lib
from vaezoo import validation
from vaezoo.preprocessing import static_binarize, to_unit_interval

# The content-addressed hash is ~20 elementwise int64 ops per pixel: unfused (TF
# graph mode) it cost ~8 ms per batch of 128 here, more than the MLP itself;
# XLA fuses it into one loop (<1 ms). It is compiled on its own, so the matmuls
# around it keep the oneDNN kernels (faster than XLA's on CPU, see ``compile``).
_fused_static_binarize = tf.function(static_binarize, jit_compile=True, reduce_retracing=True)


def _static_binarize_once(x, seed):
    """``static_binarize`` that skips images already in {0, 1}.

    Static binarization is idempotent on binary pixels, so data binarized by
    ``vaezoo.data.load(..., binarization="static")`` passes through unchanged
    and the hash is not recomputed every step (one cheap check instead).
    """
    is_binary = tf.reduce_all(tf.equal(x * (1.0 - x), 0.0))
    return tf.cond(is_binary, lambda: tf.identity(x),
                   lambda: _fused_static_binarize(x, seed))


#: Default ``steps_per_execution`` of ``VAE.compile`` (see there).
DEFAULT_STEPS_PER_EXECUTION = 32

BINARIZATIONS = ("dynamic", "static", None)


def _non_negative(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a number >= 0; got {value!r}")
    return float(value)


def _under_strategy(model):
    """True inside a non-default tf.distribute scope (Keras disables XLA there too)."""
    return tf.distribute.has_strategy() or getattr(model, "_distribute_strategy", None) is not None


def _multi_worker():
    """True under a MultiWorkerMirroredStrategy spanning more than one worker."""
    strategy = tf.distribute.get_strategy()
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)())


def _scale_for_replicas(loss):
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss * (1.0 / replicas)


#: ``VAE.compile(precision=...)`` values (see there).
PRECISIONS = ("auto", "float32", "mixed_bfloat16")


def kernel_layers(layer):
    """The layers with a kernel inside ``layer``, in call order (Sequential/functional)."""
    out = []
    for sub in getattr(layer, "layers", []):
        if getattr(sub, "layers", None):
            out += kernel_layers(sub)
        elif hasattr(sub, "kernel"):
            out.append(sub)
    return out


def _check_precision(precision, resolved=False):
    allowed = PRECISIONS[1:] if resolved else PRECISIONS
    if precision not in allowed:
        raise ValueError(f"precision must be one of {', '.join(map(repr, allowed))}; got "
                         f"{precision!r}")


def resolve_precision(precision, model):
    """``"auto"`` -> ``"mixed_bfloat16"`` for a family measured in it
    (``model.AUTO_BFLOAT16``) where bfloat16 pays (a CPU-only machine with bfloat16
    dot-product instructions, ``hardware.bf16_pays``), else ``"float32"``; other
    values are checked and returned. ``model`` is a VAE or a VAE class."""
    _check_precision(precision)
    if precision == "auto":
        measured = getattr(model, "AUTO_BFLOAT16", False)
        return "mixed_bfloat16" if measured and hardware.bf16_pays() else "float32"
    return precision


def trunk_layers(model):
    """(the encoder's and posterior head's layers, the decoder's layers) with a
    kernel; empty lists for parts a model does not have (or has not built)."""
    encoder = getattr(model, "encoder", None)
    head = getattr(model, "posterior_head", None)
    decoder = getattr(model, "decoder", None)
    return ((kernel_layers(encoder) if encoder is not None else [])
            + ([head] if head is not None else []),
            kernel_layers(decoder) if decoder is not None else [])


class trunk_precision:
    """While active, the encoder and posterior head compute in ``encoder`` and the
    decoder in ``decoder`` (Keras dtype policies); the policies are put back on exit.

    ``"mixed_bfloat16"``: a layer multiplies in bfloat16 with float32 weights
    (the float32 variables are cast to bfloat16 for the product, and their
    gradients come back in float32 for the optimizer). The layers' outputs, the
    posterior's and the likelihood's parameters, are cast back to float32
    (``_float32``), so every density, sample, KL term and loss is float32.
    Entered while a step is traced, it sets the precision of that step alone:
    ``train_step`` uses the precision given to ``compile``, and
    ``evaluation.log_likelihood`` its own.
    """

    def __init__(self, model, encoder="float32", decoder=None):
        _check_precision(encoder, resolved=True)
        self._model, self._encoder, self._decoder = model, encoder, decoder or encoder
        _check_precision(self._decoder, resolved=True)
        self._saved = []

    def __enter__(self):
        encoder, decoder = trunk_layers(self._model)
        for layers, policy in ((encoder, self._encoder), (decoder, self._decoder)):
            for layer in layers:
                self._saved.append((layer, layer.dtype_policy))
                layer.dtype_policy = policy
        return self

    def __exit__(self, *exc):
        for layer, policy in self._saved:
            layer.dtype_policy = policy
        self._saved = []
        return False


def _float32(params):
    """Distribution parameters from a reduced-precision layer, in float32: every
    density, sample and loss is computed in float32."""
    return params if params.dtype == tf.float32 else tf.cast(params, tf.float32)


def unpack_batch(data):
    """(images, labels or None) from a dict {"image", "label"}, a tuple or a tensor.

    (Or from an element of ``vaezoo.pipeline``: row numbers of in-memory arrays,
    gathered here, inside the step.)
    """
    data = pipeline.gather(data)
    if isinstance(data, dict):
        if "image" not in data:
            raise ValueError(
                f"a batch given as a dict needs an 'image' key (as tfds gives); got keys "
                f"{sorted(data)}")
        return data["image"], data.get("label")
    if isinstance(data, (tuple, list)):
        if not data:
            raise ValueError("got an empty tuple as a batch; expected (images,) or (images, labels)")
        return data[0], (data[1] if len(data) > 1 else None)
    return data, None


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

    Example:
      >>> model = vaezoo.MLPVAE(latent_dim=50, likelihood="bernoulli", binarization="dynamic")
      >>> model.compile(optimizer="adam")
      >>> model.fit(tfds.load("fashion_mnist", split="train").batch(128), epochs=10)
    """

    #: ``compile(precision="auto")`` trains this family in ``mixed_bfloat16`` where
    #: bfloat16 pays. True only for families whose test log-likelihood was measured
    #: against float32 training (``benchmarks/likelihood.py --train-precision``).
    AUTO_BFLOAT16 = False

    is_conditional = False

    def __init__(self, latent_dim=32, likelihood="bernoulli", prior="standard_normal",
                 posterior="gaussian", binarization=None, objective="elbo", num_samples=1,
                 beta=1.0, warmup_steps=0, free_bits=0.0, likelihood_kwargs=None,
                 prior_kwargs=None, posterior_kwargs=None, image_shape=None,
                 binarization_seed=0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = validation.check_positive_int("latent_dim", latent_dim)
        self.likelihood_kwargs = dict(likelihood_kwargs or {})
        self.prior_kwargs = dict(prior_kwargs or {})
        self.posterior_kwargs = dict(posterior_kwargs or {})
        self.likelihood_layer = likelihoods_lib.get(likelihood, **self.likelihood_kwargs)
        self.prior_layer = priors_lib.get(prior, self.latent_dim, **self.prior_kwargs)
        self.posterior_layer = posteriors_lib.get(posterior, self.latent_dim,
                                                  **self.posterior_kwargs)
        self.likelihood, self._prior_name, self.posterior = likelihood, prior, posterior
        if binarization not in BINARIZATIONS:
            raise ValueError(
                f"binarization must be one of 'dynamic', 'static', None; got {binarization!r}")
        if binarization is not None and self.likelihood_layer.support != "binary":
            raise ValueError(
                f"binarization={binarization!r} only applies to a Bernoulli likelihood; "
                f"likelihood {likelihood!r} models gray levels, so use binarization=None")
        self.binarization = binarization
        self.objective = objectives.check_objective(objective)
        self.num_samples = validation.check_positive_int("num_samples", num_samples)
        self.beta = _non_negative("beta", beta)
        self.warmup_steps = int(_non_negative("warmup_steps", warmup_steps))
        self.free_bits = _non_negative("free_bits", free_bits)
        self.binarization_seed = int(binarization_seed)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        names = ["loss", "elbo", "rate", "distortion"] + (["iwae"] if objective == "iwae" else [])
        self._trackers = [keras.metrics.Mean(name=n) for n in names]
        self.image_shape = None
        if image_shape is not None:
            self._build_for(tuple(int(d) for d in image_shape))

    # ------------------------------------------------------------------ building
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
        if not self.prior_layer.built:
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
        x = self._as_image_batch(images)
        if self.likelihood_layer.support == "binary":
            if self.binarization is None and x.dtype == tf.uint8:
                raise ValueError(
                    "uint8 images given to a Bernoulli model with binarization=None: a Bernoulli "
                    "likelihood needs pixels in {0, 1}. Construct the model with "
                    "binarization='dynamic' or 'static', or give float images in [0, 1] "
                    "(e.g. vaezoo.data.load(..., binarization='static')).")
            x = to_unit_interval(x)
            if self.binarization == "dynamic" and training:
                u = keras.random.uniform(tf.shape(x), seed=self.seed_generator)
                x = tf.cast(u < x, tf.float32)
            elif self.binarization is not None:
                x = _static_binarize_once(x, self.binarization_seed)
        else:
            x = to_unit_interval(x)
        return x, labels

    def _as_image_batch(self, images):
        """Checks rank, shape and dtype; adds the channel axis to [B, H, W] gray images."""
        if not tf.is_tensor(images):
            images = np.asarray(images)
            if images.dtype == np.float64:
                images = images.astype(np.float32)
        x = tf.convert_to_tensor(images)
        if tf.executing_eagerly():
            validation.check_image_values(x)  # NaN/Inf, 0..255 floats: cheap, eager only
        if x.dtype != tf.uint8 and not x.dtype.is_floating:
            raise TypeError(
                f"images must be uint8 (0..255) or float (0..1); got dtype {x.dtype.name}. "
                f"Cast them, e.g. tf.cast(images, tf.uint8).")
        if x.dtype.is_floating and x.dtype != tf.float32:
            x = tf.cast(x, tf.float32)
        if x.shape.rank == 3 and (self.image_shape is None or (
                self.image_shape[-1] == 1 and tuple(x.shape[1:]) == self.image_shape[:2])):
            x = x[..., None]
        if x.shape.rank != 4:
            raise ValueError(
                f"expected a batch of images of shape [batch, height, width, channels]; got shape "
                f"{tuple(x.shape)}. A single image needs a batch axis: images[None].")
        if self.image_shape is None:
            self.build(tuple(x.shape))
        got = tuple(x.shape[1:])
        if any(g is not None and g != e for g, e in zip(got, self.image_shape)):
            raise ValueError(
                f"this model was built for images of shape {self.image_shape}; got images of "
                f"shape {got}. Resize the images or build a new model for this shape.")
        return x

    # ------------------------------------------------------------------ the model
    def encode(self, x, y=None):
        """q(z|x): a tfd.Distribution with batch [B] and event [latent_dim].

        ``x`` is a batch on the likelihood's support (as ``preprocess`` returns);
        uint8 images are preprocessed first.
        """
        x = self._model_input(x)
        features = self.encoder(self._encoder_input(x, y))
        return self.posterior_layer.distribution(_float32(self.posterior_head(features)))

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
        z = tf.convert_to_tensor(z, dtype=tf.float32)
        params = self._decode_params(tf.reshape(z, [-1, self.latent_dim]), z, y)
        return self.likelihood_layer.distribution(params)

    def _decode_params(self, flat_z, z, y):
        """Runs the decoder on [N, D] and restores z's leading axes on the output."""
        out = _float32(self.decoder(self._decoder_input(flat_z, z, y)))
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
        y = self._check_condition(condition, n) if self.is_conditional else None
        p = self.prior(y)
        # A conditional prior p(z|y) already has one batch member per condition.
        z = p.sample(() if p.batch_shape.rank else n, seed=self._stateless_seed(seed))
        return self.decode(z, y).mean()

    def _check_condition(self, condition, n):
        return condition

    def reconstruct(self, x, y=None):
        """Deterministic reconstruction: the mean of p(x | z = mean of q(z|x))."""
        xs, labels = self.preprocess((x, y) if y is not None else x)
        y = labels if y is None else y
        return self.decode(self.posterior_point(self.encode(xs, y)), y).mean()

    def elbo(self, x, num_samples=1, seed=None):
        """Per-example ELBO in nats, a [B] tensor."""
        xs, y = self.preprocess(x)
        num_samples = validation.check_positive_int("num_samples", num_samples)
        return self._terms(xs, y, num_samples=num_samples,
                           seed=self._stateless_seed(seed))[0]["elbo"]

    def call(self, inputs, training=False):
        """The reconstruction mean, so ``predict`` works on any batch format."""
        x, y = self.preprocess(inputs, training=False)
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
        q = self.encode(x, y)
        p = self.prior(y)
        t = objectives.terms(x, q, p, lambda z: self.decode(z, y), num_samples=num_samples,
                             seed=seed, importance_weighted=self.objective == "iwae")
        return t, q, p

    def compute_objective(self, x, y=None, training=False):
        """(loss scalar, dict of per-example terms) for a preprocessed batch."""
        t, q, p = self._terms(x, y, self.num_samples, self._stateless_seed())
        beta = objectives.warmup_beta(self.beta, self.warmup_steps, self.optimizer.iterations) \
            if training and self.optimizer is not None else self.beta
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
        for tracker in self._trackers:
            tracker.update_state(values[tracker.name])
        results = {m.name: m.result() for m in self._trackers}
        if _multi_worker():
            # Keras reduces step outputs across workers with reduce(MEAN, axis=0),
            # which rejects scalars: give it one value per replica.
            results = {k: tf.reshape(v, [1]) for k, v in results.items()}
        return results

    def compile(self, optimizer="adam", *, jit_compile="auto", steps_per_execution="auto",
                precision="auto", **kwargs):
        """Keras ``compile`` with defaults measured to be fast for VAEs.

        Args:
          optimizer: as for ``keras.Model.compile``; ``"adam"`` (the default) is
            :class:`vaezoo.optimizers.FusedAdam`, Keras' Adam update computed by
            one fused kernel per variable (faster on CPU, same numbers).
          jit_compile: ``"auto"`` compiles the whole step with XLA when a GPU or
            TPU is visible and no ``tf.distribute`` strategy other than the
            default one is active, and not on a CPU-only machine: on the 2-core
            CPU of ``benchmarks/throughput.py`` XLA's matrix products were
            slower than TensorFlow's oneDNN kernels. The per-pixel work that
            XLA does speed up there (static binarization) is compiled with XLA
            on its own in any case. ``True`` / ``False`` force it.
          steps_per_execution: ``"auto"`` runs ``DEFAULT_STEPS_PER_EXECUTION``
            (32) train steps per call into the TF graph (one Python round trip
            per 32 batches instead of one per batch); callbacks then see every
            32nd batch. An int forces it.
          precision: ``"auto"`` (default), ``"float32"`` or ``"mixed_bfloat16"``.
            ``"mixed_bfloat16"``: the encoder, posterior head and decoder multiply
            in bfloat16 with float32 weights; the distributions' parameters,
            densities and loss stay float32 (see ``trunk_precision``). It is the
            precision of the training step only: ``encode``, ``decode``,
            ``evaluate``, ``predict`` and ``evaluation`` compute in float32
            (``log_likelihood`` has its own ``precision``).
            ``"auto"`` picks it where it pays and was measured: for the families
            with ``AUTO_BFLOAT16`` (the MLP VAE) on a CPU-only machine whose CPU
            has bfloat16 dot products (AVX512-BF16, AMX), where the MLP VAE's
            training step ran 1.33x faster with it and its test
            log-likelihood moved by -0.01 +- 0.08 nats against float32 training
            over 10 seeds (``benchmarks/throughput.py``,
            ``benchmarks/likelihood.py``). float32 for the other families (their
            likelihood in bfloat16 was not measured; ask for it explicitly) and
            on other hardware, GPUs and TPUs included (not measured).
          **kwargs: any other ``keras.Model.compile`` argument.
        """
        self._vaezoo_precision = resolve_precision(precision, self)
        # What get_compile_config saves: the arguments as given ("auto" stays "auto", so a
        # model saved on a CPU and loaded next to a GPU gets the GPU's defaults).
        compile_args = {"jit_compile": jit_compile, "steps_per_execution": steps_per_execution,
                        "precision": precision}
        if jit_compile == "auto":
            jit_compile = hardware.accelerator_present() and not _under_strategy(self)
        if steps_per_execution == "auto":
            steps_per_execution = DEFAULT_STEPS_PER_EXECUTION
        if isinstance(steps_per_execution, bool) or not isinstance(
                steps_per_execution, (int, np.integer)) or steps_per_execution < 1:
            raise ValueError(
                f"steps_per_execution must be 'auto' or a positive integer; got "
                f"{steps_per_execution!r}")
        if jit_compile not in (True, False):
            raise ValueError(f"jit_compile must be 'auto', True or False; got {jit_compile!r}")
        super().compile(optimizer=optimizers.resolve(optimizer), jit_compile=jit_compile,
                        steps_per_execution=int(steps_per_execution), **kwargs)
        self._vaezoo_compile_args = {
            "optimizer": keras.optimizers.serialize(self.optimizer), **compile_args,
            **{k: keras.saving.serialize_keras_object(v) for k, v in kwargs.items()}}

    def get_compile_config(self):
        """The ``compile`` arguments, saved in ``.keras`` files (see ``compile_from_config``)."""
        return getattr(self, "_vaezoo_compile_args", None)

    def compile_from_config(self, config):
        """Re-compiles a loaded model as it was saved, optimizer state included."""
        config = dict(config)
        config["optimizer"] = keras.optimizers.deserialize(config["optimizer"])
        for key in set(config) - {"optimizer", "jit_compile", "steps_per_execution",
                                  "precision"}:
            config[key] = keras.saving.deserialize_keras_object(config[key])
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)  # so its saved state can load

    @property
    def training_precision(self):
        """The precision of ``train_step``, as ``compile`` resolved it ("float32"
        before ``compile``)."""
        return getattr(self, "_vaezoo_precision", "float32")

    def train_step(self, data):
        with trunk_precision(self, self.training_precision):
            return self._train_step(data)

    def _train_step(self, data):
        x, y = self.preprocess(data, training=True)
        with tf.GradientTape() as tape:
            loss, t = self.compute_objective(x, y, training=True)
            # Under tf.distribute each replica sees 1/R of the global batch and the
            # optimizer SUMS the replicas' gradients, so the per-replica mean loss
            # is divided by R to get the gradient of the global-batch mean.
            scaled = _scale_for_replicas(loss)
            scaled = self.optimizer.scale_loss(scaled)  # loss scaling for mixed_float16
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
        for key in ("trainable", "dtype"):
            config.pop(key, None)
        return cls(**config)

    # ------------------------------------------------------------------ checked Keras entry points
    # Input checks run here, outside the compiled step (tf.debugging asserts are no-ops
    # under XLA); see vaezoo.validation.
    #: ``fit`` on NumPy arrays feeds the train step row numbers and gathers the rows
    #: inside it (``vaezoo.pipeline``: the same batches as Keras' array pipeline).
    #: Set False on a model for Keras' own.
    gather_arrays_in_step = True

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit`` with the input checked first (see ``vaezoo.validation``).

        NumPy arrays run through ``vaezoo.pipeline`` (the same batches as Keras'
        array pipeline, rows gathered inside the step) on a CPU-only machine
        without a ``tf.distribute`` strategy, unless ``gather_arrays_in_step``
        is False or an argument it does not cover is given (``sample_weight``,
        ``class_weight``, ``steps_per_epoch``, ``shuffle="batch"``).
        """
        return validation.checked_call(self, self._fit, "fit", x, y, *args, **kwargs)

    def _fit(self, x, y, *args, **kwargs):
        kwargs = inspect.signature(keras.Model.fit).bind(self, x, y, *args, **kwargs).arguments
        kwargs.pop("self")
        x, y = kwargs.pop("x", None), kwargs.pop("y", None)
        if (self.gather_arrays_in_step and not hardware.accelerator_present()
                and not _under_strategy(self) and pipeline.covers(x, y, kwargs)):
            x, kwargs = pipeline.fit_arguments(x, y, kwargs)
            y = None
        return super().fit(x, y, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.evaluate`` with the input checked first."""
        return validation.checked_call(self, super().evaluate, "evaluate", x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        """``keras.Model.predict`` with the input checked first."""
        return validation.checked_call(self, lambda x, y, *a, **k: super(VAE, self).predict(
            x, *a, **k), "predict", x, None, *args, **kwargs)

    def load_weights(self, filepath, *args, **kwargs):
        """``keras.Model.load_weights`` with clear errors for damaged or foreign files."""
        return validation.load_weights(
            self, filepath, lambda path: super(VAE, self).load_weights(path, *args, **kwargs))
