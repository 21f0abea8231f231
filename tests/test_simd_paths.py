"""The k-NN brute-force scan on every vector unit (generic SSE2, AVX2 + FMA, AVX-512) gives the
bits of the generic path: one candidate per lane and the same operations per pair in the same
order, whatever the width. Each path this CPU has is forced in turn (``_ext.set_simd_path``,
as GIB_KERNELS_SIMD does at import); the others are skipped. Odd shapes (d not a multiple of
the 8 lanes of AVX-512 nor of the 4-coordinate chunks, n not a multiple of the 32-candidate
blocks), ties, duplicates, labels, shards and thread counts, and the reference brute force."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import assert_close
from gib_kernels import _cpu, _ext
from gib_kernels import reference as ref
from gib_kernels.reference import EUCLIDEAN, MAX
from inputs import shard_parts
from test_knn_kernels_cpu import make_labels, make_points

WIDE = [p for p in _ext.SIMD_PATHS if p != "generic"]
SHAPES = [(37, 2), (101, 7), (259, 13), (130, 33), (67, 129)]  # (n, d)


@pytest.fixture
def forced():
    """forced(path): every call after it runs on ``path``; the path before is restored."""
    before = _ext.simd_path()

    def force(path):
        if path not in _ext.simd_paths():
            pytest.skip(f"this CPU has no {path} (it has {', '.join(_ext.simd_paths())})")
        _ext.set_simd_path(path)

    yield force
    _ext.set_simd_path(before)


def _both(z, labels, radius, metric, **kw):
    """The k-th distances (the direct scan, never the tree or the Gram form) and the counts."""
    return (_cpu.kth_neighbor_distance(z, labels, 4, metric, path="direct", **kw),
            _cpu.count_within(z, radius, metric, path="direct", **kw))


@pytest.mark.parametrize("path", WIDE)
@pytest.mark.parametrize("metric", [MAX, EUCLIDEAN], ids=["max", "euclidean"])
@pytest.mark.parametrize("data", ["gaussian", "integers", "duplicates"])
@pytest.mark.parametrize("n,d", SHAPES, ids=[f"n{n}-d{d}" for n, d in SHAPES])
def test_every_vector_unit_gives_the_generic_bits(path, metric, data, n, d, forced, rng):
    z = make_points(rng, n, d, data)
    radius = _cpu.kth_neighbor_distance(z, None, 3, metric, path="direct") \
        * rng.choice([0.5, 1.0, 2.0], n)
    for labels in (None, make_labels(rng, n, "groups")):
        forced("generic")
        kth, counts = _both(z, labels, radius, metric)
        forced(path)
        got_kth, got_counts = _both(z, labels, radius, metric)
        assert np.array_equal(got_kth, kth), f"{path}: k-th distances differ from generic"
        assert np.array_equal(got_counts, counts), f"{path}: counts differ from generic"
    assert_close(got_kth, ref.kth_neighbor_distance(z, labels, 4, metric), 1e-12, name=path)


@pytest.mark.parametrize("path", WIDE)
def test_vector_units_agree_over_shards_and_threads(path, forced, rng):
    """Several tiles of anchors, two thread counts, three shards: the generic bits each time."""
    z = make_points(rng, 1501, 37, "duplicates")
    labels = make_labels(rng, len(z), "groups")
    forced("generic")
    expected = _cpu.kth_neighbor_distance(z, labels, 4, MAX, path="direct")
    forced(path)
    before = _cpu.max_threads()
    try:
        for threads in (1, 2):
            _cpu.set_num_threads(threads)
            assert np.array_equal(
                _cpu.kth_neighbor_distance(z, labels, 4, MAX, path="direct"), expected)
            parts = shard_parts(lambda s: _cpu.kth_neighbor_distance(
                z, labels, 4, MAX, path="direct", shard=s), 3)
            assert np.array_equal(np.sum(parts, axis=0), expected)
    finally:
        _cpu.set_num_threads(before)


def test_the_widest_path_is_the_default_and_build_info_names_it():
    import gib_kernels as gk

    info = gk.build_info()
    assert info["simd_available"] == _ext.simd_paths()
    assert info["simd_available"][0] == "generic"
    if "GIB_KERNELS_SIMD" not in os.environ:
        assert info["simd"] == info["simd_available"][-1]


def test_unknown_or_missing_vector_units_are_refused():
    with pytest.raises(ValueError, match="unknown vector unit 'sse4'"):
        _ext.set_simd_path("sse4")
    missing = [p for p in _ext.SIMD_PATHS if p not in _ext.simd_paths()]
    for path in missing:
        with pytest.raises(ValueError, match="this CPU cannot run"):
            _ext.set_simd_path(path)


@pytest.mark.parametrize("value,expect", [("generic", "generic"), ("sse4", "expected one of")])
def test_environment_variable_forces_a_path(value, expect):
    """GIB_KERNELS_SIMD, read when the extension loads (a fresh interpreter)."""
    code = "import gib_kernels as gk; print(gk.build_info()['simd'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "GIB_KERNELS_SIMD": value})
    assert expect in done.stdout + done.stderr


LOO_SHAPES = [(97, 5), (130, 21), (75, 40)]  # (n, m): dense only, past kDenseColumns, pruned


@pytest.mark.parametrize("path", WIDE)
@pytest.mark.parametrize("kind", ["continuous", "tied"])
@pytest.mark.parametrize("n,m", LOO_SHAPES, ids=[f"n{n}-m{m}" for n, m in LOO_SHAPES])
def test_leave_one_out_passes_give_the_generic_bits(path, kind, n, m, forced):
    """The fused leave-one-out kernels' passes (max2 over the columns, distances to the
    targets, the Euclidean downdates) on each vector unit: the generic sums exactly, against
    labels and a continuous target, on the direct path (the tree takes low d)."""
    from test_knn_loo_kernels_cpu import make_data, make_target

    rng = np.random.default_rng([n, m, len(kind)])
    z = make_data(rng, n, m, kind)
    runs = []
    for target in ("labels", "w3"):
        labels, w = make_target(rng, n, target, kind)
        runs.append((labels, w))
    results = {}
    for p in ("generic", path):
        forced(p)
        results[p] = [_cpu.knn_loo_maxnorm(z, labels, w, 3, path="direct")
                      for labels, w in runs] + [_cpu.knn_loo_euclidean(z, 3, path="direct")]
    for got, expected in zip(results[path], results["generic"]):
        assert np.array_equal(got, expected), f"{path}: leave-one-out sums differ from generic"
