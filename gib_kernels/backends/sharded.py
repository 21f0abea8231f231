"""A backend whose primitives are split over the ranks of a ``torch.distributed`` process group.

Every rank holds the same data and runs its part (``shard=(rank, world)``, see ``Shard`` in
``csrc/include/gib/common.h``) of each primitive of the backend it wraps; the parts are summed
with one all-reduce. Per-anchor outputs (k-th distances, counts, log-kernels) and the
leave-one-out binning sums have one owner per entry, so their sum is the single-process result
exactly; the leave-one-out k-NN and KDE sums add per-rank partial sums, equal to it up to float
rounding. Pattern counts are split by rows: each rank counts the classes of its rows
(``pattern_classes``) and the classes merge exactly by their 128-bit hashes, in ascending hash
order as one process lists them.

The estimator formulas of ``gib_kernels.estimators`` run unchanged on top, on every rank, so
every rank returns the same estimate. All ranks must use the same backend: the partition of the
anchors is the backend's own. A ``ShardedBackend`` is itself a ``Backend`` (``protocol.py``).
"""
from __future__ import annotations

import contextvars
import zlib

import numpy as np
import torch
import torch.distributed as dist

from .protocol import MAX, Backend, concat_columns

# The process group of the innermost `gib_kernels.distributed.sharded` block, or None.
_ACTIVE = contextvars.ContextVar("gib_kernels_sharding", default=None)


class _Group:
    """A process group (None: the default group) and where its collectives run."""

    def __init__(self, process_group=None):
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                "sharded estimation needs an initialised torch.distributed process group: call "
                "torch.distributed.init_process_group() first (torchrun sets up its environment)")
        self.group = process_group
        self.rank = dist.get_rank(process_group)
        self.world = dist.get_world_size(process_group)
        # NCCL reduces CUDA tensors only; gloo (and the rest) host tensors.
        uses_nccl = dist.get_backend(process_group) == "nccl"
        self.device = (torch.device("cuda", torch.cuda.current_device()) if uses_nccl
                       else torch.device("cpu"))


def active() -> _Group | None:
    return _ACTIVE.get()


def wrap(backend):
    """`backend` split over the active group's ranks, or as it is outside a sharded block."""
    group = active()
    if group is None:
        return backend
    if not backend.shardable:
        raise ValueError(f"backend={backend.name!r} cannot be sharded; use backend='cpu' (or "
                         "'cuda', 'triton') inside a sharded block")
    return ShardedBackend(backend, group)


def _fingerprint(x) -> int:
    """A cheap checksum of an array's values and their order, computed where the array lives."""
    if isinstance(x, torch.Tensor) and x.is_cuda:
        bits = x.contiguous().reshape(x.shape[0], -1)
        # The values' bit patterns (float32 ones through int32), not their truncated values.
        if bits.element_size() == 8:
            bits = bits.view(torch.int64)
        elif bits.element_size() == 4:
            bits = bits.view(torch.int32).to(torch.int64)
        else:
            bits = bits.to(torch.int64)
        weights = torch.arange(1, x.shape[0] + 1, device=x.device, dtype=torch.int64)
        return int((bits.sum(1) * weights).sum())  # rows weighted by position
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return zlib.crc32(memoryview(np.ascontiguousarray(a)).cast("B"))


class ShardedBackend:
    """The primitives of `inner` split over the ranks of `group`, each part summed over ranks."""

    shardable = False  # already split

    def __init__(self, inner: Backend, group: _Group):
        self.inner = inner
        self.g = group
        self.name = inner.name
        self.radius_bound_above = inner.radius_bound_above
        self.fuses_targets = inner.fuses_targets
        self.shard = (group.rank, group.world)

    def floats(self, x):
        return self.inner.floats(x)

    def ints(self, x):
        return self.inner.ints(x)

    # --- collectives ---------------------------------------------------------------------------

    def _sum(self, part) -> np.ndarray:
        part = np.asarray(part)
        t = torch.from_numpy(np.ascontiguousarray(part)).to(self.g.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=self.g.group)
        return t.cpu().numpy().astype(part.dtype, copy=False)

    def _gather(self, part: np.ndarray) -> list[np.ndarray]:
        """Every rank's `part` (same dtype and trailing shape, any number of rows), rank order."""
        t = torch.from_numpy(np.ascontiguousarray(part)).to(self.g.device)
        rows = torch.tensor([t.shape[0]], dtype=torch.int64, device=self.g.device)
        all_rows = [torch.empty_like(rows) for _ in range(self.g.world)]
        dist.all_gather(all_rows, rows, group=self.g.group)
        longest = max(int(r) for r in all_rows)
        padded = t.new_zeros((longest,) + tuple(t.shape[1:]))
        padded[: t.shape[0]] = t
        gathered = [torch.empty_like(padded) for _ in range(self.g.world)]
        dist.all_gather(gathered, padded, group=self.g.group)
        return [g[: int(r)].cpu().numpy() for g, r in zip(gathered, all_rows)]

    def _check_same_data(self, *arrays) -> None:
        """Raises on every rank unless all ranks pass the same arrays: shards of different data
        would sum into a wrong estimate without any sign of it."""
        prints = np.array([[_fingerprint(a) if a is not None else 0 for a in arrays]],
                          dtype=np.int64)
        if self.g.world == 1:
            return
        ranks = np.concatenate(self._gather(prints))
        if not (ranks == ranks[0]).all():
            raise RuntimeError(
                "the ranks of the process group hold different data: every rank must pass the "
                "same arrays (and, with noise > 0, the same random_state) to a sharded estimate")

    def _summed(self, op: str, inputs: tuple, *args, **options):
        self._check_same_data(*inputs)
        return self._sum(getattr(self.inner, op)(*args, shard=self.shard, **options))

    # --- the primitives ------------------------------------------------------------------------

    # Each takes the protocol's `shard` (and `bound`) for its signature's sake and must get None:
    # this backend is the split.

    def kth_neighbor_distance(self, z, labels, k, metric, shard=None):
        return self._summed("kth_neighbor_distance", (z, labels), z, labels, k, metric)

    def count_within(self, z, radius, metric, shard=None):
        return self._summed("count_within", (z, radius), z, radius, metric)

    def kde_log_mean_kernel(self, t, labels, sigma2, shard=None):
        return self._summed("kde_log_mean_kernel", (t, labels), t, labels, sigma2)

    def _radius_bound(self, z, targets, k) -> dict:
        """For a backend that prunes its pass on wide z (``radius_bound_above``): the bounds
        (knn_loo.h), the largest k-th neighbour distance of each anchor over the targets, from
        sharded k-th neighbour passes; the kernel would otherwise run those passes whole on
        every rank."""
        above = self.inner.radius_bound_above
        if above is None or z.shape[1] <= above:
            return {}
        radii = [self.kth_neighbor_distance(z if w is None else concat_columns(self, z, w),
                                            labels, k, MAX)
                 for labels, w in targets]
        return {"bound": np.maximum.reduce(radii)}

    def knn_loo_maxnorm(self, z, labels, w, k, shard=None, bound=None):
        bound = self._radius_bound(z, [(labels, w)], k)
        return self._summed("knn_loo_maxnorm", (z, labels, w), z, labels, w, k, **bound)

    def knn_loo_maxnorm_targets(self, z, targets, k, shard=None, bound=None):
        bound = self._radius_bound(z, targets, k)
        inputs = (z, *[a for pair in targets for a in pair])
        return self._summed("knn_loo_maxnorm_targets", inputs, z, targets, k, **bound)

    def knn_loo_euclidean(self, z, k, shard=None):
        return self._summed("knn_loo_euclidean", (z,), z, k)

    def kde_loo(self, t, labels, n_classes, sigma2, shard=None):
        return self._summed("kde_loo", (t, labels), t, labels, n_classes, sigma2)

    def binning_loo(self, codes, fixed, shard=None):
        return self._summed("binning_loo", (codes, fixed), codes, fixed)

    def pattern_classes(self, codes, fixed):
        raise NotImplementedError("a sharded backend's classes are gathered in pattern_counts")

    def pattern_counts(self, codes, fixed):
        """Counts of the classes of identical rows, in ascending hash order, as ``_cpu``'s."""
        self._check_same_data(codes, fixed)
        n = codes.shape[0]
        rows = slice(n * self.g.rank // self.g.world, n * (self.g.rank + 1) // self.g.world)
        hashes, counts = self.inner.pattern_classes(codes[rows],
                                                    None if fixed is None else fixed[rows])
        mine = np.column_stack([np.asarray(hashes, dtype=np.uint64).reshape(-1, 2).view(np.int64),
                                np.asarray(counts, dtype=np.int64)])
        merged = np.concatenate(self._gather(mine))
        lane_a, lane_b = merged[:, 0].view(np.uint64), merged[:, 1].view(np.uint64)
        order = np.lexsort((lane_b, lane_a))
        lane_a, lane_b, counts = lane_a[order], lane_b[order], merged[order, 2]
        new_class = (lane_a[1:] != lane_a[:-1]) | (lane_b[1:] != lane_b[:-1])
        starts = np.flatnonzero(np.r_[True, new_class])
        return np.add.reduceat(counts, starts) if counts.size else counts
