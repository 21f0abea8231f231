"""k-nearest-neighbour primitives and estimators by brute force, in nats.

Every pairwise distance is computed, one block of anchor rows at a time, so memory stays about
`_BLOCK_VALUES` doubles whatever n is. Neighbours never include the point itself, and the
estimators assume no duplicate points (a zero k-th distance makes log(eps) = -inf). The
primitives take the arguments of ``backends.protocol`` and every fast backend is tested against
them; the estimators take a metric by name.
"""
import numpy as np
from scipy.special import digamma, gammaln

from ._arrays import as_columns, each_column_left_out, refuse_shard

# Doubles per block of the distance matrix (32 MiB): n = 20000 takes ~100 blocks of ~200 rows.
_BLOCK_VALUES = 1 << 22

# The metric codes of the primitives (``Metric`` in csrc/include/gib/common.h), and their names.
MAX, EUCLIDEAN = 0, 1
METRICS = {"max": MAX, "euclidean": EUCLIDEAN}
_NAMES = {code: name for name, code in METRICS.items()}


def _distances(anchors, points, metric):
    """(len(anchors), len(points)) matrix of distances: "max", "euclidean" or "sqeuclidean"."""
    acc = np.zeros((anchors.shape[0], points.shape[0]))
    # One coordinate at a time, so no (rows, n, d) temporary is built.
    for c in range(anchors.shape[1]):
        diff = anchors[:, c, None] - points[None, :, c]
        if metric == "max":
            np.maximum(acc, np.abs(diff), out=acc)
        else:
            acc += diff * diff
    return np.sqrt(acc) if metric == "euclidean" else acc


def distance_blocks(x, metric):
    """Yield (rows, dist): dist[i, j] = distance(x[rows][i], x[j]), the point itself included.

    The blocks cover the n x n distance matrix in row order, ~`_BLOCK_VALUES` entries each.
    """
    n = x.shape[0]
    step = max(1, _BLOCK_VALUES // max(n, 1))
    for start in range(0, n, step):
        rows = np.arange(start, min(start + step, n))
        yield rows, _distances(x[rows], x, metric)


def distance_matrix(z, metric):
    """(n, n) distances between the rows of z under a metric code, coordinates taken in the
    kernels' order (0, 1, ..., d - 1), so that exact ties compare as they do there."""
    z = as_columns(z, np.float64)
    return np.vstack([dist for _, dist in distance_blocks(z, _NAMES[metric])])


def _neighbor_blocks(x, metric):
    """distance_blocks with each point's distance to itself set to +inf."""
    for rows, dist in distance_blocks(x, metric):
        dist[np.arange(rows.size), rows] = np.inf
        yield rows, dist


def _kth_distance(x, k, metric):
    out = np.empty(x.shape[0])
    for rows, dist in _neighbor_blocks(x, metric):
        out[rows] = np.partition(dist, k - 1, axis=1)[:, k - 1]
    return out


# --- the primitives of backends.protocol ---------------------------------------------------------

def kth_neighbor_distance(z, labels, k, metric, shard=None):
    """Distance from each row of z (n, d) to its k-th nearest other row, shape (n,).

    With integer `labels` (n,), only rows of the same label are candidates and k is lowered to
    min(k, N_label - 1); a row alone in its label gets +inf. metric: MAX or EUCLIDEAN.
    """
    refuse_shard(shard)
    z, name = as_columns(z, np.float64), _NAMES[metric]
    if labels is None:
        return _kth_distance(z, k, name)
    labels = np.asarray(labels)
    out = np.full(z.shape[0], np.inf)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if members.size > 1:
            out[members] = _kth_distance(z[members], min(k, members.size - 1), name)
    return out


def count_within(z, radius, metric, shard=None):
    """n_i = #{j != i : dist(z_i, z_j) < radius_i} (strict, as in KSG and Ross), int64 (n,)."""
    refuse_shard(shard)
    z, radius = as_columns(z, np.float64), np.asarray(radius, dtype=np.float64)
    out = np.empty(z.shape[0], dtype=np.int64)
    for rows, dist in _neighbor_blocks(z, _NAMES[metric]):
        out[rows] = np.count_nonzero(dist < radius[rows, None], axis=1)
    return out


def knn_loo_maxnorm(z, labels, w, k, shard=None, bound=None):
    """(3, m + 1) sums over the anchors, per column j (column m: all of z), of the terms of the
    estimate on z without column j: log r, psi(c_z + 1), psi(c_w + 1). r is the max-norm k-th
    neighbour distance in [z without j, w] (KSG), in z without j among the anchor's label
    (Ross) or in it alone (KL); c_z and c_w count the other rows within r in z without j and
    in w (0 without w). Points of a unique label take no part. `bound` only prunes the fast
    kernels' pass: it is ignored here.
    """
    refuse_shard(shard)
    if labels is not None:
        _, label_index, label_sizes = np.unique(labels, return_inverse=True, return_counts=True)
        keep = label_sizes[label_index] > 1
        z, labels = z[keep], labels[keep]
    out = np.zeros((3, z.shape[1] + 1))
    for j, zj in each_column_left_out(z):
        joint = zj if w is None else np.hstack([zj, w])
        r = kth_neighbor_distance(joint, labels, k, MAX)
        with np.errstate(divide="ignore"):
            out[0, j] = np.sum(np.log(r))
        out[1, j] = np.sum(digamma(count_within(zj, r, MAX) + 1))
        c_w = count_within(w, r, MAX) if w is not None else np.zeros(len(r), np.int64)
        out[2, j] = np.sum(digamma(c_w + 1))  # c_w = 0 without w (knn_loo.h)
    return out


def knn_loo_maxnorm_targets(z, targets, k, shard=None, bound=None):
    """(len(targets), 3, m + 1): knn_loo_maxnorm for each (labels, w) of targets."""
    return np.stack([knn_loo_maxnorm(z, labels, w, k, shard) for labels, w in targets])


def knn_loo_euclidean(z, k, shard=None):
    """(m + 1,) sum of log r over anchors, r the k-th Euclidean distance without column j."""
    refuse_shard(shard)
    out = np.zeros(z.shape[1] + 1)
    for j, zj in each_column_left_out(z):
        with np.errstate(divide="ignore"):
            out[j] = np.sum(np.log(kth_neighbor_distance(zj, None, k, EUCLIDEAN)))
    return out


# --- the estimators ------------------------------------------------------------------------------

def _log_unit_ball_volume(d, metric):
    if metric == "max":
        return d * np.log(2.0)
    return 0.5 * d * np.log(np.pi) - gammaln(0.5 * d + 1.0)


def kl_entropy(z, k=3, metric="max"):
    """Kozachenko-Leonenko k-NN entropy of continuous z (n, d), in nats.

    H = psi(n) - psi(k) + log c_d + (d/n) sum_i log eps_i, with eps_i the distance from z_i to
    its k-th neighbour and c_d the volume of the unit ball: 2^d for the max-norm ("max"),
    pi^(d/2) / Gamma(d/2 + 1) for "euclidean".

    References: Kozachenko & Leonenko 1987; Kraskov, Stogbauer & Grassberger 2004, eq. 20.
    """
    z = as_columns(z, np.float64)
    n, d = z.shape
    eps = kth_neighbor_distance(z, None, k, METRICS[metric])
    return float(
        digamma(n) - digamma(k) + _log_unit_ball_volume(d, metric) + d * np.mean(np.log(eps))
    )


def ksg_mutual_information(z, w, k=3):
    """KSG (algorithm 1) mutual information between continuous z (n, dz) and w (n, dw), in nats.

    I = psi(k) + psi(n) - mean_i[psi(n_z(i) + 1) + psi(n_w(i) + 1)], where eps_i is the k-th
    neighbour distance in the joint space under the max-norm, max(||dz||, ||dw||), and
    n_z(i) = #{j != i : ||z_i - z_j||_max < eps_i}, likewise n_w(i).

    Reference: Kraskov, Stogbauer & Grassberger 2004, eq. 8.
    """
    z, w = as_columns(z, np.float64), as_columns(w, np.float64)
    eps = kth_neighbor_distance(np.hstack([z, w]), None, k, MAX)
    n_z, n_w = count_within(z, eps, MAX), count_within(w, eps, MAX)
    n = z.shape[0]
    return float(digamma(k) + digamma(n) - np.mean(digamma(n_z + 1) + digamma(n_w + 1)))


def mixed_mutual_information(z, labels, k=3):
    """Ross mutual information between continuous z (n, d) and integer labels (n,), in nats.

    Points whose label occurs once are dropped (n_kept remain). For each kept point i:
    k_i = min(k, N_{y_i} - 1), r_i the distance to its k_i-th neighbour among points of the
    same label (max-norm), m_i = #{j != i kept : ||z_i - z_j||_max < r_i}. Then
    I = psi(n_kept) + mean psi(k_i) - mean psi(N_{y_i}) - mean psi(m_i + 1).

    Multivariate z; on one column this is scikit-learn's `_compute_mi_cd` without its clipping
    at zero. Reference: Ross 2014, PLoS ONE 9(2), eq. 2.
    """
    z = as_columns(z, np.float64)
    labels = np.asarray(labels)
    _, label_index, label_sizes = np.unique(labels, return_inverse=True, return_counts=True)
    class_size = label_sizes[label_index]
    kept = class_size > 1
    z, labels, class_size = z[kept], labels[kept], class_size[kept]
    k_i = np.minimum(k, class_size - 1)
    radius = kth_neighbor_distance(z, labels, k, MAX)
    m = count_within(z, radius, MAX)
    return float(
        digamma(z.shape[0])
        + np.mean(digamma(k_i))
        - np.mean(digamma(class_size))
        - np.mean(digamma(m + 1))
    )


def frenzel_pompe_cmi(z, w, v, k=3):
    """Frenzel-Pompe conditional mutual information I(Z;W|V) for continuous data, in nats.

    I = psi(k) - mean_i[psi(n_zv(i) + 1) + psi(n_wv(i) + 1) - psi(n_v(i) + 1)], with eps_i
    the k-th neighbour distance in the (z, w, v) space under the max-norm and n_s(i) the strict
    count of other points within eps_i in the subspace s.

    Reference: Frenzel & Pompe 2007, Phys. Rev. Lett. 99, eq. 3.
    """
    z, w, v = (as_columns(x, np.float64) for x in (z, w, v))
    eps = kth_neighbor_distance(np.hstack([z, w, v]), None, k, MAX)
    n_zv = count_within(np.hstack([z, v]), eps, MAX)
    n_wv = count_within(np.hstack([w, v]), eps, MAX)
    n_v = count_within(v, eps, MAX)
    return float(
        digamma(k) - np.mean(digamma(n_zv + 1) + digamma(n_wv + 1) - digamma(n_v + 1))
    )
