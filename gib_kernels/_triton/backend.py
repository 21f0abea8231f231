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

from . import binning, kde, knn, knn_loo


def _tensor(x) -> torch.Tensor:
    """x as a tensor on its own device; host arrays go to the GPU unless interpreting."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    on_gpu = torch.cuda.is_available() and not knn.interpreting()
    return torch.as_tensor(np.asarray(x), device="cuda" if on_gpu else "cpu")


class TritonBackend:
    """Triton k-NN and KDE kernels, binning with torch operations."""

    name = "triton"

    @staticmethod
    def floats(x) -> torch.Tensor:
        return _tensor(x).to(torch.float32).contiguous()

    @staticmethod
    def ints(x) -> torch.Tensor:
        return _tensor(x).to(torch.int64).contiguous()

    kth_neighbor_distance = staticmethod(knn.kth_neighbor_distance)
    count_within = staticmethod(knn.count_within)
    knn_loo_maxnorm = staticmethod(knn_loo.knn_loo_maxnorm)
    knn_loo_euclidean = staticmethod(knn_loo.knn_loo_euclidean)
    kde_log_mean_kernel = staticmethod(kde.kde_log_mean_kernel)
    kde_loo = staticmethod(kde.kde_loo)
    pattern_counts = staticmethod(binning.pattern_counts)
    binning_loo = staticmethod(binning.binning_loo)
