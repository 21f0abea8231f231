"""Every fast backend (the `backend` fixture: cpu, triton, cuda, cuda-emulated) through the public
API against the reference, on fresh random inputs of odd shapes, with ties: no silent fallback
to another backend, and vector results on the caller's device."""
import warnings

import numpy as np
import pytest
import torch

import gib_kernels as gk
from conftest import FLOAT32, assert_close
from inputs import continuous, family_options, labels_for

SHAPES = [(7, 1), (31, 2), (64, 3), (157, 5), (233, 13)]
SHAPE_IDS = [f"n{n}-d{d}" for n, d in SHAPES]


def _agree(backend, name, fn, *args, refused=False, **kwargs):
    """fn on the backend (its inputs where it runs), within its tolerance of the reference; with
    ``refused``, the backend refuses the call instead."""
    if refused:
        with pytest.raises(ValueError, match="float32, which cannot tell apart"):
            fn(*(backend.api(a) for a in args), backend=backend.case.api_name, **kwargs)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate-point warnings on tied data
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no fallback to another backend
            fast = fn(*(backend.api(a) for a in args), backend=backend.case.api_name, **kwargs)
        ref = fn(*args, **{**kwargs, "backend": "reference"})
    if isinstance(fast, torch.Tensor):
        assert fast.device.type == ("cuda" if backend.case.on_cuda else "cpu")
    backend.check(fast, ref, name, kind="estimates")


def _data(rng, n, d, ties, estimator):
    z = continuous(rng, n, d, ties=ties)
    if estimator == "binning" and ties:
        z = z.astype(np.int64)
    return z


def _tie_breaking(backend, kw, ties):
    """(options, refused). k-NN estimators refuse discrete-valued data unless asked to break the
    ties: on the tied inputs they get 1e-10 jitter, which leaves distances that differ in their
    last bits; a float32 backend cannot tell those apart, so it refuses."""
    if ties and kw["estimator"] in ("knn", "mixed"):
        return {**kw, "noise": 1e-10, "random_state": 0}, backend.case.precision is FLOAT32
    return kw, False


ENTROPY_CASES = [
    ("knn-max", dict(estimator="knn")),
    ("knn-euclidean", dict(estimator="knn", metric="euclidean")),
    ("binning", dict(estimator="binning", bins=5)),
    ("binning-column", dict(estimator="binning", bins=7, bin_range="column")),
    ("kde", dict(estimator="kde", sigma2=0.1)),
]


@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
@pytest.mark.parametrize("n,d", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("case,kw", ENTROPY_CASES, ids=[c for c, _ in ENTROPY_CASES])
def test_entropy_and_leave_one_out(rng, backend, ties, n, d, case, kw):
    backend.fits(n)
    z = _data(rng, n, d, ties, kw["estimator"])
    k = int(rng.integers(1, min(7, n - 1) + 1))
    kw, refused = _tie_breaking(backend, kw, ties)
    kw = family_options(kw, k=k)
    _agree(backend, f"entropy {case}", gk.entropy, z, refused=refused, **kw)
    _agree(backend, f"leave-one-out entropy {case}", gk.leave_one_out_entropy, z,
           refused=refused, **kw)


MI_CASES = [
    ("ksg", "continuous", dict(estimator="knn")),
    ("mixed", "labels", dict(estimator="mixed")),
    ("binning-labels", "labels", dict(estimator="binning", bins=4)),
    ("binning-continuous", "continuous", dict(estimator="binning", bins=3)),
    ("kde-labels", "labels", dict(estimator="kde", sigma2=0.05)),
    ("kde-discrete-matrix", "discrete-matrix", dict(estimator="kde", sigma2=0.05)),
]
MI_IDS = [c for c, _, _ in MI_CASES]


def _target(rng, z, kind):
    if kind == "labels":
        return labels_for(rng, z, n_classes=int(rng.integers(2, 5)))
    if kind == "discrete-matrix":  # distinct rows are the classes
        return np.column_stack([labels_for(rng, z, 3), rng.integers(0, 2, z.shape[0])])
    return z[:, :1] ** 2 + 0.3 * rng.standard_normal((z.shape[0], 2))


@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
@pytest.mark.parametrize("n,d", SHAPES[1:], ids=SHAPE_IDS[1:])
@pytest.mark.parametrize("case,target,kw", MI_CASES, ids=MI_IDS)
def test_mutual_information_loo_and_synergy(rng, backend, ties, n, d, case, target, kw):
    backend.fits(n)
    z = _data(rng, n, d, ties, kw["estimator"])
    w = _target(rng, z, target)
    k = int(rng.integers(1, min(7, n // 4) + 1))
    kw, refused = _tie_breaking(backend, kw, ties)
    kw = family_options(kw, k=k)
    for fn, name in ((gk.mutual_information, "MI"), (gk.leave_one_out_mutual_information,
                     "leave-one-out MI"), (gk.synergy_profile, "synergy profile")):
        _agree(backend, f"{name} {case}", fn, z, w, refused=refused, **kw)


CMI_CASES = [
    ("frenzel-pompe", "continuous", dict(estimator="knn")),
    ("mixed-chain", "labels", dict(estimator="mixed")),
    ("binning", "labels", dict(estimator="binning", bins=3)),
]


@pytest.mark.parametrize("n,d", SHAPES[1:], ids=SHAPE_IDS[1:])
@pytest.mark.parametrize("case,target,kw", CMI_CASES, ids=[c for c, _, _ in CMI_CASES])
def test_conditional_mutual_information(rng, backend, n, d, case, target, kw):
    backend.fits(n)
    z = continuous(rng, n, d)
    v = z[:, :1] + rng.standard_normal((n, 1))
    w = _target(rng, z, target)
    _agree(backend, f"CMI {case}", gk.conditional_mutual_information, z, w, v,
           **family_options(kw, k=3))


@pytest.mark.parametrize("m", [1, 2, 3, 9, 40])
def test_fused_loo_equals_naive_loop_with_labels_of_one_member(rng, backend, m):
    n = 120
    backend.fits(n)
    z = continuous(rng, n, m)
    y = labels_for(rng, z, 3)
    y[0] = 7  # a class with a single member: dropped by Ross's estimator
    _agree(backend, "leave-one-out mixed MI", gk.leave_one_out_mutual_information, z, y, k=n // 3)


def test_synergy_of_12bit_data_matches_reference_exactly():
    X, y = gk.datasets.tishby_12bit()
    fast = gk.synergy_profile(X.astype(np.int64), y)
    ref = gk.synergy_profile(X.astype(np.int64), y, backend="reference")
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)
    assert gk.synergy(X.astype(np.int64), y) == pytest.approx(float(np.mean(ref)), abs=1e-12)


@pytest.mark.parametrize("case,target,kw", MI_CASES, ids=MI_IDS)
def test_fused_loo_equals_naive_loop_at_n600_m40(backend, case, target, kw):
    backend.fits(600)
    rng = np.random.default_rng(600)
    z = continuous(rng, 600, 40)
    w = _target(rng, z, target)
    _agree(backend, f"leave-one-out MI {case}", gk.leave_one_out_mutual_information, z, w,
           **family_options(kw, k=3))


@pytest.mark.parametrize("k,n_classes", [(1, 2), (3, 3), (7, 5)])
def test_per_feature_mixed_mi_matches_scikit_learn(rng, backend, k, n_classes):
    sklearn = pytest.importorskip("sklearn.feature_selection")
    backend.fits(400)
    z = continuous(rng, 400, 6)
    y = labels_for(rng, z, n_classes)
    ours = gk.per_feature_mutual_information(backend.api(z), backend.api(y), k=k, base="e",
                                             backend=backend.case.api_name)
    ours = ours.cpu().numpy() if isinstance(ours, torch.Tensor) else ours
    theirs = sklearn.mutual_info_classif(z, y, n_neighbors=k, random_state=0)
    positive = theirs > 0  # scikit-learn clips at zero
    assert positive.any()
    assert_close(ours[positive], theirs[positive], rtol=0, atol=1e-6, name="per-feature MI")
