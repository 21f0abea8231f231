"""The estimator families: one module each, with one class (its options and its computations,
``protocol.Family`` over ``base.Estimator``), and the registry below, the one list of their
names that the functions (``estimator="<name>"``), the tracker and the command line read.

>>> import gib_kernels as gk
>>> gk.estimators.KNN(k=5)
KNN(k=5)

The registry names each family's module and class; a family is imported when first used, so
that this list costs no import of torch (the command line's ``--help`` reads it). How to add an
estimator: ``backends/README.md``, "Adding an estimator".
"""
import importlib

# name -> "module:Class" (a module of this package), or the class itself (registered at run time)
ESTIMATORS = {
    "binning": "binning:Binning",
    "knn": "knn:KNN",
    "mixed": "mixed:Mixed",
    "kde": "kde:KDE",
    "gaussian": "gaussian:Gaussian",
    "predictive": "predictive:Predictive",
}

# The families "auto" chooses between (its rule: ``inputs.resolve_estimator``).
AUTO_CHOICES = ("binning", "mixed", "knn")


def names() -> tuple:
    """Every name ``estimator=`` takes: "auto" and the registered families."""
    return ("auto", *ESTIMATORS)


def family(name: str):
    """The class registered as ``name``."""
    entry = ESTIMATORS[name]
    return family_of(entry) if isinstance(entry, str) else entry


def __getattr__(attribute):
    # the classes, by their own names: gib_kernels.estimators.KNN
    for entry in ESTIMATORS.values():
        if isinstance(entry, str) and entry.split(":")[1] == attribute:
            value = family_of(entry)
            globals()[attribute] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")


def family_of(entry: str):
    """The class of a "module:Class" entry."""
    module, cls = entry.split(":")
    return getattr(importlib.import_module(f".{module}", __name__), cls)


__all__ = ["ESTIMATORS", "AUTO_CHOICES", "names", "family", "Binning", "KNN", "Mixed", "KDE",
           "Gaussian", "Predictive"]
