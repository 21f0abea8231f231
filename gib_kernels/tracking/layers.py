"""What each tracked layer gets: its estimator (``"auto"`` resolved by the width the estimates
see), its view and reduction, its binning range; and the check, before any training, that the
probe set is large enough for the Gaussian layers."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .activations import Reduction, as_units

__all__ = ["activation_bin_range", "check_gaussian_samples", "columns", "per_layer",
           "resolve_estimator"]

# Modules whose output range is known in advance; None ends are taken over the run.
_KNOWN_RANGES = ((nn.Tanh, (-1.0, 1.0)), (nn.Sigmoid, (0.0, 1.0)), (nn.ReLU, (0.0, None)))
_DEFAULTS = {"view": "flatten", "reduction": None}


def activation_bin_range(module: nn.Module) -> tuple[float | None, float | None]:
    """The binning range of a layer's output, with None for an end taken over the run."""
    for kind, bin_range in _KNOWN_RANGES:
        if isinstance(module, kind):
            return bin_range
    return (None, None)


def per_layer(value, what: str, check, layers: list[str]) -> dict:
    """{layer: checked value} from one value for all layers or a dict naming some (the others
    get the default: "flatten" views, no reduction, "auto" estimators)."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(layers))
        if unknown:
            raise ValueError(f"'{what}' names {', '.join(map(repr, unknown))}, which "
                             "are not tracked layers")
        default = _DEFAULTS.get(what, "auto")
        return {name: check(value.get(name, default)) for name in layers}
    checked = check(value)
    return {name: checked for name in layers}


def columns(shape: tuple[int, ...], view: str, reduction: Reduction | None) -> int:
    """The number of columns the estimates of a layer see: after its view and reduction."""
    width = as_units(torch.zeros(shape), view).shape[1]
    return reduction.components if reduction is not None and reduction.applies_to(width) \
        else width


def resolve_estimator(requested: str, columns_of, *, bins: int, n: int,
                      binning_max_units: int | None) -> str:
    """The requested estimator, or for "auto": binning where ``bins ** columns <= n`` (or the
    layer has at most ``binning_max_units`` columns when that is given), else "gaussian".
    ``columns_of()`` gives the layer's columns (asked only for "auto")."""
    if requested != "auto":
        return requested
    width = columns_of()
    if binning_max_units is not None:
        return "binning" if width <= binning_max_units else "gaussian"
    return "binning" if bins ** width <= n else "gaussian"


def check_gaussian_samples(gaussian_columns: dict[str, int], features: np.ndarray,
                           labels: np.ndarray) -> None:
    """Refuses, before any training, a Gaussian layer whose covariances the probe set
    cannot estimate: (X, T) needs more samples than columns, the class model of T more
    samples than classes plus columns (its pooled covariance), and 3 samples per class.
    ``gaussian_columns``: {layer: columns} of the Gaussian layers."""
    n, d = features.shape
    sizes = np.unique(labels, return_counts=True)[1]
    for name, width in gaussian_columns.items():
        if n <= width + d or n - len(sizes) <= width or sizes.min() < 3:
            raise ValueError(
                f"layer {name!r}: the Gaussian estimates need more probe samples than "
                f"columns, for (X, T) together ({n} samples, {d} + {width} columns) and "
                f"for T's class model ({n} samples in {len(sizes)} classes, the smallest "
                f"of {int(sizes.min())}: at least 3 each and n - classes > {width}); "
                "reduce the layer (e.g. reduction=('pca', k)), the input features, or use a "
                "larger probe set")
