"""The validated, prepared inputs of one estimate, shared by its full, per-feature and
leave-one-out terms: parameters, arrays, the estimator and backend chosen, class labels.

``Inputs`` checks what every estimator needs (shapes, finite values, matching rows), resolves
``estimator="auto"``, selects the backend, then lets the estimator family check and prepare its
arrays (``setup`` and ``prepare`` of the family's module).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import backends
from .._config import progress_bar
from .._validation import (
    ESTIMATORS,
    MAX_BINS,
    METRICS,
    as_matrix,
    check_bin_range,
    check_bool,
    check_choice,
    check_int,
    check_non_negative,
    check_positive,
    check_random_state,
    check_same_rows,
    is_cuda,
    is_discrete_valued,
    is_label_vector,
    log_base,
)


@dataclass
class Params:
    estimator: str
    k: int
    bins: int
    bin_range: Any
    metric: str
    sigma2: float
    log_base: float
    noise: float
    rng: np.random.Generator
    copula: bool = True
    bias_correction: bool = True
    ridge: float = 0.0
    covariance_prior: float | None = None
    backend_name: str = "auto"


def params(estimator, k, bins, bin_range, metric, sigma2, base, noise, random_state,
           copula=True, bias_correction=True, ridge=0.0, covariance_prior=None,
           backend="auto") -> Params:
    check_choice(estimator, "estimator", ESTIMATORS)
    check_choice(metric, "metric", METRICS)
    if isinstance(noise, (bool, np.bool_)) or not isinstance(noise, (int, float)) \
            or not math.isfinite(noise) or noise < 0:
        raise ValueError(f"The 'noise' parameter must be a finite number >= 0. Got {noise!r} instead.")
    return Params(
        estimator=estimator,
        k=check_int(k, "k", 1),
        bins=check_int(bins, "bins", 1, MAX_BINS),
        bin_range=check_bin_range(bin_range),
        metric=metric,
        sigma2=check_positive(sigma2, "sigma2"),
        log_base=log_base(base),
        noise=float(noise),
        rng=check_random_state(random_state),
        copula=check_bool(copula, "copula"),
        bias_correction=check_bool(bias_correction, "bias_correction"),
        ridge=check_non_negative(ridge, "ridge"),
        covariance_prior=None if covariance_prior is None
        else check_non_negative(covariance_prior, "covariance_prior"),
        backend_name=backend,
    )


def resolve_estimator(p: Params, z, target, is_discrete=is_discrete_valued) -> str:
    """The rule of "auto": binning for discrete-valued z, mixed for class labels, else knn."""
    if p.estimator != "auto":
        return p.estimator
    if is_discrete(z):
        return "binning"
    if target is not None and is_label_vector(target):
        return "mixed"
    return "knn"


class Inputs:
    """z (n, m), an optional target and condition, prepared for the chosen estimator.

    Attributes: ``p`` (Params), ``estimator`` (its name), ``family`` (its module),
    ``backend``, ``origin`` (the caller's array type), ``n``; ``z``, ``w``, ``v`` as the
    family prepared them (binning codes, floats); ``labels`` (class codes, or None).
    """

    def __init__(self, p: Params, z, target=None, condition=None, target_name="w",
                 entropy_only=False):
        from . import FAMILIES

        self.p = p
        z, self.origin = as_matrix(z, "z")
        arrays = {"z": z}
        if target is not None:
            arrays[target_name] = as_matrix(target, target_name)[0]
        if condition is not None:
            arrays["v"] = as_matrix(condition, "v")[0]
        self.n = check_same_rows(arrays)
        self.target_name = target_name
        self._discrete: dict[int, bool] = {}
        self.estimator = resolve_estimator(p, z, None if entropy_only else arrays.get(target_name),
                                           self.is_discrete)
        self.family = FAMILIES[self.estimator]
        self.backend = backends.select(p.backend_name, any(is_cuda(a) for a in arrays.values()))
        self.labels = None
        self.cache: dict = {}  # what a family computes once and its terms share
        self.family.setup(self, arrays)
        self.z = self.family.prepare(self, z, "z")
        self.w = None if target is None else self.family.prepare(self, arrays[target_name],
                                                                 target_name)
        self.v = None if condition is None else self.family.prepare(self, arrays["v"], "v")
        self.family.check_prepared(self)

    def is_discrete(self, x) -> bool:
        """``is_discrete_valued`` of one of this estimate's arrays, computed once."""
        if id(x) not in self._discrete:
            self._discrete[id(x)] = is_discrete_valued(x)
        return self._discrete[id(x)]


def cat(a, b):
    """Columns of a and b side by side, in a's array type."""
    if isinstance(a, torch.Tensor):
        return torch.cat([a, b.to(a.device, a.dtype)], dim=1)
    return np.concatenate([a, b], axis=1)


def column(x, j: int):
    """Column j of x as an (n, 1) array."""
    return x[:, j:j + 1]


def per_feature_loop(d: Inputs) -> np.ndarray:
    """[mutual_information(d, column j) for every j]: the family's estimate column by column."""
    m = d.z.shape[1]
    columns = progress_bar(range(m), desc="per-feature MI")
    return np.array([d.family.mutual_information(d, column(d.z, j)) for j in columns])


def leave_one_out_loop(estimate, z) -> np.ndarray:
    """[estimate(z without column j) for every j]: the naive loop, for estimators without a
    fused form. A single column leaves nothing: 0."""
    m = z.shape[1]
    if m == 1:
        return np.zeros(1)
    keep = [[c for c in range(m) if c != j] for j in range(m)]
    return np.array([estimate(z[:, idx]) for idx in keep])
