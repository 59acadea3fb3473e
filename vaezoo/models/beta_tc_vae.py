r"""beta-TC-VAE (Chen et al. 2018, "Isolating sources of disentanglement in variational
autoencoders", NeurIPS, eq. 4).

The ELBO's KL, averaged over the data, splits into the index-code mutual information,
the total correlation of the aggregate posterior q(z) and the dimension-wise KL
(``vaezoo.regularizers.kl_decomposition``), and each part gets its own weight:

    loss = E_q[-log p(x|z)] + alpha * I_q(x; z) + beta * TC(q(z)) + gamma * sum_d KL(q(z_d) || p(z_d))

with alpha = gamma = 1 and beta > 1 (Chen et al. use beta = 6 on dSprites) penalizing
only the dependence between the code dimensions. log q(z) and log q(z_d) are estimated
from the minibatch by minibatch weighted sampling (``tc_estimator="mws"``, their eq. 3)
or by stratified sampling (``"mss"``), both over the ``dataset_size`` training examples
q(z) averages over. The three parts are reported per example as ``mutual_information``,
``total_correlation`` and ``dimension_kl``; they sum to the Monte-Carlo KL at z (the
reported ``rate`` is the closed-form KL of the ELBO). With a batch far smaller than the
data, minibatch weighted sampling sees mostly each code's own posterior, so its log q(z)
and each log q(z_d) sit near log q(.|x_i) - log(N M): the reported TC carries up to
(D - 1) log(N M) nats of that bias, and the dimension-wise KL the opposite. The offsets
are constants, so the gradients are those of the paper's estimator; compare the reported
values between runs of the same N and M, not as absolute nats.

Example:
  >>> model = vaezoo.BetaTCVAE(dataset_size=737_280, tc_weight=6.0, latent_dim=10,
  ...                          filters=(32, 32, 64, 64), kernel_size=4,
  ...                          likelihood="bernoulli", binarization="dynamic")
"""

import keras
import tensorflow as tf

from vaezoo import regularizers
from vaezoo import validation
from vaezoo.models.regularized_vae import RegularizedVAE, gaussian_parameters
from vaezoo.registry import check_name


@keras.saving.register_keras_serializable(package="vaezoo")
class BetaTCVAE(RegularizedVAE):
    """beta-TC-VAE: the KL's three parts weighted separately (module docstring).

    Args:
      dataset_size: N, the number of training examples (the estimator of q(z) needs it;
        737,280 for all of dSprites, 60,000 for Fashion-MNIST's train split).
      mi_weight: alpha, weight of the index-code mutual information.
      tc_weight: beta, weight of the total correlation.
      dimension_kl_weight: gamma, weight of the dimension-wise KL.
      tc_estimator: "mws" (minibatch weighted sampling) or "mss" (stratified).
      **kwargs: the ``ConvVAE`` arguments. ``warmup_steps`` scales the three weights
        from 0 together; ``beta`` (the KL weight of other families) and ``free_bits``
        are not taken: the weights above replace them.
    """

    EXTRA_METRICS = ("mutual_information", "total_correlation", "dimension_kl")
    FIXED_ARGUMENTS = {"beta": 1.0, "free_bits": 0.0, "posterior": "gaussian"}

    def __init__(self, dataset_size=None, mi_weight=1.0, tc_weight=6.0, dimension_kl_weight=1.0,
                 tc_estimator="mws", **kwargs):
        if dataset_size is None:
            raise ValueError(
                "BetaTCVAE needs dataset_size=, the number of training examples N that the "
                "aggregate posterior q(z) averages over (its minibatch estimator divides by "
                "it): e.g. 737280 for all of dSprites, 60000 for Fashion-MNIST's train split")
        self.dataset_size = validation.check_positive_int("dataset_size", dataset_size)
        self.mi_weight = validation.check_number("mi_weight", mi_weight)
        self.tc_weight = validation.check_number("tc_weight", tc_weight)
        self.dimension_kl_weight = validation.check_number("dimension_kl_weight",
                                                           dimension_kl_weight)
        self.tc_estimator = check_name("tc_estimator", tc_estimator, regularizers.TC_ESTIMATORS)
        super().__init__(**kwargs)

    def _fixed_argument_reason(self, key):
        if key == "posterior":
            return super()._fixed_argument_reason(key)
        return ("its KL's parts are weighted by mi_weight (alpha), tc_weight (beta) and "
                "dimension_kl_weight (gamma) of Chen et al. (2018).")

    def _regularized_loss(self, x, q, p, z, t, training):
        loc, scale = gaussian_parameters(q, "BetaTCVAE")
        mi, tc, dim_kl = regularizers.kl_decomposition(
            z, loc, scale, q.log_prob(z), p.log_prob(z), self.dataset_size, self.tc_estimator)
        mi, tc, dim_kl = (tf.reduce_mean(v, axis=0) for v in (mi, tc, dim_kl))  # over samples
        anneal = self.current_beta(training, beta=1.0)
        regularizer = (self.mi_weight * mi + self.tc_weight * tc
                       + self.dimension_kl_weight * dim_kl)
        loss = tf.reduce_mean(t["distortion"]) + anneal * tf.reduce_mean(regularizer)
        return loss, {"mutual_information": mi, "total_correlation": tc, "dimension_kl": dim_kl}

    def get_config(self):
        return {**super().get_config(), "dataset_size": self.dataset_size,
                "mi_weight": self.mi_weight, "tc_weight": self.tc_weight,
                "dimension_kl_weight": self.dimension_kl_weight,
                "tc_estimator": self.tc_estimator}
