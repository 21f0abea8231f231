"""Binning (plug-in) estimators in nats over backend primitives: entropy of the distinct rows of
discretised activation patterns, the classic information-plane estimator (Shwartz-Ziv & Tishby
2017, Saxe et al. 2018), and its fused leave-one-feature-out form.

Discretisation: ``bins`` equal-width bins over one range for the whole array (``bin_range=None``:
[min, max] of the data, so a tanh layer gets about [-1, 1] and a ReLU layer [0, max]),
per-column ranges (``"column"``) or a fixed ``(low, high)`` (values outside are clipped into the
end bins). Integer arrays are already discrete and are used as they are.

Saturation: where nearly every binned row is distinct (H within 2% of log n), the plug-in
estimate counts the samples: H(Z) = log n and I(Z; W) = H(W) by construction, whatever the data.
Binned continuous arrays (not integers, nor floats of a few values per column) are checked
in every estimate, and a ``SaturationWarning`` says so; the value is returned as computed.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..exceptions import warn
from .inputs import per_feature_loop

# An entropy of binned data at or above this fraction of log n counts samples, not patterns.
SATURATION = 0.98
SATURATION_MESSAGE = (
    "binning saturates: nearly every binned row of {what} is distinct, so the estimate counts "
    "the samples (H = log n, and I = the entropy of the other argument, by construction) "
    "rather than measures the data; use estimator='gaussian' (wide layers), 'knn' or 'mixed' "
    "(class labels), fewer bins, or more samples")


def is_saturated(entropy_nats, n: int):
    """Whether an entropy (nats) of n binned samples is within 2% of log n (elementwise)."""
    return np.asarray(entropy_nats) >= SATURATION * math.log(n) if n > 1 else \
        np.zeros(np.shape(entropy_nats), dtype=bool)


def _check_saturation(d, names, entropy_nats) -> None:
    """Warns when the entropy of the arrays ``names`` (one name or several, taken jointly), of
    which at least one was binned from floats, is saturated."""
    names = (names,) if isinstance(names, str) else tuple(names)
    if set(names) & d.cache.get("binned", set()) and np.any(is_saturated(entropy_nats, d.n)) \
            and not d.cache.get("saturation_warned"):
        d.cache["saturation_warned"] = True  # once for all the terms of one estimate
        what = repr(names[0]) if len(names) == 1 else f"({', '.join(names)})"
        warn(SATURATION_MESSAGE.format(what=what))


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


def _entropy(be, codes) -> float:
    return _entropy_from_sum_clogc(codes.shape[0], _sum_c_log_c(be.pattern_counts(be.ints(codes), None)))


def _joint_entropy(be, codes, fixed) -> float:
    counts = be.pattern_counts(be.ints(codes), be.ints(fixed))
    return _entropy_from_sum_clogc(codes.shape[0], _sum_c_log_c(counts))


def _entropy_loo(be, codes) -> np.ndarray:
    n, m = codes.shape
    return _entropy_from_sum_clogc(n, be.binning_loo(be.ints(codes), None)[:m])


# --- the estimator family's interface (estimators/__init__.py) -------------------------------


def setup(d, arrays) -> None:
    """Nothing to check beyond the common checks: any array can be binned."""


def prepare(d, x, name):
    if d.p.estimator == "auto" and d.is_discrete(x):
        return value_codes(x)  # "auto" takes discrete data as it is, unbinned
    if _is_float(x) and not d.is_discrete(x):
        d.cache.setdefault("binned", set()).add(name)  # continuous: checked for saturation
    return discretize(x, d.p.bins, d.p.bin_range)


def _is_float(x) -> bool:
    return x.dtype.is_floating_point if isinstance(x, torch.Tensor) else \
        np.asarray(x).dtype.kind == "f"


def check_prepared(d) -> None:
    pass


def entropy(d, z) -> float:
    h = _entropy(d.backend, z)
    _check_saturation(d, "z", h)
    return h


def mutual_information(d, z) -> float:
    be = d.backend
    h_z, h_w = _entropy(be, z), _entropy(be, d.w)
    _check_saturation(d, "z", h_z)
    _check_saturation(d, d.target_name, h_w)
    return h_z + h_w - _joint_entropy(be, z, d.w)


def conditional_mutual_information(d) -> float:
    be, cz, cw, cv = d.backend, d.z, d.w, d.v
    zv = torch.cat([torch.as_tensor(cz), torch.as_tensor(cv)], dim=1)
    wv = torch.cat([torch.as_tensor(cw), torch.as_tensor(cv)], dim=1)
    h_zv = _joint_entropy(be, cz, cv)
    _check_saturation(d, ("z", "v"), h_zv)
    return h_zv + _joint_entropy(be, cw, cv) - _joint_entropy(be, zv, wv) - _entropy(be, cv)


def entropy_loo(d) -> np.ndarray:
    h = _entropy_loo(d.backend, d.z)
    _check_saturation(d, "z", h)
    return h


def mutual_information_loo(d) -> np.ndarray:
    be, cz, cw = d.backend, d.z, d.w
    n, m = cz.shape
    h_z, h_w = _entropy_loo(be, cz), _entropy(be, cw)
    _check_saturation(d, "z", h_z)
    _check_saturation(d, d.target_name, h_w)
    h_zw = _entropy_from_sum_clogc(n, be.binning_loo(be.ints(cz), be.ints(cw))[:m])
    return h_z + h_w - h_zw


per_feature_mutual_information = per_feature_loop
