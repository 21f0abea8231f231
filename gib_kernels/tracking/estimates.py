"""The four quantities of one layer at one epoch, through the public API: I(X;T), I(T;Y) and
the synergy profiles of S(X -> T) and S(T -> Y), with which of them saturated."""
from __future__ import annotations

import re
import warnings

import numpy as np

from .. import estimators as registry  # the public registry (gk.estimators), no family module
from .. import functional as F
from .._config import config_context
from ..exceptions import SaturationWarning

__all__ = ["GAUSSIAN_RIDGE", "QUANTITIES", "check_options", "layer_estimates", "own_options",
           "tracker_estimators", "tracker_hint"]
# The Gaussian ridge where estimator_options gives none, read as the variance of a noise added
# to every copula-normalised (unit variance) column. A deterministic layer is a function of X,
# so without noise I(X;T) has no finite value; this caps each column's share at
# 0.5 log2(1 + 1/variance) = 5 bits, and keeps constant (dead) and duplicated units regular.
GAUSSIAN_RIDGE = 1e-3
QUANTITIES = ("I_XT", "I_TY", "S_XT", "S_TY")


def tracker_estimators() -> tuple[str, ...]:
    """The registered families the tracker can use: those that estimate a layer against its
    input as well as against class labels: every family with an entropy of its own (binning and
    the KDE bound take the input as discrete classes) or one that takes both kinds of target
    (the predictive family); the mixed estimator, labels only, cannot."""
    def usable(cls):
        return cls.supports_entropy or (cls.supports_continuous_target and cls.supports_labels)
    return tuple(name for name in registry.ESTIMATORS if usable(registry.family(name)))


def own_options(estimator: str, options: dict) -> dict:
    """The options of ``estimator_options`` that the family ``estimator`` takes."""
    takes = registry.family(estimator).parameter_names()
    return {key: value for key, value in options.items() if key in takes}


def check_options(estimators, options: dict) -> None:
    """Refuses an option that none of the families ``estimators`` takes (a typo, or an option
    for a family no layer uses), naming what they take."""
    used = sorted(set(estimators))
    takes = {key for name in used for key in registry.family(name).parameter_names()}
    unknown = sorted(set(options) - takes)
    if unknown:
        raise ValueError(f"estimator_options {', '.join(map(repr, unknown))}: no estimator of "
                         f"the tracked layers ({', '.join(used)}) takes "
                         f"{'it' if len(unknown) == 1 else 'them'}; they take "
                         f"{', '.join(sorted(takes)) or 'no options'}")


def layer_estimates(t: np.ndarray, x: np.ndarray, labels: np.ndarray, options: dict, *,
                    progress: bool) -> tuple[dict, list[str]]:
    """({"I_XT", "I_TY", "profile_XT", "profile_TY"}: estimate, the quantities ("S_XT", ...)
    whose estimator warned that it saturated), from one call per target: X's features as the
    sources of S(X -> T) (and I(X;T) with them), T's units as those of S(T -> Y). ``options``
    go to both calls (estimator, base, the family's own options)."""
    estimates, saturated = {}, []
    with config_context(progress=progress):
        for target, (z, w) in {"XT": (x, t), "TY": (t, labels)}.items():
            terms, flagged = _with_saturation_flag(lambda: F.information_terms(z, w, **options))
            estimates[f"I_{target}"] = terms.mutual_information
            estimates[f"profile_{target}"] = terms.synergy_profile
            if terms.spread is not None:  # an estimate repeated over seeds: its spread
                estimates.setdefault("spread", {}).update({
                    f"I_{target}": terms.spread.mutual_information,
                    f"profile_{target}": [float(v) for v in terms.spread.synergy_profile]})
            if flagged:
                saturated += [f"I_{target}", f"S_{target}"]
    return estimates, sorted(saturated, key=QUANTITIES.index)


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
