"""Every fast backend against the reference, on fresh random inputs of odd shapes, with ties."""
import warnings

import numpy as np
import pytest

import gib_kernels as gk
from conftest import CPU_BACKENDS, assert_close
from inputs import continuous, labels_for

SHAPES = [(7, 1), (31, 2), (64, 3), (157, 5), (233, 13)]
SHAPE_IDS = [f"n{n}-d{d}" for n, d in SHAPES]
RTOL = 1e-9


def _pair(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate-point warnings on tied data
        fast = fn(*args, **kwargs)
        ref = fn(*args, **{**kwargs, "backend": "reference"})
    return fast, ref


def _data(rng, n, d, ties, estimator):
    z = continuous(rng, n, d, ties=ties)
    if estimator == "binning" and ties:
        z = z.astype(np.int64)
    return z


def _neighbours(kw, k):
    """``k`` for the k-NN families, which alone take it."""
    return {**kw, "k": k} if kw["estimator"] in ("knn", "mixed") else kw


def _tie_breaking(kw, ties):
    """k-NN estimators refuse discrete-valued data unless asked to break the ties: on the tied
    inputs they get 1e-10 jitter, which leaves distances that differ in their last bits."""
    if ties and kw["estimator"] in ("knn", "mixed"):
        return {**kw, "noise": 1e-10, "random_state": 0}
    return kw


ENTROPY_CASES = [
    ("knn-max", dict(estimator="knn")),
    ("knn-euclidean", dict(estimator="knn", metric="euclidean")),
    ("binning", dict(estimator="binning", bins=5)),
    ("binning-column", dict(estimator="binning", bins=7, bin_range="column")),
    ("kde", dict(estimator="kde", sigma2=0.1)),
]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
@pytest.mark.parametrize("n,d", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("case,kw", ENTROPY_CASES, ids=[c for c, _ in ENTROPY_CASES])
def test_entropy_and_leave_one_out(rng, backend, ties, n, d, case, kw):
    z = _data(rng, n, d, ties, kw["estimator"])
    kw = _tie_breaking(kw, ties)
    k = int(rng.integers(1, min(7, n - 1) + 1))
    fast, ref = _pair(gk.entropy, z, backend=backend, **_neighbours(kw, k))
    assert_close(fast, ref, RTOL, name=f"entropy {case}")
    fast, ref = _pair(gk.leave_one_out_entropy, z, backend=backend, **_neighbours(kw, k))
    assert_close(fast, ref, RTOL, atol=1e-12, name=f"leave-one-out entropy {case}")


MI_CASES = [
    ("ksg", "continuous", dict(estimator="knn")),
    ("mixed", "labels", dict(estimator="mixed")),
    ("binning-labels", "labels", dict(estimator="binning", bins=4)),
    ("binning-continuous", "continuous", dict(estimator="binning", bins=3)),
    ("kde-labels", "labels", dict(estimator="kde", sigma2=0.05)),
    ("kde-discrete-matrix", "discrete-matrix", dict(estimator="kde", sigma2=0.05)),
]


def _target(rng, z, kind):
    if kind == "labels":
        return labels_for(rng, z, n_classes=int(rng.integers(2, 5)))
    if kind == "discrete-matrix":  # distinct rows are the classes
        return np.column_stack([labels_for(rng, z, 3), rng.integers(0, 2, z.shape[0])])
    return z[:, :1] ** 2 + 0.3 * rng.standard_normal((z.shape[0], 2))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
@pytest.mark.parametrize("n,d", SHAPES[1:], ids=SHAPE_IDS[1:])
@pytest.mark.parametrize("case,target,kw", MI_CASES, ids=[c for c, _, _ in MI_CASES])
def test_mutual_information_loo_and_synergy(rng, backend, ties, n, d, case, target, kw):
    z = _data(rng, n, d, ties, kw["estimator"])
    kw = _tie_breaking(kw, ties)
    w = _target(rng, z, target)
    k = int(rng.integers(1, min(7, n // 4) + 1))
    fast, ref = _pair(gk.mutual_information, z, w, backend=backend, **_neighbours(kw, k))
    assert_close(fast, ref, RTOL, atol=1e-12, name=f"MI {case}")
    fast, ref = _pair(gk.leave_one_out_mutual_information, z, w, backend=backend, **_neighbours(kw, k))
    assert_close(fast, ref, RTOL, atol=1e-12, name=f"leave-one-out MI {case}")
    fast, ref = _pair(gk.synergy_profile, z, w, backend=backend, **_neighbours(kw, k))
    assert_close(fast, ref, RTOL, atol=1e-12, name=f"synergy profile {case}")


CMI_CASES = [
    ("frenzel-pompe", "continuous", dict(estimator="knn")),
    ("mixed-chain", "labels", dict(estimator="mixed")),
    ("binning", "labels", dict(estimator="binning", bins=3)),
]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("n,d", SHAPES[1:], ids=SHAPE_IDS[1:])
@pytest.mark.parametrize("case,target,kw", CMI_CASES, ids=[c for c, _, _ in CMI_CASES])
def test_conditional_mutual_information(rng, backend, n, d, case, target, kw):
    z = continuous(rng, n, d)
    v = z[:, :1] + rng.standard_normal((n, 1))
    w = _target(rng, z, target)
    fast, ref = _pair(gk.conditional_mutual_information, z, w, v, backend=backend, **_neighbours(kw, 3))
    assert_close(fast, ref, RTOL, atol=1e-12, name=f"CMI {case}")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("m", [1, 2, 3, 9, 40])
def test_fused_loo_equals_naive_loop_with_labels_of_one_member(rng, backend, m):
    n = 120
    z = continuous(rng, n, m)
    y = labels_for(rng, z, 3)
    y[0] = 7  # a class with a single member: dropped by Ross's estimator
    fast, ref = _pair(gk.leave_one_out_mutual_information, z, y, k=int(n // 3), backend=backend)
    assert_close(fast, ref, RTOL, atol=1e-12, name="leave-one-out mixed MI")


def test_synergy_of_12bit_data_matches_reference_exactly():
    X, y = gk.datasets.tishby_12bit()
    fast = gk.synergy_profile(X.astype(np.int64), y)
    ref = gk.synergy_profile(X.astype(np.int64), y, backend="reference")
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)
    assert gk.synergy(X.astype(np.int64), y) == pytest.approx(float(np.mean(ref)), abs=1e-12)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("case,target,kw", MI_CASES, ids=[c for c, _, _ in MI_CASES])
def test_fused_loo_equals_naive_loop_at_n600_m40(backend, case, target, kw):
    rng = np.random.default_rng(600)
    z = continuous(rng, 600, 40)
    w = _target(rng, z, target)
    fast, ref = _pair(gk.leave_one_out_mutual_information, z, w, backend=backend, **_neighbours(kw, 3))
    assert_close(fast, ref, RTOL, atol=1e-12, name=f"leave-one-out MI {case}")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("k,n_classes", [(1, 2), (3, 3), (7, 5)])
def test_per_feature_mixed_mi_matches_scikit_learn(rng, backend, k, n_classes):
    sklearn = pytest.importorskip("sklearn.feature_selection")
    z = continuous(rng, 400, 6)
    y = labels_for(rng, z, n_classes)
    ours = gk.per_feature_mutual_information(z, y, k=k, base="e", backend=backend)
    theirs = sklearn.mutual_info_classif(z, y, n_neighbors=k, random_state=0)
    positive = theirs > 0  # scikit-learn clips at zero
    assert positive.any()
    assert_close(ours[positive], theirs[positive], rtol=0, atol=1e-6, name="per-feature MI")
