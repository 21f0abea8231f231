"""The C++ k-NN kernels (gib_kernels._cpu.kth_neighbor_distance / count_within) against the
brute force of gib_kernels.reference.

The reference computes every distance, adding coordinates in the kernels' order (0, 1, ...,
d-1) so that exact ties (integer data, duplicate rows) compare the same way. The table runs
d == 1 (the sorted path) and d > 1 (the pruned brute force), both metrics, with and
without labels (a singleton label, a label smaller than k, arbitrary int64 values), and
continuous, integer-valued and duplicated data.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest

from conftest import assert_close
from gib_kernels import _cpu
from gib_kernels import reference as ref
from gib_kernels.reference import EUCLIDEAN, MAX, METRICS
from inputs import BAD_SHARDS, continuous, shard_parts

RTOL = 1e-12


# ----------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Case:
    n: int
    d: int
    k: int
    metric: str
    data: str  # gaussian | integers | duplicates
    labels: Optional[str]  # None | groups: a singleton, a pair and a few large groups

    @property
    def id(self):
        return f"n{self.n}-d{self.d}-k{self.k}-{self.metric}-{self.data}-{self.labels or 'nolabels'}"


SHAPES = [(2, 1, 1), (3, 2, 2), (9, 0, 2), (17, 1, 3), (31, 3, 7), (101, 7, 4), (257, 37, 5),
          (333, 2, 1), (401, 3, 6), (499, 1, 6)]
CASES = [Case(n, d, k, metric, data, labels)
         for n, d, k in SHAPES
         for metric in METRICS
         for data in ("gaussian", "integers", "duplicates")
         for labels in (None, "groups")]


def make_points(rng, n, d, data):
    if data == "gaussian":
        return continuous(rng, n, d) * 1.7
    if data == "integers":
        return continuous(rng, n, d, ties=True)
    # Exact copies of a few rows, the copies scattered among the other points.
    z = continuous(rng, n, d)
    copies = rng.choice(n, size=n // 3, replace=False)
    z[copies] = z[rng.choice(n, size=copies.size)]
    return z


def make_labels(rng, n, labels):
    """Arbitrary int64 values: a singleton (no candidate: +inf), a pair (k lowered to 1) and
    the rest in three random groups."""
    if labels is None:
        return None
    values = np.array([-7, 0, 2**40, np.iinfo(np.int64).max], dtype=np.int64)
    out = values[rng.integers(0, 3, n)]
    order = rng.permutation(n)
    out[order[1:3]] = -(2**62)
    out[order[0]] = values[3]
    return out


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_kth_neighbor_distance_matches_brute_force(case, rng):
    z = make_points(rng, case.n, case.d, case.data)
    labels = make_labels(rng, case.n, case.labels)
    got = _cpu.kth_neighbor_distance(z, labels, case.k, METRICS[case.metric])
    assert got.dtype == np.float64
    expected = ref.kth_neighbor_distance(z, labels, case.k, METRICS[case.metric])
    assert_close(got, expected, RTOL, name=case.id)


RADII = ["kth", "random", "special"]


def make_radius(rng, z, metric, kind):
    """kth: the kernel's own k-th distances, so that the k-th neighbour sits exactly on the
    radius and must not count; random: uniform up to the largest distance; special: 0, inf,
    negative and exact distances to some other point."""
    n = z.shape[0]
    if kind == "kth":
        return _cpu.kth_neighbor_distance(z, None, min(3, n - 1), metric)
    dist = ref.distance_matrix(z, metric)
    if kind == "random":
        return rng.uniform(0, 1.1 * dist.max() + 1e-9, n)
    radius = dist[np.arange(n), rng.integers(0, n, n)]
    special = rng.random(n) < 0.4
    radius[special] = rng.choice([0.0, np.inf, -1.0], special.sum())
    return radius


@pytest.mark.parametrize("radius_kind", RADII)
@pytest.mark.parametrize("case", [c for c in CASES if c.labels is None], ids=lambda c: c.id)
def test_count_within_matches_brute_force(case, radius_kind, rng):
    z = make_points(rng, case.n, case.d, case.data)
    radius = make_radius(rng, z, METRICS[case.metric], radius_kind)
    got = _cpu.count_within(z, radius, METRICS[case.metric])
    assert got.dtype == np.int64
    expected = ref.count_within(z, radius, METRICS[case.metric])
    assert np.array_equal(got, expected), (
        f"{case.id}: {np.count_nonzero(got != expected)} counts differ, "
        f"first at {np.flatnonzero(got != expected)[:5]}")


def test_count_within_single_point_is_zero():
    assert _cpu.count_within(np.zeros((1, 3)), np.array([np.inf]), MAX).tolist() == [0]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("data", ["gaussian", "integers"])
def test_sorted_path_agrees_bitwise_with_brute_force_path(data, metric, rng):
    """A zero second column changes no distance, but sends d == 1 data down the brute force."""
    z = make_points(rng, 777, 1, data)
    padded = np.column_stack([z, np.zeros(len(z))])
    for labels in (None, make_labels(rng, len(z), "groups")):
        sorted_path = _cpu.kth_neighbor_distance(z, labels, 5, METRICS[metric])
        brute_path = _cpu.kth_neighbor_distance(padded, labels, 5, METRICS[metric])
        assert np.array_equal(sorted_path, brute_path)
    radius = _cpu.kth_neighbor_distance(z, None, 5, METRICS[metric]) * rng.choice([0.5, 1, 2], len(z))
    assert np.array_equal(_cpu.count_within(z, radius, METRICS[metric]),
                          _cpu.count_within(padded, radius, METRICS[metric]))


@pytest.mark.parametrize("d", [1, 2, 37])
def test_results_do_not_depend_on_thread_count(d, rng):
    """Several tiles of anchors (n * n * d well past one tile's budget for d = 37)."""
    z = make_points(rng, 1501, d, "duplicates")
    labels = make_labels(rng, len(z), "groups")
    before = _cpu.max_threads()
    results = []
    try:
        for threads in (1, 2):
            _cpu.set_num_threads(threads)
            kth = _cpu.kth_neighbor_distance(z, labels, 4, MAX)
            results.append((kth, _cpu.count_within(z, np.where(np.isinf(kth), 1.0, kth), EUCLIDEAN)))
    finally:
        _cpu.set_num_threads(before)
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])
    assert_close(results[0][0], ref.kth_neighbor_distance(z, labels, 4, MAX), RTOL, name=f"d{d} kth")


# ----------------------------------------------------------------------------- sharding
SHARD_COUNTS = [1, 2, 3, 7]


@pytest.mark.parametrize("count", SHARD_COUNTS)
@pytest.mark.parametrize("d", [1, 3])
def test_shards_add_up_exactly(d, count, rng):
    """Shards own disjoint anchors, zeros elsewhere: their sum is the whole output bit for bit
    (the sorted path for d == 1, the brute force otherwise)."""
    z = make_points(rng, 301, d, "duplicates")
    for labels in (None, make_labels(rng, len(z), "groups")):
        for metric in METRICS.values():
            whole = _cpu.kth_neighbor_distance(z, labels, 4, metric)
            parts = shard_parts(lambda s: _cpu.kth_neighbor_distance(z, labels, 4, metric, shard=s),
                            count)
            assert np.count_nonzero(np.stack(parts), axis=0).max() <= 1
            assert np.array_equal(sum(parts), whole)
            radius = np.where(np.isinf(whole), 1.0, whole) * 1.5
            parts = shard_parts(lambda s: _cpu.count_within(z, radius, metric, shard=s), count)
            assert np.array_equal(sum(parts), _cpu.count_within(z, radius, metric))


def test_shard_of_more_parts_than_anchors_is_empty(rng):
    # Runs of anchors go to the shards in turn: 5 points make at most 5 runs, so shard 6 of 7
    # owns none.
    z = make_points(rng, 5, 2, "gaussian")
    assert not _cpu.kth_neighbor_distance(z, None, 2, MAX, shard=(6, 7)).any()
    assert not _cpu.count_within(z, np.ones(5), MAX, shard=(6, 7)).any()


@pytest.mark.parametrize("shard", BAD_SHARDS, ids=str)
def test_bad_shard_raises(shard):
    z = np.zeros((9, 2))
    with pytest.raises(ValueError, match="shard must be"):
        _cpu.kth_neighbor_distance(z, None, 2, MAX, shard=shard)
    with pytest.raises(ValueError, match="shard must be"):
        _cpu.count_within(z, np.ones(9), MAX, shard=shard)
