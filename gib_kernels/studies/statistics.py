"""Rank correlations across models, with their uncertainty: Spearman's rho and Kendall's tau-b,
percentile bootstrap intervals that resample the models, two-sided permutation p-values, the
partial Spearman correlation given a third variable, and the paired bootstrap of the difference
between two complexities' correlations with one outcome.

Pure numpy and scipy. Every statistic takes arrays whose last axis is the models and works over
any leading axes, so that all resampled or permuted copies go through one call. A statistic is
NaN where a variable is constant (its ranks carry no order); resamples that draw such a copy
are left out of the interval, and the result counts those kept.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.stats import rankdata

__all__ = ["Correlation", "Difference", "Interval", "bootstrap_interval", "compare",
           "correlate", "kendall", "partial", "partial_spearman", "permutation_pvalue", "ranks",
           "spearman"]

LEVEL = 0.95
RESAMPLES = 2000
# Resampled copies per block: Kendall's sign matrices take (block, n, n) floats.
_BLOCK_ELEMENTS = 4_000_000


def ranks(x) -> np.ndarray:
    """Ranks along the last axis, ties given their average rank (as scipy's spearmanr)."""
    return rankdata(np.asarray(x, dtype=np.float64), axis=-1)


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    denominator = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(-1) / denominator
    # Rounding can push a perfect correlation a hair past 1.
    return np.where(denominator > 0, np.clip(r, -1.0, 1.0), np.nan)


def spearman(x, y) -> np.ndarray:
    """Spearman's rho: the Pearson correlation of the ranks."""
    return _pearson(ranks(x), ranks(y))


def kendall(x, y) -> np.ndarray:
    """Kendall's tau-b: concordant minus discordant pairs over the geometric mean of the pairs
    untied in x and untied in y (scipy's kendalltau, variant "b")."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    sx = np.sign(x[..., :, None] - x[..., None, :])
    sy = np.sign(y[..., :, None] - y[..., None, :])
    # Both triangles count every pair twice: the factor cancels in the ratio.
    denominator = np.sqrt((sx * sx).sum((-2, -1)) * (sy * sy).sum((-2, -1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (sx * sy).sum((-2, -1)) / denominator
    return np.where(denominator > 0, np.clip(tau, -1.0, 1.0), np.nan)


def partial_spearman(x, y, z) -> np.ndarray:
    """Spearman's rho of x and y given z: the Pearson correlation of the ranks of x and of y
    after each is regressed (least squares, with an intercept) on the ranks of z. Equal to the
    partial correlation formula on the three pairwise rhos."""
    rx, ry, rz = ranks(x), ranks(y), ranks(z)
    rz = rz - rz.mean(-1, keepdims=True)
    zz = (rz * rz).sum(-1, keepdims=True)

    def residual(r):
        r = r - r.mean(-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(zz > 0, (r * rz).sum(-1, keepdims=True) / zz, 0.0)
        return r - slope * rz

    return _pearson(residual(rx), residual(ry))


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    kept: int  # the resamples whose statistic is defined

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def text(self, digits: int = 2) -> str:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return "[n/a]"
        return f"[{self.low:+.{digits}f}, {self.high:+.{digits}f}]"


def _blocks(total: int, n: int):
    size = max(1, _BLOCK_ELEMENTS // max(1, n * n))
    for start in range(0, total, size):
        yield min(size, total - start)


def bootstrap_interval(statistic: Callable[..., np.ndarray], *samples, resamples: int = RESAMPLES,
                       level: float = LEVEL, seed: int = 0) -> Interval:
    """The percentile interval of ``statistic(*samples)`` over ``resamples`` copies of the
    models drawn with replacement (seeded); every sample is resampled with the same models, so
    a statistic of several variables (a difference, a partial correlation) stays paired."""
    samples = [np.asarray(s, dtype=np.float64) for s in samples]
    n = samples[0].shape[-1]
    rng = np.random.default_rng(seed)
    values = []
    for size in _blocks(resamples, n):
        chosen = rng.integers(0, n, size=(size, n))
        values.append(statistic(*(s[chosen] for s in samples)))
    values = np.concatenate(values)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return Interval(math.nan, math.nan, 0)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(low), float(high), len(values))


def permutation_pvalue(statistic: Callable[..., np.ndarray], x, y, *, permutations: int = RESAMPLES,
                       seed: int = 0) -> float:
    """Two-sided p-value of ``statistic(x, y)`` against y shuffled over the models (seeded):
    (1 + permutations at least as extreme) / (1 + permutations). NaN where the statistic is."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    observed = float(statistic(x, y))
    if not math.isfinite(observed):
        return math.nan
    rng = np.random.default_rng(seed)
    extreme = 0
    for size in _blocks(permutations, len(y)):
        shuffled = rng.permuted(np.broadcast_to(y, (size, len(y))), axis=-1)
        permuted = statistic(np.broadcast_to(x, shuffled.shape), shuffled)
        # A tolerance so that a permutation equal to the observation counts despite rounding.
        extreme += int((np.abs(permuted) >= abs(observed) - 1e-12).sum())
    return (1 + extreme) / (1 + permutations)


@dataclass(frozen=True)
class Correlation:
    """One rank correlation across models, with its bootstrap interval and permutation p."""

    method: str
    estimate: float
    interval: Interval
    p_value: float
    n: int


_METHODS = {"spearman": spearman, "kendall": kendall}


def correlate(x, y, method: str = "spearman", *, resamples: int = RESAMPLES,
              seed: int = 0) -> Correlation:
    """Spearman's rho or Kendall's tau of x and y across models, its percentile bootstrap
    interval and its permutation p-value, both seeded."""
    statistic = _METHODS[method]
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return Correlation(method, float(statistic(x, y)),
                       bootstrap_interval(statistic, x, y, resamples=resamples, seed=seed),
                       permutation_pvalue(statistic, x, y, permutations=resamples, seed=seed),
                       len(x))


def partial(x, y, z, *, resamples: int = RESAMPLES, seed: int = 0) -> Correlation:
    """The partial Spearman correlation of x and y given z, with its bootstrap interval (no
    p-value: shuffling y would also break its relation with z)."""
    x, y, z = (np.asarray(v, dtype=np.float64) for v in (x, y, z))
    return Correlation("partial spearman", float(partial_spearman(x, y, z)),
                       bootstrap_interval(partial_spearman, x, y, z, resamples=resamples,
                                          seed=seed), math.nan, len(x))


@dataclass(frozen=True)
class Difference:
    """rho(a, y) - rho(b, y) and |rho(a, y)| - |rho(b, y)|, with paired bootstrap intervals
    (each resample draws the same models for both correlations)."""

    signed: float
    signed_interval: Interval
    absolute: float
    absolute_interval: Interval

    @property
    def verdict(self) -> str:
        """"a", "b" or "undecided": which variable orders the models more closely with y, from
        the interval of the difference of the absolute rhos."""
        interval = self.absolute_interval
        if not (math.isfinite(interval.low) and math.isfinite(interval.high)) \
                or interval.contains(0.0):
            return "undecided"
        return "a" if interval.low > 0 else "b"


def compare(a, b, y, *, resamples: int = RESAMPLES, seed: int = 0) -> Difference:
    """How much more closely a than b follows y across models, in Spearman's rho."""
    a, b, y = (np.asarray(v, dtype=np.float64) for v in (a, b, y))

    def signed(a, b, y):
        return spearman(a, y) - spearman(b, y)

    def absolute(a, b, y):
        return np.abs(spearman(a, y)) - np.abs(spearman(b, y))

    return Difference(float(signed(a, b, y)),
                      bootstrap_interval(signed, a, b, y, resamples=resamples, seed=seed),
                      float(absolute(a, b, y)),
                      bootstrap_interval(absolute, a, b, y, resamples=resamples, seed=seed))
