"""The Kolchinsky-Tracey pairwise-distance (KDE) bound (nats) over backend primitives, as used by
Saxe et al. 2018: H(T) <= d/2 + (d/2) log(2 pi sigma2) - <log (1/n) sum_j exp(-|t_i-t_j|^2/2sigma2)>
for T plus Gaussian noise of variance sigma2. Mutual information with a discrete W (class labels,
or the distinct rows of discrete inputs) is H(T) - sum_w p(w) H(T | w). Where every class holds one
row (T a deterministic function of distinct inputs), H(T | w) is the noise entropy
(d/2)(log(2 pi sigma2) + 1), and the estimate is Saxe et al.'s I(X;T) = H(T) - H(noise).

Saturation: H(T) - H(noise) = -<log (1/n) sum_j exp(...)> is at most log n, reached when the
noise kernels do not overlap; within 2% of it the bound counts the samples (I = the entropy of
the discrete side by construction), and a ``SaturationWarning`` says so.
"""
from __future__ import annotations

import math

import numpy as np

from .._validation import as_row_classes, check_noise, check_positive, check_seed
from ..exceptions import warn
from .base import Estimator
from .shared import cat, is_saturated, leave_one_out_loop, prepare_floats


def _upper_bound(d, mean_log_kernel, sigma2):
    return 0.5 * d + 0.5 * d * (math.log(2 * math.pi) + math.log(sigma2)) - mean_log_kernel


def _check_saturation(mean_log_kernel, n: int) -> None:
    # Not deduplicated per estimate: the default warning filter shows it once per call site.
    if np.any(is_saturated(-np.asarray(mean_log_kernel), n)):
        warn("the KDE bound saturates: the noise kernels of the layer hardly overlap, so the "
             "estimate counts the samples (I = the entropy of the discrete argument, by "
             "construction) rather than measures the data; use a larger sigma2 or "
             "estimator='gaussian'")


def _entropy(be, t, sigma2: float) -> float:
    d = t.shape[1]
    mean_log_kernel = np.mean(be.kde_log_mean_kernel(be.floats(t), None, sigma2))
    _check_saturation(mean_log_kernel, t.shape[0])
    return float(_upper_bound(d, mean_log_kernel, sigma2))


def _mutual_information(be, t, sigma2: float, labels: np.ndarray) -> float:
    h = _entropy(be, t, sigma2)
    d = t.shape[1]
    per_class = be.kde_log_mean_kernel(be.floats(t), be.ints(labels), sigma2)
    # sum_y p(y) H(T|y) = d/2 + (d/2) log(2 pi sigma2) - (1/n) sum_i log-kernel within i's class
    return h - float(_upper_bound(d, np.mean(per_class), sigma2))


def _entropy_loo(be, t, sigma2: float) -> np.ndarray:
    n, m = t.shape
    if m == 1:
        return np.zeros(1)
    sums = be.kde_loo(be.floats(t), None, 1, sigma2)[0, :m]
    _check_saturation(sums / n, n)
    return _upper_bound(m - 1, sums / n, sigma2)


def _mutual_information_loo(be, t, sigma2: float, labels: np.ndarray) -> np.ndarray:
    n, m = t.shape
    if m == 1:
        return np.zeros(1)
    h = _entropy_loo(be, t, sigma2)
    n_classes = int(labels.max()) + 1
    per_class = be.kde_loo(be.floats(t), be.ints(labels), n_classes, sigma2)[:, :m]
    return h - _upper_bound(m - 1, per_class.sum(0) / n, sigma2)


# --- the estimator family (estimators/protocol.py) --------------------------------------------


class KDE(Estimator):
    """The Kolchinsky-Tracey pairwise-distance (KDE) upper bound for a layer T plus Gaussian
    noise N(0, sigma2 I), as used by Saxe et al. 2018, against a discrete variable (class labels,
    or discrete inputs whose distinct rows are the classes; ``z`` may be the discrete side, the
    other argument then being the layer). A continuous target is refused.

    Parameters
    ----------
    sigma2 : float, default 1e-3. Variance of the added noise, in the data's units squared: the
        estimate depends on it (larger: smaller values).
    noise : float, default 0. Relative jitter added to the continuous arrays (ties).
    random_state : int, numpy Generator or None. Seeds ``noise``.

    Bias: an upper-bound estimate; where the noise kernels hardly overlap it counts the samples
    (I = the entropy of the discrete side), and a ``SaturationWarning`` says so. Results in nats
    inside, the caller's ``base`` outside.
    """

    name = "kde"
    _parameters = {"sigma2": lambda v: check_positive(v, "sigma2"), "noise": check_noise,
                   "random_state": check_seed}
    supports_continuous_target = False
    fused_leave_one_out = True
    entropy_description = "upper bound (KDE) on the differential entropy of Z + N(0, {sigma2:g} I)"

    def __init__(self, sigma2=1e-3, noise=0.0, random_state=None):
        self.sigma2 = sigma2
        self.noise = noise
        self.random_state = random_state
        self._validate()

    def setup(self, d, arrays) -> None:
        """The bound holds a continuous layer against a discrete variable: the target's distinct
        rows are the classes, or, where z is the discrete one, the layer is the target."""
        d.kde_layer_is_target = False
        if d.target_name not in arrays:
            return
        w = arrays[d.target_name]
        if d.is_discrete(w):
            d.labels = as_row_classes(w)
        elif "v" not in arrays and d.is_discrete(arrays["z"]):
            d.kde_layer_is_target = True
        else:
            raise ValueError(
                f"estimator='kde' needs a discrete target ('{d.target_name}' is continuous): the "
                "bound is I(T;W) = H(T) - sum_w p(w) H(T | W = w) for a noisy layer T and a "
                "discrete W (class labels, or discrete inputs whose distinct rows are the "
                "classes). For the information a layer keeps about the continuous input it "
                "is computed from, pass the input's row ids, np.unique(x, axis=0, "
                "return_inverse=True)[1]: that gives H(T) - H(noise) (Saxe et al. 2018).")

    def prepare(self, d, x, name):
        if (name == "z") == d.kde_layer_is_target:
            return x  # the discrete side: classes from its rows
        return prepare_floats(d, x, name)

    def entropy(self, d, z) -> float:
        return _entropy(d.backend, z, d.p.sigma2)

    def mutual_information(self, d, z) -> float:
        if d.kde_layer_is_target:
            return _mutual_information(d.backend, d.w, d.p.sigma2, as_row_classes(z))
        return _mutual_information(d.backend, z, d.p.sigma2, d.labels)

    def conditional_mutual_information(self, d) -> float:
        # chain rule: I(Z; W | V) = I(Z, V; W) - I(V; W), each with W's classes
        return self.mutual_information(d, cat(d.z, d.v)) - self.mutual_information(d, d.v)

    def entropy_loo(self, d) -> np.ndarray:
        return _entropy_loo(d.backend, d.z, d.p.sigma2)

    def mutual_information_loo(self, d) -> np.ndarray:
        if d.kde_layer_is_target:  # one class partition per column: the loop
            return leave_one_out_loop(lambda zj: self.mutual_information(d, zj), d.z)
        return _mutual_information_loo(d.backend, d.z, d.p.sigma2, d.labels)
