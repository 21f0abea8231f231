"""gib_kernels backends and the peer libraries on the same tasks and data (see ``peers.py``).

    pytest benchmarks/bm_peers.py --benchmark-only -k small     # (1000, 8) and (2000, 16)
    pytest benchmarks/bm_peers.py --benchmark-only -k "mixed_loo and medium"

Grouped by task and size, so each table of pytest-benchmark compares the providers of one
case. A peer that is not installed is skipped with a note (``pip install .[bench]``). Every
case also checks its estimate: the shape of the task, finite values, and agreement with
gib_kernels CPU where the provider computes the same estimator. Peak memory, time limits and
accuracy against closed forms are measured by ``python -m benchmarks.compare``.
"""
import math
import time

import numpy as np
import pytest

from . import peers

SIZES = [("small", 1000, 8), ("small", 2000, 16), ("medium", 5000, 32)]
QUICK_CALL_S = 1.0  # a first call faster than this is timed over 3 rounds, a slower one once

# Providers that compute the same estimate as gib_kernels CPU (nats) up to this tolerance:
# ennemi has its own digamma, infomeasure and scikit-learn jitter their inputs (1e-10
# relative), HOI runs in float32. gib_kernels CPU itself is deterministic: its repeated calls
# must be bit-identical.
AGREEMENT_ATOL = {"cpu": 0.0, "reference": 1e-9, "cuda": 1e-6, "triton": 1e-6, "ennemi": 1e-6,
                  "numpy": 1e-9, "infomeasure": 0.02, "sklearn": 0.02, "hoi": 1e-3}
# HOI and infomeasure have no mixed estimator: their KSG takes the labels as one more
# continuous coordinate, which is Ross's estimator only while every k-th neighbour radius
# stays below the spacing of the labels (1), and HOI measures distances in Z with the
# Euclidean norm. Their multivariate estimates are checked for range only; HOI's KL entropy is
# compared with gib_kernels' Euclidean KL.
OTHER_ESTIMATOR = {("hoi", "mixed_mi"), ("hoi", "mixed_loo"), ("infomeasure", "mixed_mi"),
                   ("infomeasure", "mixed_loo")}


def _cases():
    for task in peers.TASKS:
        for provider in peers.PROVIDERS:
            if (provider, task) not in peers.ADAPTERS:
                continue
            for size, n, m in SIZES:
                yield pytest.param(provider, task, n, m, id=f"{task}-{provider}-{size}-{n}x{m}")


def _expected(provider, task, z, y, first):
    """gib_kernels CPU's value of the provider's estimate, or None for another estimator."""
    if provider == "cpu":
        return first
    if (provider, task) in OTHER_ESTIMATOR:
        return None
    if provider == "hoi" and task == "kl_entropy":
        import gib_kernels as gk

        return gk.entropy(z, estimator="knn", k=peers.K, metric="euclidean", base="e")
    expected = peers.ADAPTERS["cpu", task](z, y)()
    return np.maximum(expected, 0.0) if provider == "sklearn" else expected  # sklearn clips


@pytest.mark.parametrize("provider,task,n,m", list(_cases()))
def test_peers(benchmark, provider, task, n, m):
    reason = peers.unavailable_reason(provider)
    if reason:
        pytest.skip(reason)
    z, y = peers.workload(task, n, m)
    run = peers.ADAPTERS[provider, task](z, y)
    benchmark.group = f"{task}-{n}x{m}"
    benchmark.extra_info.update(provider=provider, task=task, n=n, m=m)

    start = time.perf_counter()
    first = run()  # untimed: the first call also compiles (HOI's jax)
    rounds = 3 if time.perf_counter() - start < QUICK_CALL_S else 1
    result = np.asarray(benchmark.pedantic(run, rounds=rounds, iterations=1), dtype=np.float64)

    assert result.shape == ((m,) if task in peers.VECTOR_TASKS else ()), result.shape
    assert np.all(np.isfinite(result)), f"{provider} {task}: {result}"
    expected = _expected(provider, task, z, y, first)
    if expected is None:
        # Another estimator of the same quantity: an MI with 10 classes lies in [0, log 10],
        # give or take the bias of a k-NN estimate.
        bias = 0.5
        assert -bias <= result.min() and result.max() <= math.log(peers.N_CLASSES) + bias, result
    else:
        np.testing.assert_allclose(result, expected, rtol=0, atol=AGREEMENT_ATOL[provider],
                                   err_msg=f"{provider} vs gib_kernels cpu, {task}")
