"""k-NN estimators (nats) over backend primitives: Kozachenko-Leonenko entropy, KSG mutual
information (algorithm 1, max-norm), Frenzel-Pompe conditional MI, and their fused
leave-one-feature-out forms. Formulas and bias: docs/science.md, "Estimators".

The family checks its inputs first: discrete-valued data (distance ties) is refused unless
``noise`` breaks the ties, and duplicate rows of otherwise continuous data warn.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma, gammaln

from ..backends.protocol import EUCLIDEAN, MAX, concat_columns
from .._validation import (
    METRICS,
    check_choice,
    check_int,
    check_k,
    check_no_ties,
    check_noise,
    check_seed,
)
from .base import Estimator
from .shared import (
    cat,
    ksg_from_sums,
    prepare_floats,
    refuse_float32_ties,
    warn_duplicates,
    warn_if_wide,
)


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


# --- the estimator family (estimators/protocol.py) --------------------------------------------


class KNN(Estimator):
    """k-nearest-neighbour estimators: Kozachenko-Leonenko entropy, KSG mutual information
    (algorithm 1, max-norm), Frenzel-Pompe conditional MI, and their fused leave-one-feature-out
    forms.

    Parameters
    ----------
    k : int, default 3. Neighbours (1 <= k < n): a larger k lowers the variance and raises the
        bias.
    metric : {"max", "euclidean"}, default "max". Norm of the KL entropy (KSG uses the max-norm).
    noise : float, default 0. Relative jitter, noise * max(1, mean |x_col|) * N(0, 1) per
        column, added to break distance ties (duplicate points, discrete-valued data, which the
        estimator otherwise refuses).
    random_state : int, numpy Generator or None. Seeds ``noise``.

    Bias: towards 0 in many dimensions (half the true MI at 16 dimensions; a warning past 20);
    discrete-valued data is refused unless ``noise`` breaks the ties; duplicate rows warn.
    Results in nats inside, the caller's ``base`` outside. docs/science.md, "Estimators".
    """

    name = "knn"
    _parameters = {"k": lambda v: check_int(v, "k", 1),
                   "metric": lambda v: check_choice(v, "metric", METRICS),
                   "noise": check_noise,
                   "random_state": check_seed}
    fused_leave_one_out = True
    entropy_description = "differential entropy, Kozachenko-Leonenko"

    def __init__(self, k=3, metric="max", noise=0.0, random_state=None):
        self.k = k
        self.metric = metric
        self.noise = noise
        self.random_state = random_state
        self._validate()

    def setup(self, d, arrays) -> None:
        check_k(d.p.k, d.n)
        for name, x in arrays.items():
            check_no_ties(x, name, "knn", d.p.noise)
        refuse_float32_ties(d.backend, d.p.noise, arrays)
        warn_if_wide(sum(x.shape[1] for x in arrays.values()), "knn")

    def prepare(self, d, x, name):
        return prepare_floats(d, x, name)

    def check_prepared(self, d) -> None:
        joint = d.z if d.w is None else cat(d.z, d.w)
        warn_duplicates(d.backend, joint, "z" if d.w is None else f"(z, {d.target_name})")

    def entropy(self, d, z) -> float:
        return kl_entropy(d.backend, z, d.p.k, d.p.metric)

    def mutual_information(self, d, z) -> float:
        return ksg_mutual_information(d.backend, z, d.w, d.p.k)

    def conditional_mutual_information(self, d) -> float:
        return frenzel_pompe_cmi(d.backend, d.z, d.w, d.v, d.p.k)

    def entropy_loo(self, d) -> np.ndarray:
        return kl_entropy_loo(d.backend, d.z, d.p.k, d.p.metric)

    def mutual_information_loo(self, d) -> np.ndarray:
        return ksg_mutual_information_loo(d.backend, d.z, d.w, d.p.k)

    def information_terms(self, d):
        """One fused pass gives I(Z_-j; W) for every j and I(Z; W) (its entry m)."""
        n, m = d.z.shape
        if m == 1:
            return super().information_terms(d)
        be = d.backend
        sums = be.knn_loo_maxnorm(be.floats(d.z), None, be.floats(d.w), d.p.k)
        both = ksg_from_sums(sums, n, m + 1, d.p.k)
        return float(both[m]), self.per_feature_mutual_information(d), both[:m]

    def fused_target(self, d):
        """This call's target for ``shared.knn_loo_targets`` (several targets, one pass)."""
        return ("knn", d.w)
