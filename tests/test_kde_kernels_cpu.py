"""The C++ KDE kernels (gib_kernels._cpu.kde_log_mean_kernel / kde_loo) against the numpy of
gib_kernels.reference.

kde_log_mean_kernel(t, labels, sigma2)[a] = log((1/N_a) sum_{b in C(a)} exp(-|t_a - t_b|^2 /
(2 sigma2))), C(a) every point or a's class, a itself included. kde_loo(...)[c, j] sums that over
the anchors of class c, on t without column j (j < m) or on all of t (j = m); the reference
deletes the column and starts over. sigma2 = 1e-3 (the library default) drives most terms to
exact underflow, which the kernels skip; larger values keep every term.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest

from conftest import assert_close
from gib_kernels import _cpu
from gib_kernels import reference as ref
from inputs import BAD_SHARDS, continuous, layer_like, shard_parts

RTOL = 1e-10
ATOL = 1e-13  # log(1) = 0 exactly in one, a rounding away in the other


# ----------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Case:
    n: int
    d: int
    sigma2: float
    data: str  # tanh | integers | duplicates
    labels: Optional[str]  # None | classes: a singleton class, an empty one and three others

    @property
    def id(self):
        return f"n{self.n}-d{self.d}-s{self.sigma2:g}-{self.data}-{self.labels or 'nolabels'}"


SHAPES = [(1, 1), (2, 3), (5, 1), (33, 2), (131, 7), (257, 3), (151, 37), (499, 1)]
CASES = [Case(n, d, sigma2, data, labels)
         for n, d in SHAPES
         for sigma2 in (1e-3, 0.05, 3.0)
         for data in ("tanh", "integers", "duplicates")
         for labels in (None, "classes")]
N_CLASSES = 5


def make_points(rng, n, d, data):
    if data == "tanh":
        return layer_like(rng, n, d)
    if data == "integers":
        return continuous(rng, n, d, ties=True)
    # Exact copies of a few rows (terms of exactly 1) among near copies (small distances).
    t = layer_like(rng, n, d)
    near = rng.random(n) < 0.5
    t[near] = t[rng.integers(0, n)] + 1e-2 * rng.standard_normal((near.sum(), d))
    copies = rng.choice(n, size=n // 3, replace=False)
    t[copies] = t[rng.choice(n, size=copies.size)]
    return t


def make_labels(rng, n, labels):
    """Classes 0..2 at random, class 3 a singleton and class 4 empty."""
    if labels is None:
        return None
    out = rng.integers(0, 3, n).astype(np.int64)
    out[rng.integers(0, n)] = 3
    return out


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_log_mean_kernel_matches_brute_force(case, rng):
    t = make_points(rng, case.n, case.d, case.data)
    labels = make_labels(rng, case.n, case.labels)
    got = _cpu.kde_log_mean_kernel(t, labels, case.sigma2)
    assert_close(got, ref.kde_log_mean_kernel(t, labels, case.sigma2), RTOL, ATOL, name=case.id)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_leave_one_feature_out_matches_brute_force(case, rng):
    t = make_points(rng, case.n, case.d, case.data)
    labels = make_labels(rng, case.n, case.labels)
    n_classes = 1 if labels is None else N_CLASSES
    got = _cpu.kde_loo(t, labels, n_classes, case.sigma2)
    expected = ref.kde_loo(t, labels, n_classes, case.sigma2)
    assert_close(got, expected, RTOL, ATOL, name=case.id)
    if labels is not None:
        assert np.all(got[4] == 0.0), "an empty class sums no anchor"


def test_downdate_far_from_the_other_columns():
    """One column so wide that exp(+delta^2 / (2 sigma2)) overflows: each term is evaluated
    directly, so dropping that column gives the kernel of the others. Dyadic values keep the
    downdate exact."""
    t = np.array([[0.0, 0.0], [1024.0, 0.015625], [-1024.0, 0.03125]])
    got = _cpu.kde_loo(t, None, 1, 1e-3)
    assert np.all(np.isfinite(got))
    assert_close(got, ref.kde_loo(t, None, 1, 1e-3), RTOL, ATOL)


def test_results_do_not_depend_on_thread_count(rng):
    """Several tiles of anchors (n * n * m past one tile's budget): bit-identical sums."""
    t = make_points(rng, 1501, 31, "duplicates")
    labels = make_labels(rng, len(t), "classes")
    before = _cpu.max_threads()
    results = []
    try:
        for threads in (1, 2):
            _cpu.set_num_threads(threads)
            results.append((_cpu.kde_log_mean_kernel(t, labels, 1e-3),
                            _cpu.kde_loo(t, labels, N_CLASSES, 1e-3)))
    finally:
        _cpu.set_num_threads(before)
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])
    # The tiled sums equal per-column sums of the single-output kernel.
    log_means = [_cpu.kde_log_mean_kernel(np.delete(t, j, axis=1), labels, 1e-3) for j in range(31)]
    per_column = np.array([np.bincount(labels, lm, N_CLASSES) for lm in log_means]).T
    assert_close(results[0][1][:, :31], per_column, RTOL, ATOL)


# ----------------------------------------------------------------------------- sharding
@pytest.mark.parametrize("count", [1, 2, 3, 7])
@pytest.mark.parametrize("labels", [None, "classes"], ids=["nolabels", "classes"])
def test_shards_add_up(labels, count, rng):
    """Shards own disjoint anchors: the per-anchor outputs add up to the whole bit for bit, the
    leave-one-out class sums up to summation order."""
    t = make_points(rng, 257, 3, "duplicates")
    lab = make_labels(rng, len(t), labels)
    parts = shard_parts(lambda s: _cpu.kde_log_mean_kernel(t, lab, 0.05, shard=s), count)
    assert np.count_nonzero(np.stack(parts), axis=0).max() <= 1
    assert np.array_equal(sum(parts), _cpu.kde_log_mean_kernel(t, lab, 0.05))
    n_classes = 1 if lab is None else N_CLASSES
    parts = shard_parts(lambda s: _cpu.kde_loo(t, lab, n_classes, 0.05, shard=s), count)
    assert_close(sum(parts), _cpu.kde_loo(t, lab, n_classes, 0.05), 1e-12, atol=1e-12,
                 name="leave-one-out sums")


def test_shard_of_more_parts_than_anchors_is_empty(rng):
    t = make_points(rng, 5, 2, "tanh")  # at most 5 runs of anchors: shard 0 of 7 owns none
    assert not _cpu.kde_log_mean_kernel(t, None, 0.1, shard=(0, 7)).any()
    assert not _cpu.kde_loo(t, None, 1, 0.1, shard=(0, 7)).any()


@pytest.mark.parametrize("shard", BAD_SHARDS, ids=str)
def test_bad_shard_raises(shard):
    t = np.zeros((9, 2))
    with pytest.raises(ValueError, match="shard must be"):
        _cpu.kde_log_mean_kernel(t, None, 0.1, shard=shard)
    with pytest.raises(ValueError, match="shard must be"):
        _cpu.kde_loo(t, None, 1, 0.1, shard=shard)
