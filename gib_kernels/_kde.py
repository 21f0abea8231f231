"""The Kolchinsky-Tracey pairwise-distance (KDE) bound (nats) over backend primitives, as used by
Saxe et al. 2018: H(T) <= d/2 + (d/2) log(2 pi sigma2) - <log (1/n) sum_j exp(-|t_i-t_j|^2/2sigma2)>
for T plus Gaussian noise of variance sigma2. Mutual information with a discrete W (class labels,
or the distinct rows of discrete inputs) is H(T) - sum_w p(w) H(T | w). Where every class holds one
row (T a deterministic function of distinct inputs), H(T | w) is the noise entropy
(d/2)(log(2 pi sigma2) + 1), and the estimate is Saxe et al.'s I(X;T) = H(T) - H(noise).
"""
from __future__ import annotations

import math

import numpy as np


def _upper_bound(d, mean_log_kernel, sigma2):
    return 0.5 * d + 0.5 * d * (math.log(2 * math.pi) + math.log(sigma2)) - mean_log_kernel


def entropy(be, t, sigma2: float) -> float:
    d = t.shape[1]
    log_kernel = be.kde_log_mean_kernel(be.floats(t), None, sigma2)
    return float(_upper_bound(d, np.mean(log_kernel), sigma2))


def mutual_information(be, t, sigma2: float, labels: np.ndarray) -> float:
    h = entropy(be, t, sigma2)
    d = t.shape[1]
    per_class = be.kde_log_mean_kernel(be.floats(t), be.ints(labels), sigma2)
    # sum_y p(y) H(T|y) = d/2 + (d/2) log(2 pi sigma2) - (1/n) sum_i log-kernel within i's class
    return h - float(_upper_bound(d, np.mean(per_class), sigma2))


def entropy_loo(be, t, sigma2: float) -> np.ndarray:
    n, m = t.shape
    if m == 1:
        return np.zeros(1)
    sums = be.kde_loo(be.floats(t), None, 1, sigma2)[0, :m]
    return _upper_bound(m - 1, sums / n, sigma2)


def mutual_information_loo(be, t, sigma2: float, labels: np.ndarray) -> np.ndarray:
    n, m = t.shape
    if m == 1:
        return np.zeros(1)
    h = entropy_loo(be, t, sigma2)
    n_classes = int(labels.max()) + 1
    per_class = be.kde_loo(be.floats(t), be.ints(labels), n_classes, sigma2)[:, :m]
    return h - _upper_bound(m - 1, per_class.sum(0) / n, sigma2)
