"""A hand-written Keras 3 VAE, the way a keras.io reader would write it (no vaezoo).

This is the yardstick of ``benchmarks/throughput.py``: the same architecture as
``vaezoo.MLPVAE(latent_dim=50, hidden_units=(500, 500), likelihood="bernoulli")``
(Kingma & Welling 2014, an MLP 784-500-500-50 encoder to the mean and log-variance
of a diagonal Gaussian q(z|x), and the mirrored 50-500-500-784 decoder to
Bernoulli logits), trained with a custom ``train_step`` on the negative ELBO

    loss = sum_pixels BCE(x, logits) + KL(N(mu, sigma^2) || N(0, I))

with the closed-form KL ``-0.5 * sum(1 + log sigma^2 - mu^2 - sigma^2)``. It is
deliberately plain: a ``Sampling`` layer, two functional sub-models, three
metric trackers, and ``model.compile(optimizer=keras.optimizers.Adam())`` /
``model.fit(x, batch_size=128)`` with every other argument at its Keras
default, as in the keras.io "Variational AutoEncoder" example.

Run alone to train it and print its test ELBO::

    python benchmarks/reference_keras_vae.py --epochs 1
"""

import argparse

import common  # noqa: F401  (first: the environment TensorFlow starts in)
import keras
from keras import layers, ops


class Sampling(layers.Layer):
    """z = mu + exp(log_var / 2) * eps, eps ~ N(0, I)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


def make_encoder(latent_dim=50, hidden_units=(500, 500), image_shape=(28, 28, 1)):
    inputs = keras.Input(shape=image_shape)
    h = layers.Flatten()(inputs)
    for units in hidden_units:
        h = layers.Dense(units, activation="relu")(h)
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    z = Sampling()([z_mean, z_log_var])
    return keras.Model(inputs, [z_mean, z_log_var, z], name="encoder")


def make_decoder(latent_dim=50, hidden_units=(500, 500), image_shape=(28, 28, 1)):
    inputs = keras.Input(shape=(latent_dim,))
    h = inputs
    for units in reversed(hidden_units):
        h = layers.Dense(units, activation="relu")(h)
    n = image_shape[0] * image_shape[1] * image_shape[2]
    logits = layers.Reshape(image_shape)(layers.Dense(n)(h))
    return keras.Model(inputs, logits, name="decoder")


class ReferenceVAE(keras.Model):
    """The keras.io VAE recipe with a Bernoulli decoder on logits."""

    def __init__(self, latent_dim=50, hidden_units=(500, 500), image_shape=(28, 28, 1),
                 **kwargs):
        super().__init__(**kwargs)
        self.encoder = make_encoder(latent_dim, hidden_units, image_shape)
        self.decoder = make_decoder(latent_dim, hidden_units, image_shape)
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker,
                self.kl_loss_tracker]

    def vae_losses(self, data):
        z_mean, z_log_var, z = self.encoder(data)
        logits = self.decoder(z)
        reconstruction_loss = ops.mean(ops.sum(
            keras.losses.binary_crossentropy(data, logits, from_logits=True), axis=(1, 2)))
        kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
        return reconstruction_loss + kl_loss, reconstruction_loss, kl_loss

    def _record(self, total, reconstruction, kl):
        self.total_loss_tracker.update_state(total)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            total, reconstruction, kl = self.vae_losses(data)
        grads = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._record(total, reconstruction, kl)

    def test_step(self, data):
        return self._record(*self.vae_losses(data))

    def call(self, inputs):
        return self.decoder(self.encoder(inputs)[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args(argv)
    from vaezoo import data  # only to read the same statically binarized arrays

    x_train, _ = data.load_arrays("fashion_mnist", "train", binarization="static", seed=0)
    x_test, _ = data.load_arrays("fashion_mnist", "test", binarization="static", seed=0)
    model = ReferenceVAE()
    model.compile(optimizer=keras.optimizers.Adam())
    model.fit(x_train, epochs=args.epochs, batch_size=128)
    print("test -ELBO:", model.evaluate(x_test, batch_size=500, return_dict=True))


if __name__ == "__main__":
    main()
