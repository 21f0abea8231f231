"""k-NN estimators (nats) over backend primitives: Kozachenko-Leonenko entropy, KSG mutual
information (algorithm 1, max-norm), Frenzel-Pompe conditional MI, and their fused
leave-one-feature-out forms. Formulas and bias: docs/science.md, "Estimators".

The family checks its inputs first: discrete-valued data (distance ties) is refused unless
``noise`` breaks the ties, and duplicate rows of otherwise continuous data warn.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.special import digamma, gammaln

from ..backends.protocol import EUCLIDEAN, MAX, concat_columns
from .._validation import check_k, check_no_ties, jitter
from .binning import value_codes
from .inputs import cat, per_feature_loop


def _metric_code(metric: str) -> int:
    return MAX if metric == "max" else EUCLIDEAN


def log_unit_ball(d: int, metric: str) -> float:
    """log c_d: volume of the unit ball, 2^d for the max-norm, pi^(d/2)/Gamma(d/2+1) for L2."""
    if metric == "max":
        return d * math.log(2.0)
    return 0.5 * d * math.log(math.pi) - float(gammaln(0.5 * d + 1.0))


def _mean_log(r: np.ndarray) -> float:
    with np.errstate(divide="ignore"):
        return float(np.mean(np.log(r)))


def warn_duplicates(be, x, name: str) -> None:
    """Warns when rows of x repeat: k-NN estimators assume distinct points."""
    n = int(x.shape[0])
    distinct = int(be.pattern_counts(be.ints(value_codes(x)), None).size)
    if distinct < n:
        warnings.warn(
            f"'{name}' has {n - distinct} duplicate rows: k-NN estimators assume distinct points "
            "(zero distances bias them). Pass noise=1e-10 (with random_state) to break ties, "
            "or use estimator='binning' for discrete data.",
            UserWarning, stacklevel=5)  # the caller of the public function


# Past this many dimensions k-NN estimates lose most of their signal (docs/science.md, "Known
# bias"): the first estimate on wider data says so, once per process.
WIDE_DIMENSIONS = 20
_warned_wide = False


def warn_if_wide(dimensions: int, estimator: str) -> None:
    global _warned_wide
    if dimensions > WIDE_DIMENSIONS and not _warned_wide:
        _warned_wide = True
        warnings.warn(
            f"the {estimator!r} k-NN estimate works in {dimensions} dimensions: past about "
            f"{WIDE_DIMENSIONS}, k-NN mutual information is biased towards 0 (half the true value "
            "at 16 dimensions in docs/science.md). estimator='gaussian' stays meaningful on wide "
            "layers. This warning is shown once.", UserWarning, stacklevel=5)


def prepare_floats(d, x, name):
    """float64 (jittered where ``noise`` asks for it)."""
    x = x.astype(np.float64, copy=False) if isinstance(x, np.ndarray) else x.double()
    return jitter(x, d.p.noise, d.p.rng)


# --- formulas over backend primitives ---------------------------------------------------------


def kl_entropy(be, z, k: int, metric: str) -> float:
    n, d = z.shape
    r = be.kth_neighbor_distance(be.floats(z), None, k, _metric_code(metric))
    return float(digamma(n) - digamma(k) + log_unit_ball(d, metric) + d * _mean_log(r))


def ksg_mutual_information(be, z, w, k: int) -> float:
    n = z.shape[0]
    r = be.kth_neighbor_distance(concat_columns(be, z, w), None, k, MAX)
    n_z = be.count_within(be.floats(z), r, MAX)
    n_w = be.count_within(be.floats(w), r, MAX)
    return float(digamma(k) + digamma(n) - np.mean(digamma(n_z + 1) + digamma(n_w + 1)))


def frenzel_pompe_cmi(be, z, w, v, k: int) -> float:
    r = be.kth_neighbor_distance(concat_columns(be, z, w, v), None, k, MAX)
    n_zv = be.count_within(concat_columns(be, z, v), r, MAX)
    n_wv = be.count_within(concat_columns(be, w, v), r, MAX)
    n_v = be.count_within(be.floats(v), r, MAX)
    return float(digamma(k) - np.mean(digamma(n_zv + 1) + digamma(n_wv + 1) - digamma(n_v + 1)))


def kl_entropy_loo(be, z, k: int, metric: str) -> np.ndarray:
    n, m = z.shape
    if m == 1:
        return np.zeros(1)  # no feature left: H of a constant
    if metric == "max":
        sum_log_r = be.knn_loo_maxnorm(be.floats(z), None, None, k)[0, :m]
    else:
        sum_log_r = be.knn_loo_euclidean(be.floats(z), k)[:m]
    d = m - 1
    with np.errstate(invalid="ignore"):
        return digamma(n) - digamma(k) + log_unit_ball(d, metric) + d * sum_log_r / n


def ksg_mutual_information_loo(be, z, w, k: int) -> np.ndarray:
    n, m = z.shape
    if m == 1:
        return np.zeros(1)
    return ksg_from_sums(be.knn_loo_maxnorm(be.floats(z), None, be.floats(w), k), n, m, k)


def ksg_from_sums(sums: np.ndarray, n: int, m: int, k: int) -> np.ndarray:
    """I(Z_-j; W) for every j from the sums of ``knn_loo_maxnorm`` with a w."""
    return digamma(k) + digamma(n) - (sums[1, :m] + sums[2, :m]) / n


# --- the estimator family's interface (estimators/__init__.py) -------------------------------


def setup(d, arrays) -> None:
    check_k(d.p.k, d.n)
    for name, x in arrays.items():
        check_no_ties(x, name, "knn", d.p.noise)
    warn_if_wide(sum(x.shape[1] for x in arrays.values()), "knn")


prepare = prepare_floats


def check_prepared(d) -> None:
    joint = d.z if d.w is None else cat(d.z, d.w)
    warn_duplicates(d.backend, joint, "z" if d.w is None else f"(z, {d.target_name})")


def entropy(d, z) -> float:
    return kl_entropy(d.backend, z, d.p.k, d.p.metric)


def mutual_information(d, z) -> float:
    return ksg_mutual_information(d.backend, z, d.w, d.p.k)


def conditional_mutual_information(d) -> float:
    return frenzel_pompe_cmi(d.backend, d.z, d.w, d.v, d.p.k)


def entropy_loo(d) -> np.ndarray:
    return kl_entropy_loo(d.backend, d.z, d.p.k, d.p.metric)


def mutual_information_loo(d) -> np.ndarray:
    return ksg_mutual_information_loo(d.backend, d.z, d.w, d.p.k)


per_feature_mutual_information = per_feature_loop
