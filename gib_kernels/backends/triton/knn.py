"""Exact k-nearest-neighbour statistics in Triton (contract: ``csrc/include/gib/knn.h``): the
distance to the k-th nearest other point and strict radius counts, max-norm or Euclidean, over
float32 data with fp32 arithmetic.

Also the pieces the leave-one-out and KDE kernels share: the tile of reduced pairwise distances,
its error-free squared-Euclidean form, the running top-k merge, label groups as candidate ranges,
the autotuning candidates and the launch helpers.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
import triton
import triton.language as tl

from ..protocol import EUCLIDEAN, MAX, shard_of
from ..torch_labels import LabelGroups
from . import interpreting


def tile_configs() -> list:
    """Autotuning candidates over the tile shape. The interpreter gets one: timing it means
    nothing, and its cost is per operation, so the tile is wide but still leaves several
    programs and several candidate tiles per row on small inputs."""
    if interpreting():
        return [triton.Config({"BLOCK_A": 32, "BLOCK_B": 32}, num_warps=1)]
    # tiles whose pair state (distances, int64 keys) fits the registers without spilling
    return [triton.Config({"BLOCK_A": a, "BLOCK_B": b}, num_warps=w)
            for a, b, w in ((32, 32, 4), (32, 64, 8), (64, 32, 8), (16, 64, 4))]


@triton.jit
def anchor_rows(start, stop, BLOCK_A: tl.constexpr):
    """This program's anchors: BLOCK_A int64 positions from `start`, and which are below `stop`."""
    rows = start + tl.program_id(0).to(tl.int64) * BLOCK_A + tl.arange(0, BLOCK_A)
    return rows, rows < stop


@triton.jit
def candidate_cols(b0, n, BLOCK_B: tl.constexpr):
    cols = (b0 + tl.arange(0, BLOCK_B)).to(tl.int64)
    return cols, cols < n


@triton.jit
def any_true(mask):
    """One flag for the whole program: the branch it guards is uniform across the block."""
    return tl.max(mask.to(tl.int32)) > 0


@triton.jit
def pair_differences(pa, pb, mask_a, mask_b):
    """(BLOCK_A, BLOCK_B) differences x_ac - x_bc of one coordinate, from per-row pointers."""
    xa = tl.load(pa, mask=mask_a, other=0.0)
    xb = tl.load(pb, mask=mask_b, other=0.0)
    return xa[:, None] - xb[None, :]


@triton.jit
def reduced_distance_tile(x_ptr, rows_a, rows_b, mask_a, mask_b, d, stride_n, stride_d,
                           METRIC: tl.constexpr, BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr):
    """(BLOCK_A, BLOCK_B) reduced distances over the d coordinates: max_c |x_ac - x_bc|
    (METRIC 0) or sum_c (x_ac - x_bc)^2 (METRIC 1), both monotone in the true distance."""
    acc = tl.zeros((BLOCK_A, BLOCK_B), tl.float32)
    pa = x_ptr + rows_a * stride_n
    pb = x_ptr + rows_b * stride_n
    for _ in range(d):
        diff = pair_differences(pa, pb, mask_a, mask_b)
        if METRIC == 0:
            acc = tl.maximum(acc, tl.abs(diff))
        else:
            acc += diff * diff
        pa += stride_d
        pb += stride_d
    return acc


@triton.jit
def _add_square(sq_hi, sq_lo, diff):
    """(sq_hi + sq_lo) += diff^2 without rounding loss: the square's error from an fma
    (TwoProd), the addition's from TwoSum, both gathered in sq_lo."""
    sq = diff * diff
    total = sq_hi + sq
    back = total - sq_hi
    err = (sq_hi - (total - back)) + (sq - back)
    return total, sq_lo + err + tl.fma(diff, diff, -sq)


@triton.jit
def compensated_squared_distance_tile(x_ptr, rows_a, rows_b, mask_a, mask_b, d, stride_n,
                                       stride_d, BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr):
    """Squared Euclidean distances as unevaluated sums sq_hi + sq_lo, exact to about eps^2.

    The leave-one-feature-out kernels downdate D2 - (x_aj - x_bj)^2. When column j carries most
    of D2, a plain fp32 D2 would leave eps * D2 of noise in a much smaller result; downdating
    the compensated pair keeps the result accurate to about eps of itself (downdated_square).
    Kernels that use it must launch with enable_fp_fusion=False: a multiply fused into the
    following add changes the roundings that TwoSum and the downdate account for.
    """
    sq_hi = tl.zeros((BLOCK_A, BLOCK_B), tl.float32)
    sq_lo = tl.zeros((BLOCK_A, BLOCK_B), tl.float32)
    pa = x_ptr + rows_a * stride_n
    pb = x_ptr + rows_b * stride_n
    for _ in range(d):
        diff = pair_differences(pa, pb, mask_a, mask_b)
        sq_hi, sq_lo = _add_square(sq_hi, sq_lo, diff)
        pa += stride_d
        pb += stride_d
    return sq_hi, sq_lo


@triton.jit
def downdated_square(sq_hi, sq_lo, diff):
    """(sq_hi + sq_lo) - diff^2 for a diff that is part of the sum: sq_hi - diff^2 is exact when
    it cancels (Sterbenz), and the square's own rounding error comes off sq_lo."""
    sq = diff * diff
    return tl.maximum((sq_hi - sq) + (sq_lo - tl.fma(diff, diff, -sq)), 0.0)


# Top-k lists hold int64 keys that sort like their values and stay distinct under ties:
#   bits(value) << 32 | (tag + 1) << POS_BITS | position.
# A value >= 0 (or +inf) has the int32 bit pattern of the same order; the tag (an arg-max
# coordinate, -1 for none) rides along; the position makes equal values distinct, so that
# removing the minimum removes exactly one copy. EMPTY is +inf with the largest tag.
POS_BITS = tl.constexpr(12)
CLEAR_POS = tl.constexpr(-(1 << 12))
TAG_MASK = tl.constexpr((1 << 20) - 1)
EMPTY = tl.constexpr((0x7F800000 << 32) | ((1 << 20) - 1) << 12)
MAX_TAG = (1 << 20) - 3  # tag + 1 stays below EMPTY's
MAX_K = 1 << 10  # K_PAD + BLOCK_B positions fit in POS_BITS


@triton.jit
def pack(value, tag):
    """Keys of values >= 0 with their tags, position 0; +inf (a masked candidate) is EMPTY."""
    bits = value.to(tl.int32, bitcast=True).to(tl.int64)
    key = (bits << 32) | ((tag + 1).to(tl.int64) << POS_BITS)
    return tl.where(value < float("inf"), key, EMPTY)


@triton.jit
def key_value(key):
    return (key >> 32).to(tl.int32).to(tl.float32, bitcast=True)


@triton.jit
def key_tag(key):
    return ((key >> POS_BITS) & TAG_MASK).to(tl.int32) - 1


@triton.jit
def merge_smallest(top, cand, K_PAD: tl.constexpr, WIDTH: tl.constexpr):
    """The K_PAD smallest keys of each row of the list `top` (K_PAD wide, positions 0..K_PAD-1)
    and of `cand` (WIDTH wide, any positions), ascending, at positions 0..K_PAD-1.

    Repeated minima: the candidates take positions K_PAD.., so the keys of a row are distinct
    (bar EMPTY, which needs no multiplicity) and each step removes exactly one copy of the row's
    smallest value.
    """
    slot = tl.arange(0, K_PAD)[None, :]
    cand = (cand & CLEAR_POS) | (K_PAD + tl.arange(0, WIDTH)[None, :])
    out = top
    for s in tl.static_range(K_PAD):
        low = tl.minimum(tl.min(top, axis=1), tl.min(cand, axis=1))[:, None]
        out = tl.where(slot == s, (low & CLEAR_POS) | s, out)
        top = tl.where(top == low, EMPTY, top)
        cand = tl.where(cand == low, EMPTY, cand)
    return out


@triton.jit
def kth_value(top, rank, K_PAD: tl.constexpr):
    """The value at top[:, rank - 1] of ascending key rows; +inf where rank < 1 (no neighbour)."""
    slot = tl.arange(0, K_PAD)[None, :]
    return key_value(tl.min(tl.where(slot == rank[:, None] - 1, top, EMPTY), axis=1))


@triton.autotune(configs=tile_configs(), key=["METRIC", "K_PAD"])
@triton.jit(do_not_specialize=["n", "d", "k", "start", "stop"])
def _kth_neighbor_kernel(z_ptr, begin_ptr, end_ptr, out_ptr, n, d, k, start, stop, stride_n,
                         stride_d, METRIC: tl.constexpr, K_PAD: tl.constexpr,
                         BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr):
    # The candidates of anchor a are the other points of its label group, the positions
    # [begin_a, end_a) of the label-sorted data, and k drops to the group size - 1 (0: no
    # neighbour, +inf). Reduced distances (the max-norm, the squared Euclidean distance) are
    # monotone in the distance, so the k smallest reduced values end at the k-th neighbour.
    # Each row keeps its K_PAD >= k smallest values so far, sorted; a tile of BLOCK_B candidates
    # is merged in only when one of its values beats a row's current k-th. The anchors are the
    # positions [start, stop).
    rows, mask_a = anchor_rows(start, stop, BLOCK_A)
    begin = tl.load(begin_ptr + rows, mask=mask_a, other=0)
    end = tl.load(end_ptr + rows, mask=mask_a, other=0)
    rank = tl.minimum(end - begin - 1, k)
    top = tl.full((BLOCK_A, K_PAD), EMPTY, tl.int64)
    no_tag = tl.full((BLOCK_A, BLOCK_B), -1, tl.int32)
    kth = tl.full((BLOCK_A,), float("inf"), tl.float32)
    for b0 in range(tl.min(tl.where(mask_a, begin, n)), tl.max(end), BLOCK_B):
        cols, mask_b = candidate_cols(b0, n, BLOCK_B)
        dist = reduced_distance_tile(z_ptr, rows, cols, mask_a, mask_b, d, stride_n, stride_d,
                                      METRIC, BLOCK_A, BLOCK_B)
        candidate = ((cols[None, :] >= begin[:, None]) & (cols[None, :] < end[:, None])
                     & (cols[None, :] != rows[:, None]))
        dist = tl.where(candidate, dist, float("inf"))
        if any_true(dist < kth[:, None]):
            top = merge_smallest(top, pack(dist, no_tag), K_PAD, BLOCK_B)
            kth = kth_value(top, rank, K_PAD)
    if METRIC == 1:
        kth = tl.sqrt_rn(kth)
    tl.store(out_ptr + rows, kth, mask=mask_a)


@triton.autotune(configs=tile_configs(), key=["METRIC"])
@triton.jit(do_not_specialize=["n", "d", "start", "stop"])
def _count_within_kernel(z_ptr, radius_ptr, out_ptr, n, d, start, stop, stride_n, stride_d,
                         METRIC: tl.constexpr, BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr):
    # out_a = #{b != a : dist(z_a, z_b) < radius_a}, strict. The Euclidean distance is the
    # correctly rounded sqrt of the squared one, as the k-th neighbour kernel returns it, so a
    # radius from that kernel never counts its own neighbour. The anchors are [start, stop).
    rows, mask_a = anchor_rows(start, stop, BLOCK_A)
    radius = tl.load(radius_ptr + rows, mask=mask_a, other=0.0)[:, None]
    count = tl.zeros((BLOCK_A,), tl.int32)
    for b0 in range(0, n, BLOCK_B):
        cols, mask_b = candidate_cols(b0, n, BLOCK_B)
        dist = reduced_distance_tile(z_ptr, rows, cols, mask_a, mask_b, d, stride_n, stride_d,
                                      METRIC, BLOCK_A, BLOCK_B)
        if METRIC == 1:
            dist = tl.sqrt_rn(dist)
        within = (dist < radius) & mask_b[None, :] & (cols[None, :] != rows[:, None])
        count += tl.sum(within.to(tl.int32), axis=1)
    tl.store(out_ptr + rows, count, mask=mask_a)


# --- host side --------------------------------------------------------------------------------


def require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def check_k(k: int, n: int) -> None:
    require(k >= 1 and (n == 0 or k < n), "k must be >= 1 and smaller than the number of samples")
    require(k <= MAX_K, f"the Triton kernels keep the k nearest in registers: k must be <= {MAX_K}")


def on_device(t: torch.Tensor):
    """Launch on the tensor's own GPU (and its current stream), whatever the current device."""
    return torch.cuda.device(t.device) if t.is_cuda else contextlib.nullcontext()


def anchor_grid(count: int):
    return lambda meta: (triton.cdiv(count, meta["BLOCK_A"]),)


def numpy_of(t: torch.Tensor, dtype) -> np.ndarray:
    return t.detach().to("cpu", dtype).numpy()


def anchor_buffer(n: int, start: int, stop: int, dtype, device) -> torch.Tensor:
    """Per-anchor output of n entries: a sharded launch writes [start, stop), the rest stays 0."""
    whole = start == 0 and stop == n
    return (torch.empty if whole else torch.zeros)(n, dtype=dtype, device=device)


def kth_neighbor_distance(z, labels, k: int, metric: int, shard=None) -> np.ndarray:
    """out[i] = distance from z_i to its k-th nearest other point (among its own label's points
    with labels, k lowered to their number; +inf with none). float64, original order. A shard
    owns a range of the label-sorted positions; the other entries are 0."""
    part = shard_of(shard)
    z = torch.as_tensor(z, dtype=torch.float32)
    require(z.dim() == 2, "z must be 2-D")
    require(metric in (MAX, EUCLIDEAN), "metric must be 0 (max-norm) or 1 (Euclidean)")
    n, d = z.shape
    check_k(k, n)
    if n == 0:
        return np.empty(0)
    groups = LabelGroups(labels, n, z.device)
    zs = groups.sort(z)
    start, stop = part.range(n)
    out = anchor_buffer(n, start, stop, torch.float32, z.device)
    if start < stop:
        with on_device(z):
            _kth_neighbor_kernel[anchor_grid(stop - start)](
                zs, groups.begin, groups.end, out, n, d, k, start, stop, zs.stride(0),
                zs.stride(1), METRIC=metric, K_PAD=triton.next_power_of_2(k))
    return numpy_of(groups.unsort(out), torch.float64)


def count_within(z, radius, metric: int, shard=None) -> np.ndarray:
    """out[i] = #{j != i : dist(z_i, z_j) < radius[i]}, int64. A shard owns a range of the
    points; the other entries are 0."""
    part = shard_of(shard)
    z = torch.as_tensor(z, dtype=torch.float32)
    require(z.dim() == 2, "z must be 2-D")
    require(metric in (MAX, EUCLIDEAN), "metric must be 0 (max-norm) or 1 (Euclidean)")
    n, d = z.shape
    radius = torch.as_tensor(radius, dtype=torch.float32, device=z.device)
    require(radius.shape == (n,), "radius must have one entry per row of z")
    if n == 0:
        return np.empty(0, dtype=np.int64)
    start, stop = part.range(n)
    out = anchor_buffer(n, start, stop, torch.int64, z.device)
    if start < stop:
        with on_device(z):
            _count_within_kernel[anchor_grid(stop - start)](
                z, radius.contiguous(), out, n, d, start, stop, z.stride(0), z.stride(1),
                METRIC=metric)
    return numpy_of(out, torch.int64)
