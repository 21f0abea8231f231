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

from .._validation import MAX_BINS, check_bin_range, check_int
from ..exceptions import warn
from .base import Estimator
from .shared import is_saturated, value_codes

SATURATION_MESSAGE = (
    "binning saturates: nearly every binned row of {what} is distinct, so the estimate counts "
    "the samples (H = log n, and I = the entropy of the other argument, by construction) "
    "rather than measures the data; use estimator='gaussian' (wide layers), 'knn' or 'mixed' "
    "(class labels), fewer bins, or more samples")


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


# --- the estimator family (estimators/protocol.py) --------------------------------------------


class Binning(Estimator):
    """The plug-in (binning) estimator: entropy of the distinct rows of discretised patterns.

    Parameters
    ----------
    bins : int, default 30. Equal-width bins per column (1 <= bins <= 2**53). Integer arrays are
        used as they are; with ``estimator="auto"`` discrete-valued floats too (each distinct
        value its own bin).
    bin_range : None, "column" or (low, high), default None. None: one range [min, max] over the
        whole array; "column": each column its own; (low, high): fixed, values outside clipped
        into the end bins. The per-feature and leave-one-out terms keep the grid of the whole
        ``z``, so that the terms of a synergy share it; to reproduce them with your own loop over
        ``np.delete(z, j, axis=1)``, pass ``bin_range=(z.min(), z.max())`` (or "column").

    Bias: the plug-in estimate of the binned variables, biased up for few samples per pattern;
    once nearly every binned row is distinct it counts the samples (H = log n, I = H(W)), and a
    ``SaturationWarning`` says so. Units: nats inside, the caller's ``base`` outside.
    """

    name = "binning"
    _parameters = {"bins": lambda v: check_int(v, "bins", 1, MAX_BINS),
                   "bin_range": check_bin_range}
    fused_leave_one_out = True
    entropy_description = "discrete plug-in entropy of the (binned) rows"

    def __init__(self, bins=30, bin_range=None):
        self.bins = bins
        self.bin_range = bin_range
        self._validate()

    def prepare(self, d, x, name):
        if d.auto and d.is_discrete(x):
            return value_codes(x)  # "auto" takes discrete data as it is, unbinned
        if not d.is_discrete(x):
            d.cache.setdefault("binned", set()).add(name)  # continuous: checked for saturation
        return discretize(x, d.p.bins, d.p.bin_range)

    def entropy(self, d, z) -> float:
        h = _entropy(d.backend, z)
        _check_saturation(d, "z", h)
        return h

    def mutual_information(self, d, z) -> float:
        be = d.backend
        h_z, h_w = _entropy(be, z), _entropy(be, d.w)
        _check_saturation(d, "z", h_z)
        _check_saturation(d, d.target_name, h_w)
        return h_z + h_w - _joint_entropy(be, z, d.w)

    def conditional_mutual_information(self, d) -> float:
        be, cz, cw, cv = d.backend, d.z, d.w, d.v
        zv = torch.cat([torch.as_tensor(cz), torch.as_tensor(cv)], dim=1)
        wv = torch.cat([torch.as_tensor(cw), torch.as_tensor(cv)], dim=1)
        h_zv = _joint_entropy(be, cz, cv)
        _check_saturation(d, ("z", "v"), h_zv)
        return h_zv + _joint_entropy(be, cw, cv) - _joint_entropy(be, zv, wv) - _entropy(be, cv)

    def entropy_loo(self, d) -> np.ndarray:
        h = _entropy_loo(d.backend, d.z)
        _check_saturation(d, "z", h)
        return h

    def mutual_information_loo(self, d) -> np.ndarray:
        be, cz, cw = d.backend, d.z, d.w
        n, m = cz.shape
        h_z, h_w = _entropy_loo(be, cz), _entropy(be, cw)
        _check_saturation(d, "z", h_z)
        _check_saturation(d, d.target_name, h_w)
        h_zw = _entropy_from_sum_clogc(n, be.binning_loo(be.ints(cz), be.ints(cw))[:m])
        return h_z + h_w - h_zw
