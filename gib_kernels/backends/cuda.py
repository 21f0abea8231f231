"""The CUDA backend: the primitives of ``csrc/include/gib/*.h`` on torch CUDA tensors.

The kernels of ``gib_kernels._cuda`` (``csrc/cuda``) read float64/int64 device buffers that this
module allocates through torch, and run on torch's current stream of the data's device. Their
per-pair math is the CPU kernels' own (``common.h``, ``loo_math.h``, in double): max-norm radii
and every count agree exactly with the CPU backend on the same data, Euclidean and KDE values to
rounding (nvcc fuses multiply-adds), and the sums of per-anchor terms (logs, digammas,
log-kernels), taken here in a fixed order, to rounding. Results are deterministic: no atomics.
Data stay float64 on the device: float32 would erase the tie-breaking jitter of the API
(``noise=1e-10``) and split the GPU's neighbours from the CPU's.

Labels: rows are sorted by label (stably) before a launch, so that the candidates of a row are
one contiguous range; per-row results are put back in the caller's order.

Memory: O(n k) for the k-th neighbour lists; the leave-one-out passes run in chunks of anchors
whose lists of the k smallest distances per column and per-anchor terms take about
``scratch_bytes``. Never an n x n matrix.

Binning runs on the torch ops of ``torch_binning``: exact ``torch.unique`` of rows for pattern
counts, and the CPU kernels' 128-bit row hashes for pattern classes and the
leave-one-feature-out sums (the row without column j is one subtraction). Two rows collide with
probability about 2^-128.

Sharding (``shard=(index, count)``, ``common.h``): a shard owns a range of the anchors in the
kernels' order (label order where there are labels) or, for ``binning_loo``, of the columns;
outputs it does not own are 0.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import _ext
from .protocol import shard_of
from .torch_binning import binning_loo, pattern_classes, pattern_counts
from .torch_labels import LabelGroups


def _device_of(x) -> torch.device:
    """The device of CUDA data; the current CUDA device for anything else."""
    if isinstance(x, torch.Tensor) and x.is_cuda:
        return x.device
    return torch.device("cuda", torch.cuda.current_device())


def _on_device(x, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    t = x.detach() if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    return t.to(device=device, dtype=dtype).contiguous()




def _ptr(t: torch.Tensor | None) -> int:
    return 0 if t is None else t.data_ptr()


def _matrix(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D, got {x.dim()}-D")
    return x


def _check_rows(x: torch.Tensor, n: int, name: str) -> None:
    if x.shape[0] != n:
        raise ValueError(f"{name} must have one entry per row of the data ({n}); got {x.shape[0]}")


def _per_row(n: int, part, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A per-row output; a shard's kernel writes only its rows (a view at its first), so the
    others start at 0."""
    return (torch.empty if part.whole else torch.zeros)(n, dtype=dtype, device=device)


def _group_pointers(groups: LabelGroups) -> tuple[int, int]:
    """The kernels' LabelGroups (cuda_utils.cuh): begin and end per sorted row, or nullptrs for
    one group of every row."""
    return (groups.begin.data_ptr(), groups.end.data_ptr()) if groups.has_labels else (0, 0)


def _sum_over_anchors(terms: torch.Tensor, takes_part: torch.Tensor | None) -> torch.Tensor:
    """Per-column sums of terms (columns, anchors) over the anchors that take part."""
    return (terms if takes_part is None else torch.where(takes_part, terms, 0.0)).sum(1)


class CudaBackend:
    """The CUDA kernels over float64/int64 torch tensors on the data's device; every primitive
    returns numpy arrays with the semantics of the CPU primitive of the same name."""

    name = "cuda"
    radius_bound_above = None
    fuses_targets = False  # each target makes its own pass
    shardable = True

    def __init__(self, scratch_bytes: int = 1 << 30, kernels=None, device=None):
        """``kernels``: the extension module of the launchers (default ``gib_kernels._cuda``);
        ``device``: where the data goes (default: the data's CUDA device). The CUDA emulation of
        the tests passes its CPU build of the same kernels and the CPU."""
        self.scratch_bytes = scratch_bytes
        self._k = _ext.cuda if kernels is None else kernels
        self._device = device

    def floats(self, x) -> torch.Tensor:
        return _on_device(x, torch.float64, self._device or _device_of(x))

    def ints(self, x) -> torch.Tensor:
        return _on_device(x, torch.int64, self._device or _device_of(x))

    def _launch_args(self, like: torch.Tensor) -> tuple[int, int]:
        """(device index, stream handle): launches go to torch's current stream on the data's
        device (device 0 and the default stream where the data is on the host)."""
        if like.device.type != "cuda":
            return 0, 0
        return like.device.index, torch.cuda.current_stream(like.device).cuda_stream

    def _chunks(self, first: int, last: int, doubles_per_anchor: int):
        """Ranges [begin, end) of the anchors [first, last) whose scratch fits in scratch_bytes
        (at least one anchor)."""
        if first == last:  # one empty call all the same: its checks must not depend on the shard
            yield first, last
            return
        size = max(1, self.scratch_bytes // (8 * doubles_per_anchor))
        for begin in range(first, last, size):
            yield begin, min(last, begin + size)

    # --- k-NN ------------------------------------------------------------------------------

    def kth_neighbor_distance(self, z, labels, k: int, metric: int, shard=None) -> np.ndarray:
        part = shard_of(shard)
        z = _matrix(self.floats(z), "z")
        n, d = z.shape
        groups = LabelGroups(labels, n, z.device)
        z = groups.sort(z)
        first, last = part.range(n)
        lists = z.new_empty((last - first, k))
        out = _per_row(n, part, torch.float64, z.device)
        self._k.kth_neighbor_distance(_ptr(z), n, d, *_group_pointers(groups), k, metric, first,
                                      last, _ptr(lists), _ptr(out[first:last]),
                                      *self._launch_args(z))
        return groups.unsort(out).cpu().numpy()

    def count_within(self, z, radius, metric: int, shard=None) -> np.ndarray:
        part = shard_of(shard)
        z = _matrix(self.floats(z), "z")
        n, d = z.shape
        radius = _on_device(radius, torch.float64, z.device).reshape(-1)
        _check_rows(radius, n, "radius")
        first, last = part.range(n)
        out = _per_row(n, part, torch.int64, z.device)
        self._k.count_within(_ptr(z), n, d, _ptr(radius), metric, first, last,
                             _ptr(out[first:last]), *self._launch_args(z))
        return out.cpu().numpy()

    def knn_loo_maxnorm_targets(self, z, targets, k: int, shard=None, bound=None) -> np.ndarray:
        """(len(targets), 3, m + 1): ``knn_loo_maxnorm`` for each (labels, w) pair of targets.
        Each target makes its own pass over the pairs of z here."""
        shard_of(shard)  # checked before any data moves
        z = self.floats(z)
        return np.stack([self.knn_loo_maxnorm(z, labels, w, k, shard) for labels, w in targets])

    def knn_loo_maxnorm(self, z, labels, w, k: int, shard=None, bound=None) -> np.ndarray:
        part = shard_of(shard)
        z = _matrix(self.floats(z), "z")
        n, m = z.shape
        if labels is not None and w is not None:
            raise ValueError("give labels or w, not both")
        groups = LabelGroups(labels, n, z.device)
        z = groups.sort(z)
        q = 0
        if w is not None:
            w = _matrix(_on_device(w, torch.float64, z.device), "w")
            _check_rows(w, n, "w")
            q = w.shape[1]
        sums = z.new_zeros((3, m + 1))
        # per anchor and column: k list entries, a radius, two counts, and transient terms
        for begin, end in self._chunks(*part.range(n), (m + 1) * (k + 6)):
            lists = z.new_empty((end - begin, (m + 1) * k))
            radius = z.new_empty((m + 1, end - begin))
            count_z = torch.zeros((m + 1, end - begin), dtype=torch.int64, device=z.device)
            count_w = torch.zeros_like(count_z)
            self._k.knn_loo_maxnorm_radii(_ptr(z), n, m, *_group_pointers(groups), _ptr(w), q, k,
                                          begin, end, _ptr(lists), _ptr(radius),
                                          *self._launch_args(z))
            self._k.knn_loo_maxnorm_counts(_ptr(z), n, m, *_group_pointers(groups), _ptr(w), q,
                                           begin, end, _ptr(radius), _ptr(count_z),
                                           _ptr(count_w), *self._launch_args(z))
            takes_part = None if groups.takes_part is None else groups.takes_part[begin:end]
            sums[0] += _sum_over_anchors(torch.log(radius), takes_part)
            sums[1] += _sum_over_anchors(torch.special.digamma(count_z.double() + 1), takes_part)
            sums[2] += _sum_over_anchors(torch.special.digamma(count_w.double() + 1), takes_part)
        return sums.cpu().numpy()

    def knn_loo_euclidean(self, z, k: int, shard=None) -> np.ndarray:
        part = shard_of(shard)
        z = _matrix(self.floats(z), "z")
        n, m = z.shape
        sums = z.new_zeros(m + 1)
        for begin, end in self._chunks(*part.range(n), (m + 1) * (k + 2)):
            lists = z.new_empty((end - begin, (m + 1) * k))
            kth_squared = z.new_empty((m + 1, end - begin))
            self._k.knn_loo_euclidean(_ptr(z), n, m, k, begin, end, _ptr(lists),
                                      _ptr(kth_squared), *self._launch_args(z))
            sums += 0.5 * torch.log(kth_squared).sum(1)  # log r = log(r^2) / 2
        return sums.cpu().numpy()

    # --- KDE -------------------------------------------------------------------------------

    def kde_log_mean_kernel(self, t, labels, sigma2: float, shard=None) -> np.ndarray:
        part = shard_of(shard)
        t = _matrix(self.floats(t), "t")
        n, d = t.shape
        groups = LabelGroups(labels, n, t.device)
        t = groups.sort(t)
        first, last = part.range(n)
        log_mean = _per_row(n, part, torch.float64, t.device)
        self._k.kde_log_mean_kernel(_ptr(t), n, d, *_group_pointers(groups), sigma2, False, first,
                                    last, _ptr(log_mean[first:last]), *self._launch_args(t))
        return groups.unsort(log_mean).cpu().numpy()

    def kde_loo(self, t, labels, n_classes: int, sigma2: float, shard=None) -> np.ndarray:
        part = shard_of(shard)
        t = _matrix(self.floats(t), "t")
        n, m = t.shape
        groups = LabelGroups(labels, n, t.device)
        if labels is None:
            if n_classes != 1:
                raise ValueError("n_classes must be 1 without labels")
            class_start = [0, n]
        else:
            if n > 0 and not (0 <= int(groups.sorted_labels[0])
                              and int(groups.sorted_labels[-1]) < n_classes):
                raise ValueError("labels must lie in [0, n_classes)")
            bounds = torch.arange(n_classes + 1, device=t.device)
            class_start = torch.searchsorted(groups.sorted_labels, bounds).tolist()
        t = groups.sort(t)
        sums = t.new_zeros((n_classes, m + 1))
        for begin, end in self._chunks(*part.range(n), 2 * (m + 1)):
            log_mean = t.new_zeros((m + 1, end - begin))
            self._k.kde_log_mean_kernel(_ptr(t), n, m, *_group_pointers(groups), sigma2, True,
                                        begin, end, _ptr(log_mean), *self._launch_args(t))
            # The anchors of class c are the sorted rows [class_start[c], class_start[c + 1]).
            for c in range(n_classes):
                lo, hi = max(class_start[c], begin), min(class_start[c + 1], end)
                if lo < hi:
                    sums[c] += log_mean[:, lo - begin:hi - begin].sum(1)
        return sums.cpu().numpy()

    # --- binning ---------------------------------------------------------------------------

    def _codes(self, codes, fixed):
        codes = _matrix(self.ints(codes), "codes")
        if fixed is not None:
            fixed = _matrix(_on_device(fixed, torch.int64, codes.device), "fixed")
            _check_rows(fixed, codes.shape[0], "fixed")
        return codes, fixed

    def pattern_counts(self, codes, fixed) -> np.ndarray:
        codes, fixed = self._codes(codes, fixed)
        rows = codes if fixed is None else torch.cat([codes, fixed], dim=1)
        return pattern_counts(rows).cpu().numpy()

    def pattern_classes(self, codes, fixed) -> tuple[np.ndarray, np.ndarray]:
        """(hashes (classes, 2) uint64, counts (classes,) int64) as the CPU backend's, so that
        classes counted on any backend merge by hash."""
        hashes, counts = pattern_classes(*self._codes(codes, fixed))
        return hashes.cpu().numpy().view(np.uint64), counts.cpu().numpy()

    def binning_loo(self, codes, fixed, shard=None) -> np.ndarray:
        part = shard_of(shard)
        codes, fixed = self._codes(codes, fixed)
        if codes.shape[1] == 0:
            raise ValueError("codes must have at least one column")
        return binning_loo(codes, fixed, part).cpu().numpy()
