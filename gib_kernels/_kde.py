"""The Kolchinsky-Tracey pairwise-distance (KDE) bound (nats) over backend primitives, as used by
Saxe et al. 2018: H(T) <= d/2 + (d/2) log(2 pi sigma2) - <log (1/n) sum_j exp(-|t_i-t_j|^2/2sigma2)>
for T plus Gaussian noise of variance sigma2. Mutual information with class labels is
H(T) - sum_y p(y) H(T | y); with a continuous W, T is taken as a deterministic function of W plus
the noise, so H(T | W) = (d/2)(log(2 pi sigma2) + 1).
"""
from __future__ import annotations

import math

import numpy as np


def _noise_entropy(d: int, sigma2: float) -> float:
    return 0.5 * d * ((math.log(2 * math.pi) + math.log(sigma2)) + 1.0)


def _upper_bound(d, mean_log_kernel, sigma2):
    return 0.5 * d + 0.5 * d * (math.log(2 * math.pi) + math.log(sigma2)) - mean_log_kernel


def entropy(be, t, sigma2: float) -> float:
    d = t.shape[1]
    log_kernel = be.kde_log_mean_kernel(be.floats(t), None, sigma2)
    return float(_upper_bound(d, np.mean(log_kernel), sigma2))


def mutual_information(be, t, w, sigma2: float, labels: np.ndarray | None) -> float:
    h = entropy(be, t, sigma2)
    d = t.shape[1]
    if labels is None:
        return h - _noise_entropy(d, sigma2)
    per_class = be.kde_log_mean_kernel(be.floats(t), be.ints(labels), sigma2)
    # sum_y p(y) H(T|y) = d/2 + (d/2) log(2 pi sigma2) - (1/n) sum_i log-kernel within i's class
    return h - float(_upper_bound(d, np.mean(per_class), sigma2))


def entropy_loo(be, t, sigma2: float) -> np.ndarray:
    n, m = t.shape
    if m == 1:
        return np.zeros(1)
    sums = be.kde_loo(be.floats(t), None, 1, sigma2)[0, :m]
    return _upper_bound(m - 1, sums / n, sigma2)


def mutual_information_loo(be, t, w, sigma2: float, labels: np.ndarray | None) -> np.ndarray:
    n, m = t.shape
    if m == 1:
        return np.zeros(1)
    h = entropy_loo(be, t, sigma2)
    if labels is None:
        return h - _noise_entropy(m - 1, sigma2)
    n_classes = int(labels.max()) + 1
    per_class = be.kde_loo(be.floats(t), be.ints(labels), n_classes, sigma2)[:, :m]
    return h - _upper_bound(m - 1, per_class.sum(0) / n, sigma2)
