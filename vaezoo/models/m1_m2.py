r"""M1+M2 (Kingma, Rezende, Mohamed & Welling 2014, section 3.2.3): M2 on M1's latent space.

M1 is a VAE (here ``vaezoo.MLPVAE``) trained on all images, labeled or not; its
approximate posterior means z1 = E_{q(z1|x)}[z1] are new features. M2
(``vaezoo.SemiSupervisedVAE``) then models those features with a Gaussian
likelihood p(z1|y, z2), a classifier q(y|z1) and an encoder q(z2|z1, y):

    x  --M1 encoder-->  z1 = mean of q(z1|x)  --M2-->  q(y|z1), q(z2|z1,y), p(z1|y,z2)

M1 models the gray levels (``train_m1`` default: a Gaussian likelihood with a
learned standard deviation per pixel, no binarization), so the features keep
what binarization would lose. The features enter M2 as they are, as
"images" of shape (1, 1, D): M2 is built with ``feature_inputs=True`` (real,
unbounded values, a Gaussian likelihood, no [0, 1] check). For an M2 built
with ``feature_inputs=False`` (the earlier recipe), the features are mapped
into (0, 1) by the standard normal CDF, the probability integral transform
under M1's prior: f(x) = Phi(E_{q(z1|x)}[z1]).

Classification is
argmax q(y | f(x)). Use ``train_m1_m2`` to run the whole recipe:

    >>> x, y = vaezoo.data.semi_supervised_split(
    ...     vaezoo.data.load_arrays("fashion_mnist", "train"), num_labels=100, seed=0)
    >>> model = train_m1_m2(x, y, m1_epochs=10, m2_epochs=30)
    >>> probabilities = model.classify(test_images)      # [N, 10]

Batches: with 100 labels among 60 000 images a random batch holds almost no
labeled example, so ``mixed_batches`` builds each batch from ``labeled_per_batch``
labeled examples (cycled, reshuffled) and unlabeled ones; one epoch is one
pass over the unlabeled examples. It is ``vaezoo.data.mixed_batches`` (the
helper ``vaezoo train`` uses for ``[data] labeled_batch_size``) on arrays.
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from vaezoo.models.mlp_vae import MLPVAE
from vaezoo.models.semi_supervised_vae import SemiSupervisedVAE


def _to_unit_interval(z):
    """The standard normal CDF, elementwise: features in (0, 1)."""
    return 0.5 * (1.0 + tf.math.erf(z / np.sqrt(2.0)))


def mixed_batches(images, labels, batch_size=128, labeled_per_batch=32, seed=0):
    """A tf.data.Dataset of (images, labels) batches mixing labeled and unlabeled examples.

    Args:
      images: array [N, ...].
      labels: int array [N], -1 for unlabeled examples.
      batch_size: examples per batch.
      labeled_per_batch: how many of them are labeled (drawn cyclically from the
        labeled examples, reshuffled at every pass).
      seed: shuffling seed.

    Returns:
      a dataset of ``(images [batch_size, ...], labels [batch_size])``; its length
      is one pass over the unlabeled examples.
    """
    from vaezoo import data  # the one implementation, on a tf.data.Dataset

    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels")
    if not 0 < labeled_per_batch < batch_size:
        raise ValueError(f"labeled_per_batch must be in [1, batch_size - 1] = "
                         f"[1, {batch_size - 1}]; got {labeled_per_batch}")
    examples = tf.data.Dataset.from_tensor_slices((images, labels))
    return data.mixed_batches(examples, batch_size, labeled_per_batch, seed=seed).prefetch(
        tf.data.AUTOTUNE)


class M1M2:
    """M2 on the latent means of M1; classifies images with ``classify``.

    Args:
      m1: a trained ``MLPVAE`` (or any vaezoo VAE).
      m2: a ``SemiSupervisedVAE`` built for features of shape (1, 1, m1.latent_dim).
    """

    def __init__(self, m1, m2):
        if m2.image_shape is not None and tuple(m2.image_shape) != (1, 1, m1.latent_dim):
            raise ValueError(f"m2 must be built for M1's features, image_shape (1, 1, "
                             f"{m1.latent_dim}); got {m2.image_shape}")
        self.m1, self.m2 = m1, m2

    def features(self, images, batch_size=1000, stddev=False):
        """M1's posterior means of ``images`` (any M1 input format), [N, 1, 1, D] numpy.

        Mapped into (0, 1) by Phi unless M2 takes unbounded features (``feature_inputs``).
        With ``stddev=True`` (unbounded features only), also the posterior standard
        deviations: ``(means, stddevs)``, for sampling z1 ~ q(z1|x) while M2 trains.
        """
        squash = not getattr(self.m2, "feature_inputs", False)
        if stddev and squash:
            raise ValueError("sampled M1 features need an M2 with feature_inputs=True")
        means, stddevs = [], []
        for start in range(0, len(images), batch_size):
            x, _ = self.m1.preprocess(images[start:start + batch_size])
            q = self.m1.encode(x)
            means.append((_to_unit_interval(q.mean()) if squash else q.mean()).numpy())
            if stddev:
                stddevs.append(q.stddev().numpy())
        means = np.concatenate(means)[:, None, None, :]
        return (means, np.concatenate(stddevs)[:, None, None, :]) if stddev else means

    def preprocess(self, batch, training=False):
        """M1's input handling: a batch -> (images on M1's support, labels or None).

        With ``classify`` this is the interface ``vaezoo.evaluation.classification_accuracy``
        uses.
        """
        return self.m1.preprocess(batch, training=training)

    def classify(self, images):
        """q(y | z1(x)): class probabilities [N, num_classes]."""
        images = images if not tf.is_tensor(images) else images.numpy()
        return self.m2.classify(self.features(images))  # (binarizing twice changes nothing)

    def save(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.m1.save(os.path.join(directory, "m1.keras"))
        self.m2.save(os.path.join(directory, "m2.keras"))
        with open(os.path.join(directory, "m1_m2.json"), "w") as f:
            json.dump({"format": "vaezoo.M1M2", "version": 1}, f)

    @classmethod
    def load(cls, directory):
        return cls(keras.models.load_model(os.path.join(directory, "m1.keras")),
                   keras.models.load_model(os.path.join(directory, "m2.keras")))


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
                validation=None, patience=5, seed=0, m1_features="mean", verbose=0):
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
        q(y|z1) on the few labels; ``benchmarks/semi_supervised.py`` trains one M2 per
        alpha in {50, 100, 200} and keeps the best on a validation split.
      batch_size, labeled_per_batch: batch composition (see ``mixed_batches``).
      learning_rate: Adam learning rate of both stages.
      validation: optional labeled (images, labels) for early stopping of M2 on
        validation accuracy (best weights restored).
      patience: epochs without improvement before stopping.
      seed: seed of shuffling and of the models' sampling.
      m1_features: what M2 trains on: ``"mean"``, the posterior means E_{q(z1|x)}[z1]
        (fixed features), or ``"sample"``, a fresh z1 ~ q(z1|x) = N(mu(x), sigma(x)^2)
        for every example at every epoch (M1's posterior as data augmentation). M2
        classifies (and is validated) on the means either way.
      verbose: Keras verbosity.

    Returns:
      an ``M1M2`` with ``classify(images)``.
    """
    if m1_features not in ("mean", "sample"):  # before any training
        raise ValueError(f"m1_features must be 'mean' or 'sample'; got {m1_features!r}")
    keras.utils.set_random_seed(seed)
    if m1 is None:
        m1 = train_m1(images, epochs=m1_epochs, batch_size=batch_size,
                      learning_rate=learning_rate, seed=seed, verbose=verbose, **(m1_kwargs or {}))
    recipe = M1M2(m1, SemiSupervisedVAE(**{
        "num_classes": int(np.max(labels)) + 1, "latent_dim": 10, "hidden_units": (500,),
        "classifier_hidden_units": (500, 500), "classifier_dropout": 0.5,
        "likelihood": "gaussian_pixelwise", "alpha": 100.0,
        "feature_inputs": True, "binarization": None,
        "likelihood_kwargs": {"scale": 1.0}, "image_shape": (1, 1, m1.latent_dim), "seed": seed,
        **(m2_kwargs or {})}))
    if m1_features == "sample":
        mean, std = recipe.features(images, stddev=True)
        batches = mixed_batches(np.concatenate([mean, std], -1), labels, batch_size,
                                labeled_per_batch, seed)
        dim = mean.shape[-1]
        draws = tf.random.Generator.from_seed(seed)

        def sample(x, y):  # z1 = mu + sigma * eps, a new eps at every pass
            return x[..., :dim] + x[..., dim:] * draws.normal(tf.shape(x[..., :dim])), y

        batches = batches.map(sample)
    else:
        batches = mixed_batches(recipe.features(images), labels, batch_size,
                                labeled_per_batch, seed)
    recipe.m2.compile(optimizer=keras.optimizers.Adam(learning_rate))
    callbacks, val = [], None
    if validation is not None:
        val = (recipe.features(validation[0]), np.asarray(validation[1]).astype(np.int64))
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=patience, restore_best_weights=True))
    recipe.m2.fit(batches, validation_data=val, validation_batch_size=1000, epochs=m2_epochs,
                  callbacks=callbacks, verbose=verbose)
    return recipe
