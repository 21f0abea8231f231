"""Sharding (``shard=(index, count)``, ``Shard`` in csrc/include/gib/common.h) on every fast
backend (the `backend` fixture): the parts of a primitive add up to its whole output, each
per-anchor entry and each leave-one-out binning column filled by one part only, bit for bit, and
the leave-one-out sums over anchors up to float64 summation order; pattern classes carry the CPU
kernels' row hashes, so that classes counted apart merge. The sharded estimation over processes
built on these is test_distributed.py."""
import numpy as np
import pytest

from conftest import assert_close
from gib_kernels.backends.cpu import CpuBackend
from gib_kernels.backends.protocol import EUCLIDEAN, MAX, Shard
from gib_kernels.backends.reference import ReferenceBackend
from inputs import (BAD_SHARDS, BINNING_CASES, BINNING_IDS, binning_inputs, continuous,
                    labels_of_three, loo_target, shard_parts)

EXACT = 1e-12  # float64 sums of the same terms in another order
COUNTS = [1, 2, 3]
# Blocks of anchors are 32 (Triton in the interpreter) to 128 (CUDA) rows: these make several,
# with shard boundaries inside blocks.
SIZES = pytest.mark.parametrize("n", [43, 301])


def _data(rng, n, d):
    return continuous(rng, n, d).astype(np.float32).astype(np.float64)


def _owned_once(parts, name):
    """Each entry is nonzero in at most one part: the parts not owning it leave it at 0."""
    owners = np.count_nonzero(np.stack(parts), axis=0)
    assert owners.max(initial=0) <= 1, f"{name}: an entry is filled by two shards"


@SIZES
@pytest.mark.parametrize("count", COUNTS)
def test_per_anchor_shards_add_up_exactly(backend, rng, n, count):
    backend.fits(n)
    be = backend.be
    z = _data(rng, n, 4)
    zt, labels = backend.floats(z), backend.ints(labels_of_three(rng, z, lonely=True))
    for metric in (MAX, EUCLIDEAN):
        for lab in (None, labels):
            whole = be.kth_neighbor_distance(zt, lab, 3, metric)
            parts = shard_parts(
                lambda s: be.kth_neighbor_distance(zt, lab, 3, metric, shard=s), count)
            _owned_once(parts, "k-th neighbour distance")
            np.testing.assert_array_equal(sum(parts), whole)
        radius = whole.astype(np.float32).astype(np.float64) * 1.5
        parts = shard_parts(lambda s: be.count_within(zt, radius, metric, shard=s), count)
        assert all(p.dtype == np.int64 for p in parts)
        np.testing.assert_array_equal(sum(parts), be.count_within(zt, radius, metric))
    for lab in (None, labels):
        parts = shard_parts(lambda s: be.kde_log_mean_kernel(zt, lab, 0.3, shard=s), count)
        _owned_once(parts, "log mean kernel")
        np.testing.assert_array_equal(sum(parts), be.kde_log_mean_kernel(zt, lab, 0.3))


@pytest.mark.parametrize("n", [41, 263])
@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("target", ["none", "lonely", "w"])
def test_leave_one_out_shards_add_up(backend, rng, n, target, count):
    """Shards sum over disjoint anchors with every point a candidate."""
    backend.fits(n)
    be = backend.be
    z = _data(rng, n, 3)
    labels, w = loo_target(rng, z, target, lambda n: _data(rng, n, 2))
    zt, lt, wt = backend.floats(z), backend.ints(labels), backend.floats(w)

    def check(call, name):
        assert_close(sum(shard_parts(lambda s: call(shard=s), count)), call(), EXACT,
                     atol=EXACT, name=f"{name} on {backend.id}")

    check(lambda shard=None: be.knn_loo_maxnorm(zt, lt, wt, 3, shard=shard), "knn_loo_maxnorm")
    check(lambda shard=None: be.knn_loo_maxnorm_targets(zt, [(lt, wt)], 3, shard=shard),
          "knn_loo_maxnorm_targets")
    if target == "none":
        check(lambda shard=None: be.knn_loo_euclidean(zt, 3, shard=shard), "knn_loo_euclidean")
    n_classes = 1 if labels is None else 4
    check(lambda shard=None: be.kde_loo(zt, lt, n_classes, 0.3, shard=shard), "kde_loo")


def test_more_parts_than_anchors_leave_parts_empty(backend, rng):
    """3 anchors in 7 parts: at most 3 parts are nonzero; where the parts are contiguous ranges
    of the anchors (CUDA, Triton), exactly those whose range is not empty."""
    be = backend.be
    z = backend.floats(_data(rng, 3, 2))
    calls = {
        "kth_neighbor_distance": lambda shard=None: be.kth_neighbor_distance(z, None, 1, MAX,
                                                                             shard=shard),
        "count_within": lambda shard=None: be.count_within(z, np.full(3, 1e3), MAX, shard=shard),
        "knn_loo_maxnorm": lambda shard=None: be.knn_loo_maxnorm(z, None, None, 1, shard=shard),
        "kde_log_mean_kernel": lambda shard=None: be.kde_log_mean_kernel(z, None, 0.1,
                                                                         shard=shard),
        "kde_loo": lambda shard=None: be.kde_loo(z, None, 1, 0.1, shard=shard),
    }
    for name, call in calls.items():
        parts = shard_parts(lambda s: call(shard=s), 7)
        filled = [bool(np.any(p)) for p in parts]
        assert sum(filled) <= 3, name
        if be.name != "cpu":  # the CPU kernels interleave runs of anchors instead
            assert filled == [Shard(i, 7).begin(3) < Shard(i, 7).end(3) for i in range(7)], name
        assert_close(sum(parts), call(), EXACT, atol=EXACT, name=name)


SHARD_BINNING = [(70, 5, 0), (33, 1, 2), (64, 12, 1), (333, 7, 1)]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
@pytest.mark.parametrize("n,m,f", SHARD_BINNING, ids=[f"n{n}-m{m}-fixed{f}"
                                                      for n, m, f in SHARD_BINNING])
def test_binning_loo_shards_own_columns(backend, rng, n, m, f, count):
    """A shard owns columns [begin(m), end(m)) and out[m] on shard 0: its parts add up to the
    whole bit for bit, and more parts than columns leave some all zero."""
    codes, fixed = binning_inputs(rng, n, m, f, 3)
    codes, fixed = backend.ints(codes), backend.ints(fixed)
    whole = backend.be.binning_loo(codes, fixed)
    parts = shard_parts(lambda s: backend.be.binning_loo(codes, fixed, shard=s), count)
    np.testing.assert_array_equal(sum(parts), whole)
    for index, part in enumerate(parts):
        owned = np.zeros(m + 1, bool)
        owned[slice(*Shard(index, count).range(m))] = True
        owned[m] = index == 0
        assert not part[~owned].any(), f"shard {index} fills columns it does not own"


CLASS_CASES = BINNING_CASES + [(6, 0, 2, 3)]


@pytest.mark.parametrize("n,m,f,high", CLASS_CASES, ids=BINNING_IDS + ["n6-m0-fixed2-codes3"])
def test_pattern_classes_carry_the_cpu_kernels_hashes(backend, rng, n, m, f, high):
    """The CPU kernels' 128-bit row hashes, bit for bit and in their order, with the classes'
    sizes: classes counted on any backend merge by hash."""
    codes, fixed = binning_inputs(rng, n, m, f, high)
    hashes, counts = backend.be.pattern_classes(backend.ints(codes), backend.ints(fixed))
    want_hashes, want_counts = CpuBackend().pattern_classes(codes, fixed)
    assert hashes.dtype == np.uint64 and counts.dtype == np.int64
    np.testing.assert_array_equal(hashes, want_hashes)
    np.testing.assert_array_equal(counts, want_counts)
    np.testing.assert_array_equal(np.sort(counts),
                                  np.sort(ReferenceBackend().pattern_counts(codes, fixed)))


@pytest.mark.parametrize("shard", BAD_SHARDS, ids=["index-past", "no-parts", "negative"])
def test_bad_shards_raise(backend, shard):
    be = backend.be
    z, codes = backend.floats(np.arange(18.0).reshape(9, 2)), backend.ints(np.zeros((9, 2)))
    for call in (lambda: be.kth_neighbor_distance(z, None, 2, MAX, shard=shard),
                 lambda: be.count_within(z, np.ones(9), MAX, shard=shard),
                 lambda: be.knn_loo_maxnorm(z, None, None, 2, shard=shard),
                 lambda: be.knn_loo_maxnorm_targets(z, [(None, None)], 2, shard=shard),
                 lambda: be.knn_loo_euclidean(z, 2, shard=shard),
                 lambda: be.kde_log_mean_kernel(z, None, 0.1, shard=shard),
                 lambda: be.kde_loo(z, None, 1, 0.1, shard=shard),
                 lambda: be.binning_loo(codes, None, shard=shard)):
        with pytest.raises(ValueError, match="shard must be"):
            call()
