"""Backends split over the ranks of a ``torch.distributed`` process group (used by
``gib_kernels.distributed``).

Inside a ``sharded()`` block, ``_backend.select`` wraps the chosen backend: every primitive runs
with ``shard=(rank, world size)`` (the contract of ``csrc/include/gib/common.h``: outputs the
rank does not own are 0) and the ranks' outputs are all-reduced with SUM. Pattern counts split
by rows instead: each rank counts the classes of its block of rows with their 128-bit hashes
(``pattern_classes``), and the classes merge exactly by hash, in ascending hash order as one
process counts them.
"""
from __future__ import annotations

import contextvars
import hashlib

import numpy as np
import torch
import torch.distributed as dist

_ACTIVE: contextvars.ContextVar = contextvars.ContextVar("gib_kernels_sharding", default=None)


class _Group:
    """A process group (None: the whole world), its rank, size and the device of its tensors."""

    def __init__(self, process_group=None):
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("sharded estimation needs torch.distributed.init_process_group "
                               "to be called first")
        self.process_group = process_group
        self.rank = dist.get_rank(process_group)
        self.size = dist.get_world_size(process_group)
        on_gpu = dist.get_backend(process_group) == "nccl"
        self.device = (torch.device("cuda", torch.cuda.current_device()) if on_gpu
                       else torch.device("cpu"))

    @property
    def shard(self) -> tuple[int, int]:
        return self.rank, self.size

    def sum(self, values) -> np.ndarray:
        """The element-wise sum of every rank's array."""
        values = np.asarray(values)
        t = torch.from_numpy(np.ascontiguousarray(values)).to(self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=self.process_group)
        return t.cpu().numpy().astype(values.dtype, copy=False)

    def gather(self, obj) -> list:
        everyone = [None] * self.size
        dist.all_gather_object(everyone, obj, group=self.process_group)
        return everyone

    def check_same(self, *arrays) -> None:
        """Raises on every rank when the ranks hold different inputs."""
        digest = hashlib.blake2b(digest_size=7)
        for a in arrays:
            if a is None:
                digest.update(b"none")
                continue
            if isinstance(a, (list, tuple)):
                self.check_same(*a)
                continue
            x = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
            digest.update(repr((x.dtype.str, x.shape)).encode())
            digest.update(np.ascontiguousarray(x).tobytes())
        value = int.from_bytes(digest.digest(), "little")
        both = torch.tensor([value, -value], dtype=torch.int64, device=self.device)
        dist.all_reduce(both, op=dist.ReduceOp.MAX, group=self.process_group)
        if int(both[0]) != -int(both[1]):
            raise RuntimeError("the ranks of the sharded estimate hold different data; pass "
                               "every rank the same inputs")


def active() -> _Group | None:
    """The group of the innermost active ``sharded()`` block, or None."""
    return _ACTIVE.get()


def wrap(backend):
    """`backend`, split over the active group's ranks when a sharded block is active."""
    group = active()
    if group is None:
        return backend
    if isinstance(backend, str):
        raise ValueError(f"backend={backend!r} cannot be sharded; use 'cpu', 'cuda' or 'triton'")
    return _ShardedBackend(backend, group)


def _merge_classes(parts) -> np.ndarray:
    """Counts of the classes of every rank's (hashes, counts), merged by hash, in ascending
    unsigned hash order."""
    hashes = np.concatenate([np.asarray(h, dtype=np.uint64).reshape(-1, 2) for h, _ in parts])
    counts = np.concatenate([np.asarray(c, dtype=np.int64) for _, c in parts])
    if counts.size == 0:
        return counts
    order = np.lexsort((hashes[:, 1], hashes[:, 0]))
    hashes, counts = hashes[order], counts[order]
    starts = np.flatnonzero(np.r_[True, np.any(hashes[1:] != hashes[:-1], axis=1)])
    return np.add.reduceat(counts, starts)


class _ShardedBackend:
    """A backend whose primitives each rank runs on its shard, summed over the ranks."""

    def __init__(self, backend, group: _Group):
        self.backend = backend
        self.group = group
        self.name = backend.name

    def floats(self, x):
        return self.backend.floats(x)

    def ints(self, x):
        return self.backend.ints(x)

    def _summed(self, op: str, *args):
        self.group.check_same(*args)
        return self.group.sum(getattr(self.backend, op)(*args, shard=self.group.shard))

    def kth_neighbor_distance(self, z, labels, k, metric):
        return self._summed("kth_neighbor_distance", z, labels, k, metric)

    def count_within(self, z, radius, metric):
        return self._summed("count_within", z, radius, metric)

    def knn_loo_maxnorm(self, z, labels, w, k):
        return self._summed("knn_loo_maxnorm", z, labels, w, k)

    def knn_loo_maxnorm_targets(self, z, targets, k):
        return self._summed("knn_loo_maxnorm_targets", z, targets, k)

    def knn_loo_euclidean(self, z, k):
        return self._summed("knn_loo_euclidean", z, k)

    def kde_log_mean_kernel(self, t, labels, sigma2):
        return self._summed("kde_log_mean_kernel", t, labels, sigma2)

    def kde_loo(self, t, labels, n_classes, sigma2):
        return self._summed("kde_loo", t, labels, n_classes, sigma2)

    def binning_loo(self, codes, fixed):
        return self._summed("binning_loo", codes, fixed)

    def pattern_counts(self, codes, fixed):
        self.group.check_same(codes, fixed)
        n, rank, size = codes.shape[0], self.group.rank, self.group.size
        begin, end = n * rank // size, n * (rank + 1) // size
        mine = self.backend.pattern_classes(codes[begin:end],
                                            None if fixed is None else fixed[begin:end])
        return _merge_classes(self.group.gather(tuple(np.asarray(x) for x in mine)))

    def __getattr__(self, op):
        return getattr(self.backend, op)
