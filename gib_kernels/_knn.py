"""k-NN estimators (nats) over backend primitives: Kozachenko-Leonenko entropy, KSG mutual
information (algorithm 1), Ross's mixed estimator for class labels, Frenzel-Pompe conditional MI,
and their fused leave-one-feature-out forms. Formulas and bias: docs/science.md, "Estimators".

Arguments are validated arrays (numpy, or torch on CUDA) and a backend from ``_backend``.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma, gammaln

MAX, EUCLIDEAN = 0, 1


def _metric_code(metric: str) -> int:
    return MAX if metric == "max" else EUCLIDEAN


def log_unit_ball(d: int, metric: str) -> float:
    """log c_d: volume of the unit ball, 2^d for the max-norm, pi^(d/2)/Gamma(d/2+1) for L2."""
    if metric == "max":
        return d * math.log(2.0)
    return 0.5 * d * math.log(math.pi) - float(gammaln(0.5 * d + 1.0))


def _concat(be, *parts):
    arrays = [be.floats(p) for p in parts]
    if hasattr(arrays[0], "new_empty"):  # torch tensors
        import torch

        return torch.cat(arrays, dim=1).contiguous()
    return np.ascontiguousarray(np.concatenate(arrays, axis=1))


def _mean_log(r: np.ndarray) -> float:
    with np.errstate(divide="ignore"):
        return float(np.mean(np.log(r)))


# --- full estimates ---------------------------------------------------------------------------


def kl_entropy(be, z, k: int, metric: str) -> float:
    n, d = z.shape
    r = be.kth_neighbor_distance(be.floats(z), None, k, _metric_code(metric))
    return float(digamma(n) - digamma(k) + log_unit_ball(d, metric) + d * _mean_log(r))


def ksg_mutual_information(be, z, w, k: int) -> float:
    n = z.shape[0]
    r = be.kth_neighbor_distance(_concat(be, z, w), None, k, MAX)
    n_z = be.count_within(be.floats(z), r, MAX)
    n_w = be.count_within(be.floats(w), r, MAX)
    return float(digamma(k) + digamma(n) - np.mean(digamma(n_z + 1) + digamma(n_w + 1)))


class _Classes:
    """Points whose label is not unique (Ross and scikit-learn drop the others) and their terms."""

    def __init__(self, labels: np.ndarray, k: int):
        counts = np.bincount(labels)
        self.keep = counts[labels] > 1
        kept = labels[self.keep]
        self.labels = np.unique(kept, return_inverse=True)[1].astype(np.int64).reshape(-1)
        self.n = int(kept.size)
        class_size = counts[kept]
        k_i = np.minimum(k, class_size - 1)
        # psi(n) + <psi(k_i)> - <psi(N_y)>: the part of Ross's formula that needs no neighbours
        self.constant = float(digamma(self.n) + np.mean(digamma(k_i)) - np.mean(digamma(class_size)))

    def select(self, be, z):
        if self.keep.all():
            return be.floats(z)
        return be.floats(z[self.keep] if isinstance(z, np.ndarray) else z[_torch_mask(self.keep, z)])


def _torch_mask(mask: np.ndarray, like):
    import torch

    return torch.from_numpy(mask).to(like.device)


def check_mixed_bound(nats, labels: np.ndarray):
    """The mixed estimate(s) in nats, or a ValueError when one passes the estimator's bound.

    Without distance ties the k_i - 1 nearer same-label neighbours of a point lie strictly
    inside its radius, so m_i >= k_i - 1 and the estimate is at most psi(n) - <psi(N_y)> (about
    H(Y); points of unique labels left out). Only ties, points at exactly a k-th neighbour
    distance, make the strict counts fall below that.
    """
    counts = np.bincount(labels)
    class_size = counts[labels][counts[labels] > 1]
    bound = float(digamma(class_size.size) - np.mean(digamma(class_size)))
    worst = float(np.max(nats))
    if worst > bound + 1e-9 * max(1.0, abs(bound)):
        raise ValueError(
            f"the mixed estimate ({worst:.6g} nats) exceeds its bound psi(n) - <psi(N_y)> = "
            f"{bound:.6g} nats (about H(Y)): many points share their k-th neighbour distance, so "
            "the strict radius counts fall short. Pass noise=1e-10 (with random_state) to break "
            "the ties, or use estimator='binning' for discrete data.")
    return nats


def mixed_mutual_information(be, z, labels: np.ndarray, k: int) -> float:
    classes = _Classes(labels, k)
    zk = classes.select(be, z)
    r = be.kth_neighbor_distance(zk, be.ints(classes.labels), k, MAX)
    m = be.count_within(zk, r, MAX)
    return classes.constant - float(np.mean(digamma(m + 1)))


def frenzel_pompe_cmi(be, z, w, v, k: int) -> float:
    r = be.kth_neighbor_distance(_concat(be, z, w, v), None, k, MAX)
    n_zv = be.count_within(_concat(be, z, v), r, MAX)
    n_wv = be.count_within(_concat(be, w, v), r, MAX)
    n_v = be.count_within(be.floats(v), r, MAX)
    return float(digamma(k) - np.mean(digamma(n_zv + 1) + digamma(n_wv + 1) - digamma(n_v + 1)))


# --- leave one feature out: arrays of m values, the estimate without column j ------------------


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
    sums = be.knn_loo_maxnorm(be.floats(z), None, be.floats(w), k)
    return digamma(k) + digamma(n) - (sums[1, :m] + sums[2, :m]) / n


def mixed_mutual_information_loo(be, z, labels: np.ndarray, k: int) -> np.ndarray:
    m = z.shape[1]
    if m == 1:
        return np.zeros(1)
    classes = _Classes(labels, k)
    sums = be.knn_loo_maxnorm(classes.select(be, z), be.ints(classes.labels), None, k)
    return classes.constant - sums[1, :m] / classes.n


def mutual_information_loo_targets(be, z, targets: list, k: int) -> list:
    """Leave-one-out MI against several targets with one pass over the pairs of z.

    ``targets`` holds ("mixed", labels) or ("knn", w) pairs. Needs a backend with
    ``knn_loo_maxnorm_targets`` (whose kernel leaves out the points of unique labels itself).
    """
    n, m = z.shape
    if m == 1:
        return [np.zeros(1) for _ in targets]
    specs = [(be.ints(t), None) if kind == "mixed" else (None, be.floats(t)) for kind, t in targets]
    sums = be.knn_loo_maxnorm_targets(be.floats(z), specs, k)
    results = []
    for (kind, t), s in zip(targets, sums):
        if kind == "mixed":
            classes = _Classes(t, k)
            results.append(classes.constant - s[1, :m] / classes.n)
        else:
            results.append(digamma(k) + digamma(n) - (s[1, :m] + s[2, :m]) / n)
    return results
