r"""M1+M2 (Kingma, Rezende, Mohamed & Welling 2014, section 3.2.3): M2 on M1's latent space.

Stage 1, M1: a VAE (``vaezoo.MLPVAE``) trained on all images, labeled or not, by
the ELBO

    log p(x) >= E_{q(z1|x)}[log p(x|z1)] - KL(q(z1|x) || p(z1)),   p(z1) = N(0, I).

Stage 2, M2: a ``vaezoo.SemiSupervisedVAE`` trained on M1's features
f(x) = E_{q(z1|x)}[z1] in place of the images, i.e. with a likelihood
p(z1|y, z2), an encoder q(z2|z1, y) and a classifier q(y|z1), by M2's objective
(the labeled bound L(z1, y), the unlabeled bound U(z1) with y summed out, and
alpha * -log q(y|z1) on the labels; derived in ``vaezoo.models.semi_supervised_vae``):

    x  --M1 encoder-->  z1 = E_{q(z1|x)}[z1]  --M2-->  q(y|z1), q(z2|z1,y), p(z1|y,z2)

The classifier of the whole is argmax_y q(y | f(x)).

The features enter M2 as "images" of shape (1, 1, D). With
``feature_inputs=True`` (the default of ``train_m1_m2``) M2 takes them as
unbounded reals under a Gaussian likelihood. With ``feature_inputs=False`` they
are first mapped into (0, 1) by the standard normal CDF, the probability
integral transform under M1's prior: f(x) = Phi(E_{q(z1|x)}[z1]).

With ``m1_features="sample"`` M2 trains on a fresh draw
z1 = mu(x) + sigma(x) * eps, eps ~ N(0, I), from q(z1|x) at every pass (M1's
posterior as data augmentation) and still classifies on the means.

Batches of M2: with 100 labels among 60,000 images a random batch holds almost
no labeled example, so each batch holds ``labeled_per_batch`` labeled examples
and the rest unlabeled ones (``vaezoo.data.mixed_batches``).

The result, ``M1M2``, is a Keras model holding both stages: ``model.save(
"m1m2.keras")`` and ``keras.models.load_model("m1m2.keras")`` round-trip it.

Example:
    >>> x, y = vaezoo.data.semi_supervised_split(
    ...     vaezoo.data.load_arrays("fashion_mnist", "train"), num_labels=100, seed=0)
    >>> model = train_m1_m2(x, y, m1_epochs=10, m2_epochs=30)
    >>> probabilities = model.classify(test_images)      # [N, 10]
    >>> model.save("m1m2.keras")

Reference:
  D. P. Kingma, D. J. Rezende, S. Mohamed, M. Welling. Semi-Supervised Learning
  with Deep Generative Models. NeurIPS 2014.
"""

import keras
import numpy as np
import tensorflow as tf

from vaezoo import data
from vaezoo.models.mlp_vae import MLPVAE
from vaezoo.models.semi_supervised_vae import SemiSupervisedVAE


def _to_unit_interval(z):
    """The standard normal CDF, elementwise: features in (0, 1)."""
    return 0.5 * (1.0 + tf.math.erf(z / np.sqrt(2.0)))


@keras.saving.register_keras_serializable(package="vaezoo")
class M1M2(keras.Model):
    """M2 on the latent means of M1; ``classify(images)`` gives q(y | f(x)).

    Calling the model (and so ``predict``) returns the class probabilities too.

    With ``ensemble`` (more second stages trained on the same features, e.g. one per
    classification weight), q(y | f(x)) is the mean of their class probabilities and
    ``m2``'s: (1/M) sum_m q_m(y | f(x)).

    Args:
      m1: a trained ``MLPVAE`` (or any vaezoo VAE).
      m2: a ``SemiSupervisedVAE`` built for features of shape (1, 1, m1.latent_dim).
      ensemble: optional further second stages (as ``m2``) averaged with it.
      **kwargs: ``keras.Model`` arguments (``name``, ...).

    Example:
      >>> model = M1M2(m1, m2)
      >>> model.save("m1m2.keras")
      >>> keras.models.load_model("m1m2.keras").classify(images)   # [N, num_classes]
    """

    #: Classifies from the images alone (the label is its output, not an input).
    is_conditional = False

    def __init__(self, m1, m2, ensemble=(), **kwargs):
        super().__init__(**kwargs)
        for stage in (m2, *ensemble):
            if stage.image_shape is not None and tuple(stage.image_shape) != (
                    1, 1, m1.latent_dim):
                raise ValueError(f"m2 (and every ensemble member) must be built for M1's "
                                 f"features, image_shape (1, 1, {m1.latent_dim}); got "
                                 f"{stage.image_shape}")
        self.m1 = m1
        self.m2 = m2
        self.ensemble = list(ensemble)
        # No weights of its own: built once the stages are (they build from their configs).
        self.built = bool(m1.built and m2.built and all(e.built for e in self.ensemble))

    def _second_stage_probabilities(self, features):
        heads = [self.m2, *self.ensemble]
        return tf.add_n([head.classify(features) for head in heads]) / len(heads)

    def _squashed(self):
        return not getattr(self.m2, "feature_inputs", False)

    def _features_of(self, x):
        """f(x) [B, 1, 1, D] and q(z1|x) for a batch x on M1's support."""
        q = self.m1.encode(x)
        mean = _to_unit_interval(q.mean()) if self._squashed() else q.mean()
        return mean[:, None, None, :], q

    def features(self, images, batch_size=1000, stddev=False):
        """M1's posterior means of ``images`` (any M1 input format), [N, 1, 1, D] numpy.

        Mapped into (0, 1) by Phi unless M2 takes unbounded features (``feature_inputs``).
        With ``stddev=True`` (unbounded features only), also the posterior standard
        deviations: ``(means, stddevs)``, for sampling z1 ~ q(z1|x) while M2 trains.
        """
        if stddev and self._squashed():
            raise ValueError("sampled M1 features need an M2 with feature_inputs=True")
        means, stddevs = [], []
        for start in range(0, len(images), batch_size):
            x, _ = self.m1.preprocess(images[start:start + batch_size])
            mean, q = self._features_of(x)
            means.append(mean.numpy())
            if stddev:
                stddevs.append(q.stddev().numpy()[:, None, None, :])
        means = np.concatenate(means)
        return (means, np.concatenate(stddevs)) if stddev else means

    def preprocess(self, batch, training=False):
        """M1's input handling: a batch -> (images on M1's support, labels or None).

        With ``classify`` this is the interface ``vaezoo.evaluation.classification_accuracy``
        uses.
        """
        return self.m1.preprocess(batch, training=training)

    def classify(self, images):
        """q(y | f(x)): class probabilities [N, num_classes] (a tensor)."""
        images = images if not tf.is_tensor(images) else images.numpy()
        return self._second_stage_probabilities(self.features(images))

    def call(self, inputs, training=False):
        """q(y | f(x)) for a batch in any M1 input format: [B, num_classes]."""
        x, _ = self.m1.preprocess(inputs)
        return self._second_stage_probabilities(self._features_of(x)[0])

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "m1": keras.saving.serialize_keras_object(self.m1),
                "m2": keras.saving.serialize_keras_object(self.m2),
                "ensemble": [keras.saving.serialize_keras_object(e) for e in self.ensemble]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        m1 = keras.saving.deserialize_keras_object(config.pop("m1"))
        m2 = keras.saving.deserialize_keras_object(config.pop("m2"))
        ensemble = [keras.saving.deserialize_keras_object(e)
                    for e in config.pop("ensemble", [])]
        return cls(m1, m2, ensemble, **config)


def train_m1(images, *, epochs=10, batch_size=128, learning_rate=1e-3, seed=0, verbose=0,
             **m1_kwargs):
    """Stage 1: an ``MLPVAE`` trained on all ``images`` (labels are not used).

    Default 784-500-500-50 with a Gaussian likelihood on the gray levels (learned
    standard deviation per pixel, initially 0.1); ``likelihood="bernoulli",
    binarization="dynamic"`` gives the paper's binarized M1.
    """
    keras.utils.set_random_seed(seed)
    m1 = MLPVAE(**{"latent_dim": 50, "hidden_units": (500, 500),
                   "likelihood": "gaussian_pixelwise", "binarization": None,
                   "likelihood_kwargs": {"scale": 0.1}, "seed": seed, **m1_kwargs})
    m1.compile(optimizer=keras.optimizers.Adam(learning_rate))
    ds = tf.data.Dataset.from_tensor_slices(images).shuffle(len(images), seed=seed)
    m1.fit(ds.batch(batch_size), epochs=epochs, verbose=verbose)
    return m1


def train_m1_m2(images, labels, *, m1=None, m1_epochs=10, m2_epochs=30, m1_kwargs=None,
                m2_kwargs=None, batch_size=128, labeled_per_batch=32, learning_rate=1e-3,
                validation=None, patience=5, seed=0, m1_features="mean", m2_class=None,
                verbose=0):
    """The M1+M2 recipe end to end: train M1 on all images, then M2 on M1's features.

    Args:
      images: uint8 or float images [N, H, W, C].
      labels: int [N], -1 for unlabeled examples (``vaezoo.data.semi_supervised_split``).
      m1: an already trained M1 to reuse (then ``m1_epochs`` and ``m1_kwargs`` are unused).
      m1_epochs, m2_epochs: epochs of each stage.
      m1_kwargs: ``MLPVAE`` arguments (default: 784-500-500-50, Gaussian likelihood on
        gray levels with a learned per-pixel scale, see ``train_m1``).
      m2_kwargs: ``SemiSupervisedVAE`` arguments (default: unbounded feature inputs,
        ``feature_inputs=True``, Gaussian likelihood with a learned scale per feature
        (initially 1), hidden (500,), classifier 500-500 with dropout 0.5, z2 of size
        10, alpha 100). A small z2 leaves the class to y, and a large alpha keeps
        q(y|z1) on the few labels.
      batch_size, labeled_per_batch: batch composition (``vaezoo.data.mixed_batches``).
      learning_rate: Adam learning rate of both stages.
      validation: optional labeled (images, labels) for early stopping of M2 on
        validation accuracy (best weights restored).
      patience: epochs without improvement before stopping.
      seed: seed of shuffling and of the models' sampling.
      m1_features: what M2 trains on: ``"mean"``, the posterior means E_{q(z1|x)}[z1]
        (fixed features), or ``"sample"``, a fresh z1 ~ q(z1|x) = N(mu(x), sigma(x)^2)
        for every example at every epoch (M1's posterior as data augmentation). M2
        classifies (and is validated) on the means either way.
      m2_class: the second stage's family: ``SemiSupervisedVAE`` (default, M1+M2) or a
        subclass such as ``vaezoo.AuxiliaryDGM`` (M1+ADGM / M1+SDGM, its own arguments in
        ``m2_kwargs``).
      verbose: Keras verbosity.

    Returns:
      an ``M1M2`` (a Keras model) with ``classify(images)``.

    Example:
      >>> model = train_m1_m2(x, partial_labels, m1_epochs=30, validation=(xv, yv))
      >>> model.save("m1m2.keras")
    """
    if m1_features not in ("mean", "sample"):  # before any training
        raise ValueError(f"m1_features must be 'mean' or 'sample'; got {m1_features!r}")
    m2_class = SemiSupervisedVAE if m2_class is None else m2_class
    if not (isinstance(m2_class, type) and issubclass(m2_class, SemiSupervisedVAE)):
        raise ValueError(f"m2_class must be SemiSupervisedVAE or a subclass of it (e.g. "
                         f"vaezoo.AuxiliaryDGM); got {m2_class!r}")
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels")
    keras.utils.set_random_seed(seed)
    if m1 is None:
        m1 = train_m1(images, epochs=m1_epochs, batch_size=batch_size,
                      learning_rate=learning_rate, seed=seed, verbose=verbose, **(m1_kwargs or {}))
    recipe = M1M2(m1, m2_class(**{
        "num_classes": int(np.max(labels)) + 1, "latent_dim": 10, "hidden_units": (500,),
        "classifier_hidden_units": (500, 500), "classifier_dropout": 0.5,
        "likelihood": "gaussian_pixelwise", "alpha": 100.0,
        "feature_inputs": True, "binarization": None,
        "likelihood_kwargs": {"scale": 1.0}, "image_shape": (1, 1, m1.latent_dim), "seed": seed,
        **(m2_kwargs or {})}))
    if m1_features == "sample":
        mean, std = recipe.features(images, stddev=True)
        features = np.concatenate([mean, std], -1)   # both travel through the batching
    else:
        features = recipe.features(images)
    batches = data.mixed_batches(tf.data.Dataset.from_tensor_slices((features, labels)),
                                 batch_size, labeled_per_batch, seed=seed)
    if m1_features == "sample":
        dim = mean.shape[-1]
        draws = tf.random.Generator.from_seed(seed)

        def sample(x, y):  # z1 = mu + sigma * eps, a new eps at every pass
            return x[..., :dim] + x[..., dim:] * draws.normal(tf.shape(x[..., :dim])), y

        batches = batches.map(sample)
    batches = batches.prefetch(tf.data.AUTOTUNE)
    recipe.m2.compile(optimizer=keras.optimizers.Adam(learning_rate))
    callbacks, val = [], None
    if validation is not None:
        val = (recipe.features(validation[0]), np.asarray(validation[1]).astype(np.int64))
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=patience, restore_best_weights=True))
    recipe.m2.fit(batches, validation_data=val, validation_batch_size=1000, epochs=m2_epochs,
                  callbacks=callbacks, verbose=verbose)
    return recipe
