"""Pairwise-distance (KDE) upper bound on the entropy of a noisy layer, in nats, and the
primitives behind it."""
import numpy as np
from scipy.special import logsumexp

from ._arrays import as_columns, each_column_left_out, refuse_shard
from .knn import distance_blocks


def _noise_entropy(d, sigma2):
    """H(N(0, sigma2 I_d)) = (d/2) (log(2 pi sigma2) + 1)."""
    return 0.5 * d * (np.log(2.0 * np.pi) + np.log(sigma2) + 1.0)  # no overflow for huge sigma2


# --- the primitives of backends.protocol ---------------------------------------------------------

def kde_log_mean_kernel(t, labels, sigma2, shard=None):
    """(n,) log of the mean Gaussian kernel exp(-|t_a - t_b|^2 / (2 sigma2)) of each row a over
    the rows b of its label (itself included), or over all rows without labels."""
    refuse_shard(shard)
    out = np.empty(t.shape[0])
    groups = [np.arange(t.shape[0])] if labels is None else \
        [np.flatnonzero(labels == c) for c in np.unique(labels)]
    for members in groups:
        for rows, sq in distance_blocks(t[members], "sqeuclidean"):
            out[members[rows]] = logsumexp(-sq / (2.0 * sigma2), axis=1) - np.log(members.size)
    return out


def kde_loo(t, labels, n_classes, sigma2, shard=None):
    """(n_classes, m + 1): per class (labels in [0, n_classes), or one class without labels),
    the sum of kde_log_mean_kernel over its rows, on t without column j (column m: all of t)."""
    refuse_shard(shard)
    if labels is None and n_classes != 1:
        raise ValueError("n_classes must be 1 without labels")
    out = np.zeros((n_classes, t.shape[1] + 1))
    classes = np.zeros(t.shape[0], np.int64) if labels is None else labels
    for j, tj in each_column_left_out(t):
        out[:, j] = np.bincount(classes, kde_log_mean_kernel(tj, labels, sigma2),
                                minlength=n_classes)
    return out


# --- the estimators ------------------------------------------------------------------------------

def kde_entropy(t, sigma2=1e-3):
    """Kolchinsky-Tracey upper bound on H(T + N(0, sigma2 I)) for samples t (n, d), in nats.

    H <= d/2 + (d/2) log(2 pi sigma2)
         - (1/n) sum_i log((1/n) sum_j exp(-||t_i - t_j||^2 / (2 sigma2)))   (j = i included).

    References: Kolchinsky & Tracey 2017 (Entropy 19, 361); Saxe et al. 2018 (ICLR).
    """
    t = as_columns(t, np.float64)
    log_mean_kernel = kde_log_mean_kernel(t, None, sigma2)
    return float(_noise_entropy(t.shape[1], sigma2) - np.mean(log_mean_kernel))


def kde_mutual_information(t, w, sigma2=1e-3):
    """KDE-bound mutual information between a noisy layer T = t + N(0, sigma2 I) and a discrete
    w, in nats: I(T;W) = H(T) - sum_c p_c H(T | W = c), each term the kde_entropy bound over the
    samples of class c. The classes are the distinct values of w (n,), or its distinct rows
    (n, q). When every class holds one row (t a deterministic function of distinct inputs w),
    H(T | W = c) is the noise entropy and I(T;W) = H(T) - (d/2) (log(2 pi sigma2) + 1).

    Reference: Saxe et al. 2018 (ICLR), section 2 and appendix.
    """
    t = as_columns(t, np.float64)
    w = np.asarray(w)
    classes = np.unique(w.reshape(len(w), -1), axis=0, return_inverse=True)[1].reshape(-1)
    conditional = sum(
        np.mean(classes == c) * kde_entropy(t[classes == c], sigma2)
        for c in range(classes.max() + 1)
    )
    return kde_entropy(t, sigma2) - conditional
