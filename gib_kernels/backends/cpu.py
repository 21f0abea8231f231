"""The C++/OpenMP backend: the kernels of ``gib_kernels._cpu`` (``csrc/cpu``) over float64/int64
numpy buffers; CUDA inputs are copied to the host. Deterministic: bit-identical results
whatever the thread count. Sharding: a shard owns interleaved runs of anchors of each kernel's
own order (``knn.h``), or a range of columns (``binning_loo``).
"""
from __future__ import annotations

import numpy as np
import torch

from .. import _ext
from .protocol import ShardArg


def _host(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


class CpuBackend:
    """The C++ kernels; every method is the binding of the same name (``csrc/bind_cpu.cpp``)."""

    name = "cpu"
    fuses_targets = True
    shardable = True

    def __init__(self):
        if _ext.cpu is None:
            raise RuntimeError("the C++ extension gib_kernels._cpu did not load: "
                               f"{_ext.load_error('_cpu')}")
        self._k = _ext.cpu
        self.radius_bound_above = int(self._k.loo_pruned_above)

    @staticmethod
    def floats(x) -> np.ndarray:
        return np.ascontiguousarray(_host(x), dtype=np.float64)

    @staticmethod
    def ints(x) -> np.ndarray:
        return np.ascontiguousarray(_host(x), dtype=np.int64)

    def kth_neighbor_distance(self, z, labels, k, metric, shard: ShardArg = None):
        return self._k.kth_neighbor_distance(z, labels, k, metric, shard)

    def count_within(self, z, radius, metric, shard: ShardArg = None):
        return self._k.count_within(z, radius, metric, shard)

    def knn_loo_maxnorm(self, z, labels, w, k, shard: ShardArg = None, bound=None):
        return self._k.knn_loo_maxnorm(z, labels, w, k, shard, bound)

    def knn_loo_maxnorm_targets(self, z, targets, k, shard: ShardArg = None, bound=None):
        return self._k.knn_loo_maxnorm_targets(z, targets, k, shard, bound)

    def knn_loo_euclidean(self, z, k, shard: ShardArg = None):
        return self._k.knn_loo_euclidean(z, k, shard)

    def kde_log_mean_kernel(self, t, labels, sigma2, shard: ShardArg = None):
        return self._k.kde_log_mean_kernel(t, labels, sigma2, shard)

    def kde_loo(self, t, labels, n_classes, sigma2, shard: ShardArg = None):
        return self._k.kde_loo(t, labels, n_classes, sigma2, shard)

    def pattern_counts(self, codes, fixed):
        return self._k.pattern_counts(codes, fixed)

    def pattern_classes(self, codes, fixed):
        return self._k.pattern_classes(codes, fixed)

    def binning_loo(self, codes, fixed, shard: ShardArg = None):
        return self._k.binning_loo(codes, fixed, shard)
