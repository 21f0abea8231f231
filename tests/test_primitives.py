"""Every primitive of backends.protocol, on every backend, against the reference backend's
numpy version of it, on fresh inputs of odd shapes with and without ties: the op-by-op view of
the backends (their bindings, precision and sharding have their own files). "cuda-emulated" is
the CUDA backend over the CUDA kernels built for the CPU (tests/cuda_emulation): it runs on
every machine.

Tolerances per backend: the C++ kernels are exact for radii and counts and equal to rounding for
sums; Triton computes distances in fp32; CUDA in float64 with fused multiply-adds. Ties are
small integers, exact in every precision.
"""
import numpy as np
import pytest
import torch

from conftest import HAS_CUDA, assert_close
from gib_kernels.backends.protocol import EUCLIDEAN, MAX
from gib_kernels.backends.reference import ReferenceBackend
from inputs import continuous, labels_of_three

REFERENCE = ReferenceBackend()
TOLERANCE = {"cpu": 1e-10, "triton": 2e-4, "cuda": 1e-10}


def _backends():
    from gib_kernels.backends.cpu import CpuBackend

    params = [pytest.param(CpuBackend, id="cpu")]
    try:
        from gib_kernels.backends.triton.backend import TritonBackend
        params.append(pytest.param(TritonBackend, id="triton", marks=pytest.mark.triton))
    except ImportError:
        pass
    from gib_kernels.backends.cuda import CudaBackend
    params.append(pytest.param(CudaBackend, id="cuda", marks=[
        pytest.mark.gpu, pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")]))
    params.append(pytest.param("emulated", id="cuda-emulated", marks=pytest.mark.cuda_emulation))
    return params


BACKENDS = _backends()
SHAPES = [(23, 2), (61, 3), (130, 5)]
CASES = [(n, d, ties) for n, d in SHAPES for ties in (False, True)]
CASE_IDS = [f"n{n}-d{d}-{'ties' if t else 'continuous'}" for n, d, t in CASES]


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "emulated":
        return request.getfixturevalue("emulated_cuda")
    return request.param()


def _data(rng, n, d, ties):
    z = continuous(rng, n, d, ties=ties)
    if not ties:  # a width like the layers' own, so that fp32 keeps 1e-4
        z = z / np.abs(z).max()
    return z, labels_of_three(rng, z)


def _np(values) -> np.ndarray:
    return values.cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


def _check(backend, got, expected, name, exact=False):
    tol = 0.0 if exact and backend.name != "triton" else TOLERANCE[backend.name]
    assert_close(_np(got), expected, tol, atol=tol, name=f"{name} on {backend.name}")


@pytest.mark.parametrize("n,d,ties", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("metric", [MAX, EUCLIDEAN], ids=["max", "euclidean"])
@pytest.mark.parametrize("labelled", [False, True], ids=["all", "labels"])
def test_kth_neighbor_distance_and_count_within(backend, rng, n, d, ties, metric, labelled):
    z, labels = _data(rng, n, d, ties)
    lab = labels if labelled else None
    k = int(rng.integers(1, 5))
    be = backend
    r = REFERENCE.kth_neighbor_distance(z, lab, k, metric)
    _check(be, be.kth_neighbor_distance(be.floats(z), None if lab is None else be.ints(lab), k,
                                        metric), r, "k-th distance", exact=metric == MAX)
    radius = np.where(np.isinf(r), 1.0, r) * 1.0001 if not ties else np.where(np.isinf(r), 1, r)
    _check(be, be.count_within(be.floats(z), radius, metric),
           REFERENCE.count_within(z, radius, metric), "counts", exact=True)


@pytest.mark.parametrize("n,d,ties", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("target", ["none", "labels", "w"])
def test_knn_loo_maxnorm(backend, rng, n, d, ties, target):
    z, labels = _data(rng, n, d, ties)
    w = np.round(z[:, :1] * 3) + rng.integers(0, 2, (n, 1)) if ties else \
        z[:, :1] ** 2 + 0.3 * rng.standard_normal((n, 1))
    lab = labels if target == "labels" else None
    ww = w if target == "w" else None
    k = 3
    be = backend
    expected = REFERENCE.knn_loo_maxnorm(z, lab, ww, k)
    got = be.knn_loo_maxnorm(be.floats(z), None if lab is None else be.ints(lab),
                             None if ww is None else be.floats(ww), k)
    _check(be, got, expected, f"leave-one-out sums ({target})")
    both = be.knn_loo_maxnorm_targets(be.floats(z), [(be.ints(labels), None),
                                                     (None, be.floats(w))], k)
    _check(be, both, REFERENCE.knn_loo_maxnorm_targets(z, [(labels, None), (None, w)], k),
           "two targets")


@pytest.mark.parametrize("n,d,ties", CASES, ids=CASE_IDS)
def test_knn_loo_euclidean(backend, rng, n, d, ties):
    z, _ = _data(rng, n, d, ties)
    if ties:  # duplicate points make log r = -inf on every backend; keep the rest of the ties
        z = z + np.arange(n)[:, None] * 1e-3
    be = backend
    _check(be, be.knn_loo_euclidean(be.floats(z), 2), REFERENCE.knn_loo_euclidean(z, 2),
           "sum log r")


@pytest.mark.parametrize("n,d,ties", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("labelled", [False, True], ids=["all", "labels"])
def test_kde_primitives(backend, rng, n, d, ties, labelled):
    t, labels = _data(rng, n, d, ties)
    lab = labels if labelled else None
    sigma2 = 0.3 if ties else 0.05
    be = backend
    _check(be, be.kde_log_mean_kernel(be.floats(t), None if lab is None else be.ints(lab), sigma2),
           REFERENCE.kde_log_mean_kernel(t, lab, sigma2), "log mean kernel")
    n_classes = 1 if lab is None else int(lab.max()) + 1
    _check(be, be.kde_loo(be.floats(t), None if lab is None else be.ints(lab), n_classes, sigma2),
           REFERENCE.kde_loo(t, lab, n_classes, sigma2), "kde leave-one-out")


@pytest.mark.parametrize("n,m", [(40, 1), (97, 4), (300, 9)])
@pytest.mark.parametrize("fixed", [False, True], ids=["codes", "with-fixed"])
def test_binning_primitives(backend, rng, n, m, fixed):
    codes = rng.integers(0, 3, (n, m)).astype(np.int64)
    f = rng.integers(0, 2, (n, 1)).astype(np.int64) if fixed else None
    be = backend
    got = np.sort(_np(be.pattern_counts(be.ints(codes), None if f is None else be.ints(f))))
    np.testing.assert_array_equal(got, np.sort(REFERENCE.pattern_counts(codes, f)))
    _check(be, be.binning_loo(be.ints(codes), None if f is None else be.ints(f)),
           REFERENCE.binning_loo(codes, f), "sum c log c")
