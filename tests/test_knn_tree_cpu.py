"""The k-d tree path of the C++ k-NN kernels (csrc/include/gib/knn_tree.h) and the leave-one-out
by separate searches (knn_loo.h) against the direct path and brute force in numpy.

path="tree" forces the tree on inputs of any size (small odd shapes reach every branch: leaves,
whole-box counts, coincident points that cannot be split), path="direct" the pruned brute force
or the fused pass. k-th distances must be bit-equal, counts equal, the leave-one-out sums
bit-equal: every path compares the same reduced distances.
"""
import numpy as np
import pytest

from gib_kernels import _cpu
from gib_kernels import reference as ref
from gib_kernels.reference import EUCLIDEAN, MAX, METRICS
from inputs import continuous, labels_of_three, shard_parts
from test_knn_loo_kernels_cpu import assert_sums_close


def points(rng, n, d, kind):
    if kind == "ties":  # small integers: duplicate points and equal distances everywhere
        return continuous(rng, n, d, ties=True)
    z = continuous(rng, n, d)
    if kind == "duplicates" and n >= 8:
        z[1:6] = z[0]  # five copies of one point: its k-th distance is 0 for k <= 5
    return z


def labels_of(rng, z, labels):
    if labels == "none":
        return None
    if labels == "lonely":
        return labels_of_three(rng, z, lonely=True)
    return rng.integers(-3, 2, z.shape[0]).astype(np.int64) * 1000  # arbitrary int64 values


SHAPES = [(2, 1, 1), (4, 2, 3), (5, 3, 4), (37, 2, 3), (37, 5, 4), (200, 8, 5), (1000, 3, 4),
          (1001, 1, 2)]
KINDS = ["continuous", "ties", "duplicates"]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n,d,k", SHAPES, ids=str)
@pytest.mark.parametrize("labels", ["none", "lonely", "arbitrary"])
def test_tree_kth_and_counts_equal_direct_and_brute_force(n, d, k, kind, metric, labels):
    rng = np.random.default_rng(n * 31 + d)
    z = points(rng, n, d, kind)
    lab = labels_of(rng, z, labels)
    met = METRICS[metric]
    tree = _cpu.kth_neighbor_distance(z, lab, k, met, path="tree")
    np.testing.assert_array_equal(tree, _cpu.kth_neighbor_distance(z, lab, k, met, path="direct"))
    np.testing.assert_array_equal(tree, ref.kth_neighbor_distance(z, lab, k, met))
    # Radii exactly at a neighbour's distance: the points at the radius are not counted.
    radius = np.where(np.isfinite(tree), tree, 1.0)
    counts = _cpu.count_within(z, radius, met, path="tree")
    np.testing.assert_array_equal(counts, _cpu.count_within(z, radius, met, path="direct"))
    np.testing.assert_array_equal(counts, ref.count_within(z, radius, met))


@pytest.mark.parametrize("metric", METRICS)
def test_duplicates_and_radius_ties(metric):
    met = METRICS[metric]
    z = np.repeat(np.arange(40.0).reshape(20, 2), 3, axis=0)  # every point three times
    r = _cpu.kth_neighbor_distance(z, None, 2, met, path="tree")
    np.testing.assert_array_equal(r, 0.0)  # two copies at distance 0
    r3 = _cpu.kth_neighbor_distance(z, None, 3, met, path="tree")
    np.testing.assert_array_equal(r3, ref.kth_neighbor_distance(z, None, 3, met))
    # The next points of the lattice lie exactly at the radius: excluded.
    radius = np.full(len(z), 2.0 if met == MAX else np.sqrt(8.0))
    counts = _cpu.count_within(z, radius, met, path="tree")
    np.testing.assert_array_equal(counts, 2)
    np.testing.assert_array_equal(counts, ref.count_within(z, radius, met))
    np.testing.assert_array_equal(_cpu.count_within(z, np.nextafter(radius, np.inf), met,
                                                    path="tree"),
                                  ref.count_within(z, np.nextafter(radius, np.inf), met))


@pytest.mark.parametrize("metric", METRICS)
def test_count_edge_radii(metric):
    met = METRICS[metric]
    rng = np.random.default_rng(2)
    z = continuous(rng, 300, 3)
    radius = rng.choice([0.0, -1.0, np.inf, 0.3, np.nan], size=300)
    counts = _cpu.count_within(z, radius, met, path="tree")
    np.testing.assert_array_equal(counts, _cpu.count_within(z, radius, met, path="direct"))
    np.testing.assert_array_equal(counts[radius == np.inf], 299)
    np.testing.assert_array_equal(counts[~(radius > 0)], 0)


def test_single_point_counts():
    z = np.zeros((1, 3))
    np.testing.assert_array_equal(_cpu.count_within(z, np.ones(1), MAX, path="tree"), [0])


@pytest.mark.parametrize("metric", METRICS)
def test_auto_path_at_large_n(metric):
    rng = np.random.default_rng(4)
    z = continuous(rng, 6000, 4)
    z[100:110] = z[99]
    assert _cpu.knn_uses_tree(z)
    met = METRICS[metric]
    auto = _cpu.kth_neighbor_distance(z, None, 4, met)
    np.testing.assert_array_equal(auto, _cpu.kth_neighbor_distance(z, None, 4, met,
                                                                   path="direct"))
    np.testing.assert_array_equal(_cpu.count_within(z, auto, met),
                                  _cpu.count_within(z, auto, met, path="direct"))


def test_non_finite_points_take_the_direct_path():
    rng = np.random.default_rng(5)
    z = continuous(rng, 5000, 3)
    for bad in (np.nan, np.inf):
        y = z.copy()
        y[7, 1] = bad
        assert not _cpu.knn_uses_tree(y, "tree")
        np.testing.assert_array_equal(_cpu.kth_neighbor_distance(y, None, 3, MAX, path="tree"),
                                      _cpu.kth_neighbor_distance(y, None, 3, MAX, path="direct"))


# ----------------------------------------------------------------------------- the predicate
def test_eligibility_predicate():
    assert _cpu.knn_tree_eligible(100000, 4)
    assert _cpu.knn_tree_eligible(4096, 2) and _cpu.knn_tree_eligible(4096, 8)
    assert not _cpu.knn_tree_eligible(4095, 4)  # small n: the brute force wins
    assert not _cpu.knn_tree_eligible(100000, 9)  # wide z: boxes stop pruning
    assert not _cpu.knn_tree_eligible(100000, 1)  # one coordinate: the sorted path
    z = np.zeros((5000, 3))
    assert _cpu.knn_uses_tree(z) and not _cpu.knn_uses_tree(z, "direct")
    assert not _cpu.knn_uses_tree(z[:100]) and _cpu.knn_uses_tree(z[:100], "tree")
    assert not _cpu.knn_uses_tree(np.zeros((5000, 9)), "tree")
    with pytest.raises(ValueError, match="path"):
        _cpu.kth_neighbor_distance(z, None, 1, MAX, path="fast")


def test_loo_eligibility_predicate():
    assert _cpu.knn_loo_by_searches(100000, 4, [0])
    assert _cpu.knn_loo_by_searches(4096, 6, [2, 0])  # widest search z beside w: 8 columns
    assert not _cpu.knn_loo_by_searches(4096, 7, [2])
    assert not _cpu.knn_loo_by_searches(4095, 4, [0])  # small n: the fused pass wins
    assert not _cpu.knn_loo_by_searches(100000, 9, [0])
    assert _cpu.knn_loo_by_searches(10, 3, [1], "tree")
    assert not _cpu.knn_loo_by_searches(100000, 3, [1], "direct")


# ----------------------------------------------------------------------------- shards, threads
@pytest.mark.parametrize("count", [2, 3, 7])
@pytest.mark.parametrize("metric", METRICS)
def test_tree_shards_own_disjoint_anchors(count, metric):
    rng = np.random.default_rng(6)
    z = continuous(rng, 1500, 3)
    labels = labels_of_three(rng, z, lonely=True)
    met = METRICS[metric]
    whole = _cpu.kth_neighbor_distance(z, labels, 3, met, path="tree")
    parts = shard_parts(lambda s: _cpu.kth_neighbor_distance(z, labels, 3, met, s, path="tree"),
                        count)
    owners = sum((p != 0).astype(int) for p in parts)
    assert owners.max() == 1
    np.testing.assert_array_equal(sum(parts), whole)
    radius = np.full(len(z), 0.4)
    whole_counts = _cpu.count_within(z, radius, met, path="tree")
    parts = shard_parts(lambda s: _cpu.count_within(z, radius, met, s, path="tree"), count)
    np.testing.assert_array_equal(sum(parts), whole_counts)


@pytest.fixture
def restore_threads():
    before = _cpu.max_threads()
    yield
    _cpu.set_num_threads(before)


def test_tree_independent_of_thread_count(restore_threads):
    rng = np.random.default_rng(7)
    z = continuous(rng, 20000, 3)
    labels = labels_of_three(rng, z)
    results = []
    for threads in (1, 2, 3):
        _cpu.set_num_threads(threads)
        r = _cpu.kth_neighbor_distance(z, labels, 4, EUCLIDEAN)
        results.append((r, _cpu.count_within(z, r, MAX),
                        _cpu.knn_loo_maxnorm(z, None, z[:, :1] ** 2, 4)))
    for later in results[1:]:
        for a, b in zip(results[0], later):
            np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- leave-one-out
def loo_targets(rng, z, q):
    labels = labels_of_three(rng, z, lonely=True)
    w = continuous(rng, z.shape[0], q) + z[:, :1]
    return {"none": (None, None), "labels": (labels, None), "w": (None, w)}


LOO_SHAPES = [(5, 1, 1, 1), (6, 2, 1, 2), (37, 3, 2, 3), (200, 4, 2, 4), (1000, 5, 3, 4),
              (300, 7, 1, 3)]


@pytest.mark.parametrize("kind", ["continuous", "ties"])
@pytest.mark.parametrize("n,m,q,k", LOO_SHAPES, ids=str)
def test_loo_by_searches_equals_fused_pass(n, m, q, k, kind):
    rng = np.random.default_rng(n + 10 * m)
    z = points(rng, n, m, kind)
    targets = loo_targets(rng, z, q)
    for name, (labels, w) in targets.items():
        tree = _cpu.knn_loo_maxnorm(z, labels, w, k, path="tree")
        np.testing.assert_array_equal(tree, _cpu.knn_loo_maxnorm(z, labels, w, k, path="direct"),
                                      err_msg=name)
    both = list(targets.values())
    np.testing.assert_array_equal(_cpu.knn_loo_maxnorm_targets(z, both, k, path="tree"),
                                  _cpu.knn_loo_maxnorm_targets(z, both, k, path="direct"))


def test_loo_by_searches_against_brute_force():
    rng = np.random.default_rng(8)
    z = continuous(rng, 120, 3)
    z[3] = z[4]
    targets = loo_targets(rng, z, 2)
    labels, _ = targets["labels"]
    keep = labels != labels[0]  # the lonely point takes no part
    tree = _cpu.knn_loo_maxnorm_targets(z, list(targets.values()), 4, path="tree")
    assert_sums_close(tree[0], ref.knn_loo_maxnorm(z, None, None, 4))
    assert_sums_close(tree[1], ref.knn_loo_maxnorm(z[keep], labels[keep], None, 4))
    assert_sums_close(tree[2], ref.knn_loo_maxnorm(z, None, targets["w"][1], 4))


@pytest.mark.parametrize("count", [2, 3])
def test_loo_by_searches_shards(count):
    rng = np.random.default_rng(9)
    z = continuous(rng, 3000, 3)
    for name, (labels, w) in loo_targets(rng, z, 2).items():
        parts = shard_parts(lambda s: _cpu.knn_loo_maxnorm(z, labels, w, 3, s, path="tree"), count)
        direct = shard_parts(lambda s: _cpu.knn_loo_maxnorm(z, labels, w, 3, s, path="direct"),
                             count)
        for a, b in zip(parts, direct):  # the same anchors per shard as the fused pass
            np.testing.assert_array_equal(a, b, err_msg=name)
        np.testing.assert_allclose(sum(parts), _cpu.knn_loo_maxnorm(z, labels, w, 3), rtol=1e-12)


def test_loo_auto_path_at_large_n():
    rng = np.random.default_rng(10)
    z = continuous(rng, 4100, 3)
    assert _cpu.knn_loo_by_searches(4100, 3, [2])
    w = continuous(rng, 4100, 2)
    np.testing.assert_array_equal(_cpu.knn_loo_maxnorm(z, None, w, 4),
                                  _cpu.knn_loo_maxnorm(z, None, w, 4, path="direct"))


def test_loo_non_finite_takes_the_fused_pass():
    rng = np.random.default_rng(11)
    z = continuous(rng, 50, 3)
    z[4, 2] = np.inf
    np.testing.assert_array_equal(_cpu.knn_loo_maxnorm(z, None, None, 3, path="tree"),
                                  _cpu.knn_loo_maxnorm(z, None, None, 3, path="direct"))


# ----------------------------------------------------------------------------- Euclidean leave-one-out
@pytest.mark.filterwarnings("ignore:divide by zero")  # duplicates and m = 1: log 0 = -inf
@pytest.mark.parametrize("kind", ["continuous", "duplicates"])
@pytest.mark.parametrize("n,m,k", [(5, 1, 2), (37, 2, 3), (200, 3, 4), (301, 5, 2), (150, 8, 3)],
                         ids=str)
def test_euclidean_loo_by_searches(n, m, k, kind):
    rng = np.random.default_rng(n + m)
    z = 3.0 * points(rng, n, m, kind)
    tree = _cpu.knn_loo_euclidean(z, k, path="tree")
    direct = _cpu.knn_loo_euclidean(z, k, path="direct")
    # Direct sums against downdated squared distances: equal to their rounding.
    np.testing.assert_allclose(tree, direct, rtol=1e-12, atol=0)
    np.testing.assert_allclose(tree, ref.knn_loo_euclidean(z, k), rtol=1e-12, atol=0)
    # Each column is exactly the sum over the k-th distances of the direct kernel on z without j.
    for j in range(m + 1):
        x = np.delete(z, j, 1) if j < m else z
        r = _cpu.kth_neighbor_distance(np.ascontiguousarray(x), None, k, EUCLIDEAN, path="direct")
        expected = 0.0
        for v in np.log(r):
            expected += v
        assert tree[j] == expected


def test_euclidean_loo_shards_and_predicate():
    rng = np.random.default_rng(12)
    z = continuous(rng, 4100, 3)
    assert _cpu.knn_loo_euclidean_by_searches(4100, 3)
    assert not _cpu.knn_loo_euclidean_by_searches(4095, 3)
    assert not _cpu.knn_loo_euclidean_by_searches(100000, 9)
    assert _cpu.knn_loo_euclidean_by_searches(10, 9 - 1, "tree")
    whole = _cpu.knn_loo_euclidean(z, 3)
    np.testing.assert_allclose(whole, _cpu.knn_loo_euclidean(z, 3, path="direct"), rtol=1e-12)
    parts = shard_parts(lambda s: _cpu.knn_loo_euclidean(z, 3, s), 3)
    np.testing.assert_allclose(sum(parts), whole, rtol=1e-12)
