r"""Regularizers of the codes for disentangling and MMD autoencoders (the formulas, once).

Every function takes tensors (a batch of codes, the parameters of q(z|x)) and returns
scalars or per-example tensors; the families in ``vaezoo.models`` weight them.

Controlled capacity (Burgess et al. 2018, "Understanding disentangling in beta-VAE",
eq. 8): the rate is pulled towards a target C_t that grows linearly to C_max,

    loss = distortion + gamma * |KL(q(z|x) || p(z)) - C_t|,
    C_t  = C_max * min(1, t / T).

Total correlation by minibatch sampling (Chen et al. 2018, "Isolating sources of
disentanglement in VAEs", section 3 and appendix C). With q(z) = (1/N) sum_n q(z|x_n)
the aggregate posterior of N training examples, the KL of the ELBO splits as

    E_x KL(q(z|x) || p(z)) = I_q(x; z)                        index-code mutual information
                           + KL(q(z) || prod_d q(z_d))        total correlation (TC)
                           + sum_d KL(q(z_d) || p(z_d))       dimension-wise KL,

and log q(z_i) at a code z_i drawn from q(z|x_i) is estimated from the M codes of the
minibatch. Minibatch weighted sampling ("mws", eq. 3 and appendix C.1):

    log q(z_i) ~= logsumexp_j log q(z_i | x_j) - log(N M),

the same for each marginal q(z_id). Stratified ("mss"): the anchor x_i stands for itself
and the other M - 1 batch members for the other N - 1 examples (an unbiased estimate of
q(z_i) given a uniformly drawn batch; a variant of appendix C.2's stratification),

    q(z_i) ~= (1/N) q(z_i | x_i) + (N - 1) / (N (M - 1)) sum_{j != i} q(z_i | x_j).

DIP-VAE (Kumar et al. 2018, "Variational inference of disentangled latent concepts from
unlabeled observations", eqs. 6-9): with mu(x), Sigma(x) the mean and (diagonal)
covariance of q(z|x), the covariance of the codes is

    DIP-I:  C = Cov_x[mu(x)],       DIP-II:  C = E_x[Sigma(x)] + Cov_x[mu(x)],

penalized towards the identity:

    lambda_od * sum_{i != j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2.

Maximum mean discrepancy (Gretton et al. 2012) between codes z ~ q(z) (one per
example of the batch) and draws z' ~ p(z), the unbiased U-statistic

    MMD^2 = 1/(n(n-1)) sum_{i != j} k(z_i, z_j) + 1/(m(m-1)) sum_{i != j} k(z'_i, z'_j)
            - 2/(n m) sum_{i, j} k(z_i, z'_j),

with the inverse multiquadratic kernel k(a, b) = C / (C + ||a - b||^2) (Tolstikhin et al.
2018, section 4, with C = 2 D sigma_p^2 = 2 D for a standard-normal prior) or the
Gaussian kernel k(a, b) = exp(-||a - b||^2 / C) (Zhao et al. 2019); C is 2 D by default for
both, and ``kernel_scale`` sets it.
"""

import math

import tensorflow as tf

from vaezoo.registry import check_name

TC_ESTIMATORS = ("mws", "mss")
KERNELS = ("imq", "rbf")
DIP_TYPES = ("i", "ii")


def capacity(step, capacity_max, capacity_steps):
    """C_t = C_max * min(1, t / T) nats (C_max when T is 0), t = ``step``."""
    if not capacity_steps:
        return tf.constant(float(capacity_max), tf.float32)
    frac = tf.minimum(1.0, tf.cast(step, tf.float32) / float(capacity_steps))
    return float(capacity_max) * frac


def _log_normal(z, loc, scale):
    """Elementwise log N(z; loc, scale^2)."""
    return (-0.5 * tf.square((z - loc) / scale) - tf.math.log(scale)
            - 0.5 * math.log(2.0 * math.pi))


def pairwise_log_density(z, loc, scale):
    """log q(z_i,d | x_j) for every code i and every posterior j: [..., M, M, D].

    ``z`` [..., M, D] codes (leading sample axes allowed), ``loc`` / ``scale`` [M, D] the
    diagonal Gaussian q(z|x_j) of the M batch members."""
    return _log_normal(z[..., :, None, :], loc, scale)


def _log_marginal(log_q, dataset_size, estimator):
    """log q(z_i) from log q(z_i | x_j) [..., M, M, K] (i the code, j the posterior, K
    the joint (1) or the D dimensions): [..., M, K]."""
    size = tf.shape(log_q)[-2]
    m = tf.cast(size, tf.float32)
    n = float(dataset_size)
    if estimator == "mws":
        return tf.reduce_logsumexp(log_q, axis=-2) - tf.math.log(n * m)
    eye = tf.eye(size, dtype=tf.float32)
    # log weights: 1/N for the anchor (i = j), (N - 1) / (N (M - 1)) for the others.
    log_w = eye * (-math.log(n)) + (1.0 - eye) * (
        tf.math.log(n - 1.0) - math.log(n) - tf.math.log(tf.maximum(m - 1.0, 1.0)))
    return tf.reduce_logsumexp(log_q + log_w[:, :, None], axis=-2)


def kl_decomposition(z, loc, scale, log_q_z_given_x, log_p_z, dataset_size, estimator="mws"):
    """Per-code (mutual information, total correlation, dimension-wise KL), each [..., M].

    Chen et al. (2018): with log q(z) and log q(z_d) from the minibatch (``estimator``
    "mws" or "mss", see the module docstring),

        MI = log q(z|x) - log q(z),   TC = log q(z) - sum_d log q(z_d),
        dimension-wise KL = sum_d log q(z_d) - log p(z),

    whose sum is log q(z|x) - log p(z), the Monte-Carlo KL at z. ``z`` [..., M, D] codes
    drawn from the batch's q(z|x) with ``loc`` / ``scale`` [M, D]; ``log_q_z_given_x`` and
    ``log_p_z`` [..., M] their densities; ``dataset_size`` N, the number of training
    examples q(z) averages over.
    """
    check_name("tc_estimator", estimator, TC_ESTIMATORS)
    per_dim = pairwise_log_density(z, loc, scale)                       # [..., M, M, D]
    log_qz = _log_marginal(tf.reduce_sum(per_dim, axis=-1, keepdims=True), dataset_size,
                           estimator)[..., 0]
    log_marginals = tf.reduce_sum(_log_marginal(per_dim, dataset_size, estimator), axis=-1)
    return (log_q_z_given_x - log_qz, log_qz - log_marginals, log_marginals - log_p_z)


def codes_covariance(loc, scale=None):
    """Cov_x[mu(x)] over the batch ([D, D]); with ``scale``, + E_x[diag sigma(x)^2] (DIP-II)."""
    centred = loc - tf.reduce_mean(loc, axis=0, keepdims=True)
    n = tf.cast(tf.shape(loc)[0], tf.float32)
    # Broadcast products, not a matmul: the codes are few and the loss stays in float32
    # (the model's matmuls are its layers', in the dtype policy).
    cov = tf.reduce_sum(centred[:, :, None] * centred[:, None, :], axis=0) / n
    if scale is not None:
        cov = cov + tf.linalg.diag(tf.reduce_mean(tf.square(scale), axis=0))
    return cov


def dip_penalty(covariance, lambda_offdiagonal, lambda_diagonal):
    """lambda_od * sum_{i != j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2 (Kumar et al. 2018)."""
    diagonal = tf.linalg.diag_part(covariance)
    off = covariance - tf.linalg.diag(diagonal)
    return (lambda_offdiagonal * tf.reduce_sum(tf.square(off))
            + lambda_diagonal * tf.reduce_sum(tf.square(diagonal - 1.0)))


def kernel_matrix(a, b, kernel="imq", scale=None):
    """k(a_i, b_j) [n, m] for codes a [n, D], b [m, D]; ``scale`` C, default 2 D."""
    check_name("kernel", kernel, KERNELS)
    dims = a.shape[-1]
    c = float(scale) if scale is not None else 2.0 * float(dims)
    sq = tf.reduce_sum(tf.square(a[:, None, :] - b[None, :, :]), axis=-1)  # as in codes_covariance
    if kernel == "imq":
        return c / (c + sq)
    return tf.exp(-sq / c)


def mmd(codes, prior_draws, kernel="imq", scale=None):
    """The unbiased estimate of MMD^2 between ``codes`` [n, D] and ``prior_draws`` [m, D]."""
    k_qq = kernel_matrix(codes, codes, kernel, scale)
    k_pp = kernel_matrix(prior_draws, prior_draws, kernel, scale)
    k_qp = kernel_matrix(codes, prior_draws, kernel, scale)
    n = tf.cast(tf.shape(codes)[0], tf.float32)
    m = tf.cast(tf.shape(prior_draws)[0], tf.float32)
    off = lambda k, size: (tf.reduce_sum(k) - tf.linalg.trace(k)) / (size * (size - 1.0))
    return off(k_qq, n) + off(k_pp, m) - 2.0 * tf.reduce_mean(k_qp)
