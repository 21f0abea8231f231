"""Binning (plug-in) estimators in nats over backend primitives: entropy of the distinct rows of
discretised activation patterns, the classic information-plane estimator (Shwartz-Ziv & Tishby
2017, Saxe et al. 2018), and its fused leave-one-feature-out form.

Discretisation: ``bins`` equal-width bins over one range for the whole array (``bin_range=None``:
[min, max] of the data, so a tanh layer gets about [-1, 1] and a ReLU layer [0, max]),
per-column ranges (``"column"``) or a fixed ``(low, high)`` (values outside are clipped into the
end bins). Integer arrays are already discrete and are used as they are.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def discretize(x, bins: int, bin_range) -> torch.Tensor:
    """int64 bin indices in [0, bins) of a float array, or the integer array itself."""
    t = torch.as_tensor(x)
    if not t.dtype.is_floating_point:
        return t.to(torch.int64)
    t = t.to(torch.float64)
    if bin_range is None:
        lo, hi = t.min(), t.max()
    elif bin_range == "column":
        lo, hi = t.min(dim=0).values, t.max(dim=0).values
    else:
        lo, hi = (torch.tensor(v, dtype=torch.float64, device=t.device) for v in bin_range)
    width = hi - lo
    scaled = (t - lo) / torch.where(width > 0, width, torch.ones_like(width)) * bins
    return torch.clamp(torch.floor(scaled), 0, bins - 1).to(torch.int64)


def value_codes(x):
    """int64 codes of a discrete-valued array, one per distinct value of a column: integers as
    they are, floats by the bits of their float64 value (-0.0 and 0.0 are one value)."""
    if isinstance(x, torch.Tensor):
        if not x.dtype.is_floating_point:
            return x.to(torch.int64)
        return (x.to(torch.float64) + 0.0).contiguous().view(torch.int64)
    x = np.asarray(x)
    if x.dtype.kind in "biu":
        return x.astype(np.int64)
    return (np.ascontiguousarray(x, dtype=np.float64) + 0.0).view(np.int64)


def _entropy_from_sum_clogc(n: int, sum_c_log_c):
    return math.log(n) - sum_c_log_c / n


def _sum_c_log_c(counts) -> float:
    c = np.asarray(counts, dtype=np.float64)
    return float(np.sum(c * np.log(c)))


def entropy(be, codes) -> float:
    return _entropy_from_sum_clogc(codes.shape[0], _sum_c_log_c(be.pattern_counts(be.ints(codes), None)))


def joint_entropy(be, codes, fixed) -> float:
    counts = be.pattern_counts(be.ints(codes), be.ints(fixed))
    return _entropy_from_sum_clogc(codes.shape[0], _sum_c_log_c(counts))


def mutual_information(be, cz, cw) -> float:
    return entropy(be, cz) + entropy(be, cw) - joint_entropy(be, cz, cw)


def conditional_mutual_information(be, cz, cw, cv) -> float:
    zv = torch.cat([torch.as_tensor(cz), torch.as_tensor(cv)], dim=1)
    wv = torch.cat([torch.as_tensor(cw), torch.as_tensor(cv)], dim=1)
    return (joint_entropy(be, cz, cv) + joint_entropy(be, cw, cv)
            - joint_entropy(be, zv, wv) - entropy(be, cv))


def entropy_loo(be, codes) -> np.ndarray:
    n, m = codes.shape
    return _entropy_from_sum_clogc(n, be.binning_loo(be.ints(codes), None)[:m])


def mutual_information_loo(be, cz, cw) -> np.ndarray:
    n, m = cz.shape
    h_z = entropy_loo(be, cz)
    h_zw = _entropy_from_sum_clogc(n, be.binning_loo(be.ints(cz), be.ints(cw))[:m])
    return h_z + entropy(be, cw) - h_zw
