r"""The M2 semi-supervised VAE of Kingma, Rezende, Mohamed & Welling (2014).

Generative model, with the class y either observed or latent:

    p(y) = Cat(1/K),  p(z) = N(0, I),  p(x|y,z)               ``model.decode(z, y)``

Inference model: a classifier q(y|x) (``model.classify``) and an encoder
q(z|x,y) (``model.encode(x, y)``).

Labeled example (x, y), the bound on log p(x, y) (paper eq. 6):

    L(x, y) = E_{q(z|x,y)}[log p(x|y,z)] + log p(y) - KL(q(z|x,y) || p(z))

Unlabeled example x, with y summed out exactly over the K classes (eq. 7):

    U(x) = sum_y q(y|x) L(x, y) + H(q(y|x))
         = E_{q(y|x)}[E_{q(z|x,y)} log p(x|y,z)] - E_{q(y|x)}[KL(q(z|x,y)||p(z))]
           - KL(q(y|x) || p(y))

Objective minimized on a batch of B examples mixing both (label -1 marks the
unlabeled ones; paper eq. 9 with the classification loss weighted by alpha):

    loss = (1/B) [ sum_labeled (-L(x, y) + alpha * (-log q(y|x))) + sum_unlabeled (-U(x)) ]

``L`` is computed for every class of every example in one pass over a batch
of K*B (x, k) pairs, so the sum over y is exact (no sampling of y). The
metrics: ``elbo`` = L or U per example, ``distortion`` = the expected
-log p(x|y,z), ``rate`` = the KL of q(y,z|x) from p(y)p(z) (KL_z + log K for a
labeled example, whose y is known), ``loss``, and ``accuracy`` of argmax
q(y|x) on the labeled examples of the batch.

Reference:
  D. P. Kingma, D. J. Rezende, S. Mohamed, M. Welling. Semi-Supervised Learning
  with Deep Generative Models. NeurIPS 2014.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from vaezoo import validation
from vaezoo.models.conditional_vae import ConditionalVAE

_FIXED = ("condition", "condition_shape", "conditional_prior", "prior_hidden_units",
          "prior_components")


@keras.saving.register_keras_serializable(package="vaezoo")
class SemiSupervisedVAE(ConditionalVAE):
    """M2: a classifier q(y|x), an encoder q(z|x,y) and a decoder p(x|y,z) (MLP trunks).

    Train it with one ``fit`` on data whose unlabeled examples carry label -1
    (``vaezoo.data.semi_supervised_split``); a batch without labels counts as
    unlabeled.

    Args:
      num_classes: K, the number of classes.
      alpha: weight of the classification loss -log q(y|x) on labeled examples
        (the paper uses 0.1 * N with sums over the data set; here terms are
        averaged per example, so values around 1-100 are typical).
      classifier_hidden_units: hidden layers of q(y|x).
      classifier_dropout: dropout rate after each hidden layer of q(y|x).
      hidden_units: hidden layers of the encoder; the decoder uses them reversed.
      activation: Keras activation of the hidden layers.
      feature_inputs: False (default) for images: float inputs must be in [0, 1]
        (uint8 is divided by 255). True for real-valued feature vectors (e.g.
        M1's latent means in M1+M2) given as float arrays of shape [N, 1, 1, D]:
        values are used as they are (only checked to be finite, uint8 is an
        error), which needs a Gaussian likelihood and ``binarization=None``.
      **kwargs: the base ``VAE`` arguments (latent_dim, likelihood, binarization,
        num_samples, beta, ...). The objective is the ELBO (no IWAE, no free bits).

    Example:
      >>> train = vaezoo.data.semi_supervised_split(
      ...     vaezoo.data.load("fashion_mnist", "train"), num_labels=100, seed=0)
      >>> model = vaezoo.SemiSupervisedVAE(num_classes=10, alpha=10.0,
      ...                                  likelihood="bernoulli", binarization="dynamic")
      >>> model.compile(optimizer="adam")
      >>> model.fit(train.shuffle(60000).batch(128), epochs=10)
      >>> probabilities = model.classify(test_images)        # [N, 10]

    Reference:
      Kingma, Rezende, Mohamed & Welling, "Semi-Supervised Learning with Deep
      Generative Models", NeurIPS 2014.
    """

    _allow_unlabeled = True

    def __init__(self, num_classes=10, alpha=1.0, classifier_hidden_units=(500,),
                 classifier_dropout=0.0, hidden_units=(500,), activation="relu",
                 feature_inputs=False, **kwargs):
        fixed = sorted(k for k in _FIXED if k in kwargs)
        if fixed:
            raise ValueError(f"SemiSupervisedVAE conditions on class labels with p(z) = N(0, I); "
                             f"it takes no {', '.join(fixed)}. Remove them.")
        if kwargs.get("objective", "elbo") != "elbo" or kwargs.get("free_bits", 0.0):
            raise ValueError("SemiSupervisedVAE trains on the M2 bound: objective must be 'elbo' "
                             "and free_bits 0; got objective="
                             f"{kwargs.get('objective', 'elbo')!r}, "
                             f"free_bits={kwargs.get('free_bits', 0.0)!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0:
            raise ValueError(f"alpha must be a number >= 0 (the weight of -log q(y|x) on labeled "
                             f"examples); got {alpha!r}")
        if not (isinstance(classifier_dropout, (int, float)) and 0 <= classifier_dropout < 1):
            raise ValueError(f"classifier_dropout must be in [0, 1); got {classifier_dropout!r}")
        self.alpha = float(alpha)
        self.classifier_hidden_units = validation.check_positive_ints(
            "classifier_hidden_units", classifier_hidden_units, (500, 500), allow_empty=True)
        self.classifier_dropout = float(classifier_dropout)
        if not isinstance(feature_inputs, bool):
            raise ValueError(f"feature_inputs must be True or False; got {feature_inputs!r}")
        if feature_inputs and (not str(kwargs.get("likelihood", "")).startswith("gaussian")
                               or kwargs.get("binarization") is not None):
            raise ValueError(
                "feature_inputs=True models unbounded real-valued features: it needs a Gaussian "
                "likelihood ('gaussian', 'gaussian_pixelwise' or 'gaussian_heteroscedastic') and "
                f"binarization=None; got likelihood={kwargs.get('likelihood')!r}, "
                f"binarization={kwargs.get('binarization')!r}. Set them, or feature_inputs=False "
                "for images in [0, 1].")
        self.feature_inputs = feature_inputs
        super().__init__(num_classes=num_classes, condition="label", hidden_units=hidden_units,
                         activation=activation, **kwargs)
        self._trackers.append(keras.metrics.Mean(name="accuracy"))

    # ------------------------------------------------------------------ building
    def _build_for(self, image_shape):
        super()._build_for(image_shape)
        layers = []
        for units in self.classifier_hidden_units:
            layers.append(keras.layers.Dense(units, activation=self.activation))
            if self.classifier_dropout:
                layers.append(keras.layers.Dropout(self.classifier_dropout))
        layers.append(keras.layers.Dense(self.num_classes))
        self.classifier = keras.Sequential(layers, name="classifier")
        self.classifier.build((None, self._classifier_input_size(image_shape)))

    def _classifier_input_size(self, image_shape):
        """Width of what q(y|.) sees: the flattened x here."""
        return math.prod(image_shape)

    # ------------------------------------------------------------------ feature inputs
    def _as_image_batch(self, images):
        if not self.feature_inputs:
            return super()._as_image_batch(images)
        x = tf.convert_to_tensor(images if tf.is_tensor(images) else np.asarray(images))
        if not x.dtype.is_floating:
            raise ValueError(f"feature_inputs=True takes float features; got dtype "
                             f"{x.dtype.name}. Give the real-valued features as float32.")
        x = tf.cast(x, tf.float32)
        if tf.executing_eagerly() and not bool(tf.reduce_all(tf.math.is_finite(x))):
            raise ValueError("the features contain NaN or Inf; every value must be finite")
        if x.shape.rank != 4:
            raise ValueError(f"features must have shape [batch, 1, 1, D]; got {tuple(x.shape)}")
        if self.image_shape is None:
            self.build(tuple(x.shape))
        if tuple(x.shape[1:]) != tuple(self.image_shape):
            raise ValueError(f"this model was built for features of shape {self.image_shape}; "
                             f"got {tuple(x.shape[1:])}")
        return x

    def _accepts_uint8(self):
        return not self.feature_inputs and super()._accepts_uint8()

    def _export_endpoints(self):
        """The base endpoints and ``classify(images)``: q(y|x), [N, num_classes]."""
        return super()._export_endpoints() + [
            ("classify", self.classify, [[spec] for spec in self._image_specs()])]

    # With feature_inputs the [0, 1] pixel checks of the VAE entry points are skipped
    # (the plain Keras ones run; shapes are checked by _as_image_batch in the step).
    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit``; images are checked unless ``feature_inputs``."""
        if self.feature_inputs:
            return keras.Model.fit(self, x, y, *args, **kwargs)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.evaluate``; images are checked unless ``feature_inputs``."""
        if self.feature_inputs:
            return keras.Model.evaluate(self, x, y, *args, **kwargs)
        return super().evaluate(x, y, *args, **kwargs)

    # ------------------------------------------------------------------ classifier
    def classifier_logits(self, x, training=False):
        """Logits of q(y|x), [B, num_classes], for a preprocessed batch x."""
        x = self._model_input(x)
        logits = self.classifier(tf.reshape(x, [tf.shape(x)[0], -1]), training=training)
        return tf.cast(logits, tf.float32)  # float32 under any dtype policy

    def classify(self, x):
        """q(y|x): class probabilities [N, num_classes] for a batch in any input format."""
        xs, _ = self.preprocess(x, training=False)
        return tf.nn.softmax(self.classifier_logits(xs))

    def _check_condition(self, condition, n):
        if condition is None:  # p(y) is uniform: draw the classes too
            seed = self._stateless_seed()
            return tf.random.stateless_uniform([n], seed, 0, self.num_classes, dtype=tf.int32)
        return super()._check_condition(condition, n)

    # ------------------------------------------------------------------ objective
    def class_bounds(self, x, seed=None):
        """Labeled bounds L(x, k) for every class k: [B, K] tensors (elbo, distortion, kl_z).

        One pass over the K*B pairs (x_i, k); ``seed`` is a stateless seed ([2] int).
        """
        k = self.num_classes
        batch = tf.shape(x)[0]
        x_rep = tf.reshape(tf.tile(x[None], [k, 1, 1, 1, 1]),
                           tf.concat([[k * batch], tf.shape(x)[1:]], axis=0))
        y_rep = tf.repeat(tf.range(k, dtype=tf.int32), batch)   # block j holds class j
        seed = self._stateless_seed() if seed is None else seed
        t = self._terms(x_rep, y_rep, self.num_samples, seed)[0]

        def per_class(v):
            return tf.transpose(tf.reshape(v, [k, batch]))

        distortion, kl_z = per_class(t["distortion"]), per_class(t["rate"])
        return {"elbo": -(distortion + kl_z) - math.log(k), "distortion": distortion,
                "kl_z": kl_z}

    def compute_objective(self, x, y=None, training=False):
        """(loss, per-example terms) of the M2 objective; y = -1 marks unlabeled examples."""
        log_qy = tf.nn.log_softmax(self.classifier_logits(x, training=training))
        return self._semi_supervised_objective(log_qy, self.class_bounds(x), y, training)

    def _semi_supervised_objective(self, log_qy, bounds, y, training):
        """The loss and terms of eq. 9 from log q(y|.) [B, K] and the per-class bounds
        (``class_bounds``: [B, K] ``distortion`` and ``kl_z``, the rate of the latents
        other than y); y = -1 (or None) marks unlabeled examples."""
        k = self.num_classes
        if y is None:
            y = -tf.ones([tf.shape(log_qy)[0]], tf.int32)
        y = tf.cast(y, tf.int32)
        qy = tf.exp(log_qy)
        labeled = y >= 0
        onehot = tf.one_hot(y, k)  # all zeros for y = -1
        weights = tf.where(labeled[:, None], onehot, qy)
        distortion = tf.reduce_sum(weights * bounds["distortion"], axis=-1)
        kl_y = tf.where(labeled, math.log(k), tf.reduce_sum(qy * (log_qy + math.log(k)), -1))
        rate = tf.reduce_sum(weights * bounds["kl_z"], axis=-1) + kl_y
        cross_entropy = -tf.reduce_sum(onehot * log_qy, axis=-1)
        mask = tf.cast(labeled, tf.float32)
        beta = self.current_beta(training)
        loss = tf.reduce_mean(distortion + beta * rate) \
            + self.alpha * tf.reduce_mean(mask * cross_entropy)
        if self.losses:
            loss = loss + tf.add_n(self.losses)
        correct = tf.cast(tf.equal(tf.argmax(log_qy, -1, output_type=tf.int32), y), tf.float32)
        terms = {"elbo": -(distortion + rate), "rate": rate, "distortion": distortion,
                 "accuracy": correct, "labeled": mask}
        return loss, terms

    def _record(self, loss, t):
        t = dict(t)
        correct, mask = t.pop("accuracy"), t.pop("labeled")
        values = {"loss": loss, **{k: tf.reduce_mean(v) for k, v in t.items()}}
        for tracker in self._trackers:
            if tracker.name == "accuracy":
                tracker.update_state(correct, sample_weight=mask)
            else:
                tracker.update_state(values[tracker.name])
        return {m.name: m.result() for m in self._trackers}

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        for key in _FIXED:
            config.pop(key, None)
        config.update(alpha=self.alpha, classifier_hidden_units=list(self.classifier_hidden_units),
                      classifier_dropout=self.classifier_dropout,
                      feature_inputs=self.feature_inputs)
        return config
