r"""Disentanglement metrics against a ground truth of known factors of variation.

A ground truth (dSprites, or a synthetic one) has ``K`` discrete factors
``v = (v_1..v_K)``, factor ``k`` taking ``factor_sizes[k]`` values, and renders
observations from them; a representation ``r(x) = z`` in ``R^D`` is scored by how
its dimensions line up with the factors. For a VAE, ``r`` is the posterior mean.

=============================  ====================================================
``beta_vae_score``             Higgins et al. 2017 (interventions)
``factor_vae_score``           Kim & Mnih 2018 (interventions)
``mig``                        mutual information gap, Chen et al. 2018
``sap``                        separated attribute predictability, Kumar et al. 2018
``dci``                        disentanglement / completeness / informativeness,
                               Eastwood & Williams 2018
``modularity_explicitness``    Ridgeway & Mozer 2018
``unsupervised_scores``        Gaussian total / Wasserstein correlation and the
                               mutual information among code dimensions
``evaluate``                   all of them, from one seed
``sample_codes``               the sample of (codes, factors) the codes-based take
``discretize``                 the equal-width binning of MIG and modularity
=============================  ====================================================

Interfaces
----------
``ground_truth``: ``factor_sizes`` (tuple of ints, e.g. ``(3, 6, 40, 32, 32)`` for
dSprites), optionally ``factor_names``, ``sample_factors(n, rng)`` -> int64
``[n, K]`` and ``sample_observations_from_factors(factors, rng)`` -> ``[n, ...]``,
with ``rng`` a ``np.random.Generator``. ``representation_fn(observations) ->
[n, D]`` codes; it is called on at most ``batch_size`` (500) observations at a
time, and the observations are generated in chunks of about 2,048, so memory is
bounded for any sample size. The codes-based metrics (MIG, SAP, DCI, modularity /
explicitness, unsupervised) take arrays: ``codes [N, D]`` and integer factor
indices ``factors [N, K]``, plus a test pair where the protocol has one.

Definitions
-----------
Entropies and mutual informations are empirical, in nats, over the sample.
``bin(z_d)`` is disentanglement_lib's ``_histogram_discretize``: ``num_bins``
equal-width bins between the minimum and the maximum of ``z_d``.

* **beta-VAE score** (Higgins et al., "beta-VAE: Learning Basic Visual Concepts
  with a Constrained Variational Framework", ICLR 2017). One point: a factor
  ``k ~ U{1..K}``, ``L`` pairs ``v^(l), w^(l) ~ p(v)`` with ``w^(l)_k = v^(l)_k``::

      f = (1/L) sum_l |r(x(v^(l))) - r(x(w^(l)))|        in R^D

  A logistic regression is trained to predict ``k`` from ``f`` on ``num_train``
  points; the score is its accuracy on ``num_eval`` fresh points.
* **FactorVAE score** (Kim & Mnih, "Disentangling by Factorising", ICML 2018).
  ``s_d`` = std of ``z_d`` over ``num_variance_estimate`` observations; dimensions
  with ``s_d < 0.05`` (collapsed to the prior) are pruned. One vote: ``k ~ U``,
  ``L`` samples sharing the first one's ``v_k``::

      d* = argmin_{d active} Var_l[z_d] / s_d^2,        vote (k, d*)

  The classifier is the majority vote ``d -> argmax_k votes_train[k, d]``; the
  score is the fraction of the ``num_eval`` evaluation votes it gets right.
* **MIG** (Chen et al., "Isolating Sources of Disentanglement in VAEs", NeurIPS
  2018). With ``I_dk = I(bin(z_d); v_k)`` and ``I_(1)k >= I_(2)k`` the two largest
  over ``d``::

      MIG = (1/K) sum_k (I_(1)k - I_(2)k) / H(v_k)

  With 20 bins a factor of more than 20 values loses information even in its own
  perfect code: ``H(bin(v_k)) / H(v_k)`` is 0.81 for 40 values and 0.85 for 32, so
  the factors themselves score about 0.90 on dSprites' factor sizes, not 1.
* **SAP** (Kumar et al., "Variational Inference of Disentangled Latent Concepts
  from Unlabeled Observations", ICLR 2018). ``S_dk`` = test accuracy of a
  classifier of ``v_k`` from ``z_d`` alone, trained on the training sample::

      SAP = (1/K) sum_k (S_(1)k - S_(2)k)

  The classifier is disentanglement_lib's (its ``continuous_factors=False``):
  ``LinearSVC(C=0.01, class_weight="balanced")`` on the raw code. A linear
  one-vs-rest classifier of one scalar gets right only the classes at the ends
  of the code's range, so a many-valued factor scores low even when coded
  perfectly: the factors themselves give SAP 0.23 on dSprites' sizes.
  ``classifier="thresholds"`` is the paper's description instead: thresholds fit
  on ``z_d`` (a 1-D decision tree with one leaf per class, balanced class
  weights) scored by balanced accuracy. The factors themselves then reach 0.88,
  the ceiling of an accuracy-based SAP, ``mean_k (1 - 1 / size_k)``: the
  runner-up dimension still guesses a factor at chance.
* **DCI** (Eastwood & Williams, "A Framework for the Quantitative Evaluation of
  Disentangled Representations", ICLR 2018). ``R_dk >= 0`` = importance of
  ``z_d`` in a classifier of ``v_k`` trained on all of ``z``
  (``GradientBoostingClassifier()``, scikit-learn's defaults: 100 trees of depth
  3), ``P_dk = R_dk / sum_k' R_dk'``, ``Q_dk = R_dk / sum_d' R_d'k``::

      disentanglement = sum_d rho_d (1 - H_K(P_d.)),   rho_d = sum_k R_dk / sum R
      completeness    = sum_k rho_k (1 - H_D(Q_.k)),   rho_k = sum_d R_dk / sum R

  ``H_K`` the entropy in base ``K`` (so each term is in [0, 1]).
  Informativeness is the classifiers' accuracy, averaged over factors, on the
  training and the test sample (disentanglement_lib reports accuracy where the
  paper reports error). Trees break ties between dimensions that split the
  sample alike by the column order, so permuting the code can move D and C by
  up to about 0.01 (0.004 measured on a code with an entangled dimension);
  every other codes-based score is invariant to a permutation up to float
  rounding.
* **Modularity and explicitness** (Ridgeway & Mozer, "Learning Deep Disentangled
  Embeddings with the F-Statistic Loss", NeurIPS 2018). With ``m_dk = I_dk`` as
  for MIG and ``theta_d = max_k m_dk``::

      modularity = mean_d [1 - sum_{k != argmax} m_dk^2 / (theta_d^2 (K - 1))]

  (0 for a dimension with ``theta_d = 0``). Explicitness: the codes standardized
  by the training sample's mean and std, one ``LogisticRegression()`` per factor
  on all of ``z``; the one-vs-rest ROC AUC of each class, averaged over the
  classes, then over the factors, on the training and the test sample.
* **Unsupervised scores** (disentanglement_lib's ``unsupervised_metrics``;
  Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning
  of Disentangled Representations", ICML 2019). ``S = Cov(z)`` (ddof 1) over the
  training sample, ``S_D = diag(S)``::

      gaussian_total_correlation       = KL(N(0, S) || N(0, S_D))
                                       = 1/2 (sum_d log S_dd - log det S)
      gaussian_wasserstein_correlation = W_2^2(N(0, S), N(0, S_D))
                                       = 2 tr S - 2 tr (S_D^1/2 S S_D^1/2)^1/2
      gaussian_wasserstein_correlation_norm = the same / tr S
      mutual_info_score                = mean_{d != d'} I(bin(z_d); bin(z_d'))

  Dimensions of zero variance (independent of everything) are left out of the
  two Gaussian scores, where they would give log 0.

Protocol defaults
-----------------
disentanglement_lib's ``config/unsupervised_study_v1/metric_configs/*.gin``, the
protocol of Locatello et al. 2019 (the papers' own sizes vary):

=====================  =====================================  ==  ====  =======================
metric                 points                                 L   bins  classifier
=====================  =====================================  ==  ====  =======================
beta-VAE               10,000 train / 5,000 eval points       64        ``LogisticRegression()``
FactorVAE              10,000 / 5,000 votes; 10,000 for s_d   64        majority vote; prune
                                                                        ``s_d < 0.05``
MIG                    10,000                                     20
SAP                    10,000 train / 5,000 test                        ``LinearSVC(C=0.01,
                                                                        class_weight=balanced)``
DCI                    10,000 train / 5,000 test                        ``GradientBoosting
                                                                        Classifier()``
modularity / explicit  10,000 train / 5,000 test                  20    ``LogisticRegression()``
unsupervised           10,000                                     20
=====================  =====================================  ==  ====  =======================

``L`` is ``group_size`` here (disentanglement_lib's ``batch_size``).

Differences from disentanglement_lib
------------------------------------
None in the protocol: the sizes, bins, classifiers and their settings above are
disentanglement_lib's. Where it gives no number, vaezoo gives one: the
explicitness AUC is averaged over the classes seen in training that occur in
the evaluated sample (disentanglement_lib fails when a class is missing from
one of the two samples), zero-variance dimensions are left out of the Gaussian
scores (NaN there), and ``factor_vae_num_active_dims`` counts the active
dimensions (disentanglement_lib's reports the code size). The numbers still
differ from a disentanglement_lib run by sampling noise: the random streams are
NumPy Generators drawn in vectorized chunks, and the classifiers are today's
scikit-learn (``LogisticRegression`` has been multinomial / lbfgs since 0.22,
where disentanglement_lib ran under liblinear one-vs-rest).

Cost
----
The gradient-boosted trees of DCI dominate ``evaluate``: one
``GradientBoostingClassifier`` fits ``100 x C`` trees for a ``C``-valued factor, so
dSprites' 40- and 32-valued factors cost the most. The beta-VAE and FactorVAE scores
call the representation function on about 1.92 and 0.97 million observations at the
protocol's sizes (10,000 / 5,000 groups of 64); MIG and the unsupervised scores are
histogram counts (``benchmarks/disentanglement.py`` records each model's scoring time).
``dci(..., importance="random_forest")`` is the fast option: 20 bagged trees of depth
<= 8 that see every code dimension at each split (``RandomForestClassifier(n_estimators=20, max_depth=8, max_features=None)``;
the feature subsampling of a default random forest would spread importance over
uninformative dimensions). It scores the constructed codes as the trees of the
protocol do (the factors 1.0, noise 0.00), but it is not the protocol: report
which one a number comes from.

Example:
  >>> from vaezoo.evaluation import disentanglement
  >>> scores = disentanglement.evaluate(dsprites, lambda x: model.encode(x).mean().numpy())
  >>> scores["mig"], scores["dci_disentanglement"], scores["factor_vae_score"]
"""

import math
import numbers
import warnings

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from vaezoo.registry import check_name
from vaezoo.validation import check_positive_int

#: Every metric ``evaluate`` knows, in the order it reports them.
METRICS = ("beta_vae", "factor_vae", "mig", "sap", "dci", "modularity_explicitness",
           "unsupervised")

#: Importance estimators of ``dci``: the protocol's, and the fast one.
IMPORTANCES = ("gbt", "random_forest")

#: Per-dimension classifiers of ``sap``: disentanglement_lib's, and the paper's.
SAP_CLASSIFIERS = ("linear_svm", "thresholds")

#: Observations generated per chunk (then encoded ``batch_size`` at a time). Fixed,
#: so that a seed gives the same sample whatever the ``batch_size``.
_CHUNK = 2048

# One random stream per sampling procedure, so that a metric's numbers do not
# depend on which other metrics ran.
_SALTS = {"codes": 0, "beta_vae": 1, "factor_vae": 2}

# The metrics whose protocol has a held-out sample.
_NEEDS_TEST = ("sap", "dci", "modularity_explicitness")


# --- validation ---------------------------------------------------------------------------


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer (e.g. 0); got {seed!r}")
    return int(seed)


def _check_codes(codes, name="codes", min_dims=1, min_points=2):
    """``codes`` as a float64 ``[N, D]`` array, or a ValueError naming the problem."""
    array = np.asarray(codes)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [num_points, code_dim]; got shape "
                         f"{array.shape}. Flatten a code of shape [N, ...] with "
                         f"codes.reshape(len(codes), -1).")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) \
            or np.iscomplexobj(array):
        raise ValueError(f"{name} must be real numbers; got dtype {array.dtype}")
    if array.shape[0] < min_points:
        raise ValueError(f"{name} must hold at least {min_points} points; got "
                         f"{array.shape[0]}")
    if array.shape[1] < min_dims:
        raise ValueError(f"{name} must have at least {min_dims} dimensions for this metric; "
                         f"got {array.shape[1]}")
    array = array.astype(np.float64, copy=False)
    bad = ~np.isfinite(array)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise ValueError(
            f"{name} contain {bad.sum()} NaN or infinite values (first at point {rows[0]}, "
            f"dimension {cols[0]}); the representation function diverged or was given bad "
            f"input. Check the model's encoder output (e.g. np.isfinite(codes).all()).")
    return array


def _factor_label(index, names):
    return f"factor {index}" if names is None else f"factor {index} ({names[index]!r})"


def _check_factors(factors, num_points, name="factors", varying=True):
    """``factors`` as an int64 ``[N, K]`` array of indices; with ``varying``, each factor
    must take at least two values in the sample."""
    array = np.asarray(factors)
    if array.ndim == 1:
        raise ValueError(f"{name} must be a 2-D array [num_points, num_factors]; got shape "
                         f"{array.shape}. A single factor is factors[:, None].")
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array [num_points, num_factors]; got shape "
                         f"{array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be integer class indices (e.g. np.int64); got dtype "
                         f"{array.dtype}. Map each factor's values to 0..size-1, e.g. "
                         f"np.unique(values, return_inverse=True)[1].")
    if array.shape[0] != num_points:
        raise ValueError(f"{name} must have one row per code; got {array.shape[0]} rows for "
                         f"{num_points} codes")
    if array.min() < 0:
        raise ValueError(f"{name} must be non-negative class indices; got a minimum of "
                         f"{array.min()}")
    for k in range(array.shape[1] if varying else 0):
        if np.all(array[:, k] == array[0, k]):
            raise ValueError(
                f"factor {k} of {name} takes a single value ({array[0, k]}) in "
                f"the sample, so no code can carry information about it. Drop constant "
                f"factors (e.g. factors[:, factors.min(0) != factors.max(0)]) or sample more "
                f"points.")
    return array.astype(np.int64, copy=False)


def _check_data(codes, factors, min_dims=1):
    codes = _check_codes(codes, "codes", min_dims)
    return codes, _check_factors(factors, codes.shape[0], "factors")


def _check_pair(codes_train, factors_train, codes_test, factors_test, min_dims=1):
    codes_train = _check_codes(codes_train, "codes_train", min_dims)
    factors_train = _check_factors(factors_train, codes_train.shape[0], "factors_train")
    codes_test = _check_codes(codes_test, "codes_test", min_dims)
    # A factor may be constant in a small test sample: only the training side must vary.
    factors_test = _check_factors(factors_test, codes_test.shape[0], "factors_test",
                                  varying=False)
    if codes_test.shape[1] != codes_train.shape[1]:
        raise ValueError(f"codes_test must have the training codes' {codes_train.shape[1]} "
                         f"dimensions; got {codes_test.shape[1]}")
    if factors_test.shape[1] != factors_train.shape[1]:
        raise ValueError(f"factors_test must have the training factors' "
                         f"{factors_train.shape[1]} columns; got {factors_test.shape[1]}")
    return codes_train, factors_train, codes_test, factors_test


def _check_ground_truth(ground_truth):
    """``(factor_sizes, factor_names or None)``, or a ValueError naming what is missing."""
    missing = [attr for attr in ("factor_sizes", "sample_factors",
                                 "sample_observations_from_factors")
               if not hasattr(ground_truth, attr)]
    if missing:
        raise ValueError(
            f"ground_truth must have factor_sizes, sample_factors(n, rng) and "
            f"sample_observations_from_factors(factors, rng); "
            f"{type(ground_truth).__name__} has no {', '.join(missing)}")
    sizes = tuple(ground_truth.factor_sizes)
    if not sizes or any(isinstance(s, bool) or not isinstance(s, numbers.Integral)
                        for s in sizes):
        raise ValueError(f"ground_truth.factor_sizes must be a non-empty tuple of integers "
                         f"(e.g. (3, 6, 40, 32, 32)); got {ground_truth.factor_sizes!r}")
    names = getattr(ground_truth, "factor_names", None)
    names = None if names is None else tuple(names)
    if names is not None and len(names) != len(sizes):
        raise ValueError(f"ground_truth.factor_names has {len(names)} names for "
                         f"{len(sizes)} factor_sizes")
    for k, size in enumerate(sizes):
        if size < 2:
            raise ValueError(f"{_factor_label(k, names)} of ground_truth has {size} value(s); "
                             f"every factor needs at least 2. Leave constant factors out of "
                             f"the ground truth.")
    return tuple(int(s) for s in sizes), names


def _check_representation_fn(representation_fn):
    if not callable(representation_fn):
        raise ValueError(f"representation_fn must be a callable observations [n, ...] -> "
                         f"codes [n, D] (e.g. lambda x: model.encode(x).mean().numpy()); "
                         f"got {type(representation_fn).__name__}")
    return representation_fn


# --- sampling -----------------------------------------------------------------------------


def _rng(seed, stream):
    return np.random.default_rng([seed, _SALTS[stream]])


def _sample_factors(ground_truth, num, rng, sizes):
    factors = np.asarray(ground_truth.sample_factors(num, rng))
    if factors.shape != (num, len(sizes)) or not np.issubdtype(factors.dtype, np.integer):
        raise ValueError(f"ground_truth.sample_factors({num}, rng) must return integers of "
                         f"shape ({num}, {len(sizes)}); got {factors.dtype} {factors.shape}")
    if (factors < 0).any() or (factors >= np.asarray(sizes)).any():
        raise ValueError(f"ground_truth.sample_factors returned indices outside "
                         f"0..factor_sizes-1 = {tuple(s - 1 for s in sizes)}")
    return factors.astype(np.int64, copy=False)


def _encode(representation_fn, ground_truth, factors, rng, batch_size, dim=None):
    """Codes ``[n, D]`` of observations rendered from ``factors``, ``batch_size`` at a time."""
    observations = ground_truth.sample_observations_from_factors(factors, rng)
    if len(observations) != len(factors):
        raise ValueError(f"ground_truth.sample_observations_from_factors returned "
                         f"{len(observations)} observations for {len(factors)} factor rows")
    parts = []
    for start in range(0, len(factors), batch_size):
        batch = observations[start:start + batch_size]
        codes = np.asarray(representation_fn(batch))
        if codes.ndim != 2 or codes.shape[0] != len(batch):
            raise ValueError(f"representation_fn must return codes of shape [n, D] for n "
                             f"observations; got shape {codes.shape} for n = {len(batch)}. "
                             f"Flatten the code (reshape(n, -1)) or return the posterior "
                             f"mean, not a distribution.")
        if dim is not None and codes.shape[1] != dim:
            raise ValueError(f"representation_fn returned {codes.shape[1]} dimensions after "
                             f"returning {dim}; the code size must be fixed")
        dim = codes.shape[1]
        parts.append(_check_codes(codes, "representation_fn's codes", min_points=1))
    return np.concatenate(parts)


def _sample_codes(ground_truth, representation_fn, num_points, rng, batch_size, sizes):
    codes, factors = [], []
    for start in range(0, num_points, _CHUNK):
        chunk = _sample_factors(ground_truth, min(_CHUNK, num_points - start), rng, sizes)
        codes.append(_encode(representation_fn, ground_truth, chunk, rng, batch_size,
                             codes[0].shape[1] if codes else None))
        factors.append(chunk)
    return np.concatenate(codes), np.concatenate(factors)


def sample_codes(ground_truth, representation_fn, num_points, *, seed=0, batch_size=500):
    """``num_points`` codes and the factors they come from: ``(codes [N, D], factors [N, K])``.

    The sample the codes-based metrics take; ``evaluate`` draws its training and
    test samples with it (the test sample after the training sample, from the
    same stream).

    Args:
      ground_truth: the ground-truth data (see the module docstring).
      representation_fn: observations ``[n, ...]`` -> codes ``[n, D]``.
      num_points: sample size.
      seed: non-negative integer; the same seed gives the same sample.
      batch_size: observations per call of ``representation_fn``.

    Example:
      >>> codes, factors = sample_codes(dsprites, encode_mean, 10_000)
      >>> mig(codes, factors)["mig"]
    """
    sizes, _ = _check_ground_truth(ground_truth)
    _check_representation_fn(representation_fn)
    num_points = check_positive_int("num_points", num_points, 10000)
    batch_size = check_positive_int("batch_size", batch_size, 500)
    return _sample_codes(ground_truth, representation_fn, num_points,
                         _rng(_check_seed(seed), "codes"), batch_size, sizes)


def _intervention_points(ground_truth, representation_fn, num_points, rng, group_size,
                         batch_size, sizes, pairs):
    """Yield ``(fixed factor [m], codes [m, 2 or 1, group_size, D])``, a chunk of points.

    Point ``i`` fixes factor ``k_i ~ U{0..K-1}``: within each of its ``group_size``
    pairs (``pairs``, beta-VAE: the second sample of a pair takes the first one's
    ``v_k``), or across its whole group (FactorVAE: every sample takes the first
    sample's ``v_k``).
    """
    num_factors = len(sizes)
    halves = 2 if pairs else 1
    per_chunk = max(1, _CHUNK // (halves * group_size))
    dim = None
    for start in range(0, num_points, per_chunk):
        m = min(per_chunk, num_points - start)
        fixed = rng.integers(num_factors, size=m)
        factors = _sample_factors(ground_truth, m * halves * group_size, rng, sizes)
        factors = factors.reshape(m, halves, group_size, num_factors)
        points = np.arange(m)
        if pairs:
            factors[points, 1, :, fixed] = factors[points, 0, :, fixed]
        else:
            factors[points, 0, :, fixed] = factors[points, 0, 0, fixed][:, None]
        codes = _encode(representation_fn, ground_truth, factors.reshape(-1, num_factors), rng,
                        batch_size, dim)
        dim = codes.shape[1]
        yield fixed, codes.reshape(m, halves, group_size, dim)


def _check_intervention_args(ground_truth, representation_fn, num_train, num_eval, group_size,
                             batch_size, seed, min_group=1):
    sizes, _ = _check_ground_truth(ground_truth)
    _check_representation_fn(representation_fn)
    num_train = check_positive_int("num_train", num_train, 10000)
    num_eval = check_positive_int("num_eval", num_eval, 5000)
    group_size = check_positive_int("group_size", group_size, 64)
    if group_size < min_group:
        raise ValueError(f"group_size must be at least {min_group} (a variance needs two "
                         f"samples; the protocol's is 64); got {group_size}")
    batch_size = check_positive_int("batch_size", batch_size, 500)
    return sizes, num_train, num_eval, group_size, batch_size, _check_seed(seed)


# --- intervention metrics -----------------------------------------------------------------


def _beta_vae_points(ground_truth, representation_fn, num_points, rng, group_size, batch_size,
                     sizes):
    labels, features = [], []
    for fixed, codes in _intervention_points(ground_truth, representation_fn, num_points, rng,
                                             group_size, batch_size, sizes, pairs=True):
        labels.append(fixed)
        features.append(np.mean(np.abs(codes[:, 0] - codes[:, 1]), axis=1))
    return np.concatenate(features), np.concatenate(labels)


def beta_vae_score(ground_truth, representation_fn, *, num_train=10000, num_eval=5000,
                   group_size=64, seed=0, batch_size=500):
    """The beta-VAE disentanglement score: accuracy of a linear classifier of the fixed factor.

    Each point fixes a random factor ``k`` within ``group_size`` pairs of samples;
    its feature is the mean absolute code difference over the pairs. A
    ``LogisticRegression`` (scikit-learn's defaults) is trained on ``num_train``
    points and scored on ``num_eval`` fresh ones.

    Args:
      ground_truth: the ground-truth data (see the module docstring).
      representation_fn: observations ``[n, ...]`` -> codes ``[n, D]``.
      num_train, num_eval: training and evaluation points (10,000 and 5,000).
      group_size: pairs per point (``L``, 64).
      seed: non-negative integer; the same seed gives the same score.
      batch_size: observations per call of ``representation_fn``.

    Returns:
      dict with ``beta_vae_score`` (the evaluation accuracy, in [0, 1]) and
      ``beta_vae_train_accuracy``.

    Example:
      >>> beta_vae_score(dsprites, encode_mean)["beta_vae_score"]

    Reference:
      Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a Constrained
      Variational Framework", ICLR 2017.
    """
    sizes, num_train, num_eval, group_size, batch_size, seed = _check_intervention_args(
        ground_truth, representation_fn, num_train, num_eval, group_size, batch_size, seed)
    rng = _rng(seed, "beta_vae")
    x_train, y_train = _beta_vae_points(ground_truth, representation_fn, num_train, rng,
                                        group_size, batch_size, sizes)
    if np.unique(y_train).size < 2:
        raise ValueError(f"the {num_train} beta-VAE training point(s) all fix the same factor; "
                         f"num_train must be large enough to see at least two (the "
                         f"protocol's is 10000)")
    x_eval, y_eval = _beta_vae_points(ground_truth, representation_fn, num_eval, rng,
                                      group_size, batch_size, sizes)
    model = _fit(LogisticRegression(random_state=seed), x_train, y_train)
    return {
        "beta_vae_score": float(np.mean(model.predict(x_eval) == y_eval)),
        "beta_vae_train_accuracy": float(np.mean(model.predict(x_train) == y_train)),
    }


def _factor_vae_votes(ground_truth, representation_fn, num_points, rng, group_size, batch_size,
                      sizes, scale, active):
    """Votes ``[K, D]``: how often fixing factor ``k`` made dimension ``d`` the argmin."""
    active_dims = np.flatnonzero(active)
    votes = np.zeros((len(sizes), scale.size), np.int64)
    for fixed, codes in _intervention_points(ground_truth, representation_fn, num_points, rng,
                                             group_size, batch_size, sizes, pairs=False):
        variance = np.var(codes[:, 0][:, :, active_dims], axis=1, ddof=1)
        argmin = active_dims[np.argmin(variance / scale[active_dims] ** 2, axis=1)]
        np.add.at(votes, (fixed, argmin), 1)
    return votes


def factor_vae_score(ground_truth, representation_fn, *, num_train=10000, num_eval=5000,
                     group_size=64, num_variance_estimate=10000, prune_threshold=0.05, seed=0,
                     batch_size=500):
    """The FactorVAE disentanglement score: accuracy of a majority vote on the least-varying dim.

    Each vote fixes a random factor ``k`` across ``group_size`` samples and takes
    the active dimension of least variance, relative to its variance over
    ``num_variance_estimate`` observations; dimensions whose std is below
    ``prune_threshold`` there are pruned. The classifier maps each dimension to
    the factor it got most training votes for.

    Args:
      ground_truth: the ground-truth data (see the module docstring).
      representation_fn: observations ``[n, ...]`` -> codes ``[n, D]``.
      num_train, num_eval: training and evaluation votes (10,000 and 5,000).
      group_size: samples per vote (``L``, 64).
      num_variance_estimate: observations for each dimension's std (10,000).
      prune_threshold: dimensions with a smaller std are left out (0.05).
      seed: non-negative integer; the same seed gives the same score.
      batch_size: observations per call of ``representation_fn``.

    Returns:
      dict with ``factor_vae_score`` (the evaluation accuracy, in [0, 1]),
      ``factor_vae_train_accuracy`` and ``factor_vae_num_active_dims`` (both
      scores are 0 when every dimension is pruned).

    Example:
      >>> factor_vae_score(dsprites, encode_mean)["factor_vae_score"]

    Reference:
      Kim & Mnih, "Disentangling by Factorising", ICML 2018.
    """
    sizes, num_train, num_eval, group_size, batch_size, seed = _check_intervention_args(
        ground_truth, representation_fn, num_train, num_eval, group_size, batch_size, seed,
        min_group=2)
    num_variance_estimate = check_positive_int("num_variance_estimate", num_variance_estimate,
                                               10000)
    if num_variance_estimate < 2:
        raise ValueError(f"num_variance_estimate must be at least 2 (the protocol's is 10000); "
                         f"got {num_variance_estimate}")
    if isinstance(prune_threshold, bool) or not isinstance(prune_threshold, numbers.Real) \
            or not math.isfinite(prune_threshold) or prune_threshold < 0:
        raise ValueError(f"prune_threshold must be a number >= 0 (the protocol's is 0.05); "
                         f"got {prune_threshold!r}")
    rng = _rng(seed, "factor_vae")
    codes, _ = _sample_codes(ground_truth, representation_fn, num_variance_estimate, rng,
                             batch_size, sizes)
    scale = np.std(codes, axis=0, ddof=1)
    active = scale >= prune_threshold
    if not active.any():
        return {"factor_vae_score": 0.0, "factor_vae_train_accuracy": 0.0,
                "factor_vae_num_active_dims": 0}
    votes_train = _factor_vae_votes(ground_truth, representation_fn, num_train, rng,
                                    group_size, batch_size, sizes, scale, active)
    votes_eval = _factor_vae_votes(ground_truth, representation_fn, num_eval, rng, group_size,
                                   batch_size, sizes, scale, active)
    # Dimension d votes for the factor it won most training votes for.
    classifier = np.argmax(votes_train, axis=0)
    dims = np.arange(scale.size)
    return {
        "factor_vae_score": float(votes_eval[classifier, dims].sum() / votes_eval.sum()),
        "factor_vae_train_accuracy": float(votes_train[classifier, dims].sum()
                                           / votes_train.sum()),
        "factor_vae_num_active_dims": int(active.sum()),
    }


# --- information-theoretic helpers --------------------------------------------------------


def discretize(codes, num_bins=20):
    """Each code dimension cut into ``num_bins`` equal-width bins between its min and max.

    disentanglement_lib's ``_histogram_discretize``: the bin edges are
    ``np.histogram``'s, the maximum falls in the last bin.

    Returns:
      int64 ``[N, D]`` bin indices in ``0..num_bins-1``.

    Example:
      >>> discretize(np.array([[0.0], [0.5], [1.0]]), num_bins=2)[:, 0]
      array([0, 1, 1])
    """
    codes = _check_codes(codes)
    num_bins = check_positive_int("num_bins", num_bins, 20)
    return _discretize(codes, num_bins)


def _discretize(codes, num_bins):
    bins = np.empty(codes.shape, np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, d], num_bins)
        bins[:, d] = np.digitize(codes[:, d], edges[:-1]) - 1
    return bins


def _dense(labels):
    """Each column relabelled 0..n_values-1 (information is invariant to relabelling)."""
    return [np.unique(column, return_inverse=True)[1].ravel() for column in labels.T]


def _entropy_of(column, n):
    p = np.bincount(column) / n
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def _mutual_information(a, b):
    """``I(a_i; b_j)`` in nats, ``[A, B]``, for discrete columns ``a [N, A]``, ``b [N, B]``."""
    n = a.shape[0]
    a, b = _dense(a), _dense(b)
    b_sizes = [int(column.max()) + 1 for column in b]
    b_marginals = [np.bincount(column) / n for column in b]
    info = np.zeros((len(a), len(b)))
    for i, ai in enumerate(a):
        a_size = int(ai.max()) + 1
        pa = np.bincount(ai) / n
        for j, (bj, b_size, pb) in enumerate(zip(b, b_sizes, b_marginals)):
            joint = np.bincount(ai * b_size + bj, minlength=a_size * b_size) / n
            joint = joint.reshape(a_size, b_size)
            nonzero = joint > 0
            ratio = joint[nonzero] / np.outer(pa, pb)[nonzero]
            info[i, j] = max(0.0, float(np.sum(joint[nonzero] * np.log(ratio))))
    return info


# --- codes-based metrics ------------------------------------------------------------------


def mig(codes, factors, *, num_bins=20):
    """The mutual information gap: ``mean_k (I_(1)k - I_(2)k) / H(v_k)`` over binned codes.

    Args:
      codes: ``[N, D]`` codes (D >= 2).
      factors: ``[N, K]`` integer factor indices.
      num_bins: equal-width bins per code dimension (20).

    Returns:
      dict with ``mig`` in [0, 1].

    Example:
      >>> mig(codes, factors)["mig"]

    Reference:
      Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in
      Variational Autoencoders", NeurIPS 2018.
    """
    codes, factors = _check_data(codes, factors, min_dims=2)
    num_bins = check_positive_int("num_bins", num_bins, 20)
    info = _mutual_information(_discretize(codes, num_bins), factors)
    entropy = np.array([_entropy_of(column, len(column)) for column in _dense(factors)])
    top = np.sort(info, axis=0)[::-1]
    return {"mig": float(np.mean((top[0] - top[1]) / entropy))}


def _fit(model, x, y):
    """``model.fit(x, y)``, quiet: a classifier that stops at its iteration cap is the
    protocol (scikit-learn's defaults), not a failure worth a warning per factor."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def _sap_entry(classifier, x_train, y_train, x_test, y_test, seed):
    if classifier == "linear_svm":
        model = _fit(LinearSVC(C=0.01, class_weight="balanced", random_state=seed), x_train,
                     y_train)
        return float(np.mean(model.predict(x_test) == y_test))
    model = DecisionTreeClassifier(max_leaf_nodes=max(2, np.unique(y_train).size),
                                   class_weight="balanced", random_state=seed)
    with warnings.catch_warnings():
        # balanced_accuracy warns when a predicted class is absent from y_test.
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y_test, model.fit(x_train, y_train)
                                             .predict(x_test)))


def sap(codes_train, factors_train, codes_test, factors_test, *, classifier="linear_svm",
        seed=0):
    """The SAP score: ``mean_k (S_(1)k - S_(2)k)`` with ``S_dk`` predicting ``v_k`` from ``z_d``.

    Args:
      codes_train, factors_train: ``[N, D]`` codes (D >= 2) and ``[N, K]`` integer
        factor indices the classifiers are trained on.
      codes_test, factors_test: the held-out sample they are scored on.
      classifier: ``"linear_svm"`` (disentanglement_lib's: ``LinearSVC(C=0.01,
        class_weight="balanced")``, accuracy) or ``"thresholds"`` (the paper's:
        one threshold per class boundary on ``z_d``, balanced accuracy).
      seed: the classifiers' random state.

    Returns:
      dict with ``sap`` in [0, 1].

    Example:
      >>> sap(codes, factors, codes_test, factors_test)["sap"]

    Reference:
      Kumar, Sattigeri & Balakrishnan, "Variational Inference of Disentangled Latent
      Concepts from Unlabeled Observations", ICLR 2018.
    """
    codes_train, factors_train, codes_test, factors_test = _check_pair(
        codes_train, factors_train, codes_test, factors_test, min_dims=2)
    check_name("classifier", classifier, SAP_CLASSIFIERS)
    seed = _check_seed(seed)
    score = np.zeros((codes_train.shape[1], factors_train.shape[1]))
    for d in range(score.shape[0]):
        for k in range(score.shape[1]):
            score[d, k] = _sap_entry(classifier, codes_train[:, d:d + 1], factors_train[:, k],
                                     codes_test[:, d:d + 1], factors_test[:, k], seed)
    top = np.sort(score, axis=0)
    return {"sap": float(np.mean(top[-1] - top[-2]))}


def _importance_model(importance, seed):
    if importance == "gbt":
        return GradientBoostingClassifier(random_state=seed)
    return RandomForestClassifier(n_estimators=20, max_depth=8, max_features=None,
                                  random_state=seed)


def _weighted_specificity(importance):
    """``sum_i rho_i (1 - H_n(P_i.))`` over the rows ``i`` of ``importance [A, n]``, with
    ``P`` the row-normalized matrix, ``H_n`` the entropy in base ``n`` and ``rho_i``
    row ``i``'s share of the total (uniform when it is all zero)."""
    p = importance + 1e-11  # disentanglement_lib's: keeps the entropy of a zero row finite
    p = p / p.sum(axis=1, keepdims=True)
    n = importance.shape[1]
    entropy = -np.sum(p * np.log(p), axis=1) / math.log(n) if n > 1 else np.zeros(len(p))
    total = importance.sum()
    weights = importance.sum(axis=1) / total if total > 0 else np.full(len(p), 1 / len(p))
    return float(np.sum(weights * (1.0 - entropy)))


def dci(codes_train, factors_train, codes_test, factors_test, *, importance="gbt", seed=0):
    """Disentanglement, completeness and informativeness from a classifier's importances.

    One classifier per factor on all of ``z`` gives the importance matrix ``R [D, K]``;
    disentanglement is one minus the (importance-weighted) entropy of each
    dimension's importances over the factors, completeness the same for each
    factor's importances over the dimensions (see the module docstring).

    Args:
      codes_train, factors_train: ``[N, D]`` codes and ``[N, K]`` integer factor
        indices the classifiers are trained on.
      codes_test, factors_test: the held-out sample for informativeness.
      importance: ``"gbt"`` (the protocol's ``GradientBoostingClassifier()``) or
        ``"random_forest"`` (the fast option; not the protocol).
      seed: the classifiers' random state.

    Returns:
      dict with ``dci_disentanglement``, ``dci_completeness`` (in [0, 1]) and
      ``dci_informativeness_train`` / ``_test`` (accuracies averaged over factors).

    Example:
      >>> dci(codes, factors, codes_test, factors_test)["dci_disentanglement"]

    Reference:
      Eastwood & Williams, "A Framework for the Quantitative Evaluation of Disentangled
      Representations", ICLR 2018.
    """
    codes_train, factors_train, codes_test, factors_test = _check_pair(
        codes_train, factors_train, codes_test, factors_test)
    check_name("importance", importance, IMPORTANCES)
    seed = _check_seed(seed)
    matrix = np.zeros((codes_train.shape[1], factors_train.shape[1]))
    accuracy_train, accuracy_test = [], []
    for k in range(matrix.shape[1]):
        model = _fit(_importance_model(importance, seed), codes_train, factors_train[:, k])
        matrix[:, k] = np.abs(model.feature_importances_)
        accuracy_train.append(np.mean(model.predict(codes_train) == factors_train[:, k]))
        accuracy_test.append(np.mean(model.predict(codes_test) == factors_test[:, k]))
    return {
        "dci_disentanglement": _weighted_specificity(matrix),
        "dci_completeness": _weighted_specificity(matrix.T),
        "dci_informativeness_train": float(np.mean(accuracy_train)),
        "dci_informativeness_test": float(np.mean(accuracy_test)),
    }


def _modularity(info):
    squared = info ** 2
    top = squared.max(axis=1)
    num_factors = info.shape[1]
    if num_factors == 1:
        return float(np.mean(top > 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = (squared.sum(axis=1) - top) / (top * (num_factors - 1))
    return float(np.mean(np.where(top > 0, 1.0 - deviation, 0.0)))


def _mean_auc(model, x, y):
    """One-vs-rest ROC AUC of each class seen in training that occurs in ``y`` (and is not
    all of it), averaged."""
    proba = model.predict_proba(x)
    aucs = [roc_auc_score(y == c, proba[:, i]) for i, c in enumerate(model.classes_)
            if 0 < np.count_nonzero(y == c) < len(y)]
    return float(np.mean(aucs)) if aucs else float("nan")


def modularity_explicitness(codes_train, factors_train, codes_test, factors_test, *,
                            num_bins=20, seed=0):
    """Modularity (from the binned mutual information) and explicitness (a linear probe's AUC).

    Args:
      codes_train, factors_train: ``[N, D]`` codes and ``[N, K]`` integer factor
        indices (modularity, and the probes' training data).
      codes_test, factors_test: the held-out sample for explicitness.
      num_bins: equal-width bins per code dimension for the mutual information (20).
      seed: the probes' random state.

    Returns:
      dict with ``modularity``, ``explicitness_train`` and ``explicitness_test`` (in
      [0, 1]; explicitness 0.5 is chance).

    Example:
      >>> modularity_explicitness(codes, factors, codes_test, factors_test)["modularity"]

    Reference:
      Ridgeway & Mozer, "Learning Deep Disentangled Embeddings with the F-Statistic
      Loss", NeurIPS 2018.
    """
    codes_train, factors_train, codes_test, factors_test = _check_pair(
        codes_train, factors_train, codes_test, factors_test)
    num_bins = check_positive_int("num_bins", num_bins, 20)
    seed = _check_seed(seed)
    modularity = _modularity(_mutual_information(_discretize(codes_train, num_bins),
                                                 factors_train))
    mean, std = codes_train.mean(axis=0), codes_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # a constant dimension stays constant (zero)
    x_train, x_test = (codes_train - mean) / std, (codes_test - mean) / std
    explicit_train, explicit_test = [], []
    for k in range(factors_train.shape[1]):
        model = _fit(LogisticRegression(random_state=seed), x_train, factors_train[:, k])
        explicit_train.append(_mean_auc(model, x_train, factors_train[:, k]))
        explicit_test.append(_mean_auc(model, x_test, factors_test[:, k]))
    return {
        "modularity": modularity,
        "explicitness_train": float(np.nanmean(explicit_train)),
        "explicitness_test": float(np.nanmean(explicit_test)),
    }


def unsupervised_scores(codes, *, num_bins=20):
    """Correlation among the code dimensions, with no factors: Gaussian total and Wasserstein
    correlation of the codes' covariance, and the binned mutual information between dims.

    Args:
      codes: ``[N, D]`` codes (D >= 2).
      num_bins: equal-width bins per code dimension for the mutual information (20).

    Returns:
      dict with ``gaussian_total_correlation`` (nats), ``gaussian_wasserstein_correlation``
      (squared code units), ``gaussian_wasserstein_correlation_norm`` (the latter over
      the total variance) and ``mutual_info_score`` (nats); all 0 for independent dims.

    Example:
      >>> unsupervised_scores(codes)["gaussian_total_correlation"]

    Reference:
      Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
      Disentangled Representations", ICML 2019 (disentanglement_lib).
    """
    codes = _check_codes(codes, min_dims=2)
    num_bins = check_positive_int("num_bins", num_bins, 20)
    cov = np.cov(codes, rowvar=False)
    live = np.diag(cov) > 0
    live_cov = cov[np.ix_(live, live)]
    variance = np.diag(live_cov)
    if live.any():
        total_correlation = 0.5 * (np.sum(np.log(variance)) - np.linalg.slogdet(live_cov)[1])
        std = np.sqrt(variance)
        # tr (S_D^1/2 S S_D^1/2)^1/2: the sum of the square roots of its eigenvalues.
        eigenvalues = np.clip(np.linalg.eigvalsh(std[:, None] * live_cov * std[None, :]), 0,
                              None)
        wasserstein = 2 * np.trace(live_cov) - 2 * np.sum(np.sqrt(eigenvalues))
        wasserstein_norm = wasserstein / np.trace(live_cov)
    else:
        total_correlation = wasserstein = wasserstein_norm = 0.0
    bins = _discretize(codes, num_bins)
    info = _mutual_information(bins, bins)
    np.fill_diagonal(info, 0.0)
    num_dims = codes.shape[1]
    return {
        "gaussian_total_correlation": float(total_correlation),
        "gaussian_wasserstein_correlation": float(wasserstein),
        "gaussian_wasserstein_correlation_norm": float(wasserstein_norm),
        "mutual_info_score": float(info.sum() / (num_dims ** 2 - num_dims)),
    }


# --- everything at once -------------------------------------------------------------------


def _check_metrics(metrics):
    if metrics is None:
        return METRICS
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        got = repr(unknown[0]) if unknown else "no metric"
        raise ValueError(f"metrics must be None (all) or names among "
                         f"{', '.join(map(repr, METRICS))}; got {got}")
    return tuple(name for name in METRICS if name in names)


def evaluate(ground_truth, representation_fn, *, seed=0, metrics=None, num_train=10000,
             num_test=5000, batch_size=500, dci_importance="gbt", sap_classifier="linear_svm"):
    """Every disentanglement metric of ``representation_fn`` on ``ground_truth``, from one seed.

    The codes-based metrics share one sample: ``num_train`` training points, which
    are ``sample_codes(ground_truth, representation_fn, num_train, seed=seed)``,
    and ``num_test`` test points drawn after them from the same stream. The
    beta-VAE and FactorVAE scores draw their own interventions, ``num_train`` /
    ``num_test`` points as their training / evaluation sizes, and equal
    ``beta_vae_score`` / ``factor_vae_score`` with the same ``seed``. No metric's
    numbers depend on which other metrics run, nor on ``batch_size`` (for a
    ``representation_fn`` that encodes each observation on its own).

    Args:
      ground_truth: the ground-truth data (see the module docstring).
      representation_fn: observations ``[n, ...]`` -> codes ``[n, D]``.
      seed: non-negative integer; the same seed gives the same scores.
      metrics: names among ``METRICS`` to compute, or None for all.
      num_train, num_test: the protocol's 10,000 and 5,000.
      batch_size: observations per call of ``representation_fn`` (500).
      dci_importance: ``"gbt"`` (the protocol's) or ``"random_forest"`` (the fast
        option), see ``dci``.
      sap_classifier: ``"linear_svm"`` (disentanglement_lib's) or ``"thresholds"``
        (the paper's), see ``sap``.

    Returns:
      dict of floats, in ``METRICS`` order: ``beta_vae_score``,
      ``beta_vae_train_accuracy``, ``factor_vae_score``,
      ``factor_vae_train_accuracy``, ``factor_vae_num_active_dims``, ``mig``,
      ``sap``, ``dci_disentanglement``, ``dci_completeness``,
      ``dci_informativeness_train``, ``dci_informativeness_test``, ``modularity``,
      ``explicitness_train``, ``explicitness_test``, ``gaussian_total_correlation``,
      ``gaussian_wasserstein_correlation``, ``gaussian_wasserstein_correlation_norm``,
      ``mutual_info_score`` (those of the metrics asked for).

    Example:
      >>> scores = evaluate(dsprites, lambda x: model.encode(x).mean().numpy(), seed=0)
      >>> scores["mig"], scores["dci_disentanglement"]
    """
    names = _check_metrics(metrics)
    _check_ground_truth(ground_truth)
    _check_representation_fn(representation_fn)
    seed = _check_seed(seed)
    num_train = check_positive_int("num_train", num_train, 10000)
    num_test = check_positive_int("num_test", num_test, 5000)
    batch_size = check_positive_int("batch_size", batch_size, 500)
    check_name("dci_importance", dci_importance, IMPORTANCES)
    check_name("sap_classifier", sap_classifier, SAP_CLASSIFIERS)
    train = test = None
    if any(name not in ("beta_vae", "factor_vae") for name in names):
        sizes, _ = _check_ground_truth(ground_truth)
        rng = _rng(seed, "codes")
        train = _sample_codes(ground_truth, representation_fn, num_train, rng, batch_size,
                              sizes)
        if any(name in _NEEDS_TEST for name in names):
            test = _sample_codes(ground_truth, representation_fn, num_test, rng, batch_size,
                                 sizes)
    interventions = dict(num_train=num_train, num_eval=num_test, seed=seed,
                         batch_size=batch_size)
    runs = {
        "beta_vae": lambda: beta_vae_score(ground_truth, representation_fn, **interventions),
        "factor_vae": lambda: factor_vae_score(ground_truth, representation_fn,
                                               **interventions),
        "mig": lambda: mig(*train),
        "sap": lambda: sap(*train, *test, classifier=sap_classifier, seed=seed),
        "dci": lambda: dci(*train, *test, importance=dci_importance, seed=seed),
        "modularity_explicitness": lambda: modularity_explicitness(*train, *test, seed=seed),
        "unsupervised": lambda: unsupervised_scores(train[0]),
    }
    scores = {}
    for name in names:
        scores.update(runs[name]())
    return scores
