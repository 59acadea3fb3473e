r"""beta-VAE (Higgins et al. 2017) and beta-VAE with a controlled capacity (Burgess et al. 2018).

beta-VAE ("beta-VAE: learning basic visual concepts with a constrained variational
framework", ICLR 2017, eq. 4) weights the ELBO's KL term:

    loss = E_q[-log p(x|z)] + beta * KL(q(z|x) || p(z)),     beta > 1 for disentangling

(Higgins et al. use beta = 4 on dSprites). With ``capacity_max`` set, the KL is instead
pulled towards a capacity C_t that grows linearly from 0 to C_max nats over
``capacity_steps`` steps (Burgess et al. 2018, "Understanding disentangling in
beta-VAE", eq. 8; gamma = 1000, C_max = 25 nats over 100,000 steps on dSprites):

    loss = E_q[-log p(x|z)] + gamma * |KL(q(z|x) || p(z)) - C_t|

with the KL averaged over the batch (``vaezoo.regularizers.capacity``). The reported
``capacity`` is C_t.

Example:
  >>> model = vaezoo.BetaVAE(beta=4.0, latent_dim=10, filters=(32, 32, 64, 64),
  ...                        kernel_size=4, likelihood="bernoulli", binarization="dynamic")
  >>> capacity = vaezoo.BetaVAE(capacity_max=25.0, capacity_steps=100_000, gamma=1000.0)
"""

import keras
import tensorflow as tf

from vaezoo import regularizers
from vaezoo import validation
from vaezoo.models.regularized_vae import RegularizedVAE


@keras.saving.register_keras_serializable(package="vaezoo")
class BetaVAE(RegularizedVAE):
    """beta-VAE, or with ``capacity_max`` the controlled-capacity objective (module docstring).

    Args:
      beta: weight of the KL term (default 4; None for 4, or for the capacity objective 1).
      capacity_max: C_max in nats; None (the default) for the plain beta-VAE.
      capacity_steps: T, the steps over which C_t grows from 0 to C_max.
      gamma: weight of |KL - C_t|.
      **kwargs: the ``ConvVAE`` arguments (filters, kernel_size, dense_units, latent_dim,
        likelihood, warmup_steps and free_bits for the plain beta-VAE, ...).
    """

    EXTRA_METRICS = ("capacity",)

    def __init__(self, beta=None, capacity_max=None, capacity_steps=100_000, gamma=1000.0,
                 **kwargs):
        self.capacity_max = (None if capacity_max is None
                             else validation.check_number("capacity_max", capacity_max))
        self.capacity_steps = int(validation.check_number("capacity_steps", capacity_steps))
        self.gamma = validation.check_number("gamma", gamma)
        if self.capacity_max is not None:
            if beta not in (None, 1, 1.0):
                raise ValueError(
                    f"BetaVAE(capacity_max={capacity_max!r}) minimizes gamma * |KL - C_t| "
                    f"(Burgess et al. 2018), which has no beta (got beta={beta!r}); weight it "
                    f"with gamma=, or leave capacity_max out for the beta-VAE objective.")
            for key in ("warmup_steps", "free_bits"):
                if kwargs.get(key):
                    raise ValueError(
                        f"BetaVAE(capacity_max=...) schedules the KL by its capacity C_t; it "
                        f"takes no {key} (got {kwargs[key]!r}). Use capacity_steps=.")
            beta = 1.0
        super().__init__(beta=4.0 if beta is None else beta, **kwargs)

    def _regularized_loss(self, x, q, p, z, t, training):
        if self.capacity_max is None:
            return self._elbo_loss(t, q, p, training), {}
        step = self._step(training)
        target = regularizers.capacity(self.capacity_steps if step is None else step,
                                       self.capacity_max, self.capacity_steps)
        loss = (tf.reduce_mean(t["distortion"])
                + self.gamma * tf.abs(tf.reduce_mean(t["rate"]) - target))
        return loss, {"capacity": target}

    def get_config(self):
        return {**super().get_config(), "capacity_max": self.capacity_max,
                "capacity_steps": self.capacity_steps, "gamma": self.gamma}
