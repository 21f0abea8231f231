"""The CUDA backend (gib_kernels._cuda and backends.cuda.CudaBackend).

Anywhere: the extension builds where nvcc is found and imports without a device, answers
device_count() with 0 instead of failing, rejects bad arguments before touching the device,
and an explicit backend="cuda" without a device falls back to the CPU with a warning. The
torch-only binning half of the backend runs on CPU tensors against the C++ kernels.

On a GPU (marked gpu), or without one on the CUDA emulation (marked cuda_emulation: the same
kernels built for the CPU, tests/cuda_emulation): every primitive against the CPU backend on
fresh random inputs of odd shapes. Both backends do the per-pair math in double with the same
shared code, so max-norm radii and every count agree exactly; Euclidean and KDE sums agree to
rounding (nvcc fuses multiply-adds); sums over anchors differ only in their order. The
end-to-end API tests on CUDA tensors need the device itself.
"""
import functools
import shutil
import warnings

import numpy as np
import pytest
import torch

import gib_kernels as gk
from conftest import HAS_CUDA, assert_close
from gib_kernels import _ext, backends
from gib_kernels.backends import torch_binning
from gib_kernels.backends.cpu import CpuBackend
from gib_kernels.backends.cuda import CudaBackend
from gib_kernels.backends.protocol import Shard
from inputs import (BAD_SHARDS, END_TO_END_CASES, continuous, end_to_end_target, labels_for,
                    labels_of_three, loo_target, shard_parts)

cuda_ext = _ext.cuda
needs_extension = pytest.mark.skipif(cuda_ext is None,
                                     reason=f"the CUDA extension is {_ext.cuda_status()}")
cpu = CpuBackend()

MAX, EUCLIDEAN = 0, 1
EXACT = 1e-12  # float64 sums of the same terms in another order
ROUNDED = 1e-9  # float64 sums whose terms differ in their last bits (fused multiply-adds)


# --- without a device -------------------------------------------------------------------------


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

BAD_CALLS = [  # (id, binding, keyword arguments, message)
    ("k-zero", "kth_neighbor_distance",
     dict(z=_FAKE, n=9, d=2, group_begin=0, group_end=0, k=0, metric=MAX, anchors_begin=0,
          anchors_end=9, lists=_FAKE, out=_FAKE), "k must be >= 1"),
    ("k-too-large", "kth_neighbor_distance",
     dict(z=_FAKE, n=9, d=2, group_begin=0, group_end=0, k=9, metric=MAX, anchors_begin=0,
          anchors_end=9, lists=_FAKE, out=_FAKE), "smaller than the number of samples"),
    ("bad-metric", "count_within",
     dict(z=_FAKE, n=9, d=2, radius=_FAKE, metric=2, anchors_begin=0, anchors_end=9, out=_FAKE),
     "metric must be 0"),
    ("half-groups", "kth_neighbor_distance",
     dict(z=_FAKE, n=9, d=2, group_begin=_FAKE, group_end=0, k=2, metric=MAX, anchors_begin=0,
          anchors_end=9, lists=_FAKE, out=_FAKE), "both group_begin and group_end"),
    ("missing-output", "count_within",
     dict(z=_FAKE, n=9, d=2, radius=_FAKE, metric=MAX, anchors_begin=0, anchors_end=9, out=0),
     "out must be a device buffer"),
    ("kth-anchors-reversed", "kth_neighbor_distance",
     dict(z=_FAKE, n=9, d=2, group_begin=0, group_end=0, k=2, metric=MAX, anchors_begin=5,
          anchors_end=4, lists=_FAKE, out=_FAKE), "anchors must satisfy"),
    ("count-anchors-past-n", "count_within",
     dict(z=_FAKE, n=9, d=2, radius=_FAKE, metric=MAX, anchors_begin=0, anchors_end=10,
          out=_FAKE), "anchors must satisfy"),
    ("no-columns", "knn_loo_maxnorm_radii",
     dict(z=_FAKE, n=9, m=0, group_begin=0, group_end=0, w=0, q=0, k=2, anchors_begin=0,
          anchors_end=9, lists=_FAKE, radius=_FAKE), "at least one column"),
    ("labels-and-w", "knn_loo_maxnorm_radii",
     dict(z=_FAKE, n=9, m=2, group_begin=_FAKE, group_end=_FAKE, w=_FAKE, q=1, k=2,
          anchors_begin=0, anchors_end=9, lists=_FAKE, radius=_FAKE), "labels or w"),
    ("anchors-past-n", "knn_loo_maxnorm_counts",
     dict(z=_FAKE, n=9, m=2, group_begin=0, group_end=0, w=0, q=0, anchors_begin=3,
          anchors_end=10, radius=_FAKE, count_z=_FAKE, count_w=_FAKE), "anchors must satisfy"),
    ("q-without-w", "knn_loo_maxnorm_counts",
     dict(z=_FAKE, n=9, m=2, group_begin=0, group_end=0, w=0, q=3, anchors_begin=0,
          anchors_end=9, radius=_FAKE, count_z=_FAKE, count_w=_FAKE),
     "q must be w's number of columns"),
    ("sigma2-zero", "kde_log_mean_kernel",
     dict(t=_FAKE, n=9, m=2, group_begin=0, group_end=0, sigma2=0.0, leave_one_out=True,
          anchors_begin=0, anchors_end=9, log_mean=_FAKE), "sigma2 must be > 0"),
    ("negative-device", "knn_loo_euclidean",
     dict(z=_FAKE, n=9, m=2, k=2, anchors_begin=0, anchors_end=9, lists=_FAKE,
          kth_squared=_FAKE, device=-1), "device must be"),
]


@needs_extension
@pytest.mark.parametrize("binding,kwargs,message", [c[1:] for c in BAD_CALLS],
                         ids=[c[0] for c in BAD_CALLS])
def test_bindings_reject_bad_arguments_before_launching(binding, kwargs, message):
    kwargs = {"device": 0, "stream": 0, **kwargs}
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


# --- binning on torch ops (any device) --------------------------------------------------------

BINNING_CASES = [  # (n, m, fixed columns, code range)
    (70, 5, 0, 3),
    (333, 1, 2, 2),
    (64, 12, 1, 2),
    (17, 4, 0, 1 << 62),
    (1, 3, 0, 2),
    (0, 2, 1, 2),
    (599, 37, 0, 2),
]


def _binning_inputs(rng, n, m, f, high):
    codes = rng.integers(-high, high, (n, m))
    if n > 1:  # near duplicates: rows that merge once a column is left out
        codes[n // 2:] = codes[:n - n // 2]
        codes[n // 2:, rng.integers(0, m)] += 1
    fixed = rng.integers(0, 3, (n, f)) if f else None
    return codes, fixed


@pytest.mark.parametrize("n,m,f,high", BINNING_CASES,
                         ids=[f"n{n}-m{m}-fixed{f}-codes{'huge' if h > 9 else h}"
                              for n, m, f, h in BINNING_CASES])
def test_binning_on_torch_matches_cpu_kernels(rng, n, m, f, high):
    codes, fixed = _binning_inputs(rng, n, m, f, high)
    fixed_t = None if fixed is None else torch.from_numpy(fixed)
    rows = torch.from_numpy(codes if fixed is None else np.concatenate([codes, fixed], axis=1))
    got = np.sort(torch_binning.pattern_counts(rows).numpy())
    np.testing.assert_array_equal(got, np.sort(cpu.pattern_counts(codes, fixed)))
    assert got.sum() == n
    got = torch_binning.binning_loo(torch.from_numpy(codes), fixed_t).numpy()
    assert_close(got, cpu.binning_loo(codes, fixed), EXACT, name="sum c log c")


@pytest.mark.parametrize("n,m,f,high", BINNING_CASES + [(6, 0, 2, 3)],
                         ids=[f"n{n}-m{m}-fixed{f}-codes{'huge' if h > 9 else h}"
                              for n, m, f, h in BINNING_CASES + [(6, 0, 2, 3)]])
def test_pattern_classes_on_torch_equal_the_cpu_kernels(rng, n, m, f, high):
    """The C++ kernels' 128-bit hashes, bit for bit and in their order: classes counted on any
    backend merge by hash."""
    codes, fixed = _binning_inputs(rng, n, m, f, high) if m else (rng.integers(0, 2, (n, 0)),
                                                                   rng.integers(0, 3, (n, f)))
    hashes, counts = torch_binning.pattern_classes(
        torch.from_numpy(codes), None if fixed is None else torch.from_numpy(fixed))
    want_hashes, want_counts = cpu.pattern_classes(codes, fixed)
    np.testing.assert_array_equal(hashes.numpy().view(np.uint64), want_hashes)
    np.testing.assert_array_equal(counts.numpy(), want_counts)


@pytest.mark.parametrize("count", [1, 2, 3, 7])
@pytest.mark.parametrize("n,m,f,high", BINNING_CASES[:3], ids=[
    f"n{n}-m{m}-fixed{f}" for n, m, f, _ in BINNING_CASES[:3]])
def test_binning_loo_shards_on_torch_are_exact(rng, n, m, f, high, count):
    """A shard owns columns [begin(m), end(m)) and out[m] on shard 0: its parts add up to the
    whole bit for bit, and more parts than columns leave some all zero."""
    codes, fixed = _binning_inputs(rng, n, m, f, high)
    codes, fixed = torch.from_numpy(codes), None if fixed is None else torch.from_numpy(fixed)
    whole = torch_binning.binning_loo(codes, fixed).numpy()
    parts = [torch_binning.binning_loo(codes, fixed, Shard(i, count)).numpy()
             for i in range(count)]
    np.testing.assert_array_equal(sum(parts), whole)
    for index, part in enumerate(parts):
        owned = np.zeros(m + 1, bool)
        owned[m * index // count:m * (index + 1) // count] = True
        owned[m] = index == 0
        assert not part[~owned].any(), f"shard {index} fills columns it does not own"


@pytest.mark.parametrize("shard", BAD_SHARDS, ids=["index-past", "no-parts", "negative"])
def test_bad_shards_raise_before_touching_the_device(shard):
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


# --- every primitive on a GPU -----------------------------------------------------------------


# Without a GPU these tests run on the CUDA emulation (tests/cuda_emulation): the same kernels
# built for the CPU, under the same backend code, with the data on the host.
EMULATED = not torch.cuda.is_available()


def gpu(test):
    """On a GPU: needs the device and the extension. Without one: the CUDA emulation."""
    if EMULATED:
        return pytest.mark.cuda_emulation(test)
    return pytest.mark.gpu(needs_extension(test))


def real_gpu(test):
    """Needs the device itself (the API's backend choice, tensors on CUDA)."""
    return pytest.mark.gpu(needs_extension(test))


@functools.lru_cache(maxsize=None)
def _emulated_kernels():
    from cuda_emulation import build

    return build.load(build.build())


def _cuda_backend(**options) -> CudaBackend:
    if EMULATED:
        return CudaBackend(kernels=_emulated_kernels(), device=torch.device("cpu"), **options)
    return CudaBackend(**options)


class _OnFirstUse:
    """The backend of these tests, made on first use (the emulation builds on demand)."""

    def __getattr__(self, name):
        if "backend" not in self.__dict__:
            self.__dict__["backend"] = _cuda_backend()
        return getattr(self.__dict__["backend"], name)


be = _OnFirstUse()


def _data(rng, n, d, kind):
    return continuous(rng, n, d, ties=kind == "ties")


def _on_gpu(x):
    if x is None:
        return None
    return torch.from_numpy(x) if EMULATED else torch.from_numpy(x).cuda()


KTH_CASES = [  # (n, d, k, metric, labels, kind)
    (70, 3, 3, MAX, "none", "continuous"),
    (141, 5, 5, EUCLIDEAN, "labels", "ties"),
    (2, 1, 1, EUCLIDEAN, "none", "continuous"),
    (333, 1, 2, MAX, "lonely", "ties"),
    (257, 37, 7, MAX, "labels", "continuous"),
    (600, 33, 4, EUCLIDEAN, "lonely", "continuous"),
    (3, 2, 2, MAX, "none", "ties"),
]


@gpu
@pytest.mark.parametrize("n,d,k,metric,labels,kind", KTH_CASES,
                         ids=[f"n{n}-d{d}-k{k}-{'max' if m == MAX else 'euclidean'}-{lab}-{kind}"
                              for n, d, k, m, lab, kind in KTH_CASES])
def test_kth_neighbor_distance(rng, n, d, k, metric, labels, kind):
    z = _data(rng, n, d, kind)
    lab = None if labels == "none" else labels_of_three(rng, z, lonely=labels == "lonely")
    got = be.kth_neighbor_distance(_on_gpu(z), _on_gpu(lab), k, metric)
    want = cpu.kth_neighbor_distance(z, lab, k, metric)
    assert got.dtype == np.float64 and got.shape == (n,)
    assert_close(got, want, 0.0 if metric == MAX else ROUNDED, name="k-th neighbour distance")
    if labels == "lonely":
        assert got[0] == np.inf


COUNT_CASES = [  # (n, d, metric, kind)
    (170, 4, MAX, "ties"),
    (145, 3, EUCLIDEAN, "ties"),
    (39, 1, MAX, "continuous"),
    (453, 29, EUCLIDEAN, "continuous"),
    (1, 2, MAX, "continuous"),
]


@gpu
@pytest.mark.parametrize("n,d,metric,kind", COUNT_CASES,
                         ids=[f"n{n}-d{d}-{'max' if m == MAX else 'euclidean'}-{kind}"
                              for n, d, m, kind in COUNT_CASES])
def test_count_within(rng, n, d, metric, kind):
    """Max-norm radii sit exactly on pair distances (strictness matters); Euclidean radii are
    random, since a fused multiply-add may move a squared distance by an ulp."""
    z = _data(rng, n, d, kind)
    if metric == MAX and n > 1:
        radius = cpu.kth_neighbor_distance(z, None, 1, MAX)
    else:
        radius = rng.uniform(0.5, 3.0, n) * np.sqrt(d)
    got = be.count_within(_on_gpu(z), radius, metric)
    want = cpu.count_within(z, radius, metric)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


LOO_MAXNORM_CASES = [  # (n, m, k, target, kind)
    (147, 3, 2, "none", "continuous"),
    (245, 4, 3, "labels", "ties"),
    (152, 3, 3, "w", "continuous"),
    (333, 5, 1, "w", "ties"),
    (21, 1, 2, "none", "ties"),
    (160, 2, 7, "lonely", "continuous"),
    (600, 37, 5, "labels", "continuous"),
    (3, 2, 1, "none", "continuous"),
]


@gpu
@pytest.mark.parametrize("n,m,k,target,kind", LOO_MAXNORM_CASES,
                         ids=[f"n{n}-m{m}-k{k}-{t}-{kind}"
                              for n, m, k, t, kind in LOO_MAXNORM_CASES])
def test_knn_loo_maxnorm(rng, n, m, k, target, kind):
    z = _data(rng, n, m, kind)
    labels, w = loo_target(rng, z, target, lambda n: _data(rng, n, 2, kind))
    got = be.knn_loo_maxnorm(_on_gpu(z), _on_gpu(labels), _on_gpu(w), k)
    want = cpu.knn_loo_maxnorm(z, labels, w, k)
    assert got.shape == (3, m + 1)
    # equal radii and counts: only the order of the sums over anchors differs
    assert_close(got, want, EXACT, atol=EXACT * n, name="sums of log r and psi(count + 1)")


@gpu
def test_knn_loo_maxnorm_targets(rng):
    """Several targets at once, as leave_one_out_mutual_information(z, [labels, w]) asks."""
    z = _data(rng, 211, 4, "continuous")
    labels, w = labels_of_three(rng, z, lonely=True), _data(rng, 211, 3, "continuous")
    got = be.knn_loo_maxnorm_targets(_on_gpu(z), [(_on_gpu(labels), None), (None, _on_gpu(w))], 2)
    want = cpu.knn_loo_maxnorm_targets(z, [(labels, None), (None, w)], 2)
    assert got.shape == (2, 3, 5)
    assert_close(got, want, EXACT, atol=EXACT * 211, name="sums per target")


LOO_EUCLIDEAN_CASES = [  # (n, m, k, kind)
    (143, 3, 2, "continuous"),
    (138, 4, 3, "ties"),
    (250, 4, 1, "dominant"),
    (461, 19, 6, "continuous"),
    (5, 1, 4, "continuous"),
]


@gpu
@pytest.mark.parametrize("n,m,k,kind", LOO_EUCLIDEAN_CASES,
                         ids=[f"n{n}-m{m}-k{k}-{kind}" for n, m, k, kind in LOO_EUCLIDEAN_CASES])
def test_knn_loo_euclidean(rng, n, m, k, kind):
    """'dominant': column 0 carries nearly all of every distance, so its downdate cancels."""
    z = _data(rng, n, m, "continuous" if kind == "dominant" else kind)
    if kind == "dominant":
        z[:, 0] *= 1e4
    got = be.knn_loo_euclidean(_on_gpu(z), k)
    assert got.shape == (m + 1,)
    assert_close(got, cpu.knn_loo_euclidean(z, k), ROUNDED, atol=ROUNDED, name="sum log r")


KDE_CASES = [  # (n, m, labels, sigma2, kind)
    (150, 3, "none", 0.1, "continuous"),
    (245, 5, "labels", 0.05, "continuous"),
    (37, 2, "none", 0.5, "ties"),
    (1, 3, "none", 0.1, "continuous"),
    (529, 37, "lonely", 1e-3, "continuous"),
]


@gpu
@pytest.mark.parametrize("n,m,labels,sigma2,kind", KDE_CASES,
                         ids=[f"n{n}-m{m}-{lab}-s{s}-{kind}" for n, m, lab, s, kind in KDE_CASES])
def test_kde_sums(rng, n, m, labels, sigma2, kind):
    t = _data(rng, n, m, kind)
    lab = None if labels == "none" else labels_of_three(rng, t, lonely=labels == "lonely")
    got = be.kde_log_mean_kernel(_on_gpu(t), _on_gpu(lab), sigma2)
    assert_close(got, cpu.kde_log_mean_kernel(t, lab, sigma2), ROUNDED, atol=ROUNDED,
                 name="log mean kernel")
    n_classes = 1 if lab is None else int(lab.max()) + 2  # the last class is empty
    got = be.kde_loo(_on_gpu(t), _on_gpu(lab), n_classes, sigma2)
    assert got.shape == (n_classes, m + 1)
    assert_close(got, cpu.kde_loo(t, lab, n_classes, sigma2), ROUNDED, atol=ROUNDED * n,
                 name="leave-one-out sums")


@gpu
@pytest.mark.parametrize("n,m,f,high", BINNING_CASES[:-1],
                         ids=[f"n{n}-m{m}-fixed{f}" for n, m, f, _ in BINNING_CASES[:-1]])
def test_binning(rng, n, m, f, high):
    codes, fixed = _binning_inputs(rng, n, m, f, high)
    got = np.sort(be.pattern_counts(_on_gpu(codes), _on_gpu(fixed)))
    np.testing.assert_array_equal(got, np.sort(cpu.pattern_counts(codes, fixed)))
    assert_close(be.binning_loo(_on_gpu(codes), _on_gpu(fixed)), cpu.binning_loo(codes, fixed),
                 EXACT, name="sum c log c")


@gpu
def test_scratch_chunks_give_the_same_results(rng):
    """Anchors beyond the scratch budget run in chunks (here a few anchors, less than a block)."""
    z = _data(rng, 301, 4, "continuous")
    labels = labels_of_three(rng, z)
    small = _cuda_backend(scratch_bytes=2000)
    for call in (lambda b: b.knn_loo_maxnorm(_on_gpu(z), _on_gpu(labels), None, 3),
                 lambda b: b.knn_loo_euclidean(_on_gpu(z), 3),
                 lambda b: b.kde_loo(_on_gpu(z), _on_gpu(labels), 3, 0.3)):
        assert_close(call(small), call(be), EXACT, atol=EXACT * 301, name="chunked sums")


@gpu
def test_inputs_of_any_layout_and_dtype(rng):
    """float32, column-major and numpy inputs (labels on the host) give the float64 results."""
    z = _data(rng, 77, 3, "continuous").astype(np.float32)
    labels = labels_of_three(rng, z)
    want = be.kth_neighbor_distance(_on_gpu(z.astype(np.float64)), _on_gpu(labels), 2, MAX)
    column_major = _on_gpu(z).t().contiguous().t()
    np.testing.assert_array_equal(be.kth_neighbor_distance(column_major, labels, 2, MAX), want)
    np.testing.assert_array_equal(be.kth_neighbor_distance(z, labels, 2, MAX), want)


@gpu
@pytest.mark.parametrize("count", [1, 2, 3])
def test_per_anchor_shards_add_up_exactly(rng, count):
    """Shards own disjoint anchors (several blocks, a shard boundary inside a block): the sum
    of the parts is the whole output bit for bit."""
    z = _data(rng, 301, 4, "continuous")
    labels = _on_gpu(labels_of_three(rng, z, lonely=True))
    zt = _on_gpu(z)
    for metric in (MAX, EUCLIDEAN):
        for lab in (None, labels):
            whole = be.kth_neighbor_distance(zt, lab, 3, metric)
            parts = shard_parts(
                lambda s: be.kth_neighbor_distance(zt, lab, 3, metric, shard=s), count)
            assert np.count_nonzero(np.stack(parts), axis=0).max() <= 1
            np.testing.assert_array_equal(sum(parts), whole)
        radius = whole * 1.5
        parts = shard_parts(lambda s: be.count_within(zt, radius, metric, shard=s), count)
        np.testing.assert_array_equal(sum(parts), be.count_within(zt, radius, metric))
    for lab in (None, labels):
        parts = shard_parts(lambda s: be.kde_log_mean_kernel(zt, lab, 0.3, shard=s), count)
        assert np.count_nonzero(np.stack(parts), axis=0).max() <= 1
        np.testing.assert_array_equal(sum(parts), be.kde_log_mean_kernel(zt, lab, 0.3))


@gpu
@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("target", ["none", "lonely", "w"])
def test_leave_one_out_shards_add_up(rng, target, count):
    """Shards sum over disjoint anchors with every point a candidate: the parts add up to the
    whole sums up to float64 summation order."""
    z = _data(rng, 263, 4, "continuous")
    labels, w = loo_target(rng, z, target, lambda n: _data(rng, n, 2, "continuous"))
    zt, lt, wt = _on_gpu(z), _on_gpu(labels), _on_gpu(w)
    parts = shard_parts(lambda s: be.knn_loo_maxnorm(zt, lt, wt, 3, shard=s), count)
    assert_close(sum(parts), be.knn_loo_maxnorm(zt, lt, wt, 3), EXACT, atol=EXACT,
                 name="knn_loo_maxnorm")
    parts = shard_parts(lambda s: be.knn_loo_maxnorm_targets(zt, [(lt, wt)], 3, shard=s), count)
    assert_close(sum(parts), be.knn_loo_maxnorm_targets(zt, [(lt, wt)], 3), EXACT, atol=EXACT,
                 name="knn_loo_maxnorm_targets")
    if target == "none":
        parts = shard_parts(lambda s: be.knn_loo_euclidean(zt, 3, shard=s), count)
        assert_close(sum(parts), be.knn_loo_euclidean(zt, 3), EXACT, atol=EXACT,
                     name="knn_loo_euclidean")
    n_classes = 1 if labels is None else 4
    parts = shard_parts(lambda s: be.kde_loo(zt, lt, n_classes, 0.3, shard=s), count)
    assert_close(sum(parts), be.kde_loo(zt, lt, n_classes, 0.3), EXACT, atol=EXACT,
                 name="kde_loo")


@gpu
def test_shards_with_more_parts_than_anchors_are_empty(rng):
    z = _on_gpu(_data(rng, 3, 2, "continuous"))
    np.testing.assert_array_equal(be.kth_neighbor_distance(z, None, 1, MAX, shard=(0, 7)),
                                  np.zeros(3))
    np.testing.assert_array_equal(be.count_within(z, np.ones(3), MAX, shard=(1, 7)),
                                  np.zeros(3, np.int64))
    np.testing.assert_array_equal(be.knn_loo_maxnorm(z, None, None, 1, shard=(3, 7)),
                                  np.zeros((3, 3)))
    np.testing.assert_array_equal(be.kde_loo(z, None, 1, 0.1, shard=(5, 7)), np.zeros((1, 3)))


@gpu
def test_pattern_classes_equal_the_cpu_kernels(rng):
    codes, fixed = _binning_inputs(rng, 333, 5, 1, 3)
    hashes, counts = be.pattern_classes(_on_gpu(codes), _on_gpu(fixed))
    want_hashes, want_counts = cpu.pattern_classes(codes, fixed)
    assert hashes.dtype == np.uint64
    np.testing.assert_array_equal(hashes, want_hashes)
    np.testing.assert_array_equal(counts, want_counts)


@gpu
@pytest.mark.parametrize("count", [1, 2, 3])
def test_binning_loo_shards_are_exact(rng, count):
    codes, fixed = _binning_inputs(rng, 333, 7, 1, 3)
    whole = be.binning_loo(_on_gpu(codes), _on_gpu(fixed))
    parts = shard_parts(lambda s: be.binning_loo(_on_gpu(codes), _on_gpu(fixed), shard=s), count)
    np.testing.assert_array_equal(sum(parts), whole)


# --- end to end on CUDA tensors, against the reference ----------------------------------------

def _both(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no silent fallback to another backend
        warnings.simplefilter("ignore", UserWarning)  # duplicate-point warnings
        got = fn(*(torch.from_numpy(a).cuda() for a in args), backend="cuda", **kwargs)
    return got, fn(*args, backend="reference", **kwargs)


@real_gpu
@pytest.mark.parametrize("case,kw,target", END_TO_END_CASES,
                         ids=[c for c, _, _ in END_TO_END_CASES])
def test_mutual_information_on_cuda_tensors_matches_reference(rng, case, kw, target):
    n, d = 153, 3
    z = continuous(rng, n, d)
    w = end_to_end_target(rng, z, target)
    got, want = _both(gk.mutual_information, z, w, k=3, **kw)
    assert_close(got, want, ROUNDED, atol=ROUNDED, name=f"MI {case}")
    got, want = _both(gk.leave_one_out_mutual_information, z, w, k=3, **kw)
    assert got.is_cuda, "vector results come back on the caller's device"
    assert_close(got.cpu().numpy(), want, ROUNDED, atol=ROUNDED, name=f"leave-one-out MI {case}")
