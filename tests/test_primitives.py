"""Every primitive of backends.protocol, on every fast backend (the `backend` fixture of
conftest.py: cpu, triton, cuda and cuda-emulated, the CUDA backend over its kernels built for the
CPU), against the reference backend's numpy version of it, on fresh inputs of odd shapes: ties,
tiny inputs, classes of one, wide inputs, and columns whose removal cancels nearly all of every
distance. Sharding has its own file (test_sharding.py), the bindings and device handling of
each backend theirs (test_cuda_backend.py, test_triton_backend.py).

Inputs are float32-representable, so every backend sees the reference's values. Counts are
exact everywhere, so are max-norm radii in float64 (cpu, cuda) and every distance of integer
inputs; the rest is within the backend's tolerance (conftest.Precision): float64 sums in
another order or with fused multiply-adds (nvcc), or fp32 distances (Triton).
"""
import numpy as np
import pytest

from gib_kernels.backends.protocol import EUCLIDEAN, MAX
from gib_kernels.backends.reference import ReferenceBackend
from inputs import (BINNING_CASES, BINNING_IDS, binning_inputs, continuous, labels_of_three,
                    loo_target)

REFERENCE = ReferenceBackend()
METRICS = pytest.mark.parametrize("metric", [MAX, EUCLIDEAN], ids=["max", "euclidean"])


def _data(rng, n, d, kind):
    """"continuous", "ties" (small integers), "nearties" (integers a little apart) or
    "dominant" (column 0 carries nearly all of every distance, so that leaving it out cancels
    all but ~1e-8 of a squared distance), rounded to float32."""
    z = continuous(rng, n, d, ties=kind in ("ties", "nearties"))
    if kind == "nearties":
        z = z + np.arange(n)[:, None] * 1e-3
    if kind == "dominant":
        z = z * np.array([1e4] + [1.0] * (d - 1))
    return z.astype(np.float32).astype(np.float64)


def _labels(rng, z, labels):
    """None, labels of three classes, or those with one point alone in its class ("lonely")."""
    return None if labels == "none" else labels_of_three(rng, z, lonely=labels == "lonely")


def _table(names, ids):
    """A parametrisation of ``names`` from its ids: "n23-d2-k1-labels-continuous" gives n=23,
    d=2, k=1, labels="labels", kind="continuous" (a letter and a number make a number)."""
    def value(token):
        for kind in (int, float):
            try:
                return kind(token[1:])
            except ValueError:
                pass
        return token

    ids = ids.split()
    return pytest.mark.parametrize(names, [tuple(map(value, i.split("-"))) for i in ids], ids=ids)


KTH_CASES = _table("n,d,k,labels,kind", (
    "n2-d1-k1-none-continuous n3-d2-k2-none-ties n23-d2-k1-labels-continuous "
    "n33-d1-k2-lonely-ties n41-d5-k5-labels-ties n57-d9-k4-none-ties "
    "n64-d2-k1-lonely-continuous n70-d3-k3-none-continuous "
    "n130-d5-k4-labels-continuous n257-d37-k7-labels-continuous "
    "n600-d33-k4-lonely-continuous"))


@METRICS
@KTH_CASES
def test_kth_neighbor_distance(backend, rng, n, d, k, labels, kind, metric):
    backend.fits(n)
    z = _data(rng, n, d, kind)
    lab = _labels(rng, z, labels)
    got = backend.be.kth_neighbor_distance(backend.floats(z), backend.ints(lab), k, metric)
    assert got.dtype == np.float64 and got.shape == (n,)
    r = REFERENCE.kth_neighbor_distance(z, lab, k, metric)
    # max-norm distances of integers are exact; a Euclidean one is a correctly rounded fp32 sqrt
    backend.check(got, r, "k-th distance", kind="distances", exact=metric == MAX,
                  integers=kind == "ties" and metric == MAX)
    if labels == "lonely":
        assert got[0] == np.inf
    # counts within those radii: on pair distances for ties (strictness), just above otherwise
    radius = np.where(np.isinf(r), 1.0, r) * (1.0 if kind == "ties" else 1.0001)
    np.testing.assert_array_equal(backend.be.count_within(backend.floats(z), radius, metric),
                                  REFERENCE.count_within(z, radius, metric))


COUNT_CASES = _table("n,d,kind", (
    "n1-d2-continuous n39-d1-ties n45-d3-ties n53-d6-continuous n70-d4-ties "
    "n170-d4-ties n453-d29-continuous"))


def _radii(rng, n, d, metric, kind):
    """Radii that make strictness matter but sit on no fp32-rounded distance: integers for the
    max-norm of integer data (equal distances must not count), sqrt(integer + 1/2) for the
    Euclidean distances of integer data, anything for continuous data."""
    if kind == "continuous":
        radius = rng.uniform(0.5, 3.0, n) * (np.sqrt(d) if metric == EUCLIDEAN else 1.0)
    else:
        steps = rng.integers(0, 4, n).astype(np.float64)
        radius = steps if metric == MAX else np.sqrt(steps + 0.5)
    return radius.astype(np.float32).astype(np.float64)


@METRICS
@COUNT_CASES
def test_count_within(backend, rng, n, d, kind, metric):
    backend.fits(n)
    z = _data(rng, n, d, kind)
    radius = _radii(rng, n, d, metric, kind)
    got = backend.be.count_within(backend.floats(z), radius, metric)
    want = REFERENCE.count_within(z, radius, metric)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    assert n == 1 or 0 < want.sum() < n * (n - 1), "the radii should separate some pairs"


@METRICS
@pytest.mark.parametrize("n,d", [(37, 4), (130, 5)])
def test_count_within_the_radii_of_kth_neighbor_distance(backend, rng, n, d, metric):
    """The backend's own k-th distance as radius counts exactly the k - 1 strictly nearer
    points when no distances tie, in the backend's arithmetic (fp32 on Triton)."""
    backend.fits(n)
    z = backend.floats(_data(rng, n, d, "continuous"))
    r = backend.be.kth_neighbor_distance(z, None, 3, metric)
    np.testing.assert_array_equal(backend.be.count_within(z, r, metric), np.full(n, 2))


LOO_MAXNORM_CASES = _table("n,m,k,target,kind", (
    "n3-m2-k1-none-continuous n21-m1-k2-none-ties n23-m2-k3-labels-continuous "
    "n33-m5-k1-w-ties n45-m4-k3-labels-ties n47-m3-k2-none-continuous "
    "n52-m3-k3-w-continuous n60-m2-k4-lonely-continuous n64-m9-k5-labels-continuous "
    "n130-m5-k7-w-ties n245-m4-k3-labels-ties n600-m37-k5-labels-continuous"))


@LOO_MAXNORM_CASES
def test_knn_loo_maxnorm(backend, rng, n, m, k, target, kind):
    backend.fits(n)
    z = _data(rng, n, m, kind)
    labels, w = loo_target(rng, z, target, lambda n: _data(rng, n, 2, kind))
    got = backend.be.knn_loo_maxnorm(backend.floats(z), backend.ints(labels), backend.floats(w), k)
    want = REFERENCE.knn_loo_maxnorm(z, labels, w, k)
    assert got.shape == (3, m + 1)
    backend.check(got[0], want[0], "sum log r", integers=kind == "ties", terms=n)
    # equal counts: their digamma sums differ only in their order
    backend.check(got[1:], want[1:], "sums of psi(count + 1)", integers=True, terms=n)


@pytest.mark.parametrize("n,m", [(41, 3), (211, 4)])
def test_knn_loo_maxnorm_targets(backend, rng, n, m):
    """Several targets at once, as leave_one_out_mutual_information(z, [labels, w]) asks."""
    backend.fits(n)
    z = _data(rng, n, m, "continuous")
    labels, w = labels_of_three(rng, z, lonely=True), _data(rng, n, 3, "continuous")
    got = backend.be.knn_loo_maxnorm_targets(
        backend.floats(z), [(backend.ints(labels), None), (None, backend.floats(w))], 2)
    assert got.shape == (2, 3, m + 1)
    want = REFERENCE.knn_loo_maxnorm_targets(z, [(labels, None), (None, w)], 2)
    backend.check(got[:, 0], want[:, 0], "sums of log r per target", terms=n)
    backend.check(got[:, 1:], want[:, 1:], "sums of psi per target", integers=True, terms=n)


LOO_EUCLIDEAN_CASES = _table("n,m,k,kind", (
    "n5-m1-k4-continuous n38-m4-k3-ties n43-m3-k2-continuous n50-m4-k1-dominant "
    "n61-m3-k2-nearties n61-m9-k5-ties n143-m3-k2-continuous n250-m4-k1-dominant "
    "n461-m19-k6-continuous"))


@LOO_EUCLIDEAN_CASES
def test_knn_loo_euclidean(backend, rng, n, m, k, kind):
    """Ties include duplicate points, whose log r is -inf on every backend."""
    backend.fits(n)
    z = _data(rng, n, m, kind)
    got = backend.be.knn_loo_euclidean(backend.floats(z), k)
    assert got.shape == (m + 1,)
    backend.check(got, REFERENCE.knn_loo_euclidean(z, k), "sum log r", integers=kind == "ties",
                  terms=n)


KDE_CASES = _table("n,m,labels,sigma2,kind", (
    "n1-m3-none-s0.1-continuous n23-m2-labels-s0.3-ties "
    "n31-m4-labels-s0.001-dominant n37-m2-none-s0.5-ties "
    "n45-m5-labels-s0.05-continuous n50-m3-none-s0.1-continuous "
    "n61-m3-lonely-s0.05-continuous n150-m3-none-s0.1-continuous "
    "n245-m5-labels-s0.05-continuous n529-m37-lonely-s0.001-continuous"))


def _kde_data(rng, n, m, kind):
    """As _data; "dominant": leaving column 0 out leaves ~1e-6 of the squared distance."""
    if kind == "dominant":
        scale = np.array([30.0] + [0.05] * (m - 1))
        return (continuous(rng, n, m) * scale).astype(np.float32).astype(np.float64)
    return _data(rng, n, m, kind)


@KDE_CASES
def test_kde_primitives(backend, rng, n, m, labels, sigma2, kind):
    backend.fits(n)
    t = _kde_data(rng, n, m, kind)
    lab = _labels(rng, t, labels)
    got = backend.be.kde_log_mean_kernel(backend.floats(t), backend.ints(lab), sigma2)
    backend.check(got, REFERENCE.kde_log_mean_kernel(t, lab, sigma2), "log mean kernel",
                  kind="distances")
    n_classes = 1 if lab is None else int(lab.max()) + 2  # the last class is empty
    got = backend.be.kde_loo(backend.floats(t), backend.ints(lab), n_classes, sigma2)
    assert got.shape == (n_classes, m + 1)
    backend.check(got, REFERENCE.kde_loo(t, lab, n_classes, sigma2), "leave-one-out sums",
                  terms=n)


@pytest.mark.parametrize("n,m,f,high", BINNING_CASES, ids=BINNING_IDS)
def test_binning_primitives(backend, rng, n, m, f, high):
    codes, fixed = binning_inputs(rng, n, m, f, high)
    got = np.sort(backend.be.pattern_counts(backend.ints(codes), backend.ints(fixed)))
    np.testing.assert_array_equal(got, np.sort(REFERENCE.pattern_counts(codes, fixed)))
    assert got.sum() == n
    got = backend.be.binning_loo(backend.ints(codes), backend.ints(fixed))
    backend.check(got, REFERENCE.binning_loo(codes, fixed), "sum c log c", integers=True, terms=n)


def test_inputs_of_any_layout_and_dtype(backend, rng):
    """float32, column-major tensors on the backend's device and numpy inputs (labels on the
    host) give the radii of contiguous float64 input."""
    z = _data(rng, 61, 3, "continuous").astype(np.float32)
    labels = labels_of_three(rng, z)
    be = backend.be
    want = be.kth_neighbor_distance(be.floats(z.astype(np.float64)), be.ints(labels), 2, MAX)
    column_major = backend.tensor(z).t().contiguous().t()
    assert not column_major.is_contiguous()
    for z_in in (column_major, z):
        np.testing.assert_array_equal(be.kth_neighbor_distance(be.floats(z_in), labels, 2, MAX),
                                      want)


@pytest.mark.parametrize("call,message", [
    (lambda be, z: be.kth_neighbor_distance(z, None, 9, MAX), "smaller than the number of samples"),
    (lambda be, z: be.knn_loo_maxnorm(z, be.ints(np.zeros(9)), z, 2), "labels or w"),
    (lambda be, z: be.kde_loo(z, None, 2, 0.1), "n_classes must be 1"),
], ids=["k-too-large", "labels-and-w", "classes-without-labels"])
def test_invalid_arguments_raise(backend, call, message):
    with pytest.raises(ValueError, match=message):
        call(backend.be, backend.floats(np.zeros((9, 2))))
