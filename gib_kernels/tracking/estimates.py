"""The four quantities of one layer at one epoch, through the public API: I(X;T), I(T;Y) and
the synergy profiles of S(X -> T) and S(T -> Y), with which of them saturated."""
from __future__ import annotations

import re
import warnings

import numpy as np

from .. import functional as F
from .._config import config_context
from ..exceptions import SaturationWarning

__all__ = ["ESTIMATORS", "GAUSSIAN_RIDGE", "QUANTITIES", "layer_estimates", "tracker_hint"]

ESTIMATORS = ("binning", "knn", "kde", "gaussian")
# The Gaussian ridge where estimator_options gives none, read as the variance of a noise added
# to every copula-normalised (unit variance) column. A deterministic layer is a function of X,
# so without noise I(X;T) has no finite value; this caps each column's share at
# 0.5 log2(1 + 1/variance) = 5 bits, and keeps constant (dead) and duplicated units regular.
GAUSSIAN_RIDGE = 1e-3
QUANTITIES = ("I_XT", "I_TY", "S_XT", "S_TY")


def layer_estimates(t: np.ndarray, x: np.ndarray, labels: np.ndarray, options: dict, *,
                    progress: bool) -> tuple[dict, list[str]]:
    """({"I_XT", "I_TY", "profile_XT", "profile_TY"}: estimate, the quantities ("S_XT", ...)
    whose estimator warned that it saturated). ``options`` go to every call (estimator, base,
    bins, bin_range, ...)."""
    calls = {  # T first in I_XT: the KDE bound treats its first argument as the layer.
        "I_XT": lambda: F.mutual_information(t, x, **options),
        "I_TY": lambda: F.mutual_information(t, labels, **options),
        "profile_XT": lambda: F.synergy_profile(x, t, **options),
        "profile_TY": lambda: F.synergy_profile(t, labels, **options),
    }
    estimates, saturated = {}, []
    with config_context(progress=progress):
        for quantity, call in calls.items():
            estimates[quantity], flagged = _with_saturation_flag(call)
            if flagged:
                saturated.append(quantity.replace("profile_", "S_"))
    return estimates, saturated


_OPTION_HINT = re.compile(r"\b[Pp]ass (ridge|noise)=([0-9.e+-]+)")


def tracker_hint(message: str) -> str:
    """An estimator's advice in the tracker's terms: its options go in estimator_options."""
    return _OPTION_HINT.sub(lambda m: f"pass estimator_options={{'{m[1]}': {m[2]}}} to the "
                                      "tracker", message)


def _with_saturation_flag(call):
    """(call(), whether it raised a SaturationWarning); other warnings pass through."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SaturationWarning)
        value = call()
    flagged = False
    for w in caught:
        if issubclass(w.category, SaturationWarning):
            flagged = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return value, flagged
