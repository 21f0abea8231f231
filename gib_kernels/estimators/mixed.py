"""Ross's mixed estimator (nats) of I(Z; Y) for a continuous, multivariate Z against integer
class labels Y, over backend primitives, and its fused leave-one-feature-out form. Its entropy is
the Kozachenko-Leonenko entropy of the ``knn`` family. Formulas and bias: docs/science.md.

Points whose label is unique take no part (as in Ross 2014 and scikit-learn). Every estimate is
checked against the estimator's bound psi(n) - <psi(N_y)>: only distance ties pass it.
"""
from __future__ import annotations

import numpy as np
from scipy.special import digamma

from ..backends.protocol import MAX
from .._validation import as_labels, check_k, check_mixed_labels, check_no_ties
from . import knn
from .inputs import cat


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


def _mixed_mutual_information_loo(be, z, labels: np.ndarray, k: int) -> np.ndarray:
    m = z.shape[1]
    if m == 1:
        return np.zeros(1)
    classes = _Classes(labels, k)
    sums = be.knn_loo_maxnorm(classes.select(be, z), be.ints(classes.labels), None, k)
    return classes.constant - sums[1, :m] / classes.n


def mutual_information_loo_targets(be, z, targets: list, k: int) -> list:
    """Leave-one-out MI against several targets with one ``knn_loo_maxnorm_targets`` call: one
    pass over the pairs of z where the backend ``fuses_targets``. ``targets`` holds ("mixed",
    labels) or ("knn", w) pairs; the kernel leaves out the points of unique labels itself."""
    n, m = z.shape
    if m == 1:
        return [np.zeros(1) for _ in targets]
    specs = [(be.ints(t), None) if kind == "mixed" else (None, be.floats(t)) for kind, t in targets]
    sums = be.knn_loo_maxnorm_targets(be.floats(z), specs, k)
    results = []
    for (kind, t), s in zip(targets, sums):
        if kind == "mixed":
            classes = _Classes(t, k)
            results.append(check_mixed_bound(classes.constant - s[1, :m] / classes.n, t))
        else:
            results.append(knn.ksg_from_sums(s, n, m, k))
    return results


# --- the estimator family's interface (estimators/__init__.py) -------------------------------


def setup(d, arrays) -> None:
    check_k(d.p.k, d.n)
    if d.target_name not in arrays:
        raise ValueError("estimator='mixed' needs class labels as the target")
    d.labels = as_labels(arrays[d.target_name], d.target_name)
    check_mixed_labels(d.labels, d.p.k)
    check_no_ties(arrays["z"], "z", "mixed", d.p.noise)
    knn.warn_if_wide(arrays["z"].shape[1], "mixed")


def prepare(d, x, name):
    if name == d.target_name:
        return None  # the target is d.labels
    return knn.prepare_floats(d, x, name)


def check_prepared(d) -> None:
    knn.warn_duplicates(d.backend, d.z, "z")


entropy = knn.entropy


def mutual_information(d, z) -> float:
    return check_mixed_bound(mixed_mutual_information(d.backend, z, d.labels, d.p.k), d.labels)


def conditional_mutual_information(d) -> float:
    # chain rule: I(Z; Y | V) = I(Z, V; Y) - I(V; Y), each with the labels as target
    return mutual_information(d, cat(d.z, d.v)) - mutual_information(d, d.v)


entropy_loo = knn.entropy_loo
per_feature_mutual_information = knn.per_feature_mutual_information


def mutual_information_loo(d) -> np.ndarray:
    return check_mixed_bound(_mixed_mutual_information_loo(d.backend, d.z, d.labels, d.p.k),
                             d.labels)
