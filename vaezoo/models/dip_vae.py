r"""DIP-VAE-I and DIP-VAE-II (Kumar, Sattigeri & Balakrishnan 2018, "Variational inference
of disentangled latent concepts from unlabeled observations", ICLR, eqs. 6-9).

DIP-VAE matches the moments of the aggregate posterior q(z) = E_x q(z|x) to those of
the factorized prior N(0, I): the ELBO loss plus a penalty on the covariance C of the
codes (``vaezoo.regularizers.dip_penalty``),

    loss = E_q[-log p(x|z)] + beta * KL(q(z|x) || p(z))
           + lambda_od * sum_{i != j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2,

    DIP-I:  C = Cov_x[mu(x)]                     (lambda_d = 10 lambda_od in the paper)
    DIP-II: C = E_x[diag sigma(x)^2] + Cov_x[mu(x)]   (lambda_d = lambda_od)

with mu(x), sigma(x) the mean and scale of q(z|x) and the moments taken over the
minibatch. The penalty is reported as ``dip``.

Example:
  >>> model = vaezoo.DIPVAE(dip_type="ii", lambda_offdiagonal=10.0, latent_dim=10,
  ...                       likelihood="bernoulli", binarization="dynamic")
"""

import keras

from vaezoo import regularizers
from vaezoo import validation
from vaezoo.models.regularized_vae import RegularizedVAE, gaussian_parameters
from vaezoo.registry import check_name

#: lambda_d / lambda_od when ``lambda_diagonal`` is not given (Kumar et al., section 3).
_DIAGONAL_RATIO = {"i": 10.0, "ii": 1.0}


@keras.saving.register_keras_serializable(package="vaezoo")
class DIPVAE(RegularizedVAE):
    """DIP-VAE: the ELBO plus a penalty on the codes' covariance (module docstring).

    Args:
      dip_type: "i" (covariance of the posterior means) or "ii" (the posterior's full
        covariance).
      lambda_offdiagonal: lambda_od, weight of the off-diagonal entries.
      lambda_diagonal: lambda_d, weight of the diagonal's distance to 1; None for the
        paper's choice (10 lambda_od for DIP-I, lambda_od for DIP-II).
      **kwargs: the ``ConvVAE`` arguments (beta, warm-up and free bits apply to the KL).
    """

    EXTRA_METRICS = ("dip",)
    FIXED_ARGUMENTS = {"posterior": "gaussian"}

    def __init__(self, dip_type="i", lambda_offdiagonal=10.0, lambda_diagonal=None, **kwargs):
        self.dip_type = check_name("dip_type", dip_type, regularizers.DIP_TYPES)
        self.lambda_offdiagonal = validation.check_number("lambda_offdiagonal",
                                                          lambda_offdiagonal)
        self.lambda_diagonal = (_DIAGONAL_RATIO[self.dip_type] * self.lambda_offdiagonal
                                if lambda_diagonal is None
                                else validation.check_number("lambda_diagonal", lambda_diagonal))
        super().__init__(**kwargs)

    def _regularized_loss(self, x, q, p, z, t, training):
        loc, scale = gaussian_parameters(q, "DIPVAE")
        covariance = regularizers.codes_covariance(loc, scale if self.dip_type == "ii" else None)
        penalty = regularizers.dip_penalty(covariance, self.lambda_offdiagonal,
                                           self.lambda_diagonal)
        return self._elbo_loss(t, q, p, training) + penalty, {"dip": penalty}

    def get_config(self):
        return {**super().get_config(), "dip_type": self.dip_type,
                "lambda_offdiagonal": self.lambda_offdiagonal,
                "lambda_diagonal": self.lambda_diagonal}
