"""The reference estimators against closed forms, brute-force definitions and scikit-learn/scipy.

The statistical tolerances (0.02-0.03 nats) are 1.5-2 standard deviations of the estimators at
the sizes used, so every test draws from a fixed seed.
"""
import math

import numpy as np
import pytest
from scipy.spatial import cKDTree
from sklearn.feature_selection import mutual_info_classif

from gib_kernels import reference as ref
from gib_kernels.backends import protocol

SEED = 0
LN2 = math.log(2.0)
STANDARD_NORMAL_ENTROPY = 1.41894  # nats, docs/science.md, "Reference values for tests"

SCIPY_P = {"max": np.inf, "euclidean": 2}


def rng():
    return np.random.default_rng(SEED)


def linear_gaussian(mixing, n, generator):
    """Samples (n, rows of mixing) of mixing @ N(0, I), and their covariance mixing @ mixing.T."""
    mixing = np.asarray(mixing, dtype=np.float64)
    samples = generator.standard_normal((n, mixing.shape[1])) @ mixing.T
    return samples, mixing @ mixing.T


# --- brute-force neighbour primitives against scipy's k-d tree --------------------------------

def test_metric_codes_are_the_protocols():
    """The reference backend hands the protocol's codes to these primitives as they are."""
    assert (ref.MAX, ref.EUCLIDEAN) == (protocol.MAX, protocol.EUCLIDEAN)


@pytest.mark.parametrize("metric", ["max", "euclidean"])
# n = 3001 spans several blocks of anchor rows.
@pytest.mark.parametrize("n, d, k", [(3001, 3, 1), (3001, 3, 4), (517, 1, 7)],
                         ids=["n3001_d3_k1", "n3001_d3_k4", "n517_d1_k7"])
def test_kth_neighbor_distance_matches_kdtree(n, d, k, metric):
    z = rng().standard_normal((n, d))
    # Neighbour 0 of the tree query is the point itself (no duplicates).
    expected = cKDTree(z).query(z, k=k + 1, p=SCIPY_P[metric])[0][:, k]
    actual = ref.kth_neighbor_distance(z, None, k, ref.METRICS[metric])
    np.testing.assert_allclose(actual, expected, rtol=1e-12)


def test_kth_neighbor_distance_with_labels_lowers_k_per_class():
    generator = rng()
    z = generator.standard_normal((211, 2))
    labels = generator.integers(0, 3, 211)
    labels[:3] = [3, 4, 4]  # a class of one (no candidate) and a class of two (k lowered to 1)
    k = 5
    expected = np.full(211, np.inf)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if members.size > 1:
            k_class = min(k, members.size - 1)
            tree = cKDTree(z[members])
            expected[members] = tree.query(z[members], k=k_class + 1, p=np.inf)[0][:, k_class]
    actual = ref.kth_neighbor_distance(z, labels, k, ref.MAX)
    assert actual[0] == np.inf
    np.testing.assert_allclose(actual, expected, rtol=1e-12)


@pytest.mark.parametrize("metric", ["max", "euclidean"])
def test_count_within_is_strict_and_excludes_self(metric):
    generator = rng()
    z = generator.standard_normal((3001, 2))
    radius = generator.uniform(0.0, 0.2, 3001)
    radius[:5] = 0.0
    # query_ball_point counts d <= r, the point itself included.
    tree_counts = cKDTree(z).query_ball_point(z, np.nextafter(radius, 0), p=SCIPY_P[metric],
                                              return_length=True)
    expected = np.maximum(tree_counts - 1, 0)
    actual = ref.count_within(z, radius, ref.METRICS[metric])
    assert actual.dtype == np.int64 and np.all(actual[:5] == 0)
    np.testing.assert_array_equal(actual, expected)


# --- continuous estimators against closed forms -----------------------------------------------

@pytest.mark.parametrize("metric", ["max", "euclidean"])
def test_kl_entropy_standard_normal(metric):
    z = rng().standard_normal(20000)
    assert ref.kl_entropy(z, k=3, metric=metric) == pytest.approx(STANDARD_NORMAL_ENTROPY,
                                                                  abs=0.02)


@pytest.mark.parametrize("metric", ["max", "euclidean"])
def test_kl_entropy_correlated_gaussian_2d(metric):
    z, cov = linear_gaussian([[1.0, 0.0], [0.7, 1.3]], 20000, rng())
    assert ref.kl_entropy(z, k=3, metric=metric) == pytest.approx(ref.gaussian_entropy(cov),
                                                                  abs=0.02)


@pytest.mark.parametrize("rho, expected", [(0.5, 0.1438), (0.8, 0.5108), (0.9, 0.8304)],
                         ids=["rho0.5", "rho0.8", "rho0.9"])
def test_ksg_gaussian(rho, expected):
    z, _ = linear_gaussian([[1.0, 0.0], [rho, math.sqrt(1.0 - rho**2)]], 5000, rng())
    assert ref.gaussian_mutual_information_rho(rho) == pytest.approx(expected, abs=1e-4)
    assert ref.ksg_mutual_information(z[:, 0], z[:, 1], k=3) == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize("p, expected", [(0.5, 0.3466), (0.3, 0.3054)], ids=["p0.5", "p0.3"])
def test_mixed_ross_case(p, expected):
    generator = rng()
    x = (generator.random(5000) < p).astype(np.int64)
    y = np.where(x == 0, generator.uniform(-1, 1, 5000), generator.uniform(0, 2, 5000))
    assert ref.mixed_mutual_information(y, x, k=3) == pytest.approx(expected, abs=0.02)


# Rows are the variables (X, Y, V), columns the independent noise sources mixed into them.
CMI_CASES = {
    "markov_chain_x_v_y": [[1, 0, 0], [1, 1, 1], [1, 1, 0]],  # I(X;Y|V) = 0
    "explaining_away": [[1, 0, 0], [0, 1, 0], [1, 1, 0.5]],  # X, Y independent, V = X + Y + noise
    "common_cause_and_link": [[1, 1, 0], [2, 1, 1], [0, 1, 0]],
}


@pytest.mark.parametrize("mixing", CMI_CASES.values(), ids=CMI_CASES.keys())
def test_frenzel_pompe_gaussian(mixing):
    s, cov = linear_gaussian(mixing, 5000, rng())
    # Chain rule: I(X;Y|V) = I(X; Y,V) - I(X; V).
    expected = (ref.gaussian_mutual_information(cov, 0, [1, 2])
                - ref.gaussian_mutual_information(cov, 0, 2))
    actual = ref.frenzel_pompe_cmi(s[:, 0], s[:, 1], s[:, 2], k=3)
    assert actual == pytest.approx(expected, abs=0.03)


# --- mixed MI against scikit-learn, feature by feature ----------------------------------------

@pytest.mark.parametrize("n_classes, k", [(2, 1), (2, 3), (3, 3), (5, 7)],
                         ids=["2classes_k1", "2classes_k3", "3classes_k3", "5classes_k7"])
def test_mixed_matches_scikit_learn_per_feature(n_classes, k):
    generator = rng()
    n = 403
    labels = generator.integers(0, n_classes, n)
    # A class of one, dropped by both. No class small enough to lower k: scikit-learn then
    # switches to brute force with dot-product distances, which are off by more than the one ulp
    # its radius allows (the lowered k is tested against scipy above).
    labels[0] = n_classes
    x = np.column_stack([
        labels + generator.standard_normal(n),
        0.5 * labels - 2.0 * generator.random(n),
        generator.standard_normal(n),  # independent of the labels: clipped to 0 by sklearn
    ])
    expected = mutual_info_classif(x, labels, n_neighbors=k, random_state=0)
    actual = np.array([ref.mixed_mutual_information(x[:, j], labels, k) for j in range(3)])
    # scikit-learn clips at 0, so only its positive values are comparable.
    positive = expected > 0
    assert positive[:2].all()
    np.testing.assert_allclose(actual[positive], expected[positive], rtol=0, atol=1e-6)


# --- binning, synergy and interaction information on exact discrete cases ---------------------

def fair_bits(repeats):
    """All four combinations of two bits, each `repeats` times: (4 * repeats, 2) int64."""
    return np.tile(np.array([[0, 0], [0, 1], [1, 0], [1, 1]]), (repeats, 1))


def test_xor_synergy_profile_is_ln2_per_feature():
    z = fair_bits(25)
    w = z[:, 0] ^ z[:, 1]
    profile = ref.synergy_profile(ref.discrete_mutual_information, z, w)
    np.testing.assert_allclose(profile, [LN2, LN2], rtol=0, atol=1e-12)


def test_duplicated_bit_is_redundant_by_ln2_per_feature():
    bit = fair_bits(25)[:, 0]
    z = np.column_stack([bit, bit])
    profile = ref.synergy_profile(ref.discrete_mutual_information, z, bit)
    np.testing.assert_allclose(profile, [-LN2, -LN2], rtol=0, atol=1e-12)


def _bits_a_b():
    bits = fair_bits(17)
    return bits[:, 0], bits[:, 1]


INTERACTION_CASES = {
    "xor_is_synergy": (lambda a, b: a ^ b, LN2),
    "w_equals_a_is_zero": (lambda a, b: a, 0.0),
    # II = ln 2 - H(W) with H(W) the entropy of Bernoulli(1/4).
    "and_is_synergy": (lambda a, b: a & b, LN2 - (0.25 * math.log(4) + 0.75 * math.log(4 / 3))),
}


@pytest.mark.parametrize("target, expected", INTERACTION_CASES.values(),
                         ids=INTERACTION_CASES.keys())
def test_interaction_information_sign(target, expected):
    a, b = _bits_a_b()
    actual = ref.interaction_information(ref.discrete_mutual_information, a, b, target(a, b))
    assert actual == pytest.approx(expected, abs=1e-12)


def test_interaction_information_redundancy_is_negative():
    a, _ = _bits_a_b()
    actual = ref.interaction_information(ref.discrete_mutual_information, a, a, a)
    assert actual == pytest.approx(-LN2, abs=1e-12)


@pytest.mark.parametrize("n, m, levels", [(257, 3, 3), (311, 4, 2)],
                         ids=["n257_m3_ternary", "n311_m4_binary"])
def test_synergy_profile_equals_conditional_form(n, m, levels):
    """s_j = I(Z_j; W | Z_-j) - I(Z_j; W), an exact identity for plug-in estimates."""
    generator = rng()
    z = generator.integers(0, levels, (n, m))
    w = (z.sum(axis=1) + generator.integers(0, 2, n)) % levels
    expected = [
        ref.discrete_conditional_mutual_information(z[:, j], w, np.delete(z, j, axis=1))
        - ref.discrete_mutual_information(z[:, j], w)
        for j in range(m)
    ]
    profile = ref.synergy_profile(ref.discrete_mutual_information, z, w)
    np.testing.assert_allclose(profile, expected, rtol=0, atol=1e-12)


def test_leave_one_out_of_one_column_is_zero_without_estimating():
    def must_not_run(z, w):
        raise AssertionError("a column-less Z must not be estimated")

    z = rng().standard_normal((31, 1))
    np.testing.assert_array_equal(ref.leave_one_out(must_not_run, z, z[:, 0]), [0.0])


def test_leave_one_out_drops_each_column_in_turn():
    z = rng().integers(0, 4, (53, 3))
    seen = []
    ref.leave_one_out(lambda zj, w: seen.append(zj.copy()) or 0.0, z, z[:, 0])
    for j, without_j in enumerate(seen):
        np.testing.assert_array_equal(without_j, np.delete(z, j, axis=1))


ENTROPY_CASES = {
    "1d_half_quarter_quarter": ([0, 0, 1, 2], 1.5 * LN2),
    "rows_as_symbols": ([[0, 1], [0, 1], [1, 0], [1, 1]], 1.5 * LN2),
    "constant": ([7, 7, 7], 0.0),
    "uniform_over_5": (np.arange(5), math.log(5)),
}


@pytest.mark.parametrize("codes, expected", ENTROPY_CASES.values(), ids=ENTROPY_CASES.keys())
def test_discrete_entropy_by_hand(codes, expected):
    assert ref.discrete_entropy(np.asarray(codes)) == pytest.approx(expected, abs=1e-12)


def test_discrete_conditional_mutual_information_of_xor():
    z = fair_bits(9)
    w = z[:, 0] ^ z[:, 1]
    assert ref.discrete_mutual_information(z[:, 0], w) == pytest.approx(0.0, abs=1e-12)
    assert ref.discrete_conditional_mutual_information(z[:, 0], w, z[:, 1]) == pytest.approx(
        LN2, abs=1e-12)


DISCRETIZE_CASES = {
    "global_range_hi_in_last_bin": (
        [[0.0, 1.0], [0.5, 0.25]], dict(bins=4), [[0, 3], [2, 1]]),
    "per_column_range": (
        [[0.0, 10.0], [1.0, 30.0], [0.5, 20.0]], dict(bins=2, bin_range="column"),
        [[0, 0], [1, 1], [1, 1]]),
    "fixed_range_clips": (
        [-2.0, -1.0, -0.01, 0.0, 0.999, 1.0, 5.0], dict(bins=2, bin_range=(-1.0, 1.0)),
        [0, 0, 0, 1, 1, 1, 1]),
    "constant_array_is_bin_0": ([3.0, 3.0, 3.0], dict(bins=30), [0, 0, 0]),
    "constant_column_is_bin_0": (
        [[2.0, 0.0], [2.0, 1.0], [2.0, 0.5]], dict(bins=3, bin_range="column"),
        [[0, 0], [0, 2], [0, 1]]),
    "integers_unchanged": (np.array([[5, -1], [7, 2]], dtype=np.int32), dict(bins=2),
                           [[5, -1], [7, 2]]),
}


@pytest.mark.parametrize("z, kwargs, expected", DISCRETIZE_CASES.values(),
                         ids=DISCRETIZE_CASES.keys())
def test_discretize_edge_cases(z, kwargs, expected):
    codes = ref.discretize(np.asarray(z), **kwargs)
    assert codes.dtype == np.int64
    np.testing.assert_array_equal(codes, expected)


def test_discretize_default_is_30_equal_width_bins():
    z = rng().uniform(-1.0, 1.0, (997, 3))
    codes = ref.discretize(z)
    lo, hi = z.min(), z.max()
    edges = np.linspace(lo, hi, 31)
    expected = np.clip(np.digitize(z, edges[1:-1]), 0, 29)
    assert codes.min() == 0 and codes.max() == 29
    np.testing.assert_array_equal(codes, expected)


# --- KDE bound ---------------------------------------------------------------------------------

def kde_bound_by_loops(t, sigma2):
    n, d = len(t), len(t[0])
    total = 0.0
    for ti in t:
        kernel = sum(math.exp(-sum((a - b) ** 2 for a, b in zip(ti, tj)) / (2 * sigma2))
                     for tj in t)
        total += math.log(kernel / n)
    return d / 2 + d / 2 * math.log(2 * math.pi * sigma2) - total / n


@pytest.mark.parametrize("sigma2", [1e-3, 1e-2], ids=["sigma2_1e-3", "sigma2_1e-2"])
def test_kde_entropy_matches_direct_evaluation(sigma2):
    t = [[0.0, 0.0], [0.03, -0.01], [0.1, 0.05], [-0.02, 0.04], [0.01, 0.01]]
    assert ref.kde_entropy(np.array(t), sigma2) == pytest.approx(kde_bound_by_loops(t, sigma2),
                                                                 rel=1e-12)


def _noise_entropy(d, sigma2):
    return 0.5 * d * (math.log(2 * math.pi * sigma2) + 1)


def test_kde_of_far_apart_points_is_noise_plus_log_n():
    """Far apart, the mixture components do not overlap: H(T) = H(noise) + log n."""
    t = 10.0 * np.arange(21 * 3, dtype=np.float64).reshape(21, 3)
    assert ref.kde_entropy(t, 1e-3) == pytest.approx(_noise_entropy(3, 1e-3) + math.log(21),
                                                     abs=1e-12)
    assert ref.kde_mutual_information(t, t) == pytest.approx(math.log(21), abs=1e-12)


def test_kde_mutual_information_with_labels_is_label_entropy_when_separated():
    """Each class at its own far-away point: T determines the label and I(T;Y) = H(Y)."""
    labels = np.repeat(np.arange(3), [5, 9, 13])
    t = np.column_stack([10.0 * labels, -10.0 * labels]).astype(np.float64)
    p = np.bincount(labels) / labels.size
    label_entropy = float(-np.sum(p * np.log(p)))
    assert ref.kde_mutual_information(t, labels, 1e-3) == pytest.approx(label_entropy, abs=1e-12)


# --- Gaussian closed forms ---------------------------------------------------------------------

def test_gaussian_closed_forms():
    assert ref.gaussian_entropy([[1.0]]) == pytest.approx(STANDARD_NORMAL_ENTROPY, abs=1e-5)
    cov = np.array([[2.0, 0.9, 0.1], [0.9, 1.0, 0.0], [0.1, 0.0, 3.0]])
    expected = 1.5 * math.log(2 * math.pi * math.e) + 0.5 * math.log(np.linalg.det(cov))
    assert ref.gaussian_entropy(cov) == pytest.approx(expected, rel=1e-12)
    rho = 0.9 / math.sqrt(2.0)
    assert ref.gaussian_mutual_information(cov, 0, 1) == pytest.approx(
        ref.gaussian_mutual_information_rho(rho), rel=1e-12)
