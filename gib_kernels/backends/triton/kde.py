"""Kolchinsky-Tracey pairwise-distance (KDE) sums in Triton (contract: ``csrc/include/gib/kde.h``):
the per-anchor log-mean Gaussian kernel and its leave-one-feature-out class sums.

The kernels add exp(-||t_a - t_b||^2 / (2 sigma2)) over the candidates in fp32; the wrappers take
the logs and the class sums in float64.
"""
from __future__ import annotations

import numpy as np
import torch
import triton
import triton.language as tl

from ..protocol import shard_of
from ..torch_labels import LabelGroups
from .knn import (
    anchor_grid,
    anchor_rows,
    candidate_cols,
    compensated_squared_distance_tile,
    downdated_square,
    numpy_of,
    on_device,
    pair_differences,
    reduced_distance_tile,
    require,
    tile_configs,
)


@triton.jit
def _first_tile(begin, mask_a, n, BLOCK_B: tl.constexpr):
    """Start of the candidate tiles of a block: a multiple of BLOCK_B, so that every anchor sums
    its candidates in the same tiles (and so to the same fp32 value) whichever anchors share
    its block, as they do not across shards."""
    return tl.min(tl.where(mask_a, begin, n)) // BLOCK_B * BLOCK_B


@triton.jit
def _group_kernel_sum(sq, member, neg_half_inv_sigma2):
    """Per anchor row: sum_b exp(-sq_ab / (2 sigma2)) over the members b of its group."""
    return tl.sum(tl.where(member, tl.exp(sq * neg_half_inv_sigma2), 0.0), axis=1)


@triton.autotune(configs=tile_configs(), key=[])
@triton.jit(do_not_specialize=["n", "d", "start", "stop"])
def _gaussian_sums_kernel(t_ptr, begin_ptr, end_ptr, out_ptr, n, d, start, stop,
                          neg_half_inv_sigma2, stride_n, stride_d, BLOCK_A: tl.constexpr,
                          BLOCK_B: tl.constexpr):
    # out_a = sum_{b in [begin_a, end_a)} exp(-||t_a - t_b||^2 / (2 sigma2)), b = a included:
    # a's label group of the label-sorted data (every point without labels). Each exponent is
    # <= 0 and the self term is 1, so the fp32 sum lies in [1, group size] and needs no shift.
    # The anchors are the positions [start, stop).
    rows, mask_a = anchor_rows(start, stop, BLOCK_A)
    begin = tl.load(begin_ptr + rows, mask=mask_a, other=0)
    end = tl.load(end_ptr + rows, mask=mask_a, other=0)
    acc = tl.zeros((BLOCK_A,), tl.float32)
    for b0 in range(_first_tile(begin, mask_a, n, BLOCK_B), tl.max(end), BLOCK_B):
        cols, mask_b = candidate_cols(b0, n, BLOCK_B)
        sq = reduced_distance_tile(t_ptr, rows, cols, mask_a, mask_b, d, stride_n, stride_d, 1,
                                    BLOCK_A, BLOCK_B)
        member = (cols[None, :] >= begin[:, None]) & (cols[None, :] < end[:, None])
        acc += _group_kernel_sum(sq, member, neg_half_inv_sigma2)
    tl.store(out_ptr + rows, acc, mask=mask_a)


@triton.jit
def _add_column(sums, sq, member, neg_half_inv_sigma2, mask_a):
    """sums[a] += sum_b exp(-sq_ab / (2 sigma2)) over the members b of a's group."""
    part = _group_kernel_sum(sq, member, neg_half_inv_sigma2)
    tl.store(sums, tl.load(sums, mask=mask_a, other=0.0) + part, mask=mask_a)


@triton.autotune(configs=tile_configs(), key=[])
@triton.jit(do_not_specialize=["n", "m", "start", "stop"])
def _loo_gaussian_sums_kernel(t_ptr, begin_ptr, end_ptr, sums_ptr, n, m, start, stop,
                              neg_half_inv_sigma2, stride_n, stride_d, BLOCK_A: tl.constexpr,
                              BLOCK_B: tl.constexpr):
    # sums[a, j] = the kernel sum above over T_-j, with ||t_a - t_b||^2 - (t_aj - t_bj)^2 as
    # the squared distance; sums[a, m] over all of t. One compensated squared distance per
    # pair, then a downdate per column, exact to about eps of itself even when column j holds
    # nearly all of the distance (where a plain fp32 downdate would leave eps * D2 / sigma2 of
    # error in the exponent). Each program owns its anchors' rows of sums: anchors [start, stop),
    # anchor a's row a - start.
    rows, mask_a = anchor_rows(start, stop, BLOCK_A)
    begin = tl.load(begin_ptr + rows, mask=mask_a, other=0)
    end = tl.load(end_ptr + rows, mask=mask_a, other=0)
    out_rows = sums_ptr + (rows - start) * (m + 1)
    for j in range(m + 1):
        tl.store(out_rows + j, tl.zeros((BLOCK_A,), tl.float32), mask=mask_a)
    tl.debug_barrier()
    for b0 in range(_first_tile(begin, mask_a, n, BLOCK_B), tl.max(end), BLOCK_B):
        cols, mask_b = candidate_cols(b0, n, BLOCK_B)
        member = (cols[None, :] >= begin[:, None]) & (cols[None, :] < end[:, None])
        sq_hi, sq_lo = compensated_squared_distance_tile(t_ptr, rows, cols, mask_a, mask_b, m,
                                                          stride_n, stride_d, BLOCK_A, BLOCK_B)
        pa = t_ptr + rows * stride_n
        pb = t_ptr + cols * stride_n
        for j in range(m):
            diff = pair_differences(pa, pb, mask_a, mask_b)
            _add_column(out_rows + j, downdated_square(sq_hi, sq_lo, diff), member,
                        neg_half_inv_sigma2, mask_a)
            pa += stride_d
            pb += stride_d
        _add_column(out_rows + m, sq_hi + sq_lo, member, neg_half_inv_sigma2, mask_a)
        tl.debug_barrier()


# --- host side --------------------------------------------------------------------------------


def _prepare(t, labels, sigma2: float):
    """t as float32, its label groups, t in label order, and the exponent's factor."""
    t = torch.as_tensor(t, dtype=torch.float32)
    require(t.dim() == 2, "t must be 2-D")
    require(sigma2 > 0, "sigma2 must be > 0")
    groups = LabelGroups(labels, t.shape[0], t.device)
    return t, groups, groups.sort(t), -0.5 / sigma2


def _log_mean(sums: torch.Tensor, groups: LabelGroups, start: int, stop: int) -> torch.Tensor:
    """log((1/N_a) sum) per row of the anchors [start, stop): float64 logs of the fp32 kernel
    sums, N_a = a's group size."""
    log_size = torch.log((groups.end[start:stop] - groups.begin[start:stop]).double())
    return torch.log(sums.double()) - (log_size[:, None] if sums.dim() == 2 else log_size)


def kde_log_mean_kernel(t, labels, sigma2: float, shard=None) -> np.ndarray:
    """out (n,) float64: L_a = log((1/N_a) sum_{b in C(a)} exp(-||t_a - t_b||^2 / (2 sigma2))).
    A shard owns a range of the label-sorted positions; the other entries are 0."""
    part = shard_of(shard)
    t, groups, ts, scale = _prepare(t, labels, sigma2)
    n, d = t.shape
    if n == 0:
        return np.empty(0)
    start, stop = part.range(n)
    sums = torch.empty(n, dtype=torch.float32, device=t.device)
    log_mean = torch.zeros(n, dtype=torch.float64, device=t.device)
    if start < stop:
        with on_device(t):
            _gaussian_sums_kernel[anchor_grid(stop - start)](
                ts, groups.begin, groups.end, sums, n, d, start, stop, scale, ts.stride(0),
                ts.stride(1))
        log_mean[start:stop] = _log_mean(sums[start:stop], groups, start, stop)
    return numpy_of(groups.unsort(log_mean), torch.float64)


def kde_loo(t, labels, n_classes: int, sigma2: float, shard=None) -> np.ndarray:
    """out (n_classes, m + 1) float64: out[c, j] = sum of L_a over the anchors of class c, over
    t without column j (j < m) or all of t (j = m). A shard sums over a range of the
    label-sorted anchors."""
    part = shard_of(shard)
    t, groups, ts, scale = _prepare(t, labels, sigma2)
    n, m = t.shape
    require(m >= 1, "t must have at least one column")
    if labels is None:
        require(n_classes == 1, "n_classes must be 1 without labels")
    else:
        require(n_classes >= 1, "n_classes must be >= 1")
        lowest, highest = (int(groups.sorted_labels[i]) for i in (0, -1)) if n else (0, 0)
        require(0 <= lowest and highest < n_classes, "labels must lie in [0, n_classes)")
    out = np.zeros((n_classes, m + 1))
    start, stop = part.range(n)
    if start == stop:
        return out
    sums = torch.empty((stop - start, m + 1), dtype=torch.float32, device=t.device)
    with on_device(t):
        _loo_gaussian_sums_kernel[anchor_grid(stop - start)](
            ts, groups.begin, groups.end, sums, n, m, start, stop, scale, ts.stride(0),
            ts.stride(1),
            enable_fp_fusion=False)  # a fused multiply-add would break the compensation
    # unbuffered adds in anchor order: deterministic, unlike atomics on the device
    np.add.at(out, numpy_of(groups.sorted_labels[start:stop], torch.int64),
              numpy_of(_log_mean(sums, groups, start, stop), torch.float64))
    return out
