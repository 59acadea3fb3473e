r"""InfoVAE / MMD-VAE (Zhao, Song & Ermon 2019, "InfoVAE: balancing learning and inference
in variational autoencoders", AAAI, eq. 6).

InfoVAE reweights the ELBO's KL and adds a divergence between the aggregate posterior
q(z) = E_x q(z|x) and the prior, here the maximum mean discrepancy (the MMD-VAE):

    loss = E_q[-log p(x|z)] + (1 - alpha) * KL(q(z|x) || p(z))
           + (alpha + lambda - 1) * MMD^2(q(z), p(z)),

estimated on the batch's codes z ~ q(z|x) against as many draws of p(z)
(``vaezoo.regularizers.mmd``: the unbiased estimate, inverse-multiquadratic or
Gaussian kernel with scale C, 2 D by default). alpha = 1 drops the KL: the
Wasserstein autoencoder's penalty (``vaezoo.WAE``). The MMD^2 is reported as ``mmd``.

Example:
  >>> model = vaezoo.InfoVAE(alpha=0.0, info_lambda=1000.0, kernel="imq", latent_dim=10,
  ...                        likelihood="bernoulli", binarization="dynamic")
"""

import keras
import tensorflow as tf

from vaezoo import regularizers
from vaezoo import validation
from vaezoo.models.regularized_vae import RegularizedVAE
from vaezoo.registry import check_name


@keras.saving.register_keras_serializable(package="vaezoo")
class InfoVAE(RegularizedVAE):
    """InfoVAE with the MMD divergence (module docstring).

    Args:
      alpha: the KL's weight is 1 - alpha (alpha <= 1).
      info_lambda: lambda; the MMD's weight is alpha + lambda - 1 (must be >= 0).
      kernel: "imq" (inverse multiquadratic) or "rbf" (Gaussian).
      kernel_scale: C of the kernel; None for 2 * latent_dim.
      **kwargs: the ``ConvVAE`` arguments; ``beta``, ``warmup_steps`` and ``free_bits``
        are not taken (alpha sets the KL's weight).
    """

    EXTRA_METRICS = ("mmd",)
    FIXED_ARGUMENTS = {"beta": 1.0, "warmup_steps": 0, "free_bits": 0.0}

    def __init__(self, alpha=0.0, info_lambda=1000.0, kernel="imq", kernel_scale=None, **kwargs):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha > 1:
            raise ValueError(f"alpha must be a number <= 1 (the KL's weight is 1 - alpha); "
                             f"got {alpha!r}")
        if isinstance(info_lambda, bool) or not isinstance(info_lambda, (int, float)) \
                or alpha + info_lambda - 1 < 0:
            raise ValueError(f"info_lambda must be a number with alpha + info_lambda - 1 >= 0 "
                             f"(the MMD's weight); got info_lambda={info_lambda!r} with "
                             f"alpha={alpha!r}")
        self.alpha, self.info_lambda = float(alpha), float(info_lambda)
        self.kernel = check_name("kernel", kernel, regularizers.KERNELS)
        self.kernel_scale = (None if kernel_scale is None
                             else validation.check_number("kernel_scale", kernel_scale, 1e-12))
        super().__init__(**kwargs)

    def _fixed_argument_reason(self, key):
        return "the KL's weight is 1 - alpha (Zhao et al. 2019)."

    def _regularized_loss(self, x, q, p, z, t, training):
        codes = z[0]                                   # one code per example: z ~ q(z)
        draws = p.sample(tf.shape(codes)[0], seed=self._stateless_seed())
        divergence = regularizers.mmd(codes, draws, self.kernel, self.kernel_scale)
        loss = (tf.reduce_mean(t["distortion"]) + (1.0 - self.alpha) * tf.reduce_mean(t["rate"])
                + (self.alpha + self.info_lambda - 1.0) * divergence)
        return loss, {"mmd": divergence}

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "info_lambda": self.info_lambda,
                "kernel": self.kernel, "kernel_scale": self.kernel_scale}
