"""What only the CUDA backend (gib_kernels._cuda and backends.cuda.CudaBackend) has: its
extension and bindings, its device handling, and its scratch budget. Its primitives, sharding
and estimates against the reference run with every backend's (test_primitives.py,
test_sharding.py, test_backends.py), on a GPU or on the CUDA emulation (the `backend` fixture's
"cuda" and "cuda-emulated").

Anywhere: the extension builds where nvcc is found and imports without a device, answers
device_count() with 0 instead of failing, rejects bad arguments before touching the device,
and an explicit backend="cuda" without a device falls back to the CPU with a warning.
"""
import shutil

import numpy as np
import pytest

import gib_kernels as gk
from conftest import HAS_CUDA, assert_close, backend_params
from gib_kernels import _ext, backends
from gib_kernels.backends.cpu import CpuBackend
from gib_kernels.backends.cuda import CudaBackend
from gib_kernels.backends.protocol import MAX
from inputs import BAD_SHARDS, continuous, labels_for, labels_of_three

cuda_ext = _ext.cuda
needs_extension = pytest.mark.skipif(cuda_ext is None,
                                     reason=f"the CUDA extension is {_ext.cuda_status()}")
EXACT = 1e-12  # float64 sums of the same terms in another order


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
def test_extension_builds_where_nvcc_is_found():
    assert _ext.cuda is not None, f"gib_kernels._cuda did not load: {_ext.load_error('_cuda')}"
    assert _ext.cuda_status().startswith(("available", "built, but no CUDA device"))


@needs_extension
def test_device_count_answers_without_crashing():
    count = cuda_ext.device_count()
    assert isinstance(count, int) and count >= 0
    assert ("no CUDA device is visible" in _ext.cuda_status()) == (count == 0)


@pytest.mark.skipif(HAS_CUDA, reason="the fallback happens only without a device")
def test_explicit_cuda_falls_back_to_cpu_with_a_warning(rng):
    with pytest.warns(RuntimeWarning, match="backend='cuda' cannot run here"):
        backend = backends.select("cuda", True)
    assert isinstance(backend, CpuBackend)
    z = continuous(rng, 41, 2)
    labels = labels_for(rng, z)
    with pytest.warns(RuntimeWarning, match="using 'cpu' instead"):
        got = gk.mutual_information(z, labels, backend="cuda")
    assert got == gk.mutual_information(z, labels, backend="cpu")


_FAKE = 0x1000  # a non-null address: validation must fail before anything reads it

# Valid arguments of each binding, and the calls that change one or two of them.
VALID = {
    "kth_neighbor_distance": dict(z=_FAKE, n=9, d=2, group_begin=0, group_end=0, k=2, metric=MAX,
                                  anchors_begin=0, anchors_end=9, lists=_FAKE, out=_FAKE),
    "count_within": dict(z=_FAKE, n=9, d=2, radius=_FAKE, metric=MAX, anchors_begin=0,
                         anchors_end=9, out=_FAKE),
    "knn_loo_maxnorm_radii": dict(z=_FAKE, n=9, m=2, group_begin=0, group_end=0, w=0, q=0, k=2,
                                  anchors_begin=0, anchors_end=9, lists=_FAKE, radius=_FAKE),
    "knn_loo_maxnorm_counts": dict(z=_FAKE, n=9, m=2, group_begin=0, group_end=0, w=0, q=0,
                                   anchors_begin=0, anchors_end=9, radius=_FAKE, count_z=_FAKE,
                                   count_w=_FAKE),
    "kde_log_mean_kernel": dict(t=_FAKE, n=9, m=2, group_begin=0, group_end=0, sigma2=0.1,
                                leave_one_out=True, anchors_begin=0, anchors_end=9,
                                log_mean=_FAKE),
    "knn_loo_euclidean": dict(z=_FAKE, n=9, m=2, k=2, anchors_begin=0, anchors_end=9,
                              lists=_FAKE, kth_squared=_FAKE),
}
BAD_CALLS = [  # (id, binding, changed arguments, message)
    ("k-zero", "kth_neighbor_distance", dict(k=0), "k must be >= 1"),
    ("k-too-large", "kth_neighbor_distance", dict(k=9), "smaller than the number of samples"),
    ("bad-metric", "count_within", dict(metric=2), "metric must be 0"),
    ("half-groups", "kth_neighbor_distance", dict(group_begin=_FAKE),
     "both group_begin and group_end"),
    ("missing-output", "count_within", dict(out=0), "out must be a device buffer"),
    ("kth-anchors-reversed", "kth_neighbor_distance", dict(anchors_begin=5, anchors_end=4),
     "anchors must satisfy"),
    ("count-anchors-past-n", "count_within", dict(anchors_end=10), "anchors must satisfy"),
    ("no-columns", "knn_loo_maxnorm_radii", dict(m=0), "at least one column"),
    ("labels-and-w", "knn_loo_maxnorm_radii",
     dict(group_begin=_FAKE, group_end=_FAKE, w=_FAKE, q=1), "labels or w"),
    ("anchors-past-n", "knn_loo_maxnorm_counts", dict(anchors_begin=3, anchors_end=10),
     "anchors must satisfy"),
    ("q-without-w", "knn_loo_maxnorm_counts", dict(q=3), "q must be w's number of columns"),
    ("sigma2-zero", "kde_log_mean_kernel", dict(sigma2=0.0), "sigma2 must be > 0"),
    ("negative-device", "knn_loo_euclidean", dict(device=-1), "device must be"),
]


@needs_extension
@pytest.mark.parametrize("binding,kwargs,message", [c[1:] for c in BAD_CALLS],
                         ids=[c[0] for c in BAD_CALLS])
def test_bindings_reject_bad_arguments_before_launching(binding, kwargs, message):
    kwargs = {"device": 0, "stream": 0, **VALID[binding], **kwargs}
    with pytest.raises(ValueError, match=message):
        getattr(cuda_ext, binding)(**kwargs)


@needs_extension
def test_empty_input_returns_before_touching_the_device():
    """No rows (or no anchors): nothing to launch, so the call returns even without a device."""
    assert cuda_ext.kth_neighbor_distance(z=0, n=0, d=3, group_begin=0, group_end=0, k=2,
                                          metric=MAX, anchors_begin=0, anchors_end=0, lists=0,
                                          out=0, device=0, stream=0) is None
    assert cuda_ext.count_within(z=_FAKE, n=9, d=2, radius=_FAKE, metric=MAX, anchors_begin=7,
                                 anchors_end=7, out=0, device=0, stream=0) is None
    assert cuda_ext.knn_loo_euclidean(z=_FAKE, n=9, m=2, k=2, anchors_begin=4, anchors_end=4,
                                      lists=0, kth_squared=0, device=0, stream=0) is None


@needs_extension
@pytest.mark.skipif(HAS_CUDA, reason="needs a machine without a CUDA device")
def test_launch_without_a_device_raises_instead_of_aborting():
    if cuda_ext.device_count() > 0:
        pytest.skip("a device is visible to the extension")
    with pytest.raises(RuntimeError, match="gib_kernels CUDA error"):
        cuda_ext.count_within(z=_FAKE, n=9, d=2, radius=_FAKE, metric=MAX, anchors_begin=0,
                              anchors_end=9, out=_FAKE, device=0, stream=0)


@pytest.mark.parametrize("shard", BAD_SHARDS, ids=["index-past", "no-parts", "negative"])
def test_bad_shards_raise_before_touching_the_device(shard):
    """On host data with no device to put it on: the shard is checked first."""
    backend = CudaBackend()
    z, ones = np.zeros((9, 2)), np.ones(9)
    for call in (lambda: backend.kth_neighbor_distance(z, None, 2, MAX, shard=shard),
                 lambda: backend.count_within(z, ones, MAX, shard=shard),
                 lambda: backend.knn_loo_maxnorm(z, None, None, 2, shard=shard),
                 lambda: backend.knn_loo_maxnorm_targets(z, [(None, None)], 2, shard=shard),
                 lambda: backend.knn_loo_euclidean(z, 2, shard=shard),
                 lambda: backend.kde_log_mean_kernel(z, None, 0.1, shard=shard),
                 lambda: backend.kde_loo(z, None, 1, 0.1, shard=shard),
                 lambda: backend.binning_loo(z.astype(np.int64), None, shard=shard)):
        with pytest.raises(ValueError, match="shard must be"):
            call()


@pytest.mark.parametrize("backend", backend_params("cuda", "cuda-emulated"), indirect=True)
def test_scratch_chunks_give_the_same_results(backend, rng, monkeypatch):
    """Anchors beyond the scratch budget run in chunks (here a few anchors, less than a block)."""
    be = backend.be
    z = continuous(rng, 301, 4)
    zt, labels = be.floats(z), be.ints(labels_of_three(rng, z))
    calls = (lambda: be.knn_loo_maxnorm(zt, labels, None, 3),
             lambda: be.knn_loo_euclidean(zt, 3),
             lambda: be.kde_loo(zt, labels, 3, 0.3))
    whole = [call() for call in calls]
    monkeypatch.setattr(be, "scratch_bytes", 2000)
    for call, want in zip(calls, whole):
        assert_close(call(), want, EXACT, atol=EXACT * 301, name="chunked sums")
