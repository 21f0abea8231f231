"""What one public call asks for and the validated, prepared inputs of its estimate, shared by
the full, per-feature and leave-one-out terms.

``Request`` checks the call's choice once: an estimator object, or a registered name with its
options, or "auto" with the options of the families it may choose; the unit and the backend.
``Inputs`` checks what every estimator needs (shapes, finite values, matching rows), resolves
"auto", selects the backend, then lets the family check and prepare its arrays (``setup`` and
``prepare`` of ``protocol.Family``); what the terms of one call share (label classes,
discreteness, moments) is computed once and kept on it.
"""
from __future__ import annotations

import warnings

from .. import backends
from .._validation import (
    as_matrix,
    check_choice,
    check_random_state,
    check_same_rows,
    is_cuda,
    is_discrete_valued,
    is_label_vector,
    log_base,
)
from . import AUTO_CHOICES, family, names
from .base import Estimator


def resolve_estimator(z, target, is_discrete=is_discrete_valued) -> str:
    """The rule of "auto": binning for discrete-valued z, mixed for class labels, else knn."""
    if is_discrete(z):
        return "binning"
    if target is not None and is_label_vector(target):
        return "mixed"
    return "knn"


def _not_its_option(cls, option: str) -> str:
    return (f"{cls.__name__} takes no option {option!r}; its options are "
            f"{', '.join(cls.parameter_names()) or 'none'}")


def _check_options(cls_or_auto, options: dict, known: tuple) -> dict:
    """The options a family (or "auto") takes; any other is a TypeError naming the family and
    the options it takes."""
    own = {}
    for option, value in options.items():
        if option in known:
            own[option] = value
            continue
        if isinstance(cls_or_auto, str):
            takes = sorted({o for name in AUTO_CHOICES for o in family(name).parameter_names()})
            message = (f"estimator='auto' chooses between {', '.join(AUTO_CHOICES)}; none takes "
                       f"option {option!r} (they take {', '.join(takes)}): name the estimator")
        else:
            message = _not_its_option(cls_or_auto, option)
        raise TypeError(message)
    return own


class Request:
    """The estimator, unit and backend one public call asks for, checked once.

    ``estimator``: an ``Estimator`` object (``options`` must then be empty), a registered name
    (``options`` are its constructor's keywords), or "auto": the options are handed to each
    family "auto" may choose that takes them (so that they are checked whatever it chooses), and
    the family chosen for the data keeps its own (``for_data``). ``rng``: the one random
    generator of the call, seeded by ``random_state``, shared by all its estimates.
    """

    def __init__(self, estimator, options: dict, base=2, backend="auto"):
        self.auto = False
        self.candidates: dict[str, Estimator] = {}
        if isinstance(estimator, Estimator):
            if options:
                raise TypeError(
                    f"options go to the estimator object's constructor, not beside it: got "
                    f"{', '.join(map(repr, options))} with {estimator!r}")
            self.fixed = estimator
            random_state = getattr(estimator, "random_state", None)
        else:
            check_choice(estimator, "estimator", names())
            if estimator == "auto":
                self.auto, self.fixed = True, None
                known = tuple(dict.fromkeys(o for name in AUTO_CHOICES
                                            for o in family(name).parameter_names()))
                own = _check_options("auto", options, known)
                for name in AUTO_CHOICES:
                    cls = family(name)
                    self.candidates[name] = cls(**{o: v for o, v in own.items()
                                                   if o in cls.parameter_names()})
                random_state = own.get("random_state")
            else:
                cls = family(estimator)
                self.fixed = cls(**_check_options(cls, options, cls.parameter_names()))
                random_state = getattr(self.fixed, "random_state", None)
        self.log_base = log_base(base)
        self.backend_name = backend
        self.rng = check_random_state(random_state)

    def for_data(self, z, target, is_discrete=is_discrete_valued) -> Estimator:
        """The estimator object for these arrays: the one asked for, or the one "auto" picks."""
        if not self.auto:
            return self.fixed
        return self.candidates[resolve_estimator(z, target, is_discrete)]


def _torch_backend_note(est: Estimator, requested: str, data_on_cuda: bool) -> None:
    """A family that runs on torch honours "auto", and "cpu" or "cuda" where the data is; any
    other request is said to be ignored."""
    check_choice(requested, "backend", backends.BACKENDS)
    device = "cuda" if data_on_cuda else "cpu"
    if requested not in ("auto", device):
        warnings.warn(f"backend={requested!r} has no part in the {type(est).__name__} estimate: "
                      f"it runs on torch on the data's device ({device}), whatever the backend",
                      RuntimeWarning, stacklevel=4)


class Inputs:
    """z (n, m), an optional target and condition, prepared for the chosen estimator.

    Attributes: ``family`` (the estimator object), ``estimator`` (its name), ``p`` (its checked
    options), ``rng``, ``auto`` (whether "auto" chose it), ``backend`` (None for a family that
    runs on torch), ``origin`` (the caller's array type), ``n``; ``z``, ``w``, ``v`` as the family
    prepared them; ``labels`` (class codes, or None); ``cache`` (what its terms share).
    """

    def __init__(self, request: Request, z, target=None, condition=None, target_name="w",
                 entropy_only=False):
        z, self.origin = as_matrix(z, "z")
        arrays = {"z": z}
        if target is not None:
            arrays[target_name] = as_matrix(target, target_name)[0]
        if condition is not None:
            arrays["v"] = as_matrix(condition, "v")[0]
        self.n = check_same_rows(arrays)
        self.target_name = target_name
        self._discrete: dict[int, bool] = {}
        self.family = request.for_data(z, None if entropy_only else arrays.get(target_name),
                                       self.is_discrete)
        self.estimator = self.family.name
        self.p = self.family.checked
        self.rng = request.rng
        self.auto = request.auto
        on_cuda = any(is_cuda(a) for a in arrays.values())
        if self.family.runs_on == "torch":
            _torch_backend_note(self.family, request.backend_name, on_cuda)
            self.backend = None
        else:
            self.backend = backends.select(request.backend_name, on_cuda)
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
