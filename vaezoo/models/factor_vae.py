r"""FactorVAE (Kim & Mnih 2018, "Disentangling by factorising", ICML, eqs. 2-3 and Algorithm 2).

FactorVAE adds the total correlation of the aggregate posterior q(z) to the ELBO loss,

    loss_VAE = E_q[-log p(x|z)] + KL(q(z|x) || p(z)) + gamma * TC(q(z)),
    TC(q(z)) = KL(q(z) || q_bar(z)),   q_bar(z) = prod_d q(z_d),

and estimates the TC by the density-ratio trick: a discriminator D(z) tells codes of
q(z) (the batch's z ~ q(z|x)) from codes of q_bar(z) (the same codes with each
dimension permuted across the batch independently, their Algorithm 1), so that

    TC(q(z)) ~= E_{q(z)}[log D(z) / (1 - D(z))] = E_{q(z)}[logit D(z)].

The discriminator (an MLP on z; the paper's has 6 layers of 1000 leaky-ReLU units) is
trained with its own optimizer (the paper's Adam, learning rate 1e-4, beta_1 = 0.5,
beta_2 = 0.9) on the cross-entropy

    loss_D = -1/2 E_{q(z)}[log D(z)] - 1/2 E_{q_bar(z)}[log (1 - D(z))],

both updates in one ``train_step``: the VAE's optimizer on the encoder and decoder, the
discriminator's on the discriminator, from the same batch (the paper draws a second
batch for the permuted codes; this draws them from the same batch). The reported
``total_correlation`` is the estimate above; ``discriminator_loss`` and
``discriminator_accuracy`` monitor the discriminator.

Example:
  >>> model = vaezoo.FactorVAE(tc_weight=40.0, latent_dim=10, filters=(32, 32, 64, 64),
  ...                          kernel_size=4, likelihood="bernoulli", binarization="dynamic")
  >>> model.compile(optimizer=keras.optimizers.Adam(1e-4))   # the discriminator's: default
"""

import keras
import tensorflow as tf

from vaezoo import optimizers
from vaezoo import validation
from vaezoo.models.base import _scale_for_replicas
from vaezoo.models.precision import float32
from vaezoo.models.regularized_vae import RegularizedVAE


def _permute_dims(z, seed):
    """Each column of z [B, D] shuffled across the batch independently (Kim & Mnih, Alg. 1)."""
    order = tf.argsort(tf.random.stateless_uniform(tf.shape(z), seed=seed), axis=0)
    return tf.transpose(tf.gather(tf.transpose(z), tf.transpose(order), batch_dims=1))


def default_discriminator_optimizer():
    """Kim & Mnih's discriminator optimizer: Adam(1e-4, beta_1=0.5, beta_2=0.9)."""
    return keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9)


@keras.saving.register_keras_serializable(package="vaezoo")
class FactorVAE(RegularizedVAE):
    """FactorVAE: the ELBO plus gamma times a discriminator's TC estimate (module docstring).

    Args:
      tc_weight: gamma, the weight of the total correlation.
      discriminator_units: hidden layers of the discriminator D(z).
      discriminator_activation: their Keras activation.
      **kwargs: the ``ConvVAE`` arguments (beta, warm-up and free bits apply to the KL).

    ``compile`` takes ``discriminator_optimizer=`` besides Keras' arguments (default:
    ``default_discriminator_optimizer()``); it is saved and restored with the model.
    """

    EXTRA_METRICS = ("total_correlation", "discriminator_loss", "discriminator_accuracy")

    def __init__(self, tc_weight=40.0, discriminator_units=(1000,) * 6,
                 discriminator_activation="leaky_relu", **kwargs):
        self.tc_weight = validation.check_number("tc_weight", tc_weight)
        self.discriminator_units = validation.check_positive_ints(
            "discriminator_units", discriminator_units, (1000, 1000))
        self.discriminator_activation = discriminator_activation
        keras.activations.get(discriminator_activation)
        self.discriminator_optimizer = None
        super().__init__(**kwargs)

    def _build_for(self, image_shape):
        super()._build_for(image_shape)
        self.discriminator = keras.Sequential(
            [keras.layers.Dense(u, activation=self.discriminator_activation)
             for u in self.discriminator_units] + [keras.layers.Dense(1)], name="discriminator")
        self.discriminator.build((None, self.latent_dim))
        if self.discriminator_optimizer is not None:
            self._build_optimizers()

    def _build_optimizers(self):
        # Each optimizer on its own variables, built as soon as the model is, so that
        # Keras does not build the VAE's on the discriminator's variables too and a
        # checkpoint's state of both can load.
        if not self.optimizer.built:
            self.optimizer.build(self._vae_variables())
        if not self.discriminator_optimizer.built:
            self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def _vae_variables(self):
        """The variables of the VAE's optimizer: all but the discriminator's."""
        skip = {id(v) for v in self.discriminator.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in skip]

    def _discriminator_logits(self, z):
        return tf.squeeze(float32(self.discriminator(z)), axis=-1)

    def _regularized_loss(self, x, q, p, z, t, training):
        codes = z[0]
        joint = self._discriminator_logits(codes)
        tc = tf.reduce_mean(joint)
        loss = self._elbo_loss(t, q, p, training) + self.tc_weight * tc
        # One pass of D over the codes serves both losses: ``train_step`` differentiates
        # d_loss by the discriminator's variables only, which see the same gradient
        # whether or not the codes are stopped.
        fixed = tf.stop_gradient(codes)
        permuted = self._discriminator_logits(_permute_dims(fixed, self._stateless_seed()))
        d_loss = 0.5 * (tf.reduce_mean(tf.nn.softplus(-joint))
                        + tf.reduce_mean(tf.nn.softplus(permuted)))
        accuracy = 0.5 * (tf.reduce_mean(tf.cast(joint > 0, tf.float32))
                          + tf.reduce_mean(tf.cast(permuted < 0, tf.float32)))
        return loss, {"total_correlation": tc, "discriminator_loss": d_loss,
                      "discriminator_accuracy": accuracy}

    def train_step(self, data):
        x, y = self.preprocess(data, training=True)
        with tf.GradientTape(persistent=True) as tape:
            loss, t = self.compute_objective(x, y, training=True)
            scaled = self.optimizer.scale_loss(_scale_for_replicas(loss))
            d_scaled = self.discriminator_optimizer.scale_loss(
                _scale_for_replicas(t["discriminator_loss"]))
        variables = self._vae_variables()
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        d_variables = self.discriminator.trainable_variables
        self.discriminator_optimizer.apply_gradients(
            zip(tape.gradient(d_scaled, d_variables), d_variables))
        del tape
        return self._record(loss, t)

    def compile(self, optimizer="adam", *, discriminator_optimizer=None, **kwargs):
        """``VAE.compile``; ``discriminator_optimizer`` trains D(z) (default: Kim & Mnih's
        Adam(1e-4, beta_1=0.5, beta_2=0.9)); under "mixed_float16" it is wrapped in a
        ``keras.optimizers.LossScaleOptimizer`` like the VAE's."""
        super().compile(optimizer, **kwargs)
        given = discriminator_optimizer
        d_optimizer = keras.optimizers.get(optimizers.get(given)) if given is not None \
            else default_discriminator_optimizer()
        self._vaezoo_compile_args["discriminator_optimizer"] = keras.optimizers.serialize(
            d_optimizer)
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
                d_optimizer, keras.optimizers.LossScaleOptimizer):
            d_optimizer = keras.optimizers.LossScaleOptimizer(d_optimizer)
        self.discriminator_optimizer = d_optimizer
        if self.built:
            self._build_optimizers()

    def get_config(self):
        return {**super().get_config(), "tc_weight": self.tc_weight,
                "discriminator_units": list(self.discriminator_units),
                "discriminator_activation": self.discriminator_activation}
