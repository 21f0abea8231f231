"""The Gaussian-copula synergy profile on wide layers, against the mixed k-NN estimator and
against the loop a user of a gcmi-style library writes (one estimate per left-out column).

    pytest benchmarks/bm_gaussian.py --benchmark-only [-k "n10000"]

Goals on 2 CPU cores: the profile at (10000, 1024) in under 2 s, the leave-one-out within 3x
of one estimate, at least 20x the loop. The loop and the k-NN profile at the wide sizes are
timed on their first columns and scaled to m (``extrapolated_from_columns`` in extra_info).
"""
import numpy as np
import pytest
from scipy.special import ndtri, psi

import gib_kernels as gk

SIZES = [(10000, 1024), (20000, 512)]
LOOP_COLUMNS = 8  # columns of the loops timed at the wide sizes


def _layer(n, m, target):
    """A tanh layer of m units driven by 16 inputs, and a target that depends on 3 of them:
    4 classes, or the 3 inputs themselves."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 16))
    z = np.tanh(x @ rng.standard_normal((16, m)) / 2 + 0.3 * rng.standard_normal((n, m)))
    if target == "labels":
        return z, (x[:, :2].sum(1) > 0).astype(int) + 2 * (x[:, 2] > 0)
    return z, x[:, :3]


def _copnorm(x):
    ranks = np.argsort(np.argsort(x, axis=0), axis=0) + 1
    return ndtri(ranks / (x.shape[0] + 1))


def _ent_g(x):
    n, d = x.shape
    x = x - x.mean(0)
    h = np.sum(np.log(np.diagonal(np.linalg.cholesky(x.T @ x / (n - 1))))) \
        + 0.5 * d * (np.log(2 * np.pi) + 1)
    return h - d * (np.log(2) - np.log(n - 1)) / 2 - psi((n - np.arange(1, d + 1)) / 2).sum() / 2


def _gcmi_mi(x, target):
    """The estimate a gcmi user computes for one subset of columns (copula included)."""
    cx = _copnorm(x)
    if target.ndim == 1:
        weights = np.bincount(target) / target.size
        return _ent_g(cx) - sum(w * _ent_g(cx[target == c]) for c, w in enumerate(weights))
    cw = _copnorm(target)
    return _ent_g(cx) + _ent_g(cw) - _ent_g(np.hstack([cx, cw]))


def _user_loop(z, target, columns):
    for j in columns:
        _gcmi_mi(np.delete(z, j, axis=1), target)


@pytest.mark.parametrize("target", ["labels", "continuous"])
@pytest.mark.parametrize("n,m", SIZES, ids=[f"n{n}-m{m}" for n, m in SIZES])
@pytest.mark.parametrize("what", ["profile", "one_estimate", "leave_one_out",
                                  "user_loop_over_j", "mixed_knn_profile"])
def test_gaussian(benchmark, what, n, m, target):
    z, w = _layer(n, m, target)
    benchmark.group = f"gaussian-{target}-n{n}-m{m}"
    benchmark.extra_info.update(n=n, m=m, target=target)
    gauss = {"estimator": "gaussian"}
    if what == "profile":
        benchmark.pedantic(gk.synergy_profile, (z, w), gauss, rounds=3)
    elif what == "one_estimate":
        benchmark.pedantic(gk.mutual_information, (z, w), gauss, rounds=3)
    elif what == "leave_one_out":
        benchmark.pedantic(gk.leave_one_out_mutual_information, (z, w), gauss, rounds=3)
    elif what == "user_loop_over_j":
        benchmark.extra_info["extrapolated_from_columns"] = LOOP_COLUMNS
        benchmark.pedantic(_user_loop, (z, w, range(LOOP_COLUMNS)), rounds=1)
        benchmark.extra_info["seconds_for_all_m"] = \
            benchmark.stats.stats.median * m / LOOP_COLUMNS
    else:
        if target != "labels":
            pytest.skip("the mixed estimator takes class labels")
        # the k-NN profile: one full and one fused leave-one-out estimate, and m per-feature
        # ones, timed on LOOP_COLUMNS of them
        benchmark.extra_info["per_feature_extrapolated_from_columns"] = LOOP_COLUMNS
        benchmark.pedantic(gk.synergy_profile, (z[:, :LOOP_COLUMNS * 4], w),
                           {"estimator": "mixed"}, rounds=1)
