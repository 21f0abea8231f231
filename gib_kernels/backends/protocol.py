"""The contract of a backend: the kernel primitives of ``csrc/include/gib/*.h``, declared once.

Every backend (``cpu``, ``cuda``, ``triton``, ``reference``, and ``sharded`` over any of them)
implements every method below with these shapes and meanings, on its own arrays (``floats`` and
``ints`` convert inputs), and returns numpy arrays. The estimator formulas of
``gib_kernels.estimators`` are written once over them. Units: distances in the data's units,
sums of natural logs and digammas.

``shard``: None (all the work) or ``(index, count)``, part ``index`` of ``count`` of a kernel's
independent units (anchors, runs of anchors, or columns, as each backend documents); outputs of
other parts are 0, so the sum over the parts is the whole (``Shard`` in ``common.h``).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Optional, Protocol, Sequence, Tuple, runtime_checkable

import numpy as np

ShardArg = Optional[Tuple[int, int]]
Array = Any  # the backend's own array type: numpy for cpu and reference, torch for cuda/triton

# The ``metric`` codes of the k-NN primitives (``Metric`` in common.h).
MAX, EUCLIDEAN = 0, 1


# The shard argument as ``gib::Shard`` of common.h: part ``index`` of ``count`` near-equal
# contiguous parts of a kernel's units (the CPU kernels interleave runs of anchors instead).
@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def begin(self, units: int) -> int:
        return units * self.index // self.count

    def end(self, units: int) -> int:
        return units * (self.index + 1) // self.count

    def range(self, units: int) -> tuple[int, int]:
        """[begin, end) of this part of `units` units."""
        return self.begin(units), self.end(units)

    @property
    def whole(self) -> bool:
        return self.count == 1


def shard_of(shard) -> Shard:
    """A validated Shard from None (all the work) or (index, count)."""
    if shard is None:
        return Shard()
    index, count = (operator.index(v) for v in shard)
    if not (count >= 1 and 0 <= index < count):
        raise ValueError("shard must be (index, count) with 0 <= index < count")
    return Shard(index, count)



@runtime_checkable
class Backend(Protocol):
    """The primitives, with what every backend can and cannot do as flags."""

    name: str
    # Columns above which ``knn_loo_maxnorm(_targets)`` takes ``bound=``, per-anchor upper bounds
    # on the radii that prune its pass (knn_loo.h); None where it takes none.
    radius_bound_above: int | None
    # Whether ``knn_loo_maxnorm_targets`` makes one pass over the pairs of z for every target
    # (else it runs the targets one after another, with the same results).
    fuses_targets: bool
    # Whether the primitives take ``shard`` and ``pattern_classes`` gives the CPU's row hashes,
    # so that ``backends.sharded`` can split the backend over processes.
    shardable: bool

    def floats(self, x) -> Array:
        """x as this backend's float array (float64, or float32 for Triton), C-contiguous."""

    def ints(self, x) -> Array:
        """x as this backend's int64 array, C-contiguous."""

    # --- k-NN (knn.h, knn_loo.h); metric 0: max-norm, 1: Euclidean --------------------------

    def kth_neighbor_distance(self, z, labels, k: int, metric: int,
                              shard: ShardArg = None) -> np.ndarray:
        """(n,) distance from each row of z (n, d) to its k-th nearest other row; with labels
        (n,), among the rows of its label with k lowered to the label's count - 1 (+inf when
        that is 0)."""

    def count_within(self, z, radius, metric: int, shard: ShardArg = None) -> np.ndarray:
        """(n,) int64: #{j != i : dist(z_i, z_j) < radius_i}."""

    def knn_loo_maxnorm(self, z, labels, w, k: int, shard: ShardArg = None,
                        bound=None) -> np.ndarray:
        """(3, m + 1) sums over anchors, per column j (column m: all of z) of the estimate on
        z without column j: log r, psi(c_z + 1), psi(c_w + 1); for labels (Ross), w (KSG) or
        neither (KL). Points of a unique label take no part."""

    def knn_loo_maxnorm_targets(self, z, targets: Sequence[tuple], k: int,
                                shard: ShardArg = None, bound=None) -> np.ndarray:
        """(len(targets), 3, m + 1): ``knn_loo_maxnorm`` for each (labels, w) of targets."""

    def knn_loo_euclidean(self, z, k: int, shard: ShardArg = None) -> np.ndarray:
        """(m + 1,) sum of log r over anchors, r the k-th Euclidean distance without column j."""

    # --- KDE (kde.h) -------------------------------------------------------------------------

    def kde_log_mean_kernel(self, t, labels, sigma2: float,
                            shard: ShardArg = None) -> np.ndarray:
        """(n,) log of the mean Gaussian kernel of each row over its label's rows (itself
        included), or over all rows."""

    def kde_loo(self, t, labels, n_classes: int, sigma2: float,
                shard: ShardArg = None) -> np.ndarray:
        """(n_classes, m + 1): per class, the sum of those log mean kernels over t without
        column j (column m: all of t)."""

    # --- binning (binning.h) -----------------------------------------------------------------

    def pattern_counts(self, codes, fixed) -> np.ndarray:
        """Sizes of the classes of identical rows of [codes, fixed]."""

    def pattern_classes(self, codes, fixed) -> tuple[np.ndarray, np.ndarray]:
        """(hashes (classes, 2) uint64, counts): the classes with the CPU kernels' 128-bit row
        hashes, so that classes counted apart merge exactly (needed where ``shardable``)."""

    def binning_loo(self, codes, fixed, shard: ShardArg = None) -> np.ndarray:
        """(m + 1,) sum of c log c over the distinct rows of [codes without column j, fixed]."""


def concat_columns(be: Backend, *parts) -> Array:
    """The arrays side by side, (n, d_1 + d_2 + ...), as the backend's C-contiguous floats."""
    arrays = [be.floats(p) for p in parts]
    if hasattr(arrays[0], "new_empty"):  # torch tensors
        import torch

        return torch.cat(arrays, dim=1).contiguous()
    return np.ascontiguousarray(np.concatenate(arrays, axis=1))
