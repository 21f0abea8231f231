"""Plug-in entropy of discrete patterns for the Triton backend (contract:
``csrc/include/gib/binning.h``): the torch operations of ``backends/torch_binning.py`` on the
data's device, with numpy results. Pattern counts sort the rows themselves (exact); pattern
classes and the leave-one-out sums use the CPU kernels' 128-bit row hashes.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import torch_binning
from ..protocol import shard_of
from .knn import numpy_of, require


def _as_codes(x, name: str, device=None) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.int64, device=device)
    require(x.dim() == 2, f"{name} must be 2-D")
    return x


def _with_fixed(codes: torch.Tensor, fixed) -> torch.Tensor | None:
    if fixed is None:
        return None
    fixed = _as_codes(fixed, "fixed", codes.device)
    require(fixed.shape[0] == codes.shape[0], "fixed must have one row per row of codes")
    return fixed


def pattern_counts(codes, fixed) -> np.ndarray:
    """Sizes of the classes of identical rows of [codes, fixed], int64, in no particular order."""
    codes = _as_codes(codes, "codes")
    fixed = _with_fixed(codes, fixed)
    rows = codes if fixed is None else torch.cat([codes, fixed], dim=1)
    return numpy_of(torch_binning.pattern_counts(rows), torch.int64)


def pattern_classes(codes, fixed) -> tuple[np.ndarray, np.ndarray]:
    """(hashes (classes, 2) uint64, counts (classes,) int64): the classes of identical rows of
    [codes, fixed] with the CPU backend's hashes, in ascending (lane a, lane b) order."""
    codes = _as_codes(codes, "codes")
    hashes, counts = torch_binning.pattern_classes(codes, _with_fixed(codes, fixed))
    return numpy_of(hashes, torch.int64).view(np.uint64), numpy_of(counts, torch.int64)


def binning_loo(codes, fixed, shard=None) -> np.ndarray:
    """out (m + 1,) float64: out[j] = sum of c log c over the distinct rows of [codes without
    column j, fixed], out[m] the same with every column of codes. A shard owns a part of the
    columns (binning.h)."""
    part = shard_of(shard)
    codes = _as_codes(codes, "codes")
    fixed = _with_fixed(codes, fixed)
    require(codes.shape[1] >= 1, "codes must have at least one column")
    return numpy_of(torch_binning.binning_loo(codes, fixed, part), torch.float64)
