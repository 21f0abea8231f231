"""The fused leave-one-feature-out k-NN kernels of ``gib_kernels._cpu`` against the loop of
``gib_kernels.reference``, which drops each column in turn and recomputes every pairwise distance.

Layout of the kernels' output (``csrc/include/gib/knn_loo.h``): column j < m is the estimate on z
without column j, column m the one on all of z. Max-norm rows: sum log r, sum psi(c_z + 1),
sum psi(c_w + 1); Euclidean: sum log r only.
"""
import numpy as np
import pytest

from gib_kernels import _cpu
from gib_kernels import reference as ref
from gib_kernels.backends.protocol import MAX
from inputs import BAD_SHARDS, shard_parts

RTOL = 1e-12  # float rounding in the sums; radii and counts must match exactly


def make_data(rng, n, d, kind):
    if kind == "continuous":
        return rng.standard_normal((n, d))
    return rng.integers(0, 3, size=(n, d)).astype(np.float64)  # "tied": many zero distances


def make_labels(rng, n):
    """Three random classes plus one of exactly two members; no label is unique."""
    labels = rng.integers(0, 3, size=n)
    labels[rng.choice(n, size=2, replace=False)] = 3
    counts = np.bincount(labels)
    for lonely in np.flatnonzero(counts == 1):
        labels[labels == lonely] = (lonely + 1) % 3
    return labels.astype(np.int64)


def make_target(rng, n, target, kind):
    if target == "none":
        return None, None
    if target == "labels":
        return make_labels(rng, n), None
    q = int(target[1:])  # "w1", "w3"
    return None, make_data(rng, n, q, kind)


def assert_sums_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=0,
                               err_msg="rows: sum log r, sum psi(c_z+1), sum psi(c_w+1)")


# (n, m, k, target, data); k = -1 means n - 1
MAXNORM_CASES = [
    (57, 1, 1, "none", "continuous"),
    (57, 1, 3, "w1", "continuous"),
    (61, 1, 2, "labels", "tied"),
    (83, 2, 1, "none", "tied"),
    (83, 2, 7, "w3", "continuous"),
    (101, 3, 2, "labels", "continuous"),
    (101, 3, 3, "w1", "tied"),
    (131, 5, 7, "none", "continuous"),
    (131, 5, 1, "labels", "tied"),
    (40, 5, -1, "none", "continuous"),
    (40, 5, -1, "labels", "continuous"),
    (40, 5, -1, "w3", "tied"),
    (173, 17, 3, "labels", "continuous"),
    (173, 17, 2, "w3", "continuous"),
    (173, 17, 7, "none", "tied"),
    (211, 40, 1, "w1", "continuous"),
    (211, 40, 7, "labels", "tied"),
    (299, 40, 3, "none", "continuous"),
    (299, 17, 7, "labels", "continuous"),
    (299, 3, 2, "w3", "tied"),
    # m > 32: past its first 16 columns the pass follows only the candidates within the
    # anchor's largest radius (pruning)
    (157, 33, 3, "none", "continuous"),
    (157, 33, 2, "labels", "tied"),
    (190, 48, 3, "w3", "continuous"),
    (190, 48, 1, "w1", "tied"),
    (240, 70, 5, "labels", "continuous"),
    (240, 70, 3, "none", "tied"),
    (60, 70, -1, "labels", "continuous"),
    (60, 41, -1, "w3", "continuous"),
]


@pytest.mark.parametrize(
    "n, m, k, target, kind", MAXNORM_CASES,
    ids=[f"n{n}-m{m}-k{'n-1' if k < 0 else k}-{t}-{d}" for n, m, k, t, d in MAXNORM_CASES],
)
def test_maxnorm_matches_brute_force(n, m, k, target, kind):
    k = n - 1 if k < 0 else k
    rng = np.random.default_rng([n, m, k, len(target), len(kind)])
    z = make_data(rng, n, m, kind)
    labels, w = make_target(rng, n, target, kind)
    got = _cpu.knn_loo_maxnorm(z, labels, w, k)
    assert got.shape == (3, m + 1)
    assert_sums_close(got, ref.knn_loo_maxnorm(z, labels, w, k))


EUCLIDEAN_CASES = [
    (57, 1, 1, "continuous"),
    (61, 1, 3, "tied"),
    (83, 2, 2, "continuous"),
    (83, 2, 7, "tied"),
    (101, 3, 3, "continuous"),
    (40, 5, 7, "continuous"),  # k^2 > n: the nth_element selection
    (131, 5, 1, "tied"),
    (40, 5, -1, "continuous"),
    (173, 17, 7, "continuous"),
    (173, 17, 2, "tied"),
    (211, 40, 1, "continuous"),
    (299, 40, 3, "tied"),
]


@pytest.mark.parametrize(
    "n, m, k, kind", EUCLIDEAN_CASES,
    ids=[f"n{n}-m{m}-k{'n-1' if k < 0 else k}-{d}" for n, m, k, d in EUCLIDEAN_CASES],
)
def test_euclidean_matches_brute_force(n, m, k, kind):
    k = n - 1 if k < 0 else k
    rng = np.random.default_rng([n, m, k, len(kind)])
    z = make_data(rng, n, m, kind)
    got = _cpu.knn_loo_euclidean(z, k)
    assert got.shape == (m + 1,)
    np.testing.assert_allclose(got, ref.knn_loo_euclidean(z, k), rtol=RTOL, atol=0)


def test_euclidean_recomputes_cancelled_downdates():
    """Column 0 dominates every distance by 1e8: without it the downdate D2 - d_0^2 would keep
    no correct digit, so the kernel must recompute those distances from the coordinates."""
    rng = np.random.default_rng(7)
    z = rng.standard_normal((89, 3))
    z[:, 0] *= 1e8
    expected = ref.knn_loo_euclidean(z, 2)
    np.testing.assert_allclose(_cpu.knn_loo_euclidean(z, 2), expected, rtol=RTOL, atol=0)


@pytest.mark.parametrize("m", [4, 40])
def test_maxnorm_point_of_a_unique_label_takes_no_part(m):
    """A point whose label is unique is left out entirely (Ross; scikit-learn): the sums equal
    those over the data without it."""
    rng = np.random.default_rng(11)
    n = 50
    z = rng.standard_normal((n, m))
    labels = rng.integers(0, 2, size=n)
    labels[17] = 2
    keep = np.arange(n) != 17
    got = _cpu.knn_loo_maxnorm(z, labels, None, 3)
    assert_sums_close(got, ref.knn_loo_maxnorm(z[keep], labels[keep], None, 3))


@pytest.mark.parametrize("m", [6, 40])
def test_targets_share_one_pass(m):
    """Several targets in one call give what one call per target gives (with m > 32 the pass is
    pruned by the largest radius over the targets), and what brute force gives."""
    rng = np.random.default_rng(5)
    z = rng.standard_normal((120, m))
    labels = rng.integers(0, 3, size=120)
    labels[3] = 9  # unique in the first target only
    w = rng.standard_normal((120, 2))
    both = _cpu.knn_loo_maxnorm_targets(z, [(labels, None), (None, w), (None, None)], 4)
    assert both.shape == (3, 3, m + 1)
    np.testing.assert_array_equal(both[0], _cpu.knn_loo_maxnorm(z, labels, None, 4))
    np.testing.assert_array_equal(both[1], _cpu.knn_loo_maxnorm(z, None, w, 4))
    np.testing.assert_array_equal(both[2], _cpu.knn_loo_maxnorm(z, None, None, 4))
    keep = np.arange(120) != 3
    assert_sums_close(both[0], ref.knn_loo_maxnorm(z[keep], labels[keep], None, 4))
    assert_sums_close(both[1], ref.knn_loo_maxnorm(z, None, w, 4))
    assert_sums_close(both[2], ref.knn_loo_maxnorm(z, None, None, 4))


@pytest.fixture
def restore_threads():
    before = _cpu.max_threads()
    yield
    _cpu.set_num_threads(before)


THREAD_CASES = [("maxnorm-labels", "labels"), ("maxnorm-w3", "w3"), ("euclidean", None)]


@pytest.mark.parametrize("target", [t for _, t in THREAD_CASES], ids=[i for i, _ in THREAD_CASES])
def test_bit_identical_across_thread_counts(target, restore_threads):
    # n * n * m > 2^26: more than one tile of anchors, so the tile reduction is exercised.
    rng = np.random.default_rng(3)
    n, m = 2100, 17
    z = make_data(rng, n, m, "continuous")

    def run():
        if target is None:
            return _cpu.knn_loo_euclidean(z, 3)
        labels, w = make_target(np.random.default_rng(5), n, target, "continuous")
        return _cpu.knn_loo_maxnorm(z, labels, w, 3)

    results = []
    for threads in (1, 2):
        _cpu.set_num_threads(threads)
        results.append(run())
    assert np.isfinite(results[0]).all()
    np.testing.assert_array_equal(results[0], results[1])


# ----------------------------------------------------------------------------- sharding
@pytest.mark.parametrize("count", [1, 2, 3, 7])
@pytest.mark.parametrize("target", ["none", "labels", "w3"])
def test_shards_add_up(target, count):
    """Shards sum over disjoint anchors, every point still a candidate: the parts add up to the
    whole sums up to summation order."""
    rng = np.random.default_rng(count)
    z = make_data(rng, 157, 5, "continuous")
    labels, w = make_target(rng, 157, target, "continuous")
    if labels is not None:
        labels[11] = 9  # a point alone in its label takes no part in any shard
    parts = shard_parts(lambda s: _cpu.knn_loo_maxnorm(z, labels, w, 3, shard=s), count)
    np.testing.assert_allclose(sum(parts), _cpu.knn_loo_maxnorm(z, labels, w, 3), rtol=RTOL,
                               atol=RTOL)
    parts = shard_parts(lambda s: _cpu.knn_loo_maxnorm_targets(z, [(labels, w)], 3, shard=s), count)
    np.testing.assert_allclose(sum(parts), _cpu.knn_loo_maxnorm_targets(z, [(labels, w)], 3),
                               rtol=RTOL, atol=RTOL)
    if target == "none":
        parts = shard_parts(lambda s: _cpu.knn_loo_euclidean(z, 3, shard=s), count)
        np.testing.assert_allclose(sum(parts), _cpu.knn_loo_euclidean(z, 3), rtol=RTOL,
                                   atol=RTOL)


def test_shard_of_more_parts_than_anchors_is_empty():
    z = make_data(np.random.default_rng(1), 5, 2, "continuous")
    assert not _cpu.knn_loo_maxnorm(z, None, None, 2, shard=(3, 7)).any()
    assert not _cpu.knn_loo_euclidean(z, 2, shard=(0, 7)).any()


@pytest.mark.parametrize("shard", BAD_SHARDS, ids=str)
def test_bad_shard_raises(shard):
    z = np.arange(18.0).reshape(9, 2)
    for call in (lambda: _cpu.knn_loo_maxnorm(z, None, None, 2, shard=shard),
                 lambda: _cpu.knn_loo_maxnorm_targets(z, [(None, None)], 2, shard=shard),
                 lambda: _cpu.knn_loo_euclidean(z, 2, shard=shard)):
        with pytest.raises(ValueError, match="shard must be"):
            call()


@pytest.mark.parametrize("target", ["none", "labels", "w3"])
def test_given_radius_bound_changes_nothing(target):
    """Wide z prunes the pass by per-anchor radius bounds; bounds from the caller (the exact
    largest radius, or no pruning at all with +inf) give the same sums."""
    rng = np.random.default_rng([7, len(target)])
    n, m, k = 230, 45, 3
    z = make_data(rng, n, m, "continuous")
    labels, w = make_target(rng, n, target, "continuous")
    joint = z if w is None else np.hstack([z, w])
    radius = _cpu.kth_neighbor_distance(joint, labels, k, MAX)
    assert m > _cpu.loo_pruned_above
    expected = _cpu.knn_loo_maxnorm(z, labels, w, k)
    np.testing.assert_array_equal(_cpu.knn_loo_maxnorm(z, labels, w, k, bound=radius), expected)
    np.testing.assert_array_equal(
        _cpu.knn_loo_maxnorm(z, labels, w, k, bound=np.full(n, np.inf)), expected)
    with pytest.raises(ValueError, match="bound must have one entry per row"):
        _cpu.knn_loo_maxnorm(z, labels, w, k, bound=radius[1:])

