"""Tests of vaezoo.evaluation.disentanglement on constructed codes with known answers.

The ground truth has dSprites' factor sizes (3, 6, 40, 32, 32) and observations
that are the factor values themselves, so the representation functions below
are the factors (the best code), a random rotation of the standardized factors
(every dimension mixes every factor) and pure noise (no information).
"""

import math

import numpy as np
import pytest

from vaezoo.evaluation import disentanglement as dis

SIZES = (3, 6, 40, 32, 32)
NUM_FACTORS = len(SIZES)
CHANCE = 1 / NUM_FACTORS  # of the beta-VAE and FactorVAE classifiers


class FactorGroundTruth:
    """dSprites-sized factors, uniform and independent; an observation is its factors."""

    factor_sizes = SIZES
    factor_names = ("shape", "scale", "orientation", "pos_x", "pos_y")

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(size, size=n) for size in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, rng):
        return factors.astype(np.float64)


GROUND_TRUTH = FactorGroundTruth()
_SIZES = np.array(SIZES, np.float64)
_ROTATION = np.linalg.qr(np.random.default_rng(1).normal(size=(NUM_FACTORS, NUM_FACTORS)))[0]


def identity(observations):
    return observations


def rotation(observations):
    """A random rotation of the factors standardized to mean 0, variance 1."""
    standardized = (observations - (_SIZES - 1) / 2) / np.sqrt((_SIZES ** 2 - 1) / 12)
    return standardized @ _ROTATION


class Noise:
    """Codes independent of the observations (a fresh stream per instance)."""

    def __init__(self, dim=NUM_FACTORS, seed=0):
        self.dim, self.rng = dim, np.random.default_rng(seed)

    def __call__(self, observations):
        return self.rng.normal(size=(len(observations), self.dim))


def _sample(fn, num_train, num_test, seed=0):
    codes, factors = dis.sample_codes(GROUND_TRUTH, fn, num_train + num_test, seed=seed)
    return (codes[:num_train], factors[:num_train]), (codes[num_train:], factors[num_train:])


def _mixed_code(factors, seed=3):
    """A generic 7-dim code: noisy factors, one entangled pair and two noise dimensions."""
    rng = np.random.default_rng(seed)
    x = factors / (_SIZES - 1)
    return np.concatenate([x + 0.05 * rng.normal(size=x.shape),
                           (x[:, 2:3] + x[:, 3:4]) / 2,
                           rng.normal(size=(len(x), 1)), rng.uniform(size=(len(x), 1))], axis=1)


@pytest.fixture(scope="module")
def factor_sample():
    return _sample(identity, 10000, 5000)


@pytest.fixture(scope="module")
def small_sample():
    (codes, factors), (codes_test, factors_test) = _sample(identity, 600, 300, seed=4)
    return (_mixed_code(factors), factors), (_mixed_code(factors_test, seed=5), factors_test)


def _mig_ceiling():
    """The MIG of the factors themselves with 20 bins on a uniform sample of all values:
    mean_k H(bin(v_k)) / H(v_k), a factor of more than 20 values losing what the bins merge."""
    ratios = []
    for size in SIZES:
        counts = np.bincount(dis.discretize(np.arange(size, dtype=float)[:, None])[:, 0])
        p = counts[counts > 0] / size
        ratios.append(-np.sum(p * np.log(p)) / math.log(size))
    return float(np.mean(ratios))


# --- the best code ------------------------------------------------------------------------


def test_mig_of_the_factors_is_the_20_bin_ceiling(factor_sample):
    # 40 values in 20 bins keep log 20 / log 40 = 0.81 of the entropy, 32 values 0.85:
    # the ceiling is 0.90 on dSprites' sizes, less the finite-sample MI of the runner-up.
    ceiling = _mig_ceiling()
    assert ceiling == pytest.approx(0.902, abs=1e-3)
    score = dis.mig(*factor_sample[0])["mig"]
    assert 0.85 < score <= ceiling
    assert score == pytest.approx(ceiling, abs=0.02)


def test_the_factors_score_at_the_top_on_the_codes_based_metrics(factor_sample):
    train, test = ((codes[:2000], factors[:2000]) for codes, factors in factor_sample)
    modularity = dis.modularity_explicitness(*train, *test)
    assert modularity["modularity"] > 0.99
    assert modularity["explicitness_test"] > 0.9
    # SAP's runner-up dimension still guesses at chance, 1 / size: the best code scores
    # mean_k (1 - 1 / size_k) = 0.88, which the paper's thresholds reach.
    ceiling = float(np.mean([1 - 1 / size for size in SIZES]))
    assert dis.sap(*train, *test, classifier="thresholds")["sap"] \
        == pytest.approx(ceiling, abs=0.015)
    # disentanglement_lib's 1-D linear SVM gets only the classes at the ends of a
    # many-valued factor's range (accuracy 1, 0.5, 0.08, 0.1, 0.1 for these sizes).
    assert dis.sap(*train, *test)["sap"] > 0.2
    unsupervised = dis.unsupervised_scores(train[0])
    assert unsupervised["gaussian_total_correlation"] < 0.01
    assert unsupervised["gaussian_wasserstein_correlation_norm"] < 0.01


def test_dci_of_the_factors_is_one_with_gradient_boosted_trees():
    # Few points keep the 100 x 40 trees of the 40-valued factor fast.
    train, test = _sample(identity, 300, 100, seed=2)
    scores = dis.dci(*train, *test)
    assert scores["dci_disentanglement"] > 0.98
    assert scores["dci_completeness"] > 0.98
    assert scores["dci_informativeness_train"] == 1.0


def test_intervention_scores_of_the_factors_are_one():
    sizes = dict(num_train=500, num_eval=250)
    beta_vae = dis.beta_vae_score(GROUND_TRUTH, identity, **sizes)
    assert beta_vae["beta_vae_score"] > 0.99
    # The fixed factor's dimension has variance exactly 0: every vote is right.
    factor_vae = dis.factor_vae_score(GROUND_TRUTH, identity, **sizes)
    assert factor_vae["factor_vae_score"] == 1.0
    assert factor_vae["factor_vae_num_active_dims"] == NUM_FACTORS


# --- mixed and empty codes ----------------------------------------------------------------


def test_noise_codes_score_near_the_bottom():
    train, test = _sample(Noise(dim=10), 10000, 5000)
    assert dis.mig(*train)["mig"] < 0.05
    # The sample covariance's total correlation is biased by about D (D - 1) / (4 N) = 0.002.
    assert dis.unsupervised_scores(train[0])["gaussian_total_correlation"] < 0.01
    train, test = ((codes[:2000], factors[:2000]) for codes, factors in (train, test))
    assert dis.sap(*train, *test)["sap"] < 0.02
    explicit = dis.modularity_explicitness(*train, *test)["explicitness_test"]
    assert explicit == pytest.approx(0.5, abs=0.03)
    scores = dis.dci(*train, *test, importance="random_forest")
    assert scores["dci_disentanglement"] < 0.05
    assert scores["dci_completeness"] < 0.05
    sizes = dict(num_train=500, num_eval=500)
    assert dis.beta_vae_score(GROUND_TRUTH, Noise(), **sizes)["beta_vae_score"] < CHANCE + 0.1
    assert dis.factor_vae_score(GROUND_TRUTH, Noise(), **sizes)["factor_vae_score"] \
        < CHANCE + 0.1


def test_a_rotation_of_the_factors_loses_the_axis_aligned_scores(factor_sample):
    train, test = _sample(rotation, 10000, 5000)
    # Every dimension carries a little of every factor, none much of one.
    assert dis.mig(*train)["mig"] < 0.15
    assert dis.mig(*train)["mig"] < dis.mig(*factor_sample[0])["mig"] / 5
    # Still an invertible code: the covariance is the identity's, so the Gaussian total
    # correlation cannot see the rotation; the binned mutual information does.
    unsupervised = dis.unsupervised_scores(train[0])
    assert unsupervised["gaussian_total_correlation"] < 0.01
    assert unsupervised["mutual_info_score"] \
        > 2 * dis.unsupervised_scores(factor_sample[0][0])["mutual_info_score"]
    train, test = ((codes[:2000], factors[:2000]) for codes, factors in (train, test))
    scores = dis.dci(*train, *test, importance="random_forest")
    assert scores["dci_disentanglement"] < 0.3
    assert dis.modularity_explicitness(*train, *test)["modularity"] < 0.9


# --- invariances --------------------------------------------------------------------------


def _codes_based(train, test):
    scores = {}
    scores.update(dis.mig(*train))
    scores.update(dis.sap(*train, *test))
    scores["sap_thresholds"] = dis.sap(*train, *test, classifier="thresholds")["sap"]
    scores.update(dis.dci(*train, *test, importance="random_forest"))
    scores.update(dis.modularity_explicitness(*train, *test))
    scores.update(dis.unsupervised_scores(train[0]))
    return scores


@pytest.fixture(scope="module")
def small_scores(small_sample):
    return _codes_based(*small_sample)


def _transformed(sample, transform):
    (codes, factors), (codes_test, factors_test) = sample
    return (transform(codes), factors), (transform(codes_test), factors_test)


def test_a_permutation_of_the_code_dimensions_changes_nothing(small_sample, small_scores):
    order = np.random.default_rng(0).permutation(small_sample[0][0].shape[1])
    before = small_scores
    after = _codes_based(*_transformed(small_sample, lambda c: c[:, order]))
    assert after.keys() == before.keys()
    for name in ("mig", "sap", "sap_thresholds", "modularity"):
        assert after[name] == before[name], name
    # The same numbers summed in another order.
    for name in ("explicitness_train", "explicitness_test", "gaussian_total_correlation",
                 "gaussian_wasserstein_correlation", "gaussian_wasserstein_correlation_norm",
                 "mutual_info_score"):
        assert after[name] == pytest.approx(before[name], rel=1e-6, abs=1e-9), name
    # The forest's deep trees meet tied splits, which the column order breaks.
    for name in ("dci_disentanglement", "dci_completeness"):
        assert after[name] == pytest.approx(before[name], abs=0.01), name


def test_a_permutation_of_the_code_dimensions_changes_gbt_dci_only_by_tie_breaking(
        small_sample):
    # Two dimensions that split the sample alike tie, and the column order breaks the tie;
    # two factors keep the test fast.
    order = np.random.default_rng(0).permutation(small_sample[0][0].shape[1])
    (codes, factors), (codes_test, factors_test) = small_sample
    before = dis.dci(codes, factors[:, :2], codes_test, factors_test[:, :2])
    after = dis.dci(codes[:, order], factors[:, :2], codes_test[:, order], factors_test[:, :2])
    assert after == pytest.approx(before, abs=0.01)


def test_a_permutation_of_the_code_changes_no_intervention_score():
    order = np.array([3, 0, 4, 2, 1])
    for score, key in ((dis.beta_vae_score, "beta_vae_score"),
                       (dis.factor_vae_score, "factor_vae_score")):
        before = score(GROUND_TRUTH, rotation, num_train=300, num_eval=300)
        after = score(GROUND_TRUTH, lambda x: rotation(x)[:, order], num_train=300,
                      num_eval=300)
        assert after[key] == before[key], key


SCALE_INVARIANT = ("mig", "dci_disentanglement", "dci_completeness",
                   "dci_informativeness_train", "dci_informativeness_test", "modularity",
                   "explicitness_train", "explicitness_test", "gaussian_total_correlation",
                   "mutual_info_score", "sap_thresholds")


@pytest.mark.parametrize("scale", [4.0, 0.37])
def test_a_positive_scale_changes_no_scale_invariant_metric(small_sample, small_scores, scale):
    # SAP with thresholds; disentanglement_lib's SVM (C=0.01) and the beta-VAE score's
    # logistic regression are regularized on the raw code, so they are not invariant.
    def stretch(codes):
        codes = codes.copy()
        codes[:, 2] *= scale
        return codes

    before = small_scores
    after = _codes_based(*_transformed(small_sample, stretch))
    for name in SCALE_INVARIANT:
        # A power of two scales exactly; 0.37 may move a point across a bin edge by a ulp.
        assert after[name] == pytest.approx(before[name], rel=1e-6, abs=1e-9 if scale == 4.0
                                            else 1e-3), name


def test_a_positive_scale_changes_no_factor_vae_score():
    def stretched(x):
        codes = rotation(x)
        codes[:, 1] *= 4.0
        return codes

    before = dis.factor_vae_score(GROUND_TRUTH, rotation, num_train=300, num_eval=300)
    after = dis.factor_vae_score(GROUND_TRUTH, stretched, num_train=300, num_eval=300)
    assert after == before


# --- evaluate -----------------------------------------------------------------------------

_FAST = dict(num_train=400, num_test=200, dci_importance="random_forest")


def test_evaluate_reports_every_metric_reproducibly():
    scores = dis.evaluate(GROUND_TRUTH, rotation, seed=3, **_FAST)
    assert list(scores) == [
        "beta_vae_score", "beta_vae_train_accuracy", "factor_vae_score",
        "factor_vae_train_accuracy", "factor_vae_num_active_dims", "mig", "sap",
        "dci_disentanglement", "dci_completeness", "dci_informativeness_train",
        "dci_informativeness_test", "modularity", "explicitness_train", "explicitness_test",
        "gaussian_total_correlation", "gaussian_wasserstein_correlation",
        "gaussian_wasserstein_correlation_norm", "mutual_info_score"]
    assert all(np.isfinite(value) for value in scores.values())
    # The sample does not depend on how the observations are batched.
    assert dis.evaluate(GROUND_TRUTH, rotation, seed=3, batch_size=37, **_FAST) == scores
    other = dis.evaluate(GROUND_TRUTH, rotation, seed=4, metrics=("mig", "beta_vae"), **_FAST)
    assert other["mig"] != scores["mig"]
    assert other["beta_vae_train_accuracy"] != scores["beta_vae_train_accuracy"]


def test_evaluate_equals_the_metric_functions_with_the_same_seed():
    scores = dis.evaluate(GROUND_TRUTH, rotation, seed=2, metrics=["mig", "factor_vae"],
                          num_train=500, num_test=100)
    assert set(scores) == {"mig", "factor_vae_score", "factor_vae_train_accuracy",
                           "factor_vae_num_active_dims"}
    codes, factors = dis.sample_codes(GROUND_TRUTH, rotation, 500, seed=2)
    assert scores["mig"] == dis.mig(codes, factors)["mig"]
    factor_vae = dis.factor_vae_score(GROUND_TRUTH, rotation, num_train=500, num_eval=100,
                                      seed=2)
    assert scores["factor_vae_score"] == factor_vae["factor_vae_score"]


def test_the_representation_sees_bounded_batches():
    seen = []

    def recording(observations):
        seen.append(len(observations))
        return identity(observations)

    dis.beta_vae_score(GROUND_TRUTH, recording, num_train=50, num_eval=10, batch_size=100)
    codes, factors = dis.sample_codes(GROUND_TRUTH, recording, 2049, batch_size=100)
    assert max(seen) == 100
    assert seen[-1] == 1  # the one point beyond the first chunk of 2,048
    assert np.array_equal(codes, factors)


def test_factor_vae_prunes_collapsed_dimensions():
    def with_dead(x):
        return np.concatenate([identity(x), np.full((len(x), 2), 0.5),
                               0.01 * Noise(1)(x)], axis=1)

    scores = dis.factor_vae_score(GROUND_TRUTH, with_dead, num_train=200, num_eval=100)
    assert scores["factor_vae_num_active_dims"] == NUM_FACTORS
    assert scores["factor_vae_score"] == 1.0
    dead = dis.factor_vae_score(GROUND_TRUTH, lambda x: 1e-4 * x, num_train=20, num_eval=10)
    assert dead == {"factor_vae_score": 0.0, "factor_vae_train_accuracy": 0.0,
                    "factor_vae_num_active_dims": 0}


# --- bad input ----------------------------------------------------------------------------


def test_bad_arrays_are_value_errors_that_name_the_fix():
    codes = np.random.default_rng(0).normal(size=(100, 3))
    factors = np.stack([np.arange(100) % 3, np.arange(100) % 5], axis=1)
    with pytest.raises(ValueError, match=r"2-D array \[num_points, code_dim\].*reshape"):
        dis.mig(codes[:, 0], factors)
    with pytest.raises(ValueError, match="one row per code; got 99 rows for 100"):
        dis.mig(codes, factors[:99])
    with pytest.raises(ValueError, match="factors\\[:, None\\]"):
        dis.mig(codes, factors[:, 0])
    nan = codes.copy()
    nan[7, 1] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite values \\(first at point 7, "
                                         "dimension 1\\)"):
        dis.mig(nan, factors)
    with pytest.raises(ValueError, match="integer class indices.*return_inverse"):
        dis.mig(codes, factors.astype(float))
    constant = factors.copy()
    constant[:, 1] = 4
    with pytest.raises(ValueError, match="factor 1 of factors takes a single value \\(4\\)"
                                         ".*Drop constant factors"):
        dis.mig(codes, constant)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        dis.mig(codes[:, :1], factors)
    with pytest.raises(ValueError, match="codes_test must have the training codes' 3"):
        dis.dci(codes, factors, codes[:, :2], factors)
    with pytest.raises(ValueError, match="importance must be one of 'gbt', 'random_forest'"):
        dis.dci(codes, factors, codes, factors, importance="lasso")
    with pytest.raises(ValueError, match="classifier must be one of 'linear_svm'"):
        dis.sap(codes, factors, codes, factors, classifier="svm")
    with pytest.raises(ValueError, match="num_bins must be a positive integer"):
        dis.mig(codes, factors, num_bins=0)


def test_bad_ground_truth_and_representation_are_value_errors():
    with pytest.raises(ValueError, match="metrics must be None \\(all\\) or names among "
                                         "'beta_vae'.*got 'mgi'"):
        dis.evaluate(GROUND_TRUTH, identity, metrics=["mig", "mgi"])
    with pytest.raises(ValueError, match="ground_truth must have factor_sizes.*object has no "
                                         "factor_sizes"):
        dis.evaluate(object(), identity)

    class OneValued(FactorGroundTruth):
        factor_sizes = (3, 1, 40, 32, 32)

    with pytest.raises(ValueError, match="factor 1 \\('scale'\\) of ground_truth has 1 value"):
        dis.beta_vae_score(OneValued(), identity)
    with pytest.raises(ValueError, match="codes of shape \\[n, D\\].*got shape \\(10,\\)"):
        dis.sample_codes(GROUND_TRUTH, lambda x: x[:, 0], 10)
    with pytest.raises(ValueError, match="representation_fn's codes contain .* NaN"):
        dis.factor_vae_score(GROUND_TRUTH, lambda x: np.full(x.shape, np.nan), num_train=10,
                             num_eval=10)
    with pytest.raises(ValueError, match="group_size must be at least 2"):
        dis.factor_vae_score(GROUND_TRUTH, identity, group_size=1)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        dis.evaluate(GROUND_TRUTH, identity, seed=-1)
    with pytest.raises(ValueError, match="representation_fn must be a callable"):
        dis.evaluate(GROUND_TRUTH, "encoder")


# --- the full protocol --------------------------------------------------------------------


@pytest.mark.slow
def test_the_full_protocol_on_the_factors():
    # About 1.5 minutes on 2 cores, most of it the gradient-boosted trees of DCI.
    scores = dis.evaluate(GROUND_TRUTH, identity, seed=0)
    assert scores["beta_vae_score"] > 0.99
    assert scores["factor_vae_score"] == 1.0
    assert 0.85 < scores["mig"] <= _mig_ceiling()
    assert scores["dci_disentanglement"] > 0.98
    assert scores["dci_completeness"] > 0.98
    assert scores["dci_informativeness_test"] > 0.99
    assert scores["modularity"] > 0.99
    assert scores["sap"] > 0.2
