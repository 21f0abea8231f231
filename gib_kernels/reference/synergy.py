"""Interaction information and feature-wise synergy through any MI estimator, in its units.

`mi` is a callable (z, w) -> mutual information, e.g. discrete_mutual_information or
ksg_mutual_information. Sign convention of the GIB paper: positive = synergy, negative =
redundancy (McGill's co-information is the negative).
"""
import numpy as np

from ._arrays import as_columns


def interaction_information(mi, a, b, w):
    """II(A; B; W) = I(A,B; W) - I(A; W) - I(B; W); positive = synergy, negative = redundancy.

    References: McGill 1954 (with the opposite sign); Westphal et al. 2025 (GIB).
    """
    a, b = as_columns(a), as_columns(b)
    return mi(np.hstack([a, b]), w) - mi(a, w) - mi(b, w)


def leave_one_out(mi, z, w):
    """The naive all-features-vs-rest loop: out[j] = I(Z_-j; W), Z_-j = z without column j.

    Z_-j without any column carries no information, so a one-column z gives [0.0].
    """
    z = as_columns(z)
    if z.shape[1] == 1:
        return np.zeros(1)
    return np.array([mi(np.delete(z, j, axis=1), w) for j in range(z.shape[1])])


def synergy_profile(mi, z, w):
    """Feature-wise synergy s_j = I(Z;W) - I(Z_j;W) - I(Z_-j;W) = II(Z_j; Z_-j; W), shape (m,).

    Equivalently s_j = I(Z_j; W | Z_-j) - I(Z_j; W). Their mean is the synergy S(Z -> W).
    Reference: Westphal et al. 2025, A Generalized Information Bottleneck Theory of Deep
    Learning (arXiv 2509.26327).
    """
    z = as_columns(z)
    single = np.array([mi(z[:, [j]], w) for j in range(z.shape[1])])
    return mi(z, w) - single - leave_one_out(mi, z, w)
