"""The Gram-form Euclidean k-th neighbour distance (csrc/include/gib/gram.h) against the direct
path and the brute force of gib_kernels.reference.

`kth_neighbor_distance_gram` runs the Gram form whatever the size (the dispatcher takes it only
where `euclidean_gram_eligible` holds), `kth_neighbor_distance_direct` the pruned direct scan.
Selected distances are recomputed directly, so the two agree bit for bit: on odd shapes, ties
and duplicate rows, with labels and shards, whatever the thread count, and on rows with large
norms and tiny separations, where the Gram form alone picks the wrong k-th neighbour.
"""
import numpy as np
import pytest

from conftest import assert_close
from gib_kernels import _cpu
from gib_kernels import reference as ref
from gib_kernels.backends.registry import select
from gib_kernels.reference import EUCLIDEAN
from inputs import continuous, labels_of_three, shard_parts

SHAPES = [(2, 9), (4, 31), (37, 2), (37, 64), (200, 257), (1100, 31)]


def gram(z, labels=None, k=3, shard=None):
    out = _cpu.kth_neighbor_distance_gram(z, labels, k, shard)
    assert out is not None, "the Gram form declined finite data"
    return out


def direct(z, labels=None, k=3, shard=None):
    return _cpu.kth_neighbor_distance_direct(z, labels, k, shard)


@pytest.mark.parametrize("n,d", SHAPES)
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("data", ["continuous", "ties", "duplicates"])
def test_gram_equals_direct_and_brute_force(n, d, k, data):
    if k >= n:
        pytest.skip("k must be below n")
    rng = np.random.default_rng(n * 1000 + d * 10 + k)
    z = continuous(rng, n, d, ties=data == "ties")
    if data == "duplicates":
        z[n // 2:] = z[: n - n // 2]
    out = gram(z, k=k)
    np.testing.assert_array_equal(out, direct(z, k=k))
    if n <= 200:
        assert_close(out, ref.kth_neighbor_distance(z, None, k, EUCLIDEAN), rtol=1e-12, name="kth")


@pytest.mark.parametrize("lonely", [False, True])
@pytest.mark.parametrize("n,d", [(5, 9), (37, 31), (700, 64)])
def test_labels(n, d, lonely):
    rng = np.random.default_rng(n + d)
    z = continuous(rng, n, d)
    labels = labels_of_three(rng, z, lonely=lonely) * 7 - 3  # arbitrary int64 values
    out = gram(z, labels)
    np.testing.assert_array_equal(out, direct(z, labels))
    assert_close(out, ref.kth_neighbor_distance(z, labels, 3, EUCLIDEAN), rtol=1e-12, name="kth")
    if lonely:
        assert np.isinf(out[0])


def _cancelling(rng, n, d):
    """Two far clusters (norms ~1e6, so centring cannot remove them) of points 1e-3 apart."""
    z = 1e-3 * rng.standard_normal((n, d))
    z[:, 0] += np.where(np.arange(n) % 2 == 0, 1e6, -1e6)
    return z


@pytest.mark.parametrize("make", ["offset", "clusters"])
def test_cancellation_is_guarded(make):
    rng = np.random.default_rng(5)
    n, d, k = 300, 64, 3
    if make == "offset":
        z = 1e6 + 1e-3 * rng.standard_normal((n, d))
    else:
        z = _cancelling(rng, n, d)
    out = gram(z, k=k)
    np.testing.assert_array_equal(out, direct(z, k=k))
    if make == "clusters":
        # The Gram form alone (numpy, even with exact selection) gets the k-th wrong here.
        sq = np.einsum("ij,ij->i", z, z)
        naive = sq[:, None] + sq[None, :] - 2.0 * z @ z.T
        np.fill_diagonal(naive, np.inf)
        naive_kth = np.sqrt(np.maximum(np.sort(naive, axis=1)[:, k - 1], 0.0))
        assert not np.allclose(naive_kth, out, rtol=1e-6)


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("with_labels", [False, True])
def test_shards_sum_to_the_whole(count, with_labels):
    rng = np.random.default_rng(count)
    z = continuous(rng, 900, 40)
    labels = labels_of_three(rng, z) if with_labels else None
    whole = gram(z, labels)
    parts = shard_parts(lambda shard: gram(z, labels, shard=shard), count)
    for part, expected in zip(parts, shard_parts(lambda s: direct(z, labels, shard=s), count)):
        np.testing.assert_array_equal(part, expected)
        assert 0 < np.count_nonzero(part) < z.shape[0]
    np.testing.assert_array_equal(np.sum(parts, axis=0), whole)
    np.testing.assert_array_equal(whole, direct(z, labels))


def test_thread_count_does_not_change_results():
    rng = np.random.default_rng(11)
    z = continuous(rng, 1300, 48)
    before = _cpu.max_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            _cpu.set_num_threads(threads)
            results.append(_cpu.kth_neighbor_distance(z, None, 4, EUCLIDEAN, None))
    finally:
        _cpu.set_num_threads(before)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    np.testing.assert_array_equal(results[0], direct(z, k=4))


def test_non_finite_data_falls_back_to_the_direct_path():
    rng = np.random.default_rng(2)
    z = continuous(rng, 600, 32)
    z[3, 5] = np.inf
    assert _cpu.kth_neighbor_distance_gram(z, None, 3, None) is None
    huge = continuous(rng, 600, 32) * 1e200
    assert _cpu.kth_neighbor_distance_gram(huge, None, 3, None) is None
    np.testing.assert_array_equal(_cpu.kth_neighbor_distance(huge, None, 3, EUCLIDEAN, None),
                                  direct(huge))


def test_eligibility_predicate():
    assert _cpu.euclidean_gram_eligible(10000, 1024)
    assert _cpu.euclidean_gram_eligible(1000, 32)
    assert not _cpu.euclidean_gram_eligible(999, 1024)  # too few points for blocks
    assert not _cpu.euclidean_gram_eligible(10000, 31)  # the pruned scan is faster
    assert not _cpu.euclidean_gram_eligible(10000, 1)


def test_backend_takes_the_gram_form_where_eligible():
    rng = np.random.default_rng(4)
    z = continuous(rng, 1000, 40)
    assert _cpu.euclidean_gram_eligible(*z.shape)
    out = select("cpu", False).kth_neighbor_distance(z, None, 3, EUCLIDEAN)
    np.testing.assert_array_equal(out, direct(z))
    assert_close(out, ref.kth_neighbor_distance(z, None, 3, EUCLIDEAN), rtol=1e-12, name="kth")


# ----------------------------------------------------------------------------- KDE sums
def kde_path(t, sigma2, path, labels=None, shard=None):
    out = _cpu.kde_log_mean_kernel_path(t, labels, sigma2, path, shard)
    assert out is not None, f"the {path} path declined finite data"
    return out


KDE_RTOL, KDE_ATOL = 1e-12, 1e-14


@pytest.mark.parametrize("n,d", [(1, 9), (2, 31), (37, 64), (300, 257), (1100, 40)])
@pytest.mark.parametrize("sigma2", [0.05, 1.0, 30.0])
@pytest.mark.parametrize("data", ["layer", "ties"])
def test_kde_gram_equals_direct_and_brute_force(n, d, sigma2, data):
    rng = np.random.default_rng(n + d)
    t = continuous(rng, n, d, ties=True) if data == "ties" else \
        np.tanh(continuous(rng, n, d))
    out = kde_path(t, sigma2, "gram")
    assert_close(out, kde_path(t, sigma2, "direct"), rtol=KDE_RTOL, atol=KDE_ATOL, name="L")
    if n <= 300:
        assert_close(out, ref.kde_log_mean_kernel(t, None, sigma2), rtol=1e-11, atol=1e-13,
                     name="L")


@pytest.mark.parametrize("lonely", [False, True])
def test_kde_gram_labels_and_shards(lonely):
    rng = np.random.default_rng(3)
    t = np.tanh(continuous(rng, 700, 48))
    labels = labels_of_three(rng, t, lonely=lonely)
    out = kde_path(t, 2.0, "gram", labels)
    assert_close(out, kde_path(t, 2.0, "direct", labels), rtol=KDE_RTOL, atol=KDE_ATOL, name="L")
    parts = shard_parts(lambda shard: kde_path(t, 2.0, "gram", labels, shard), 3)
    for part in parts:
        assert 0 < np.count_nonzero(part) < t.shape[0]
    assert_close(np.sum(parts, axis=0), out, rtol=KDE_RTOL, atol=KDE_ATOL, name="sharded L")
    if lonely:
        assert out[0] == 0.0  # alone in its class: the self term only


def test_kde_cancellation_falls_back_to_direct_sums():
    """Far clusters and a small sigma2: the error bound is wide, the affected anchors are summed
    directly (bit-equal to the direct path)."""
    rng = np.random.default_rng(8)
    t = _cancelling(rng, 300, 64)
    for sigma2 in (1e-6, 1e-4):
        np.testing.assert_array_equal(kde_path(t, sigma2, "gram"),
                                      kde_path(t, sigma2, "direct"))


def test_kde_eligibility_predicate():
    rng = np.random.default_rng(9)
    t = np.tanh(continuous(rng, 1000, 64))
    spread = 2 * np.mean(np.sum((t - t.mean(0)) ** 2, axis=1))  # typical squared distance
    # The direct scan drops pairs early once their exponent passes 750: below about
    # spread / (16 * 1500) it stays on the direct path.
    assert _cpu.kde_gram_eligible(t, spread / 1500)
    assert not _cpu.kde_gram_eligible(t, spread / (1500 * 64))
    assert not _cpu.kde_gram_eligible(t[:999], spread / 1500)  # too few points
    assert not _cpu.kde_gram_eligible(np.ascontiguousarray(t[:, :16]), spread)  # narrow
    out = _cpu.kde_log_mean_kernel(t, None, spread / 1500, None)
    assert_close(out, kde_path(t, spread / 1500, "direct"), rtol=KDE_RTOL, atol=KDE_ATOL)
