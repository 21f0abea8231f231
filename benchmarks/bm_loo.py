"""The fused all-features-vs-rest loop against one estimate and the naive loop, same data.

    pytest benchmarks/bm_loo.py --benchmark-only [-k small]

Target: all-m leave-one-out within 3x of one estimate. The naive loop is m full estimates;
at the large sizes it is timed on its first columns and scaled to m (marked "extrapolated" in
`extra_info`), as the whole loop would run for tens of minutes.
"""

import numpy as np
import pytest

import gib_kernels as gk
from gib_kernels.estimators.binning import discretize
from tests.inputs import labels_for, layer_like

SIZES = [("small", 2000, 16), ("medium", 4000, 64), ("large", 10000, 256)]
NAIVE_COLUMNS = 4  # columns of the naive loop timed at the large sizes


def _data(n, m, estimator):
    rng = np.random.default_rng(0)
    z = layer_like(rng, n, m, "tanh")
    y = labels_for(rng, z, 10)
    if estimator == "binning":
        z = discretize(z, 30, (-1.0, 1.0)).numpy()
    return z, y


def _naive_loop(z, y, estimator, columns):
    for j in columns:
        gk.mutual_information(np.delete(z, j, axis=1), y, estimator=estimator)


@pytest.mark.parametrize("estimator", ["mixed", "binning"])
@pytest.mark.parametrize("size,n,m", SIZES, ids=[s for s, _, _ in SIZES])
@pytest.mark.parametrize("what", ["one_estimate", "leave_one_out", "naive_loop"])
def test_loo(benchmark, what, size, n, m, estimator):
    z, y = _data(n, m, estimator)
    benchmark.group = f"loo-{estimator}-{size}-n{n}-m{m}"
    benchmark.extra_info.update(n=n, m=m, estimator=estimator)
    if what == "one_estimate":
        benchmark.pedantic(gk.mutual_information, (z, y), {"estimator": estimator}, rounds=3)
    elif what == "leave_one_out":
        benchmark.pedantic(gk.leave_one_out_mutual_information, (z, y),
                           {"estimator": estimator}, rounds=3)
    else:
        columns = range(m) if m <= 16 else range(NAIVE_COLUMNS)
        benchmark.extra_info["extrapolated_from_columns"] = len(columns)
        benchmark.pedantic(_naive_loop, (z, y, estimator, columns), rounds=1)
        if len(columns) < m:
            benchmark.extra_info["naive_loop_seconds_extrapolated"] = \
                benchmark.stats.stats.median * m / len(columns)
