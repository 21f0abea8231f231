"""The reference backend: every primitive of ``protocol.py`` in plain float64 numpy, obviously
correct and slow. Distances are brute force in row blocks (``gib_kernels.reference``), and every
leave-one-out primitive deletes the column and starts over. Every fast backend is tested
against it; it is not shardable.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.special import digamma, logsumexp

from ..reference.knn import count_within, distance_blocks, kth_neighbor_distance
from .protocol import EUCLIDEAN, MAX, ShardArg

_METRICS = {MAX: "max", EUCLIDEAN: "euclidean"}


def _host(x, dtype) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=dtype)


def _columns(z: np.ndarray):
    """(j, z without column j) for every column, then (m, z)."""
    for j in range(z.shape[1]):
        yield j, np.delete(z, j, axis=1)
    yield z.shape[1], z


def _no_shard(shard: ShardArg) -> None:
    if shard is not None:
        raise ValueError("the reference backend cannot be sharded")


def _sum_c_log_c(rows: np.ndarray) -> float:
    counts = np.unique(rows, axis=0, return_counts=True)[1].astype(np.float64)
    return float(np.sum(counts * np.log(counts)))


class ReferenceBackend:
    name = "reference"
    radius_bound_above = None
    fuses_targets = False
    shardable = False

    @staticmethod
    def floats(x) -> np.ndarray:
        return _host(x, np.float64)

    @staticmethod
    def ints(x) -> np.ndarray:
        return _host(x, np.int64)

    # --- k-NN ------------------------------------------------------------------------------

    def kth_neighbor_distance(self, z, labels, k, metric, shard: ShardArg = None):
        _no_shard(shard)
        return kth_neighbor_distance(z, k, _METRICS[metric], labels)

    def count_within(self, z, radius, metric, shard: ShardArg = None):
        _no_shard(shard)
        return count_within(z, radius, _METRICS[metric])

    def knn_loo_maxnorm(self, z, labels, w, k, shard: ShardArg = None, bound=None):
        _no_shard(shard)
        if labels is not None:  # points of a unique label take no part
            counts = np.bincount(labels)
            keep = counts[labels] > 1
            z, labels = z[keep], labels[keep]
        out = np.zeros((3, z.shape[1] + 1))
        for j, zj in _columns(z):
            joint = zj if w is None else np.hstack([zj, w])
            r = kth_neighbor_distance(joint, k, "max", labels)
            with np.errstate(divide="ignore"):
                out[0, j] = np.sum(np.log(r))
            out[1, j] = np.sum(digamma(count_within(zj, r, "max") + 1))
            c_w = count_within(w, r, "max") if w is not None else np.zeros(len(r), np.int64)
            out[2, j] = np.sum(digamma(c_w + 1))  # c_w = 0 without w (knn_loo.h)
        return out

    def knn_loo_maxnorm_targets(self, z, targets, k, shard: ShardArg = None, bound=None):
        return np.stack([self.knn_loo_maxnorm(z, labels, w, k, shard) for labels, w in targets])

    def knn_loo_euclidean(self, z, k, shard: ShardArg = None):
        _no_shard(shard)
        out = np.zeros(z.shape[1] + 1)
        for j, zj in _columns(z):
            with np.errstate(divide="ignore"):
                out[j] = np.sum(np.log(kth_neighbor_distance(zj, k, "euclidean")))
        return out

    # --- KDE -------------------------------------------------------------------------------

    def kde_log_mean_kernel(self, t, labels, sigma2, shard: ShardArg = None):
        _no_shard(shard)
        out = np.empty(t.shape[0])
        groups = [np.arange(t.shape[0])] if labels is None else \
            [np.flatnonzero(labels == c) for c in np.unique(labels)]
        for members in groups:
            for rows, sq in distance_blocks(t[members], "sqeuclidean"):
                out[members[rows]] = logsumexp(-sq / (2.0 * sigma2), axis=1) - np.log(members.size)
        return out

    def kde_loo(self, t, labels, n_classes, sigma2, shard: ShardArg = None):
        _no_shard(shard)
        if labels is None and n_classes != 1:
            raise ValueError("n_classes must be 1 without labels")
        out = np.zeros((n_classes, t.shape[1] + 1))
        classes = np.zeros(t.shape[0], np.int64) if labels is None else labels
        for j, tj in _columns(t):
            out[:, j] = np.bincount(classes, self.kde_log_mean_kernel(tj, labels, sigma2),
                                    minlength=n_classes)
        return out

    # --- binning ---------------------------------------------------------------------------

    def pattern_counts(self, codes, fixed):
        rows = codes if fixed is None else np.hstack([codes, fixed])
        return np.unique(rows, axis=0, return_counts=True)[1].astype(np.int64)

    def pattern_classes(self, codes, fixed):
        raise NotImplementedError("the reference backend does not hash rows (not shardable)")

    def binning_loo(self, codes, fixed, shard: ShardArg = None):
        _no_shard(shard)
        out = np.zeros(codes.shape[1] + 1)
        for j, cj in _columns(codes):
            out[j] = _sum_c_log_c(cj if fixed is None else np.hstack([cj, fixed]))
        return out

