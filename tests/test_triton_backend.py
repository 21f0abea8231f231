"""The Triton backend against the C++ CPU kernels, primitive by primitive, and end to end against
the reference.

Without a GPU the kernels run in the Triton interpreter (TRITON_INTERPRET=1, set by conftest.py),
where every operation costs a Python call: the inputs are small and odd-shaped, still with
several programs and several candidate tiles per anchor. The CPU kernels get the same float32
values in float64, so on integer data (exact distances, many ties) radii and counts must agree
exactly and sums up to summation order; on continuous data fp32 distances leave about 1e-7 of
relative error in radii and kernel sums, while neighbour counts still agree.
"""
import warnings

import numpy as np
import pytest
import torch

import gib_kernels as gk
from conftest import HAS_CUDA, assert_close
from inputs import (BAD_SHARDS, END_TO_END_CASES, continuous, end_to_end_target, family_options,
                    labels_for, labels_of_three, loo_target, shard_parts)

pytest.importorskip("triton")
cpu = pytest.importorskip("gib_kernels._cpu")

from gib_kernels import backends  # noqa: E402
from gib_kernels.backends.protocol import EUCLIDEAN, MAX  # noqa: E402
from gib_kernels.backends.triton import knn_loo  # noqa: E402
from gib_kernels.backends.triton.backend import TritonBackend  # noqa: E402

pytestmark = pytest.mark.triton

EXACT = 1e-12  # float64 sums of identical terms in another order
FP32 = 1e-5  # fp32 distances and kernel sums
be = TritonBackend()


def _data(rng, n, d, kind):
    """float32-representable float64 data: both backends see the same values."""
    return continuous(rng, n, d, ties=kind == "ties").astype(np.float32).astype(np.float64)


# --- k-th neighbour distances and radius counts ----------------------------------------------

KTH_CASES = [  # (n, d, k, metric, labels, kind)
    (70, 3, 3, MAX, "none", "continuous"),
    (41, 5, 5, EUCLIDEAN, "labels", "ties"),
    (2, 1, 1, EUCLIDEAN, "none", "continuous"),
    (33, 1, 2, MAX, "lonely", "ties"),
    (57, 9, 4, MAX, "none", "ties"),
    (64, 2, 1, EUCLIDEAN, "lonely", "continuous"),
    (3, 2, 2, EUCLIDEAN, "none", "ties"),
]


@pytest.mark.parametrize("n,d,k,metric,labels,kind", KTH_CASES,
                         ids=[f"n{n}-d{d}-k{k}-{'max' if m == MAX else 'euclidean'}-{lab}-{kind}"
                              for n, d, k, m, lab, kind in KTH_CASES])
def test_kth_neighbor_distance(rng, n, d, k, metric, labels, kind):
    z = _data(rng, n, d, kind)
    lab = None if labels == "none" else labels_of_three(rng, z, lonely=labels == "lonely")
    got = be.kth_neighbor_distance(be.floats(z), None if lab is None else be.ints(lab), k, metric)
    want = cpu.kth_neighbor_distance(z, lab, k, metric)
    assert got.dtype == np.float64 and got.shape == (n,)
    # max-norm distances of integers are exact; a Euclidean one is a correctly rounded fp32 sqrt
    exact = metric == MAX and kind == "ties"
    assert_close(got, want, 0.0 if exact else 1e-6, name="k-th neighbour distance")
    if labels == "lonely":
        assert got[0] == np.inf


COUNT_CASES = [  # (n, d, metric, kind)
    (70, 4, MAX, "ties"),
    (45, 3, EUCLIDEAN, "ties"),
    (39, 1, MAX, "ties"),
    (53, 6, EUCLIDEAN, "continuous"),
]


def _radii(rng, n, metric, kind):
    """Radii that make strictness matter but sit on no fp32-rounded distance: integers for
    the max-norm of integer data (equal distances must not count), sqrt(integer + 1/2) for the
    squared Euclidean distances of integer data, anything for continuous data."""
    if kind == "continuous":
        return rng.uniform(0.5, 3.0, n)
    steps = rng.integers(0, 4, n).astype(np.float64)
    return steps if metric == MAX else np.sqrt(steps + 0.5)


@pytest.mark.parametrize("n,d,metric,kind", COUNT_CASES,
                         ids=[f"n{n}-d{d}-{'max' if m == MAX else 'euclidean'}-{kind}"
                              for n, d, m, kind in COUNT_CASES])
def test_count_within(rng, n, d, metric, kind):
    z = _data(rng, n, d, kind)
    radius = _radii(rng, n, metric, kind).astype(np.float32).astype(np.float64)
    got = be.count_within(be.floats(z), radius, metric)
    want = cpu.count_within(z, radius, metric)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    assert 0 < want.sum() < n * (n - 1), "the radii should separate some pairs"


def test_count_within_uses_the_radii_of_kth_neighbor_distance(rng):
    """A radius from the k-th neighbour kernel counts exactly the k - 1 strictly nearer points
    when no distances tie, in the same fp32 arithmetic, Euclidean included."""
    z = _data(rng, 37, 4, "continuous")
    for metric in (MAX, EUCLIDEAN):
        r = be.kth_neighbor_distance(be.floats(z), None, 3, metric)
        np.testing.assert_array_equal(be.count_within(be.floats(z), r, metric), np.full(37, 2))


# --- fused leave-one-feature-out k-NN --------------------------------------------------------

LOO_MAXNORM_CASES = [  # (n, m, k, target, kind)
    (47, 3, 2, "none", "continuous"),
    (45, 4, 3, "labels", "ties"),
    (52, 3, 3, "w", "continuous"),
    (33, 5, 1, "w", "ties"),
    (21, 1, 2, "none", "ties"),
    (60, 2, 4, "lonely", "continuous"),
    (64, 9, 5, "labels", "continuous"),
]


@pytest.mark.parametrize("n,m,k,target,kind", LOO_MAXNORM_CASES,
                         ids=[f"n{n}-m{m}-k{k}-{t}-{kind}"
                              for n, m, k, t, kind in LOO_MAXNORM_CASES])
def test_knn_loo_maxnorm(rng, n, m, k, target, kind):
    z = _data(rng, n, m, kind)
    labels, w = loo_target(rng, z, target, lambda n: _data(rng, n, 2, kind))
    got = be.knn_loo_maxnorm(be.floats(z), None if labels is None else be.ints(labels),
                             None if w is None else be.floats(w), k)
    want = cpu.knn_loo_maxnorm(z, labels, w, k)
    assert got.shape == (3, m + 1)
    assert_close(got[0], want[0], EXACT if kind == "ties" else FP32, name="sum log r")
    # counts agree exactly, so their digamma sums agree up to summation order
    assert_close(got[1:], want[1:], EXACT, name="sums of psi(count + 1)")


LOO_EUCLIDEAN_CASES = [  # (n, m, k, kind)
    (43, 3, 2, "continuous"),
    (38, 4, 3, "ties"),
    (50, 4, 1, "dominant"),
    (61, 9, 5, "ties"),
]


@pytest.mark.parametrize("n,m,k,kind", LOO_EUCLIDEAN_CASES,
                         ids=[f"n{n}-m{m}-k{k}-{kind}" for n, m, k, kind in LOO_EUCLIDEAN_CASES])
def test_knn_loo_euclidean(rng, n, m, k, kind):
    """'dominant': column 0 carries nearly all of every distance, so dropping it cancels all but
    ~1e-5 of the squared distance (a plain fp32 downdate would lose every digit there)."""
    if kind == "dominant":
        z = _data(rng, n, m, "continuous") * np.array([300.0] + [1.0] * (m - 1))
        z = z.astype(np.float32).astype(np.float64)
    else:
        z = _data(rng, n, m, kind)
    got = be.knn_loo_euclidean(be.floats(z), k)
    want = cpu.knn_loo_euclidean(z, k)
    assert got.shape == (m + 1,)
    assert_close(got, want, EXACT if kind == "ties" else FP32, name="sum log r")


def test_knn_loo_scratch_chunks_give_the_same_sums(rng, monkeypatch):
    """Anchors beyond the scratch budget go through in chunks, each on its own scratch rows."""
    z = _data(rng, 40, 3, "continuous")
    labels = labels_of_three(rng, z)
    whole = be.knn_loo_maxnorm(be.floats(z), be.ints(labels), None, 2)
    monkeypatch.setattr(knn_loo, "SCRATCH_KEYS", 7 * 3 * 2)  # 7 anchors of m * K_PAD keys
    chunked = be.knn_loo_maxnorm(be.floats(z), be.ints(labels), None, 2)
    np.testing.assert_array_equal(chunked, whole)


def test_strided_input_is_read_in_place(rng):
    """A column-major view gives the same radii as the contiguous array."""
    z = be.floats(_data(rng, 29, 3, "continuous"))
    column_major = z.t().contiguous().t()
    assert not column_major.is_contiguous()
    np.testing.assert_array_equal(be.kth_neighbor_distance(column_major, None, 2, MAX),
                                  be.kth_neighbor_distance(z, None, 2, MAX))


@pytest.mark.parametrize("call,message", [
    (lambda z: be.kth_neighbor_distance(z, None, 9, MAX), "smaller than the number of samples"),
    (lambda z: be.knn_loo_maxnorm(z, be.ints(np.zeros(9)), z, 2), "labels or w"),
    (lambda z: be.kde_loo(z, None, 2, 0.1), "n_classes must be 1"),
], ids=["k-too-large", "labels-and-w", "classes-without-labels"])
def test_invalid_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call(be.floats(np.zeros((9, 2))))


# --- KDE sums ---------------------------------------------------------------------------------

KDE_CASES = [  # (n, m, labels, sigma2, kind)
    (50, 3, "none", 0.1, "continuous"),
    (45, 5, "labels", 0.05, "continuous"),
    (31, 4, "labels", 1e-3, "dominant"),
    (37, 2, "none", 0.5, "ties"),
    (1, 3, "none", 0.1, "continuous"),
]


def _kde_data(rng, n, m, kind):
    if kind == "dominant":  # downdating column 0 leaves ~1e-6 of the squared distance
        scale = np.array([30.0] + [0.05] * (m - 1))
        return (continuous(rng, n, m) * scale).astype(np.float32).astype(np.float64)
    return _data(rng, n, m, kind)


@pytest.mark.parametrize("n,m,labels,sigma2,kind", KDE_CASES,
                         ids=[f"n{n}-m{m}-{lab}-s{s}-{kind}" for n, m, lab, s, kind in KDE_CASES])
def test_kde_sums(rng, n, m, labels, sigma2, kind):
    t = _kde_data(rng, n, m, kind)
    lab = None if labels == "none" else labels_of_three(rng, t)
    lab_t = None if lab is None else be.ints(lab)
    got = be.kde_log_mean_kernel(be.floats(t), lab_t, sigma2)
    assert_close(got, cpu.kde_log_mean_kernel(t, lab, sigma2), FP32, atol=1e-6,
                 name="log mean kernel")
    n_classes = 1 if lab is None else 3
    got = be.kde_loo(be.floats(t), lab_t, n_classes, sigma2)
    assert got.shape == (n_classes, m + 1)
    assert_close(got, cpu.kde_loo(t, lab, n_classes, sigma2), FP32, name="leave-one-out sums")


# --- binning ----------------------------------------------------------------------------------

BINNING_CASES = [  # (n, m, fixed columns, code range)
    (70, 5, 0, 3),
    (33, 1, 2, 2),
    (64, 12, 1, 2),
    (17, 4, 0, 1 << 60),
    (1, 3, 0, 2),
]


@pytest.mark.parametrize("n,m,f,high", BINNING_CASES,
                         ids=[f"n{n}-m{m}-fixed{f}-codes{'huge' if h > 9 else h}"
                              for n, m, f, h in BINNING_CASES])
def test_binning(rng, n, m, f, high):
    codes = rng.integers(-high, high, (n, m))
    fixed = rng.integers(0, 3, (n, f)) if f else None
    fixed_t = None if fixed is None else be.ints(fixed)
    got = np.sort(be.pattern_counts(be.ints(codes), fixed_t))
    want = np.sort(cpu.pattern_counts(codes, fixed))
    np.testing.assert_array_equal(got, want)
    assert got.sum() == n
    assert_close(be.binning_loo(be.ints(codes), fixed_t), cpu.binning_loo(codes, fixed), EXACT,
                 name="sum c log c")


# --- sharding ---------------------------------------------------------------------------------


def _assert_owned_once(parts, name):
    """Each entry is nonzero in at most one part: the parts not owning it leave it at 0."""
    owners = np.count_nonzero(np.stack(parts), axis=0)
    assert owners.max(initial=0) <= 1, f"{name}: an entry is filled by two shards"


@pytest.mark.parametrize("count", [1, 2, 3])
def test_per_anchor_shards_add_up_exactly(rng, count):
    """Shards own disjoint anchors: the sum of the parts is the whole output bit for bit."""
    z = _data(rng, 43, 3, "continuous")
    labels = be.ints(labels_of_three(rng, z, lonely=True))
    zt = be.floats(z)
    for metric in (MAX, EUCLIDEAN):
        for lab in (None, labels):
            whole = be.kth_neighbor_distance(zt, lab, 3, metric)
            parts = shard_parts(
                lambda s: be.kth_neighbor_distance(zt, lab, 3, metric, shard=s), count)
            _assert_owned_once(parts, "k-th neighbour distance")
            np.testing.assert_array_equal(sum(parts), whole)
        radius = whole.astype(np.float32).astype(np.float64) * 1.5
        parts = shard_parts(lambda s: be.count_within(zt, radius, metric, shard=s), count)
        assert all(p.dtype == np.int64 for p in parts)
        np.testing.assert_array_equal(sum(parts), be.count_within(zt, radius, metric))
    for lab in (None, labels):
        parts = shard_parts(lambda s: be.kde_log_mean_kernel(zt, lab, 0.3, shard=s), count)
        _assert_owned_once(parts, "log mean kernel")
        np.testing.assert_array_equal(sum(parts), be.kde_log_mean_kernel(zt, lab, 0.3))


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("target", ["none", "lonely", "w"])
def test_leave_one_out_shards_add_up(rng, target, count):
    """Shards sum over disjoint anchors with every point a candidate: the parts add up to the
    whole sums up to float64 summation order."""
    z = _data(rng, 41, 3, "continuous")
    labels, w = loo_target(rng, z, target, lambda n: _data(rng, n, 2, "continuous"))
    zt = be.floats(z)
    lt = None if labels is None else be.ints(labels)
    wt = None if w is None else be.floats(w)
    parts = shard_parts(lambda s: be.knn_loo_maxnorm(zt, lt, wt, 2, shard=s), count)
    assert_close(sum(parts), be.knn_loo_maxnorm(zt, lt, wt, 2), EXACT, name="knn_loo_maxnorm")
    if target == "none":
        parts = shard_parts(lambda s: be.knn_loo_euclidean(zt, 2, shard=s), count)
        assert_close(sum(parts), be.knn_loo_euclidean(zt, 2), EXACT, name="knn_loo_euclidean")
    n_classes = 1 if labels is None else 4
    parts = shard_parts(lambda s: be.kde_loo(zt, lt, n_classes, 0.3, shard=s), count)
    assert_close(sum(parts), be.kde_loo(zt, lt, n_classes, 0.3), EXACT, atol=EXACT,
                 name="kde_loo")


def test_shards_with_more_parts_than_anchors_are_empty(rng):
    z = be.floats(_data(rng, 3, 2, "continuous"))
    np.testing.assert_array_equal(be.kth_neighbor_distance(z, None, 1, MAX, shard=(0, 7)),
                                  np.zeros(3))
    np.testing.assert_array_equal(be.knn_loo_maxnorm(z, None, None, 1, shard=(3, 7)),
                                  np.zeros((3, 3)))
    np.testing.assert_array_equal(be.kde_loo(z, None, 1, 0.1, shard=(5, 7)), np.zeros((1, 3)))


@pytest.mark.parametrize("count", [1, 2, 3, 7])
@pytest.mark.parametrize("n,m,f", [(70, 5, 0), (33, 1, 2), (64, 12, 1)],
                         ids=["n70-m5", "n33-m1-fixed2", "n64-m12-fixed1"])
def test_binning_loo_shards_are_exact(rng, n, m, f, count):
    """A shard owns columns: each entry is computed by exactly one part, out[m] by part 0."""
    codes = rng.integers(0, 3, (n, m))
    fixed = be.ints(rng.integers(0, 3, (n, f))) if f else None
    whole = be.binning_loo(be.ints(codes), fixed)
    parts = shard_parts(lambda s: be.binning_loo(be.ints(codes), fixed, shard=s), count)
    np.testing.assert_array_equal(sum(parts), whole)
    for index, part in enumerate(parts):
        owned = np.zeros(m + 1, bool)
        owned[m * index // count:m * (index + 1) // count] = True
        owned[m] = index == 0
        assert not part[~owned].any(), f"shard {index} fills columns it does not own"


@pytest.mark.parametrize("n,m,f,high", BINNING_CASES + [(6, 0, 2, 3), (0, 2, 1, 2)],
                         ids=[f"n{n}-m{m}-fixed{f}-codes{'huge' if h > 9 else h}"
                              for n, m, f, h in BINNING_CASES + [(6, 0, 2, 3), (0, 2, 1, 2)]])
def test_pattern_classes_equal_the_cpu_kernels(rng, n, m, f, high):
    """The same 128-bit hashes in the same order as the C++ kernels, so classes merge across
    backends."""
    codes = rng.integers(-high, high, (n, m))
    fixed = rng.integers(0, 3, (n, f)) if f else None
    hashes, counts = be.pattern_classes(be.ints(codes), None if fixed is None else be.ints(fixed))
    want_hashes, want_counts = cpu.pattern_classes(codes, fixed)
    assert hashes.dtype == np.uint64 and counts.dtype == np.int64
    np.testing.assert_array_equal(hashes, want_hashes)
    np.testing.assert_array_equal(counts, want_counts)


@pytest.mark.parametrize("shard", BAD_SHARDS, ids=["index-past", "no-parts", "negative"])
def test_bad_shards_raise(shard):
    z = be.floats(np.arange(18.0).reshape(9, 2))
    for call in (lambda: be.kth_neighbor_distance(z, None, 2, MAX, shard=shard),
                 lambda: be.count_within(z, np.ones(9), MAX, shard=shard),
                 lambda: be.knn_loo_maxnorm(z, None, None, 2, shard=shard),
                 lambda: be.knn_loo_euclidean(z, 2, shard=shard),
                 lambda: be.kde_log_mean_kernel(z, None, 0.1, shard=shard),
                 lambda: be.kde_loo(z, None, 1, 0.1, shard=shard),
                 lambda: be.binning_loo(be.ints(np.zeros((9, 2))), None, shard=shard)):
        with pytest.raises(ValueError, match="shard must be"):
            call()


# --- end to end, against the reference --------------------------------------------------------

def _both(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate-point warnings
        return fn(*args, backend="triton", **kwargs), fn(*args, backend="reference", **kwargs)


@pytest.mark.parametrize("case,kw,target", END_TO_END_CASES,
                         ids=[c for c, _, _ in END_TO_END_CASES])
def test_mutual_information_matches_reference(rng, case, kw, target):
    n, d = 53, 3
    z = continuous(rng, n, d)
    w = end_to_end_target(rng, z, target)
    got, want = _both(gk.mutual_information, z, w, **family_options(kw, k=3))
    assert_close(got, want, 1e-4, atol=1e-6, name=f"MI {case}")
    got, want = _both(gk.leave_one_out_mutual_information, z, w, **family_options(kw, k=3))
    assert_close(got, want, 1e-4, atol=1e-6, name=f"leave-one-out MI {case}")


def test_euclidean_entropy_matches_reference(rng):
    z = continuous(rng, 46, 3)
    got, want = _both(gk.entropy, z, estimator="knn", metric="euclidean", k=2)
    assert_close(got, want, 1e-4, name="KL entropy")
    got, want = _both(gk.leave_one_out_entropy, z, estimator="knn", metric="euclidean", k=2)
    assert_close(got, want, 1e-4, name="leave-one-out KL entropy")


def test_build_info_and_selection():
    assert gk.build_info()["triton"] == "available"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback
        assert isinstance(backends.select("triton", HAS_CUDA), TritonBackend)


# --- bigger inputs on a GPU -------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("n,d,k", [(4099, 7, 3), (2311, 24, 6)],
                         ids=["n4099-d7-k3", "n2311-d24-k6"])
def test_gpu_primitives_at_scale(n, d, k):
    rng = np.random.default_rng(n)
    z = _data(rng, n, d, "continuous")
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
