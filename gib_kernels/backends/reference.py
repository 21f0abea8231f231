"""The reference backend: the primitives of ``gib_kernels.reference`` (plain float64 numpy,
obviously correct and slow) behind the contract of ``protocol.py``, which they take as they are.
Every fast backend is tested against it; it is not shardable.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import reference


def _host(x, dtype) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=dtype)


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

    kth_neighbor_distance = staticmethod(reference.kth_neighbor_distance)
    count_within = staticmethod(reference.count_within)
    knn_loo_maxnorm = staticmethod(reference.knn_loo_maxnorm)
    knn_loo_maxnorm_targets = staticmethod(reference.knn_loo_maxnorm_targets)
    knn_loo_euclidean = staticmethod(reference.knn_loo_euclidean)
    kde_log_mean_kernel = staticmethod(reference.kde_log_mean_kernel)
    kde_loo = staticmethod(reference.kde_loo)
    pattern_counts = staticmethod(reference.pattern_counts)
    binning_loo = staticmethod(reference.binning_loo)

    def pattern_classes(self, codes, fixed):
        raise NotImplementedError("the reference backend does not hash rows (not shardable)")
