"""Ross's mixed estimator (nats) of I(Z; Y) for a continuous, multivariate Z against integer
class labels Y, over backend primitives, and its fused leave-one-feature-out form. Formulas and
bias: docs/science.md.

Points whose label is unique take no part (as in Ross 2014 and scikit-learn). Every estimate is
checked against the estimator's bound psi(n) - <psi(N_y)>: only distance ties pass it.
"""
from __future__ import annotations

import numpy as np
from scipy.special import digamma

from ..backends.protocol import MAX
from .._validation import (
    as_labels,
    check_int,
    check_k,
    check_mixed_labels,
    check_no_ties,
    check_noise,
    check_seed,
)
from .base import Estimator
from .shared import (
    LabelClasses,
    cat,
    check_mixed_bound,
    prepare_floats,
    refuse_float32_ties,
    warn_duplicates,
    warn_if_wide,
)


def mixed_mutual_information(be, z, labels: np.ndarray, k: int, classes=None) -> float:
    classes = classes or LabelClasses(labels, k)
    zk = classes.select(be, z)
    r = be.kth_neighbor_distance(zk, be.ints(classes.labels), k, MAX)
    m = be.count_within(zk, r, MAX)
    return classes.constant - float(np.mean(digamma(m + 1)))


def _mixed_mutual_information_loo(be, z, labels: np.ndarray, k: int, classes=None,
                                  with_full: bool = False) -> np.ndarray:
    """I(Z_-j; Y) for every j; with ``with_full``, I(Z; Y) as entry m, from the same pass."""
    m = z.shape[1]
    if m == 1:
        return np.zeros(1)
    classes = classes or LabelClasses(labels, k)
    sums = be.knn_loo_maxnorm(classes.select(be, z), be.ints(classes.labels), None, k)
    return classes.from_sums(sums, m + 1 if with_full else m)


# --- the estimator family (estimators/protocol.py) --------------------------------------------


class Mixed(Estimator):
    """Ross's (2014) k-NN estimator of I(Z; Y) for a continuous, multivariate Z against integer
    class labels Y, and its fused leave-one-feature-out form (it has no entropy).

    Parameters
    ----------
    k : int, default 3. Neighbours within the class (1 <= k < n; a class of N_y members uses
        min(k, N_y - 1)).
    noise : float, default 0. Relative jitter added to Z to break distance ties (discrete-valued
        Z is otherwise refused).
    random_state : int, numpy Generator or None. Seeds ``noise``.

    Bias: towards 0 in many dimensions; the estimate never exceeds psi(n) - <psi(N_y)> (about
    H(Y)) without distance ties, and a value past it raises a ValueError. Points of unique
    labels take no part. Results in nats inside, the caller's ``base`` outside.
    """

    name = "mixed"
    _parameters = {"k": lambda v: check_int(v, "k", 1), "noise": check_noise,
                   "random_state": check_seed}
    supports_entropy = False
    supports_continuous_target = False
    fused_leave_one_out = True

    def __init__(self, k=3, noise=0.0, random_state=None):
        self.k = k
        self.noise = noise
        self.random_state = random_state
        self._validate()

    def setup(self, d, arrays) -> None:
        check_k(d.p.k, d.n)
        if d.target_name not in arrays:
            raise ValueError("estimator='mixed' needs class labels as the target")
        d.labels = as_labels(arrays[d.target_name], d.target_name)
        check_mixed_labels(d.labels, d.p.k)
        check_no_ties(arrays["z"], "z", "mixed", d.p.noise)
        refuse_float32_ties(d.backend, d.p.noise, {"z": arrays["z"]})
        warn_if_wide(arrays["z"].shape[1], "mixed")

    def prepare(self, d, x, name):
        if name == d.target_name:
            return None  # the target is d.labels
        return prepare_floats(d, x, name)

    def check_prepared(self, d) -> None:
        warn_duplicates(d.backend, d.z, "z")

    def entropy(self, d, z) -> float:
        raise ValueError("estimator='mixed' needs class labels as the target")

    def entropy_loo(self, d) -> np.ndarray:
        raise ValueError("estimator='mixed' needs class labels as the target")

    @staticmethod
    def _classes(d) -> LabelClasses:
        """The label classes of this call, computed once for all its terms."""
        if "mixed-classes" not in d.cache:
            d.cache["mixed-classes"] = LabelClasses(d.labels, d.p.k)
        return d.cache["mixed-classes"]

    def mutual_information(self, d, z) -> float:
        return check_mixed_bound(
            mixed_mutual_information(d.backend, z, d.labels, d.p.k, self._classes(d)), d.labels,
            self._classes(d).bound)

    def conditional_mutual_information(self, d) -> float:
        # chain rule: I(Z; Y | V) = I(Z, V; Y) - I(V; Y), each with the labels as target
        return self.mutual_information(d, cat(d.z, d.v)) - self.mutual_information(d, d.v)

    def mutual_information_loo(self, d) -> np.ndarray:
        return check_mixed_bound(_mixed_mutual_information_loo(
            d.backend, d.z, d.labels, d.p.k, self._classes(d)), d.labels, self._classes(d).bound)

    def information_terms(self, d):
        """One fused pass gives I(Z_-j; Y) for every j and I(Z; Y) (its entry m)."""
        m = d.z.shape[1]
        if m == 1:
            return super().information_terms(d)
        both = check_mixed_bound(_mixed_mutual_information_loo(
            d.backend, d.z, d.labels, d.p.k, self._classes(d), with_full=True), d.labels,
            self._classes(d).bound)
        return float(both[m]), self.per_feature_mutual_information(d), both[:m]

    def fused_target(self, d):
        """This call's target for ``shared.knn_loo_targets`` (several targets, one pass)."""
        return ("mixed", d.labels)
