r"""The VampPrior: a mixture of the encoder's posteriors at learned pseudo-inputs.

Tomczak & Welling (2018), "VAE with a VampPrior", AISTATS, eq. (9):

    p_lambda(z) = (1/K) sum_{k=1}^K q_phi(z | u_k)

with K pseudo-inputs u_k in image space, learned with the model by
maximizing the ELBO. The prior thus shares the encoder q_phi, and it is the
approximation of the optimal prior, the aggregate posterior
(1/N) sum_n q(z|x_n), with K << N "virtual" inputs.

The pseudo-inputs live where the encoder's inputs live (pixels in [0, 1]):
u_k = sigmoid(w_k), w_k a free [H, W, C] tensor per component (the paper uses
a hard tanh clipped to [0, 1]; the sigmoid keeps gradients everywhere).

There is no closed-form KL(q(z|x) || p(z)), so the rate is the Monte-Carlo
estimate E_q[log q(z|x) - log p(z)] (``vaezoo.objectives.terms``).
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from vaezoo.priors.base import Prior
from vaezoo.validation import check_positive_int

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="vaezoo")
class VampPrior(Prior):
    """Variational mixture of posteriors prior with ``num_components`` pseudo-inputs.

    Args:
      latent_dim: size of z.
      num_components: K, the number of pseudo-inputs (Tomczak & Welling use 500
        on MNIST).
      init_stddev: standard deviation of the normal initialization of the
        pseudo-inputs' logits (mean 0, i.e. gray images around 0.5).

    The model passes its encoder (x -> q(z|x)) as ``encoder=`` to
    ``distribution``; the image shape comes from ``build(image_shape)``,
    which the model calls when it is built.

    Example:
      >>> vaezoo.MLPVAE(latent_dim=50, prior="vamp", prior_kwargs={"num_components": 500},
      ...               likelihood="bernoulli", binarization="static")

    Reference:
      Tomczak & Welling, "VAE with a VampPrior", AISTATS 2018.
    """

    def __init__(self, latent_dim, num_components=500, init_stddev=0.5, **kwargs):
        super().__init__(latent_dim, **kwargs)
        num_components = check_positive_int("num_components", num_components, 500)
        if not isinstance(init_stddev, (int, float)) or init_stddev < 0:
            raise ValueError(f"init_stddev must be a number >= 0; got {init_stddev!r}")
        self.num_components = num_components
        self.init_stddev = float(init_stddev)
        self.image_shape = None

    def build(self, image_shape=None):
        if image_shape is None or len(tuple(image_shape)) != 3:
            raise ValueError(
                "VampPrior needs the image shape (height, width, channels) to create its "
                f"pseudo-inputs; got {image_shape!r}. Use it inside a vaezoo model, which "
                "calls build(image_shape), or call prior.build((28, 28, 1)) yourself.")
        self.image_shape = tuple(int(d) for d in image_shape)
        self.pseudo_input_logits = self.add_weight(
            name="pseudo_input_logits", shape=(self.num_components,) + self.image_shape,
            initializer=keras.initializers.RandomNormal(stddev=self.init_stddev))
        self.built = True

    def pseudo_inputs(self):
        """The K pseudo-inputs u_k in [0, 1], a [K, H, W, C] tensor."""
        return tf.sigmoid(tf.convert_to_tensor(self.pseudo_input_logits))

    def distribution(self, y=None, encoder=None):
        if encoder is None:
            raise ValueError(
                "VampPrior.distribution needs encoder= (the model's x -> q(z|x) callable): "
                "p(z) = mean_k q(z|u_k) is defined through the encoder. vaezoo models pass "
                "it in model.prior().")
        if not self.built:
            raise ValueError("VampPrior is not built: call build(image_shape) first")
        components = encoder(self.pseudo_inputs())  # batch [K], event [D]
        mixture = tfd.Categorical(logits=tf.zeros([self.num_components]))
        return tfd.MixtureSameFamily(mixture, components)

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components,
                "init_stddev": self.init_stddev}
