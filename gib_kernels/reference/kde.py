"""Pairwise-distance (KDE) upper bound on the entropy of a noisy layer, in nats."""
import numpy as np
from scipy.special import logsumexp

from ._arrays import as_columns
from .knn import distance_blocks


def _noise_entropy(d, sigma2):
    """H(N(0, sigma2 I_d)) = (d/2) (log(2 pi sigma2) + 1)."""
    return 0.5 * d * (np.log(2.0 * np.pi) + np.log(sigma2) + 1.0)  # no overflow for huge sigma2


def entropy_kde(t, sigma2=1e-3):
    """Kolchinsky-Tracey upper bound on H(T + N(0, sigma2 I)) for samples t (n, d), in nats.

    H <= d/2 + (d/2) log(2 pi sigma2)
         - (1/n) sum_i log((1/n) sum_j exp(-||t_i - t_j||^2 / (2 sigma2)))   (j = i included).

    References: Kolchinsky & Tracey 2017 (Entropy 19, 361); Saxe et al. 2018 (ICLR).
    """
    t = as_columns(t, np.float64)
    n, d = t.shape
    log_mean_kernel = np.empty(n)
    for rows, sq_dist in distance_blocks(t, "sqeuclidean"):
        log_mean_kernel[rows] = logsumexp(-sq_dist / (2.0 * sigma2), axis=1) - np.log(n)
    return float(_noise_entropy(d, sigma2) - np.mean(log_mean_kernel))


def mutual_information_kde(t, w, sigma2=1e-3):
    """KDE-bound mutual information between a noisy layer T = t + N(0, sigma2 I) and w, in nats.

    Integer or boolean w (class labels, (n,)): I(T;W) = H(T) - sum_y p_y H(T | W = y), each term the
    entropy_kde bound over the samples of that class. Otherwise T is a deterministic function
    of w plus the noise, so H(T | W) is the noise entropy and
    I(T;W) = H(T) - (d/2) (log(2 pi sigma2) + 1).

    Reference: Saxe et al. 2018 (ICLR), section 2 and appendix.
    """
    t = as_columns(t, np.float64)
    w = np.asarray(w)
    if w.dtype.kind not in "biu":
        return entropy_kde(t, sigma2) - _noise_entropy(t.shape[1], sigma2)
    labels, counts = np.unique(w, return_counts=True)
    conditional = sum(
        count / t.shape[0] * entropy_kde(t[w == label], sigma2)
        for label, count in zip(labels, counts)
    )
    return entropy_kde(t, sigma2) - conditional
