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
import json
import os
import warnings
import zipfile

import keras
import numpy as np
import tensorflow as tf

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


def _multi_worker():
    """True under a MultiWorkerMirroredStrategy spanning more than one worker."""
    strategy = tf.distribute.get_strategy()
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)())


def _scale_for_replicas(loss):
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss * (1.0 / replicas)


#: The Keras dtype policies a VAE computes in: its ``dtype=`` argument, else the
#: global policy (``keras.config.set_dtype_policy``). The mixed ones multiply in
#: bfloat16 / float16 with float32 weights; the distributions' parameters,
#: densities and losses are float32 in all three (``_float32``).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


#: ``keras.Model.compile`` arguments a VAE does not take (``_refuse_keras_losses``).
KERAS_LOSS_ARGUMENTS = ("loss", "loss_weights", "metrics", "weighted_metrics")


def _refuse_keras_losses(**given):
    """A ValueError for a Keras loss or metric given to ``VAE.compile`` (they would
    be ignored: the objective defines both)."""
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return
    shown = ", ".join(f"{k}={v!r}" for k, v in given.items())
    if {"loss", "loss_weights"} & set(given):
        why = ("a VAE's loss is its objective, set on the model: objective='elbo' or 'iwae' "
               "(with num_samples=), beta=, warmup_steps=, free_bits=")
    else:
        why = ("a VAE's metrics are its objective's terms, reported by fit and evaluate: "
               "loss, elbo, rate, distortion (iwae with objective='iwae'); others come from "
               "vaezoo.evaluation (log_likelihood, bits_per_dim, ...) or a callback")
    raise ValueError(f"compile() does not take {shown}: {why}. Remove "
                     f"{' and '.join(given)} from compile().")


def kernel_layers(layer):
    """The layers with a kernel inside ``layer``, in call order (Sequential/functional)."""
    out = []
    for sub in getattr(layer, "layers", []):
        if getattr(sub, "layers", None):
            out += kernel_layers(sub)
        elif hasattr(sub, "kernel"):
            out.append(sub)
    return out


def _check_precision(precision, what="precision"):
    if precision not in PRECISIONS:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, PRECISIONS))}; got "
                         f"{precision!r}")


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
    decoder in ``decoder`` (names of ``PRECISIONS``; None leaves a part in its own
    policy); the policies are put back on exit.

    For ``vaezoo.evaluation.log_likelihood(precision=...)``, which runs the
    decoder, nearly all of its work, in a precision of its own while it traces
    its step. A model's training and inference precision is its dtype policy,
    not this.
    """

    def __init__(self, model, encoder=None, decoder=None):
        for policy in (encoder, decoder):
            if policy is not None:
                _check_precision(policy)
        self._model, self._encoder, self._decoder = model, encoder, decoder
        self._saved = []

    def __enter__(self):
        encoder, decoder = trunk_layers(self._model)
        for layers, policy in ((encoder, self._encoder), (decoder, self._decoder)):
            for layer in layers if policy is not None else []:
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


#: The ``.weights.h5`` attribute where ``VAE.save_weights`` records the shapes the
#: model was built for (``VAE.SHAPE_KEYS``), so ``load_weights`` can build a fresh model.
SHAPES_ATTRIBUTE = "vaezoo_shapes"


def saved_shapes(path):
    """The ``SHAPE_KEYS`` values a weights file records: from a ``.weights.h5`` written
    by ``VAE.save_weights``, or from the config of a ``.keras`` file; None if it holds none.
    """
    path = os.fspath(path)
    if path.endswith(".h5"):
        import h5py
        with h5py.File(path, "r") as f:
            text = f.attrs.get(SHAPES_ATTRIBUTE)
        return None if text is None else json.loads(text)
    if path.endswith(".keras") and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json")).get("config", {})
        return {k: v for k, v in config.items() if k.endswith("_shape") and v is not None} or None
    return None


class _ShapeError(Exception):
    """A weights file's recorded shapes do not fit the model (raised as a ValueError)."""


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
      dtype: the Keras dtype policy the model computes in, one of ``PRECISIONS``
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

    #: The config entries a model learns from its first batch when they are not
    #: given (``image_shape``; conditional families add ``condition_shape``):
    #: ``save_weights`` records them, ``load_weights`` builds a fresh model from them.
    SHAPE_KEYS = ("image_shape",)

    def __init__(self, latent_dim=32, likelihood="bernoulli", prior="standard_normal",
                 posterior="gaussian", binarization=None, objective="elbo", num_samples=1,
                 beta=1.0, warmup_steps=0, free_bits=0.0, likelihood_kwargs=None,
                 prior_kwargs=None, posterior_kwargs=None, image_shape=None,
                 binarization_seed=0, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_precision(self.dtype_policy.name, "a VAE's dtype policy (dtype= or "
                         "keras.config.set_dtype_policy)")
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

    def __setattr__(self, name, value):
        # Keras gives a layer the global dtype policy when it is made; a layer this
        # model holds gets the model's (``dtype=``) before it is built, with every
        # layer inside it, so the whole model computes in one policy.
        if isinstance(value, keras.layers.Layer) and getattr(self, "_dtype_policy", None):
            policy = self.dtype_policy
            for layer in value._flatten_layers(include_self=True):
                if layer.dtype_policy.name != policy.name:
                    layer.dtype_policy = policy
        super().__setattr__(name, value)

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
        self._check_no_condition(y, "y")
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
        self._require_built()
        z = self._as_latent(z)
        self._check_no_condition(y, "y")
        params = self._decode_params(tf.reshape(z, [-1, self.latent_dim]), z, y)
        return self.likelihood_layer.distribution(params)

    def _as_latent(self, z):
        """z as float32 [..., latent_dim]; the last axis is checked when it is known
        (always eagerly), so a wrong size is a ValueError, not a failed reshape."""
        if not tf.is_tensor(z):
            z = np.asarray(z)
            if z.dtype.kind not in "fiu":
                raise TypeError(f"z must be a float array of latent codes [..., latent_dim="
                                f"{self.latent_dim}]; got dtype {z.dtype}")
        z = tf.convert_to_tensor(z)
        if not (z.dtype.is_floating or z.dtype.is_integer):
            raise TypeError(f"z must be a float tensor of latent codes [..., latent_dim="
                            f"{self.latent_dim}]; got dtype {z.dtype.name}")
        z = tf.cast(z, tf.float32) if z.dtype != tf.float32 else z
        if z.shape.rank == 0 or (z.shape.rank is not None and z.shape[-1] is not None
                                 and z.shape[-1] != self.latent_dim):
            raise ValueError(
                f"z must have shape [batch, latent_dim] (or [..., batch, latent_dim]) with "
                f"latent_dim={self.latent_dim} for this {type(self).__name__}; got shape "
                f"{tuple(z.shape)}. Decode codes from model.encode(x) or model.prior().sample(n).")
        return z

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

    def compile(self, optimizer="adam", *, steps_per_execution="auto", jit_compile="auto",
                loss=None, loss_weights=None, metrics=None, weighted_metrics=None, **kwargs):
        """``keras.Model.compile``, with the loss and metrics the model defines itself.

        Args:
          optimizer: as for ``keras.Model.compile``: ``"adam"`` (the default) is
            ``keras.optimizers.Adam()``. ``"fused_adam"`` opts into
            :class:`vaezoo.optimizers.FusedAdam` (the same update, one kernel per
            variable; see there for its measured speed).
          steps_per_execution: Keras' argument. ``"auto"`` (the default) runs
            ``DEFAULT_STEPS_PER_EXECUTION`` (32) train steps per call into the TF
            graph: one Python round trip per 32 batches instead of one per batch,
            the same steps and numbers; callbacks then see every 32nd batch. An
            int sets it (1 is Keras' default).
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
        _refuse_keras_losses(loss=loss, loss_weights=loss_weights, metrics=metrics,
                             weighted_metrics=weighted_metrics)
        if "precision" in kwargs:
            raise ValueError(
                f"compile() takes no precision (got precision={kwargs['precision']!r}): a "
                f"VAE computes in its Keras dtype policy. Construct the model with "
                f"dtype='mixed_bfloat16' (or 'mixed_float16', 'float32'), or call "
                f"keras.config.set_dtype_policy(...) before constructing it.")
        # What get_compile_config saves: the arguments as given.
        compile_args = {"jit_compile": jit_compile, "steps_per_execution": steps_per_execution}
        if steps_per_execution == "auto":
            steps_per_execution = DEFAULT_STEPS_PER_EXECUTION
        if isinstance(steps_per_execution, bool) or not isinstance(
                steps_per_execution, (int, np.integer)) or steps_per_execution < 1:
            raise ValueError(
                f"steps_per_execution must be 'auto' or a positive integer; got "
                f"{steps_per_execution!r}")
        if jit_compile not in ("auto", True, False):
            raise ValueError(f"jit_compile must be 'auto', True or False; got {jit_compile!r}")
        optimizer = keras.optimizers.get(optimizers.get(optimizer))
        super().compile(optimizer=optimizer, jit_compile=jit_compile,
                        steps_per_execution=int(steps_per_execution), **kwargs)
        # The optimizer as given: under mixed_float16 Keras wraps it again on load.
        self._vaezoo_compile_args = {
            "optimizer": keras.optimizers.serialize(optimizer), **compile_args,
            **{k: keras.saving.serialize_keras_object(v) for k, v in kwargs.items()}}

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
        config = dict(config)
        legacy = config.pop("precision", "auto")
        if legacy not in ("auto", self.dtype_policy.name):
            warnings.warn(
                f"this model was saved with compile(precision={legacy!r}); vaezoo now "
                f"computes in the model's dtype policy, here {self.dtype_policy.name!r}. To "
                f"train in {legacy!r}, construct the model with dtype={legacy!r}.",
                stacklevel=2)
        ignored = sorted(k for k in KERAS_LOSS_ARGUMENTS if config.pop(k, None) is not None)
        if ignored:
            warnings.warn(f"dropped {', '.join(ignored)} from the saved compile config: a VAE's "
                          f"loss and metrics are its objective's", stacklevel=2)
        config["optimizer"] = keras.optimizers.deserialize(config["optimizer"])
        for key in set(config) - {"optimizer", "jit_compile", "steps_per_execution"}:
            config[key] = keras.saving.deserialize_keras_object(config[key])
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)  # so its saved state can load

    @property
    def training_precision(self):
        """The precision the model trains (and computes) in: its dtype policy's
        name, one of ``PRECISIONS``."""
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
    #: Opt-in: ``fit`` on NumPy arrays feeds the train step row numbers and gathers
    #: the rows inside it (``vaezoo.pipeline``) instead of Keras' array pipeline; the
    #: same batches, so the same numbers. Set True on a model to use it (its speed,
    #: measured against Keras' pipeline: ``docs/benchmarks.md``).
    gather_arrays_in_step = False

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit`` with the input checked first (see ``vaezoo.validation``).

        With ``gather_arrays_in_step = True``, NumPy arrays run through
        ``vaezoo.pipeline`` (Keras' batches, rows gathered inside the step). Where
        it cannot (a ``tf.distribute`` strategy, or ``sample_weight``,
        ``class_weight``, ``steps_per_epoch``, ``shuffle="batch"``) a warning says
        so and Keras' own pipeline runs; other inputs (datasets) are Keras' anyway.
        """
        return validation.checked_call(self, self._fit, "fit", x, y, *args, **kwargs)

    def _fit(self, x, y, *args, **kwargs):
        kwargs = inspect.signature(keras.Model.fit).bind(self, x, y, *args, **kwargs).arguments
        kwargs.pop("self")
        x, y = kwargs.pop("x", None), kwargs.pop("y", None)
        if self.gather_arrays_in_step and isinstance(x, np.ndarray):
            why = pipeline.not_covered(x, y, kwargs)
            strategy = tf.distribute.has_strategy() or getattr(self, "_distribute_strategy", None)
            if why is None and strategy:
                why = "a tf.distribute strategy is active (it shards batches, not row numbers)"
            if why is None:
                x, kwargs = pipeline.fit_arguments(x, y, kwargs)
                y = None
            else:
                warnings.warn(f"gather_arrays_in_step is set but cannot be used: {why}; "
                              f"fit uses Keras' array pipeline (the same batches).",
                              stacklevel=3)
        return super().fit(x, y, **kwargs)

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
            import h5py
            with h5py.File(path, "a") as f:
                f.attrs[SHAPES_ATTRIBUTE] = json.dumps(self._shapes())
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
            self._build_like(path)
            return super(VAE, self).load_weights(path, *args, **kwargs)

        try:
            return validation.load_weights(self, filepath, load)
        except _ShapeError as e:  # not a ValueError, so not taken for a foreign file
            raise ValueError(str(e)) from None

    def _build_like(self, path):
        """Builds an unbuilt model for the shapes ``path`` records; checks a built one's."""
        shapes = saved_shapes(path)
        if shapes is None or "image_shape" not in shapes:
            if not self.built:
                raise _ShapeError(
                    f"this {type(self).__name__} is not built yet and {path} does not record "
                    f"the image shape it was trained on (it was not written by vaezoo's "
                    f"save_weights). Construct the model with image_shape=(height, width, "
                    f"channels), or call model.build((None, height, width, channels)), then "
                    f"load_weights.")
            return
        shapes = {k: tuple(v) for k, v in shapes.items() if k in self.SHAPE_KEYS}
        if not self.built:
            for key, value in shapes.items():
                if key != "image_shape" and getattr(self, key, None) is None:
                    setattr(self, key, value)
            self._build_for(shapes["image_shape"])
            return
        for key, value in shapes.items():
            mine = getattr(self, key, None)
            if mine is not None and tuple(mine) != value:
                raise _ShapeError(
                    f"the weights in {path} do not fit this {type(self).__name__}: they were "
                    f"saved from a model with a different architecture, {key}={value}, where "
                    f"this one was built with {key}={tuple(mine)}. Construct it with "
                    f"{key}={value}.")

    # ------------------------------------------------------------------ export
    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None,
               **kwargs):
        """``keras.Model.export``; a SavedModel gets vaezoo's inference endpoints.

        With ``format="tf_saved_model"`` (the default) the SavedModel, written by
        ``keras.export.ExportArchive``, has these endpoints (``tf.saved_model.load``
        them, then call ``loaded.encode(images)``, ...):

        ============================  ==============================================
        ``reconstruct(images)``       mean of p(x | z = posterior point), [N, H, W, C]
                                      (also ``serve``, Keras' endpoint name, and the
                                      ``serving_default`` signature)
        ``encode(images)``            q(z|x) as a dict: ``"mean"``, the latent point
                                      ``reconstruct`` decodes, [N, latent_dim] (for a
                                      flow posterior, its base mean pushed through the
                                      flow); ``"stddev"`` where q has a closed-form one
                                      (diagonal Gaussian posteriors)
        ``decode(z)``                 mean of p(x|z), [N, H, W, C] (pixel
                                      probabilities for a Bernoulli likelihood)
        ``sample(n, seed)``           n images drawn as ``model.sample(n, seed=seed)``
                                      (int32 scalars), the same images
        ============================  ==============================================

        ``images`` are a batch [N, H, W, C] of uint8 (0..255) or float32 (0..1)
        pixels, preprocessed as ``evaluate`` does (a Bernoulli model binarizes them
        statically; one with ``binarization=None`` takes float32 only). Conditional
        families take the condition ``y`` after the images or ``z`` (int32 or int64
        class labels [N], or a float32 / uint8 tensor condition), and ``sample``
        takes ``(condition, seed)`` instead of ``(n, seed)``; ``SemiSupervisedVAE``
        adds ``classify(images)``, q(y|x) as class probabilities [N, num_classes].

        Other formats are Keras' own, exporting ``call`` (the reconstruction).

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
        archive = keras.export.ExportArchive()
        archive.track(self)
        for name, fn, signatures in self._export_endpoints():
            fn = tf.function(fn, autograph=False)
            for signature in signatures:
                fn.get_concrete_function(*signature)
            archive.add_endpoint(name, fn)
            if name == "reconstruct":
                archive.add_endpoint("serve", fn)
        archive.write_out(os.fspath(filepath), verbose=True if verbose is None else verbose)

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
        dtypes = (tf.uint8, tf.float32) if self._accepts_uint8() else (tf.float32,)
        return [tf.TensorSpec((None,) + tuple(self.image_shape), d, name="images")
                for d in dtypes]

    def _condition_specs(self):
        """The input specs ``y`` may have in ``export``'s endpoints; [] without a condition."""
        return []

    def _export_endpoints(self):
        """(name, function, list of input signatures) of each endpoint of ``export``."""
        images = [[spec] for spec in self._image_specs()]
        z = [[tf.TensorSpec((None, self.latent_dim), tf.float32, name="z")]]
        ys = self._condition_specs()

        def with_y(signatures):
            return [s + [y] for s in signatures for y in ys] if ys else signatures

        def reconstruct(images, y=None):
            return self.reconstruct(images, y)

        def encode(images, y=None):
            q = self.encode(self.preprocess(images)[0], y)
            params = {"mean": self.posterior_point(q)}
            try:
                params["stddev"] = q.stddev()
            except NotImplementedError:   # no closed form (a flow, a two-level chain)
                pass
            return params

        def decode(z, y=None):
            return self.decode(z, y).mean()

        seed = tf.TensorSpec((), tf.int32, name="seed")
        if ys:
            def sample(condition, seed):
                return self._sample(tf.shape(condition)[0], condition, tf.stack([seed, 0]))
            sample_signatures = [[y, seed] for y in ys]
        else:
            def sample(n, seed):
                return self._sample(n, None, tf.stack([seed, 0]))
            sample_signatures = [[tf.TensorSpec((), tf.int32, name="n"), seed]]
        return [("reconstruct", reconstruct, with_y(images)),
                ("encode", encode, with_y(images)),
                ("decode", decode, with_y(z)),
                ("sample", sample, sample_signatures)]

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
        from vaezoo import presets
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
        from vaezoo import presets
        return presets.save(self, preset_dir, config=config, metadata=metadata)
