r"""The Wasserstein autoencoder with the MMD penalty, WAE-MMD (Tolstikhin, Bousquet, Gelly &
Schölkopf 2018, "Wasserstein auto-encoders", ICLR, eq. 4 and Algorithm 2).

WAE minimizes a reconstruction cost plus a divergence between the aggregate posterior
q(z) and the prior, with no per-example KL:

    loss = E_q[c(x, G(z))] + lambda * MMD^2(q(z), p(z)),

here with the cost c the model's negative log-likelihood -log p(x|z) (for a Gaussian
likelihood of fixed sigma, the squared error of the paper up to scale and a constant)
and the paper's inverse-multiquadratic kernel with C = 2 D (Tolstikhin et al. use lambda
= 10 on MNIST with the squared error). The encoder is the Gaussian q(z|x) of the other
families (the paper allows random encoders), so the ELBO and likelihood estimates
remain defined; WAE is InfoVAE with alpha = 1 (``vaezoo.InfoVAE``).

Example:
  >>> model = vaezoo.WAE(mmd_weight=100.0, latent_dim=8, likelihood="bernoulli",
  ...                    binarization="dynamic")
"""

import keras

from vaezoo import validation
from vaezoo.models.info_vae import InfoVAE


@keras.saving.register_keras_serializable(package="vaezoo")
class WAE(InfoVAE):
    """WAE-MMD: reconstruction plus lambda MMD^2 (module docstring).

    Args:
      mmd_weight: lambda, the weight of the MMD^2 penalty.
      kernel, kernel_scale: as for ``InfoVAE``.
      **kwargs: the ``ConvVAE`` arguments (no beta, warm-up or free bits: there is no KL).
    """

    def __init__(self, mmd_weight=100.0, kernel="imq", kernel_scale=None, **kwargs):
        for key in ("alpha", "info_lambda"):
            if key in kwargs:
                raise ValueError(f"WAE is InfoVAE with alpha=1 and lambda=mmd_weight; it takes "
                                 f"no {key} (got {kwargs[key]!r}). Use InfoVAE for other alphas.")
        self.mmd_weight = validation.check_number("mmd_weight", mmd_weight)
        super().__init__(alpha=1.0, info_lambda=self.mmd_weight, kernel=kernel,
                         kernel_scale=kernel_scale, **kwargs)

    def _fixed_argument_reason(self, key):
        return "WAE's loss has no KL term (Tolstikhin et al. 2018)."

    def get_config(self):
        config = super().get_config()
        config.pop("alpha"), config.pop("info_lambda")
        return {**config, "mmd_weight": self.mmd_weight}
