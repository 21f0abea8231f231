"""The contract of an estimator family, beside the backends' (``backends/protocol.py``).

A family is a class over ``base.Estimator`` (its options in the constructor, validated against
its table) with the methods below, in nats, written over the primitives of ``d.backend`` (or
over torch and numpy where it needs no kernel). ``d`` is the call's ``inputs.Inputs``: ``d.p``
the estimator's checked options, ``d.rng`` the call's random generator, ``d.z``, ``d.w``,
``d.v`` the arrays as the family prepared them, ``d.labels`` the class codes it set in
``setup`` (or None), ``d.n``, ``d.target_name``, ``d.cache`` (what its terms share within one
call) and ``d.auto`` (whether "auto" chose it). ``tests/test_estimator_contract.py`` checks
every registered family against it.
"""
from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

FLAGS = ("name", "supports_entropy", "supports_continuous_target", "supports_labels",
         "supports_conditional", "fused_leave_one_out", "runs_on")
RUNS_ON = ("kernels", "torch")


@runtime_checkable
class Family(Protocol):
    name: ClassVar[str]
    supports_entropy: ClassVar[bool]
    supports_continuous_target: ClassVar[bool]
    supports_labels: ClassVar[bool]
    supports_conditional: ClassVar[bool]
    fused_leave_one_out: ClassVar[bool]
    runs_on: ClassVar[str]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The options as given to the constructor."""

    def setup(self, d, arrays: dict) -> None:
        """The family's own checks of the raw arrays (``{"z": ..., target_name: ..., "v": ...}``);
        it sets ``d.labels`` where it takes class labels."""

    def prepare(self, d, x, name: str):
        """Array ``name`` as the family computes on it (None: it uses ``d.labels`` instead)."""

    def check_prepared(self, d) -> None:
        """Checks of the prepared arrays (e.g. duplicate rows)."""

    def entropy(self, d, z) -> float:
        """H(z), z the prepared sources or some of their columns."""

    def mutual_information(self, d, z) -> float:
        """I(z; W) against ``d.w`` or ``d.labels``."""

    def conditional_mutual_information(self, d) -> float:
        """I(Z; W | V) of ``d.z``, the target and ``d.v``."""

    def entropy_loo(self, d) -> np.ndarray:
        """H(Z_-j) for every column j (0 for a single column)."""

    def mutual_information_loo(self, d) -> np.ndarray:
        """I(Z_-j; W) for every column j (0 for a single column)."""

    def per_feature_mutual_information(self, d) -> np.ndarray:
        """I(Z_j; W) for every column j."""

    def information_terms(self, d) -> tuple[float, np.ndarray, np.ndarray]:
        """(I(Z; W), I(Z_j; W) for every j, I(Z_-j; W) for every j) from one call, sharing what
        the fused pass computes."""
