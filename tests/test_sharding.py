"""Sharding (``shard=(index, count)``, ``Shard`` in csrc/include/gib/common.h) on every fast
backend (the `backend` fixture): the parts of a primitive add up to its whole output, per-anchor
entries and leave-one-out binning columns filled by one part only and bit for bit, sums over
anchors up to float64 summation order; pattern classes carry the CPU kernels' row hashes, so
that classes counted apart merge. Estimation sharded over processes: test_distributed.py."""
import numpy as np
import pytest

from conftest import assert_close
from gib_kernels.backends.cpu import CpuBackend
from gib_kernels.backends.protocol import EUCLIDEAN, MAX, Shard
from gib_kernels.backends.reference import ReferenceBackend
from inputs import (BAD_SHARDS, BINNING_CASES, BINNING_IDS, binning_inputs, continuous, loo_target,
                    shard_parts)

EXACT = 1e-12  # float64 sums of the same terms in another order


def _primitives(backend, rng, n, target):
    """name -> (call(shard), whether each output entry has one owner) for every sharded
    primitive, on inputs of n rows with the target "none", "lonely" (labels with a class of
    one) or "w"."""
    be = backend.be
    z = continuous(rng, n, 3).astype(np.float32).astype(np.float64)
    labels, w = loo_target(rng, z, target, lambda n: continuous(rng, n, 2))
    z, labels, w = backend.floats(z), backend.ints(labels), backend.floats(w)
    radius = be.kth_neighbor_distance(z, None, 2, MAX).astype(np.float32).astype(float) * 1.5
    calls = {
        "kth-max": (lambda s: be.kth_neighbor_distance(z, labels, 2, MAX, shard=s), True),
        "kth-euclidean": (lambda s: be.kth_neighbor_distance(z, labels, 2, EUCLIDEAN, shard=s),
                          True),
        "count-max": (lambda s: be.count_within(z, radius, MAX, shard=s), True),
        "count-euclidean": (lambda s: be.count_within(z, radius, EUCLIDEAN, shard=s), True),
        "log-mean-kernel": (lambda s: be.kde_log_mean_kernel(z, labels, 0.3, shard=s), True),
        "knn-loo-maxnorm": (lambda s: be.knn_loo_maxnorm(z, labels, w, 2, shard=s), False),
        "knn-loo-targets": (lambda s: be.knn_loo_maxnorm_targets(z, [(labels, w)], 2, shard=s),
                            False),
        "kde-loo": (lambda s: be.kde_loo(z, labels, 1 if labels is None else 4, 0.3, shard=s),
                    False),
    }
    if target == "none":
        calls["knn-loo-euclidean"] = (lambda s: be.knn_loo_euclidean(z, 2, shard=s), False)
    return calls


# Blocks of anchors are 32 (Triton in the interpreter) to 128 (CUDA) rows: these make several,
# with shard boundaries inside blocks.
@pytest.mark.parametrize("n", [43, 301])
@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("target", ["none", "lonely", "w"])
def test_shards_add_up(backend, rng, n, target, count):
    backend.fits(n)
    for name, (call, per_anchor) in _primitives(backend, rng, n, target).items():
        parts, whole = shard_parts(call, count), call(None)
        assert all(p.dtype == whole.dtype for p in parts), name
        if per_anchor:
            owners = np.count_nonzero(np.stack(parts), axis=0)
            assert owners.max(initial=0) <= 1, f"{name}: an entry is filled by two shards"
            np.testing.assert_array_equal(sum(parts), whole, err_msg=name)
        else:
            assert_close(sum(parts), whole, EXACT, atol=EXACT, name=f"{name} on {backend.id}")


def test_more_parts_than_anchors_leave_parts_empty(backend, rng):
    """3 anchors in 7 parts: at most 3 parts are nonzero; where the parts are contiguous ranges
    of the anchors (CUDA, Triton), exactly those whose range is not empty."""
    for name, (call, _) in _primitives(backend, rng, 3, "none").items():
        parts = shard_parts(call, 7)
        filled = [bool(np.any(p)) for p in parts]
        assert sum(filled) <= 3, name
        if backend.be.name != "cpu":  # the CPU kernels interleave runs of anchors instead
            assert filled == [Shard(i, 7).begin(3) < Shard(i, 7).end(3) for i in range(7)], name
        assert_close(sum(parts), call(None), EXACT, atol=EXACT, name=name)


SHARD_BINNING = [(70, 5, 0), (33, 1, 2), (64, 12, 1), (333, 7, 1)]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
@pytest.mark.parametrize("n,m,f", SHARD_BINNING, ids=[f"n{n}-m{m}-fixed{f}"
                                                      for n, m, f in SHARD_BINNING])
def test_binning_loo_shards_own_columns(backend, rng, n, m, f, count):
    """A shard owns columns [begin(m), end(m)) and out[m] on shard 0: its parts add up to the
    whole bit for bit, and more parts than columns leave some all zero."""
    codes, fixed = binning_inputs(rng, n, m, f, 3)
    codes, fixed = backend.ints(codes), backend.ints(fixed)
    parts = shard_parts(lambda s: backend.be.binning_loo(codes, fixed, shard=s), count)
    np.testing.assert_array_equal(sum(parts), backend.be.binning_loo(codes, fixed))
    for index, part in enumerate(parts):
        owned = np.zeros(m + 1, bool)
        owned[slice(*Shard(index, count).range(m))] = True
        owned[m] = index == 0
        assert not part[~owned].any(), f"shard {index} fills columns it does not own"


@pytest.mark.parametrize("n,m,f,high", BINNING_CASES + [(6, 0, 2, 3)],
                         ids=BINNING_IDS + ["n6-m0-fixed2-codes3"])
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
def test_bad_shards_raise(backend, rng, shard):
    codes = backend.ints(np.zeros((9, 2)))
    calls = [call for call, _ in _primitives(backend, rng, 9, "none").values()]
    for call in calls + [lambda s: backend.be.binning_loo(codes, None, shard=s)]:
        with pytest.raises(ValueError, match="shard must be"):
            call(shard)
