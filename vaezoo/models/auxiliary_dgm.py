r"""Auxiliary deep generative models, ADGM and SDGM (Maaløe, Sønderby, Sønderby & Winther 2016).

An auxiliary latent a extends M2 (``SemiSupervisedVAE``): the classifier and the
posterior of z see a, so the inference model is a richer (continuous mixture)
family, while the model of x stays that of M2 (ADGM) or gains a stochastic layer
a between (y, z) and x (SDGM):

    ADGM  p(x, a, y, z) = p(a|x,y,z) p(x|y,z) p(y) p(z)
    SDGM  p(x, a, y, z) = p(x|a,y,z) p(a|y,z) p(y) p(z)
    both  q(a, y, z|x)  = q(a|x) q(y|a,x) q(z|a,y,x)

with p(y) = Cat(1/K), p(z) = N(0, I) and diagonal Gaussians for q(a|x), p(a|.) and
q(z|a,y,x). For a labeled example (x, y), with a ~ q(a|x) and z ~ q(z|a,y,x)
(paper eq. 5):

    L(x, y) = E[log p(x|.) + log p(y) + log p(z) + log p(a|.) - log q(a|x) - log q(z|a,y,x)]

(the KL of z is analytic, the a terms are one-sample estimates). For an unlabeled
x the class is summed out exactly under q(y|a,x), for each draw of a (eq. 6):

    U(x) = E_{q(a|x)}[ sum_y q(y|a,x) L(x, y | a) + H(q(y|a,x)) ]

and the loss on a batch adds the classification term on labeled examples (eq. 7,
terms averaged per example):

    loss = mean_labeled(-L(x, y) + alpha * E_{q(a|x)}[-log q(y|a,x)]) + mean_unlabeled(-U(x))

Predictions average q(y|a,x) over ``prediction_samples`` draws of a ~ q(a|x)
(a fixed seed, so ``classify`` is deterministic). ``encode(x, y)`` is
q(z|a,y,x) at the mean of q(a|x); for SDGM ``decode(z, y)`` is p(x|a,y,z) at the
mean of p(a|y,z). ``vaezoo.evaluation.log_likelihood`` importance-samples (a, z)
jointly from q(a|x) q(z|a,y,x) (``joint_log_weights``) and sums the class out, so
the estimate is of log p(x) for both variants.

Reference:
  L. Maaløe, C. K. Sønderby, S. K. Sønderby, O. Winther. Auxiliary Deep Generative
  Models. ICML 2016.
"""

import math

import keras
import tensorflow as tf

from vaezoo import validation
from vaezoo.models.precision import float32
from vaezoo.models.semi_supervised_vae import SemiSupervisedVAE
from vaezoo.objectives import analytic_kl
from vaezoo.posteriors.gaussian import DiagonalGaussian

VARIANTS = ("adgm", "sdgm")


def _gaussian_net(hidden_units, activation, size, name):
    """An MLP whose last Dense layer gives the 2 * size parameters of a diagonal Gaussian."""
    layers = [keras.layers.Dense(u, activation=activation) for u in hidden_units]
    return keras.Sequential(layers + [keras.layers.Dense(2 * size)], name=name)


@keras.saving.register_keras_serializable(package="vaezoo")
class AuxiliaryDGM(SemiSupervisedVAE):
    """ADGM or SDGM: M2 with an auxiliary latent a (any vaezoo likelihood).

    q(z|a,y,x) and p(x|.) use the ``ConditionalVAE`` trunk (``trunk="mlp"`` or ``"conv"``:
    strided convolutions over x with y and a as constant channels, a transposed-convolution
    decoder from [z, y] (ADGM) or [z, y, a] (SDGM)); q(a|x), q(y|a,x) and p(a|.) are MLPs
    on the flattened x.

    Trained like ``SemiSupervisedVAE``: one ``fit`` on data whose unlabeled examples
    carry label -1 (``vaezoo.data.semi_supervised_split`` / ``mixed_batches``).

    Args:
      variant: ``"adgm"`` (a is auxiliary: p(a|x,y,z), x generated from (y, z)) or
        ``"sdgm"`` (a is a stochastic layer: p(a|y,z), x generated from (a, y, z)).
      auxiliary_dim: size of a.
      auxiliary_hidden_units: hidden layers of the networks of q(a|x) and p(a|.).
      prediction_samples: draws of a ~ q(a|x) averaged by ``classify``.
      **kwargs: the ``SemiSupervisedVAE`` arguments (num_classes, alpha,
        classifier_hidden_units, classifier_dropout, hidden_units, feature_inputs,
        latent_dim, likelihood, binarization, num_samples, ...). ``num_samples``
        draws of (a, z) per example are averaged in the bound.

    Example:
      >>> model = vaezoo.AuxiliaryDGM(num_classes=10, variant="sdgm", alpha=10.0,
      ...                             likelihood="bernoulli", binarization="dynamic")
      >>> model.compile(optimizer="adam")
      >>> model.fit(vaezoo.data.mixed_batches(train, 128, 32), epochs=10)
      >>> model.classify(test_images)                        # [N, 10]

    Reference:
      Maaløe, Sønderby, Sønderby & Winther, "Auxiliary Deep Generative Models", ICML 2016.
    """

    def __init__(self, variant="adgm", auxiliary_dim=100, auxiliary_hidden_units=(500,),
                 prediction_samples=10, **kwargs):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be 'adgm' (auxiliary a, p(a|x,y,z)) or 'sdgm' "
                             f"(a stochastic layer, p(x|a,y,z) p(a|y,z)); got {variant!r}")
        self.variant = variant
        self.auxiliary_dim = validation.check_positive_int("auxiliary_dim", auxiliary_dim)
        self.auxiliary_hidden_units = validation.check_positive_ints(
            "auxiliary_hidden_units", auxiliary_hidden_units, (500,), allow_empty=True)
        self.prediction_samples = validation.check_positive_int(
            "prediction_samples", prediction_samples)
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ building
    def _build_for(self, image_shape):
        super()._build_for(image_shape)
        pixels = math.prod(image_shape)
        self._auxiliary = DiagonalGaussian(self.auxiliary_dim, name="auxiliary_gaussian")
        self._auxiliary.build((None, 2 * self.auxiliary_dim))
        self.auxiliary_encoder = _gaussian_net(self.auxiliary_hidden_units, self.activation,
                                               self.auxiliary_dim, "auxiliary_encoder")
        self.auxiliary_encoder.build((None, pixels))
        generative_input = self.latent_dim + self.num_classes + (
            pixels if self.variant == "adgm" else 0)
        self.auxiliary_decoder = _gaussian_net(self.auxiliary_hidden_units, self.activation,
                                               self.auxiliary_dim, "auxiliary_decoder")
        self.auxiliary_decoder.build((None, generative_input))

    def _encoder_input_shape(self, image_shape):
        shape = super()._encoder_input_shape(image_shape)
        return shape[:-1] + (shape[-1] + self.auxiliary_dim,)   # a: features, or channels

    def _decoder_input_size(self):
        return super()._decoder_input_size() + (self.auxiliary_dim if self.variant == "sdgm"
                                                else 0)

    def _classifier_input_size(self, image_shape):
        return math.prod(image_shape) + self.auxiliary_dim

    # ------------------------------------------------------------------ the distributions
    @staticmethod
    def _flat(x):
        return tf.reshape(x, [tf.shape(x)[0], -1])

    def auxiliary_posterior(self, x):
        """q(a|x): a diagonal Gaussian, batch [B], event [auxiliary_dim]."""
        x = self._model_input(x)
        return self._auxiliary.distribution(float32(self.auxiliary_encoder(self._flat(x))))

    def auxiliary_prior(self, x, y, z):
        """p(a|x,y,z) (ADGM) or p(a|y,z) (SDGM, x unused): batch [B], event [auxiliary_dim];
        x a preprocessed batch, y int labels [B], z [B, latent_dim]."""
        parts = [tf.cast(z, tf.float32), tf.one_hot(y, self.num_classes)]
        if self.variant == "adgm":
            parts.insert(0, tf.cast(self._flat(x), tf.float32))
        return self._auxiliary.distribution(float32(self.auxiliary_decoder(
            tf.concat(parts, axis=-1))))

    def _encoder_input(self, x, y, a=None):
        """[x, one-hot y, a] (``trunk="conv"``: y and a as constant channels beside x's);
        a defaults to the mean of q(a|x) (``encode(x, y)``)."""
        base = super()._encoder_input(x, y)
        if a is None:
            a = self.auxiliary_posterior(x).mean()
        a = tf.cast(a, base.dtype)
        if base.shape.rank == 4:
            a = tf.broadcast_to(a[:, None, None, :], tf.concat(
                [tf.shape(base)[:3], [self.auxiliary_dim]], axis=0))
        return tf.concat([base, a], axis=-1)

    def _decoder_input(self, flat_z, z, y, a=None):
        """[z, one-hot y] (ADGM), [z, one-hot y, a] (SDGM; a defaults to the mean of p(a|y,z))."""
        base = super()._decoder_input(flat_z, z, y)
        if self.variant == "adgm":
            return base
        if a is None:
            a = self._auxiliary.distribution(float32(self.auxiliary_decoder(base))).mean()
        return tf.concat([base, tf.cast(a, base.dtype)], axis=-1)

    def classifier_logits(self, x, training=False, a=None):
        """Logits of q(y|a,x), [B, num_classes]; a defaults to the mean of q(a|x)."""
        x = self._model_input(x)
        if a is None:
            a = self.auxiliary_posterior(x).mean()
        inputs = tf.concat([self._flat(x), tf.cast(a, x.dtype)], axis=-1)
        return tf.cast(self.classifier(inputs, training=training), tf.float32)

    def classify(self, x):
        """q(y|x) = E_{q(a|x)} q(y|a,x): class probabilities [N, num_classes], averaged over
        ``prediction_samples`` draws of a (a fixed seed: the same input, the same output)."""
        xs, _ = self.preprocess(x, training=False)
        n = self.prediction_samples
        a = self.auxiliary_posterior(xs).sample(n, seed=tf.constant([0, 0], tf.int32))
        batch = tf.shape(xs)[0]
        tiled = tf.reshape(tf.tile(xs[None], [n, 1, 1, 1, 1]),
                           tf.concat([[n * batch], tf.shape(xs)[1:]], axis=0))
        probs = tf.nn.softmax(self.classifier_logits(
            tiled, a=tf.reshape(a, [n * batch, self.auxiliary_dim])))
        return tf.reduce_mean(tf.reshape(probs, [n, batch, self.num_classes]), axis=0)

    # ------------------------------------------------------------------ the bounds
    def _labeled_terms(self, x, y, a, log_qa, seed):
        """Per-example terms of L(x, y) for a drawn a: (log_px, rate, log_w), each [N].

        ``rate`` = KL(q(z|a,y,x) || p(z)) (analytic where it exists) + log q(a|x) -
        log p(a|.); ``log_w`` = the one-sample log weight log p(x, a, z | y) - log q(a, z|x, y)
        (for importance sampling).
        """
        q = self.posterior_layer.distribution(float32(self.posterior_head(
            self.encoder(self._encoder_input(x, y, a)))))
        prior = self.prior(y)
        z = q.sample(seed=seed)
        flat_z = tf.reshape(z, [-1, self.latent_dim])
        out = float32(self.decoder(self._decoder_input(flat_z, z, y, a)))
        log_px = self.likelihood_layer.distribution(self._with_leading_axes(out, z)).log_prob(x)
        log_pa = self.auxiliary_prior(x, y, z).log_prob(a)
        log_qz, log_pz = q.log_prob(z), prior.log_prob(z)
        kl_z = analytic_kl(q, prior)
        if kl_z is None:
            kl_z = log_qz - log_pz
        log_w = log_px + log_pz + log_pa - log_qz - log_qa
        return log_px, kl_z + log_qa - log_pa, log_w

    def _draw_auxiliary(self, x, seed):
        q_a = self.auxiliary_posterior(x)
        a = q_a.sample(seed=seed)
        return a, q_a.log_prob(a)

    def class_bounds(self, x, seed=None, a=None, log_qa=None):
        """Labeled bounds L(x, k | a) for every class k: [B, K] tensors (elbo, distortion,
        kl_z = the rate of (a, z)), one pass over the K*B pairs; a ~ q(a|x) is drawn
        unless given (with its log q(a|x))."""
        seed = self._stateless_seed() if seed is None else seed
        seed_a, seed_z = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        if a is None:
            a, log_qa = self._draw_auxiliary(x, seed_a)
        k = self.num_classes
        batch = tf.shape(x)[0]

        def repeat(v):  # block j holds class j
            return tf.reshape(tf.tile(v[None], [k] + [1] * v.shape.rank),
                              tf.concat([[k * batch], tf.shape(v)[1:]], axis=0))

        y_rep = tf.repeat(tf.range(k, dtype=tf.int32), batch)
        log_px, rate, _ = self._labeled_terms(repeat(x), y_rep, repeat(a), repeat(log_qa),
                                              seed_z)

        def per_class(v):
            return tf.transpose(tf.reshape(v, [k, batch]))

        distortion, kl = -per_class(log_px), per_class(rate)
        return {"elbo": -(distortion + kl) - math.log(k), "distortion": distortion, "kl_z": kl}

    @staticmethod
    def _tiled(x, y, s):
        """x (and y) repeated s times along the batch: [s * B, ...], block j = draw j."""
        x = tf.reshape(tf.tile(x[None], [s, 1, 1, 1, 1]),
                       tf.concat([[s * tf.shape(x)[0]], tf.shape(x)[1:]], axis=0))
        return x, (None if y is None else tf.tile(tf.reshape(y, [-1]), [s]))

    @staticmethod
    def _sample_mean(terms, s):
        """[s * B] terms of the tiled batch -> their mean over the s draws, [B]."""
        return {k: tf.reduce_mean(tf.reshape(v, [s, -1]), axis=0) for k, v in terms.items()}

    def compute_objective(self, x, y=None, training=False):
        """(loss, per-example terms) of the ADGM / SDGM objective; y = -1 marks unlabeled."""
        seed_a, seed_z = tf.unstack(tf.random.experimental.stateless_split(
            self._stateless_seed(), 2))
        xs, ys = self._tiled(x, y, self.num_samples)
        a, log_qa = self._draw_auxiliary(xs, seed_a)
        log_qy = tf.nn.log_softmax(self.classifier_logits(xs, training=training, a=a))
        bounds = self.class_bounds(xs, seed_z, a=a, log_qa=log_qa)
        loss, terms = self._semi_supervised_objective(log_qy, bounds, ys, training)
        return loss, self._sample_mean(terms, self.num_samples)

    def _terms(self, x, y, num_samples, seed):
        """The conditional bound on log p(x|y) per example (``elbo(x)``, evaluation): one
        (a, z) per sample, ``num_samples`` averaged."""
        if y is None:
            self._condition_features(None)  # the error naming the missing labels
        xs, ys = self._tiled(x, tf.cast(y, tf.int32), num_samples)
        seed_a, seed_z = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        a, log_qa = self._draw_auxiliary(xs, seed_a)
        log_px, rate, _ = self._labeled_terms(xs, ys, a, log_qa, seed_z)
        t = self._sample_mean({"elbo": log_px - rate, "rate": rate, "distortion": -log_px},
                              num_samples)
        return t, self.encode(x, y), self.prior(y)

    def joint_log_weights(self, x, y, seed):
        """One importance log weight per example, [B]: log p(x, a, z | y) - log q(a, z | x, y)
        with a ~ q(a|x), z ~ q(z|a,y,x); logmeanexp over draws estimates log p(x|y)."""
        seed_a, seed_z = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        y = tf.cast(tf.reshape(y, [-1]), tf.int32)
        a, log_qa = self._draw_auxiliary(x, seed_a)
        return self._labeled_terms(x, y, a, log_qa, seed_z)[2]

    # ------------------------------------------------------------------ config
    def get_config(self):
        return {**super().get_config(), "variant": self.variant,
                "auxiliary_dim": self.auxiliary_dim,
                "auxiliary_hidden_units": list(self.auxiliary_hidden_units),
                "prediction_samples": self.prediction_samples}
