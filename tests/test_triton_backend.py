"""What only the Triton backend has: its selection, its scratch chunks, and its fp32 kernels on
a GPU at sizes the interpreter cannot reach. Its primitives, sharding and estimates against the
reference run with every backend's (test_primitives.py, test_sharding.py, test_backends.py);
without a GPU its kernels run there in the Triton interpreter (TRITON_INTERPRET=1, set by
conftest.py) on inputs of up to 70 rows.
"""
import warnings

import numpy as np
import pytest
import torch

import gib_kernels as gk
from conftest import HAS_CUDA, assert_close
from inputs import continuous, labels_for, labels_of_three

pytest.importorskip("triton")
cpu = pytest.importorskip("gib_kernels._cpu")

from gib_kernels import backends  # noqa: E402
from gib_kernels.backends.protocol import EUCLIDEAN, MAX  # noqa: E402
from gib_kernels.backends.triton import knn_loo  # noqa: E402
from gib_kernels.backends.triton.backend import TritonBackend  # noqa: E402

pytestmark = pytest.mark.triton

FP32 = 1e-5  # fp32 distances and kernel sums
be = TritonBackend()


def _data(rng, n, d):
    """float32-representable float64 data: both backends see the same values."""
    return continuous(rng, n, d).astype(np.float32).astype(np.float64)


def test_build_info_and_selection():
    assert gk.build_info()["triton"] == "available"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback
        assert isinstance(backends.select("triton", HAS_CUDA), TritonBackend)


def test_knn_loo_scratch_chunks_give_the_same_sums(rng, monkeypatch):
    """Anchors beyond the scratch budget go through in chunks, each on its own scratch rows."""
    z = _data(rng, 40, 3)
    labels = labels_of_three(rng, z)
    whole = be.knn_loo_maxnorm(be.floats(z), be.ints(labels), None, 2)
    monkeypatch.setattr(knn_loo, "SCRATCH_KEYS", 7 * 3 * 2)  # 7 anchors of m * K_PAD keys
    chunked = be.knn_loo_maxnorm(be.floats(z), be.ints(labels), None, 2)
    np.testing.assert_array_equal(chunked, whole)


# --- bigger inputs on a GPU -------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("n,d,k", [(4099, 7, 3), (2311, 24, 6)],
                         ids=["n4099-d7-k3", "n2311-d24-k6"])
def test_gpu_primitives_at_scale(n, d, k):
    """Neighbour counts may differ where two fp32 distances are within rounding of each other:
    at these sizes, rarely."""
    rng = np.random.default_rng(n)
    z = _data(rng, n, d)
    labels = labels_of_three(rng, z)
    zt, lt = be.floats(torch.from_numpy(z).cuda()), be.ints(torch.from_numpy(labels).cuda())
    assert zt.is_cuda
    for metric in (MAX, EUCLIDEAN):
        r = be.kth_neighbor_distance(zt, lt, k, metric)
        assert_close(r, cpu.kth_neighbor_distance(z, labels, k, metric), 1e-6, name="radii")
        radius = r.astype(np.float32).astype(np.float64) * 1.5
        counts = be.count_within(zt, radius, metric)
        assert np.mean(counts == cpu.count_within(z, radius, metric)) > 0.999
    got, want = be.knn_loo_maxnorm(zt, lt, None, k), cpu.knn_loo_maxnorm(z, labels, None, k)
    assert_close(got, want, FP32, name="knn_loo_maxnorm")
    assert_close(be.knn_loo_euclidean(zt, k), cpu.knn_loo_euclidean(z, k), FP32,
                 name="knn_loo_euclidean")
    assert_close(be.kde_loo(zt, lt, 3, 0.5), cpu.kde_loo(z, labels, 3, 0.5), FP32, name="kde_loo")


@pytest.mark.gpu
def test_gpu_synergy_profile_matches_cpu():
    rng = np.random.default_rng(7)
    z = torch.from_numpy(continuous(rng, 3001, 10)).cuda()
    y = torch.from_numpy(labels_for(rng, z.cpu().numpy(), n_classes=4)).cuda()
    got = torch.as_tensor(gk.synergy_profile(z, y, estimator="mixed", backend="triton")).cpu()
    want = gk.synergy_profile(z.cpu().numpy(), y.cpu().numpy(), estimator="mixed", backend="cpu")
    assert_close(got, want, 1e-3, atol=1e-4, name="synergy profile")


def test_float32_refuses_jittered_discrete_data(rng):
    """Tied data broken by a jitter: float32 cannot resolve the jitter, nor the bands the
    distances of discrete data crowd into, so Triton refuses it, whatever the noise; continuous
    data with a jitter passes."""
    z = rng.integers(0, 3, size=(60, 3)).astype(np.float64)
    y = labels_for(rng, z)
    for noise in (1e-10, 1e-3):
        with pytest.raises(ValueError, match="float32, which cannot tell apart"):
            gk.mutual_information(z, y, estimator="mixed", noise=noise, random_state=0,
                                  backend="triton")
        with pytest.raises(ValueError, match="float32, which cannot tell apart"):
            gk.entropy(z, estimator="knn", noise=noise, random_state=0, backend="triton")
    smooth = continuous(rng, 60, 3)
    options = dict(estimator="knn", noise=1e-10, random_state=0)
    assert_close(gk.entropy(smooth, backend="triton", **options),
                 gk.entropy(smooth, backend="cpu", **options), FP32, name="jittered continuous")
