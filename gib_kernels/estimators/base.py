"""The estimator object: a family's front, holding its options (scikit-learn's ``BaseEstimator``).

A family is a class over ``Estimator`` whose constructor takes its options as keywords, stores
them as given, and validates them once against its declared table ``_parameters`` (name ->
check): an invalid option raises at construction, in the form "The 'k' parameter of KNN must be
an int >= 1. Got 0 instead.". ``get_params()`` gives them back, ``repr`` shows those that differ
from their defaults. Class attributes say what the family supports and where it runs:

- ``name``: its name in the registry (``estimator="<name>"``);
- ``supports_entropy``, ``supports_continuous_target``, ``supports_labels``,
  ``supports_conditional``: the quantities and targets it takes;
- ``fused_leave_one_out``: whether its leave-one-out terms come from one fused pass;
- ``runs_on``: ``"kernels"`` (over the primitives of any backend, ``backends.protocol``) or
  ``"torch"`` (torch on the data's device, whatever the backend: it calls no kernel).

The computations are the methods of ``estimators.protocol.Family``, in nats; the defaults here
(``per_feature_mutual_information``, ``information_terms``, ``setup`` ...) serve a family that
has nothing faster.
"""
from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any, Callable, ClassVar

import numpy as np

from .shared import leave_one_out_loop, per_feature_loop


class Estimator:
    name: ClassVar[str] = ""
    _parameters: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    supports_entropy: ClassVar[bool] = True
    supports_continuous_target: ClassVar[bool] = True
    supports_labels: ClassVar[bool] = True
    supports_conditional: ClassVar[bool] = True
    fused_leave_one_out: ClassVar[bool] = False
    runs_on: ClassVar[str] = "kernels"
    entropy_description: ClassVar[str | None] = None  # what its H(Z) is ({option} formatted)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        declared = list(inspect.signature(cls.__init__).parameters)[1:]
        if cls._parameters and declared != list(cls._parameters):
            raise TypeError(f"{cls.__name__}.__init__ takes {declared}, its table declares "
                            f"{list(cls._parameters)}")

    def _validate(self) -> None:
        """Checks every option against the table once; the checked values (ints as int,
        ranges as float pairs ...) are what the computations read, as ``self.checked``."""
        checked = {}
        for option, check in self._parameters.items():
            try:
                checked[option] = check(getattr(self, option))
            except (TypeError, ValueError) as error:
                text = str(error).replace(f"The '{option}' parameter must",
                                          f"The '{option}' parameter of {type(self).__name__} "
                                          "must")
                raise type(error)(text) from None
        self.checked = SimpleNamespace(**checked)

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        return tuple(cls._parameters)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        signature = inspect.signature(cls.__init__)
        return {name: signature.parameters[name].default for name in cls._parameters}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The options as given to the constructor."""
        return {name: getattr(self, name) for name in self._parameters}

    def set_params(self, **params) -> "Estimator":
        """A copy with some options changed (checked like the constructor's)."""
        return type(self)(**{**self.get_params(), **params})

    def __repr__(self) -> str:
        defaults = self.defaults()
        shown = [f"{name}={value!r}" for name, value in self.get_params().items()
                 if not _same(value, defaults[name])]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and all(
            _same(a, b) for a, b in zip(self.get_params().values(), other.get_params().values()))

    def __hash__(self) -> int:
        return hash((type(self), repr(self)))

    # --- the family interface (estimators.protocol.Family): defaults ------------------------

    def setup(self, d, arrays) -> None:
        """The family's own checks of the raw arrays (it may set ``d.labels``)."""

    def prepare(self, d, x, name):
        return x

    def check_prepared(self, d) -> None:
        """Checks of the prepared arrays."""

    def per_feature_mutual_information(self, d) -> np.ndarray:
        return per_feature_loop(lambda zj: self.mutual_information(d, zj), d.z)

    def entropy_loo(self, d) -> np.ndarray:
        return leave_one_out_loop(lambda zj: self.entropy(d, zj), d.z)

    def mutual_information_loo(self, d) -> np.ndarray:
        return leave_one_out_loop(lambda zj: self.mutual_information(d, zj), d.z)

    def information_terms(self, d) -> tuple[float, np.ndarray, np.ndarray]:
        """(I(Z;W), I(Z_j;W) for every j, I(Z_-j;W) for every j), nats: the terms of a synergy
        profile from one call. The leave-one-out terms come first, so that a family whose fused
        pass gives the full estimate as well keeps it for the call after."""
        without = self.mutual_information_loo(d)
        full = self.mutual_information(d, d.z)
        return full, self.per_feature_mutual_information(d), without


def _same(a, b) -> bool:
    try:
        return bool(a is b or (type(a) is type(b) and a == b))
    except (TypeError, ValueError):  # arrays and the like
        return a is b
