"""gib_kernels: compiled-kernel information estimation for the Generalized Information Bottleneck.

Entropy, mutual information, conditional MI, interaction information and feature-wise synergy
of activation matrices (n samples x d units), with binning, k-NN (Kozachenko-Leonenko, KSG,
Ross's mixed estimator) and KDE-bound estimators, on C++/OpenMP, CUDA and Triton kernels.

Conventions: bits by default (``base=2``); positive interaction information = synergy, as in
the GIB paper (``co_information`` is McGill's negative); estimates are never clipped at zero.

>>> import gib_kernels as gk
>>> X, y = gk.datasets.tishby_12bit()
>>> round(gk.mutual_information(X, y, estimator="binning"), 5)
0.99916

The public names load on first use (PEP 562), so that ``import gib_kernels`` (and the command
line's ``--help``) does not import torch and the kernels until an estimate needs them.
"""
import importlib

from ._version import __version__

# Each public name and the module it comes from; "datasets" and "estimators" (the estimator
# classes: gk.estimators.KNN(k=5)) are the modules themselves.
_PUBLIC = {
    "build_info": ".backends",
    "datasets": None,
    "estimators": None,
    "entropy": ".functional",
    "mutual_information": ".functional",
    "conditional_mutual_information": ".functional",
    "interaction_information": ".functional",
    "co_information": ".functional",
    "per_feature_mutual_information": ".functional",
    "leave_one_out_entropy": ".functional",
    "leave_one_out_mutual_information": ".functional",
    "synergy_profile": ".functional",
    "synergy": ".functional",
    "information_terms": ".functional",
    "InformationTerms": ".functional",
    "config_context": "._config",
    "get_config": "._config",
    "SaturationWarning": ".exceptions",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    source = _PUBLIC[name]
    if source is None:
        value = importlib.import_module(f".{name}", __name__)
    else:
        value = getattr(importlib.import_module(source, __name__), name)
    globals()[name] = value  # later lookups find it without this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
