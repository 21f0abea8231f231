"""The Triton backend: the primitives of ``csrc/include/gib/*.h`` on torch tensors.

Data stays on its device (a CUDA GPU, or the CPU when TRITON_INTERPRET=1 runs the kernels in
the interpreter) as float32 values and int64 labels or codes; every primitive returns numpy
arrays with the semantics, shapes and dtypes of the CPU backend's. fp32 distances agree with
the float64 CPU kernels to about 1e-7 relative, so radii and sums do too, and neighbour counts
agree exactly unless two distances are within that of each other.
"""
from __future__ import annotations

import numpy as np
import torch

from . import binning, interpreting, kde, knn, knn_loo

# Largest |x| whose squared differences stay finite in float32 (sqrt(3.4e38) / 2).
_FLOAT32_SAFE = 9.2e18


def _tensor(x) -> torch.Tensor:
    """x as a tensor on its own device; host arrays go to the GPU unless interpreting."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    on_gpu = torch.cuda.is_available() and not interpreting()
    return torch.as_tensor(np.asarray(x), device="cuda" if on_gpu else "cpu")


class TritonBackend:
    """Triton k-NN and KDE kernels, binning with torch operations."""

    name = "triton"
    radius_bound_above = None
    fuses_targets = False  # each target makes its own pass
    shardable = True

    @staticmethod
    def floats(x) -> torch.Tensor:
        t = _tensor(x)
        if t.numel() and float(t.abs().max()) > _FLOAT32_SAFE:
            raise ValueError(f"the Triton backend computes in float32, whose squared distances "
                             f"overflow beyond |x| = {_FLOAT32_SAFE:g}; got values up to "
                             f"{float(t.abs().max()):g}. Rescale the data or use backend='cpu'.")
        return t.to(torch.float32).contiguous()

    @staticmethod
    def ints(x) -> torch.Tensor:
        return _tensor(x).to(torch.int64).contiguous()

    # Every primitive but the pattern counts takes shard=None | (index, count) (common.h): a
    # shard owns a part of the anchors (of the label-sorted order where there are labels) or,
    # for binning_loo, of the columns; outputs it does not own are 0.
    kth_neighbor_distance = staticmethod(knn.kth_neighbor_distance)
    count_within = staticmethod(knn.count_within)

    @staticmethod
    def knn_loo_maxnorm(z, labels, w, k, shard=None, bound=None):
        # Points whose label is unique take no part (the contract of knn_loo.h); a shard owns a
        # part of the others.
        if labels is not None:
            _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
            keep = counts[inverse] > 1
            if not bool(keep.all()):
                z, labels = z[keep].contiguous(), labels[keep].contiguous()
        return knn_loo.knn_loo_maxnorm(z, labels, w, k, shard)

    def knn_loo_maxnorm_targets(self, z, targets, k, shard=None, bound=None):
        return np.stack([self.knn_loo_maxnorm(z, labels, w, k, shard) for labels, w in targets])

    knn_loo_euclidean = staticmethod(knn_loo.knn_loo_euclidean)
    kde_log_mean_kernel = staticmethod(kde.kde_log_mean_kernel)
    kde_loo = staticmethod(kde.kde_loo)
    pattern_counts = staticmethod(binning.pattern_counts)
    pattern_classes = staticmethod(binning.pattern_classes)
    binning_loo = staticmethod(binning.binning_loo)
