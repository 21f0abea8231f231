"""Fused leave-one-feature-out k-NN statistics in Triton (contract:
``csrc/include/gib/knn_loo.h``): for every column j of z, the radii and neighbour counts of the
estimate over z without column j, for about the cost of one estimate.

The kernels return per-(anchor, column) radii and counts; the wrappers add their logs and
digammas over the anchors in float64. Scratch for the per-column top-k lists is bounded: the
anchors go through in chunks of at most ``SCRATCH_KEYS`` keys.
"""
from __future__ import annotations

import numpy as np
import torch
import triton
import triton.language as tl

from ..protocol import shard_of
from ..torch_labels import LabelGroups
from .knn import (
    EMPTY,
    MAX_TAG,
    anchor_grid,
    anchor_rows,
    any_true,
    candidate_cols,
    check_k,
    compensated_squared_distance_tile,
    downdated_square,
    key_tag,
    key_value,
    kth_value,
    merge_smallest,
    numpy_of,
    on_device,
    pair_differences,
    pack,
    reduced_distance_tile,
    require,
    tile_configs,
)

# int64 keys of per-(anchor, column) top-k scratch per launch (64 MiB); more anchors than fit
# go through in chunks.
SCRATCH_KEYS = 1 << 23


@triton.jit
def _max2_tile(z_ptr, rows_a, rows_b, mask_a, mask_b, m, stride_n, stride_d,
               BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr):
    """Per pair (max1, arg-max, max2) of |z_ac - z_bc| over the m columns, as gib::max2_update:
    ties keep the first arg-max and set max2 = max1, so the distance without column j is
    max2 if j is the arg-max, else max1, exactly. All-equal pairs keep arg-max -1."""
    max1 = tl.zeros((BLOCK_A, BLOCK_B), tl.float32)
    max2 = tl.zeros((BLOCK_A, BLOCK_B), tl.float32)
    arg = tl.full((BLOCK_A, BLOCK_B), -1, tl.int32)
    pa = z_ptr + rows_a * stride_n
    pb = z_ptr + rows_b * stride_n
    for c in range(m):
        v = tl.abs(pair_differences(pa, pb, mask_a, mask_b))
        above = v > max1
        max2 = tl.where(above, max1, tl.maximum(max2, v))
        max1 = tl.where(above, v, max1)
        arg = tl.where(above, c, arg)
        pa += stride_d
        pb += stride_d
    return max1, arg, max2


@triton.jit
def _target_tile(w_ptr, rows_a, rows_b, mask_a, mask_b, q, stride_n, stride_d,
                 HAS_W: tl.constexpr, BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr):
    """Max-norm distances in w (KSG's joint space), or 0 without w."""
    t = tl.zeros((BLOCK_A, BLOCK_B), tl.float32)
    if HAS_W:
        t = reduced_distance_tile(w_ptr, rows_a, rows_b, mask_a, mask_b, q, stride_n, stride_d,
                                   0, BLOCK_A, BLOCK_B)
    return t


@triton.autotune(configs=tile_configs(), key=["HAS_W", "K_PAD"])
@triton.jit(do_not_specialize=["n", "m", "q", "k", "start", "stop"])
def _maxnorm_radii_kernel(z_ptr, w_ptr, begin_ptr, end_ptr, drops_ptr, radii_ptr,
                          n, m, q, k, start, stop, stride_zn, stride_zd, stride_wn, stride_wd,
                          HAS_W: tl.constexpr, K_PAD: tl.constexpr,
                          BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr):
    # Per anchor a and candidate b (b != a, in a's label group [begin_a, end_a)): the pair
    # state (max1_b, arg_b, max2_b) over the m columns, the target distance t_b (max-norm in
    # w, else 0), the joint distance J_b = max(max1_b, t_b) and r = the k-th smallest J_b, k
    # lowered to the group size - 1. Without column j only the candidates with arg_b == j move,
    # down to max(max2_b, t_b); so r_j <= r, and with L the K_PAD >= k smallest J_b (each with
    # its arg_b) and D_j = {max(max2_b, t_b) <= r : arg_b == j}:
    #     r_j = the k-th smallest of {J_b : b in L, arg_b != j} united with D_j.
    # Every b outside L has J_b >= r, while the union holds k values <= r (the first k of L,
    # those with arg j moved to D_j), so nothing outside can come before its k-th; for the same
    # reason only the K_PAD smallest of each D_j matter. One pass keeps L in registers and the
    # smallest of every D_j in per-(anchor, j) scratch; a candidate feeds only the D_j of its
    # own arg-max, and only when it is within the running k-th of J, an upper bound on r.
    # radii[a - start, j] = r_j, radii[a - start, m] = r.
    rows, mask_a = anchor_rows(start, stop, BLOCK_A)
    begin = tl.load(begin_ptr + rows, mask=mask_a, other=0)
    end = tl.load(end_ptr + rows, mask=mask_a, other=0)
    rank = tl.minimum(end - begin - 1, k)
    slot = tl.arange(0, K_PAD)[None, :]
    drop_rows = drops_ptr + ((rows - start) * m * K_PAD)[:, None] + slot
    for j in range(m):
        tl.store(drop_rows + j * K_PAD, tl.full((BLOCK_A, K_PAD), EMPTY, tl.int64),
                 mask=mask_a[:, None])
    tl.debug_barrier()

    top = tl.full((BLOCK_A, K_PAD), EMPTY, tl.int64)
    kth = tl.full((BLOCK_A,), float("inf"), tl.float32)
    no_tag = tl.full((BLOCK_A, BLOCK_B), -1, tl.int32)
    for b0 in range(tl.min(tl.where(mask_a, begin, n)), tl.max(end), BLOCK_B):
        cols, mask_b = candidate_cols(b0, n, BLOCK_B)
        valid = ((cols[None, :] >= begin[:, None]) & (cols[None, :] < end[:, None])
                 & (cols[None, :] != rows[:, None]))
        max1, arg, max2 = _max2_tile(z_ptr, rows, cols, mask_a, mask_b, m, stride_zn, stride_zd,
                                     BLOCK_A, BLOCK_B)
        t = _target_tile(w_ptr, rows, cols, mask_a, mask_b, q, stride_wn, stride_wd, HAS_W,
                         BLOCK_A, BLOCK_B)
        joint = tl.where(valid, tl.maximum(max1, t), float("inf"))
        if any_true(joint < kth[:, None]):
            top = merge_smallest(top, pack(joint, arg), K_PAD, BLOCK_B)
            kth = kth_value(top, rank, K_PAD)
        moved = tl.maximum(max2, t)
        dropped = tl.where(valid & (arg >= 0) & (moved <= kth[:, None]), moved, float("inf"))
        if any_true(dropped < float("inf")):
            for j in range(m):
                mine = tl.where(arg == j, dropped, float("inf"))
                if any_true(mine < float("inf")):
                    d_j = tl.load(drop_rows + j * K_PAD, mask=mask_a[:, None], other=EMPTY)
                    d_j = merge_smallest(d_j, pack(mine, no_tag), K_PAD, BLOCK_B)
                    tl.store(drop_rows + j * K_PAD, d_j, mask=mask_a[:, None])
                    tl.debug_barrier()

    radii_rows = radii_ptr + (rows - start) * (m + 1)
    tl.store(radii_rows + m, kth, mask=mask_a)
    for j in range(m):
        kept = tl.where(key_tag(top) == j, EMPTY, top)
        d_j = tl.load(drop_rows + j * K_PAD, mask=mask_a[:, None], other=EMPTY)
        r_j = kth_value(merge_smallest(kept, d_j, K_PAD, K_PAD), rank, K_PAD)
        tl.store(radii_rows + j, r_j, mask=mask_a)


@triton.autotune(configs=tile_configs(), key=["HAS_W"])
@triton.jit(do_not_specialize=["n", "m", "q", "start", "stop"])
def _maxnorm_counts_kernel(z_ptr, w_ptr, radii_ptr, count_z_ptr, count_w_ptr, n, m, q, start,
                           stop, stride_zn, stride_zd, stride_wn, stride_wd,
                           HAS_W: tl.constexpr, BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr):
    # count_z[a, j] = #{b != a : D_z^-j(a, b) < r_j}, all labels, with D_z^-j = max2 when
    # arg == j, else max1 (column m: max1); count_w[a, j] = #{b != a : t_b < r_j}. Since
    # D_z^-j >= max2 and r_j <= r = radii[a, m], a tile with no max2 (and no t) below r
    # cannot count for any column and is skipped. Anchors [start, stop); row a - start of
    # radii, count_z and count_w is anchor a's.
    rows, mask_a = anchor_rows(start, stop, BLOCK_A)
    width = m + 1
    out_rows = (rows - start) * width
    for j in range(width):
        tl.store(count_z_ptr + out_rows + j, tl.zeros((BLOCK_A,), tl.int32), mask=mask_a)
        if HAS_W:
            tl.store(count_w_ptr + out_rows + j, tl.zeros((BLOCK_A,), tl.int32), mask=mask_a)
    tl.debug_barrier()
    r = tl.load(radii_ptr + out_rows + m, mask=mask_a, other=0.0)
    for b0 in range(0, n, BLOCK_B):
        cols, mask_b = candidate_cols(b0, n, BLOCK_B)
        valid = mask_a[:, None] & mask_b[None, :] & (cols[None, :] != rows[:, None])
        max1, arg, max2 = _max2_tile(z_ptr, rows, cols, mask_a, mask_b, m, stride_zn, stride_zd,
                                     BLOCK_A, BLOCK_B)
        t = _target_tile(w_ptr, rows, cols, mask_a, mask_b, q, stride_wn, stride_wd, HAS_W,
                         BLOCK_A, BLOCK_B)
        lowest = max2
        if HAS_W:
            lowest = tl.minimum(max2, t)
        if any_true(valid & (lowest < r[:, None])):
            for j in range(width):
                r_j = tl.load(radii_ptr + out_rows + j, mask=mask_a, other=0.0)[:, None]
                within = valid & (tl.where(arg == j, max2, max1) < r_j)
                c_z = tl.load(count_z_ptr + out_rows + j, mask=mask_a, other=0)
                tl.store(count_z_ptr + out_rows + j, c_z + tl.sum(within.to(tl.int32), axis=1),
                         mask=mask_a)
                if HAS_W:
                    c_w = tl.load(count_w_ptr + out_rows + j, mask=mask_a, other=0)
                    tl.store(count_w_ptr + out_rows + j,
                             c_w + tl.sum((valid & (t < r_j)).to(tl.int32), axis=1), mask=mask_a)
            tl.debug_barrier()


@triton.jit
def _offer(column, sq, k, mask_a, K_PAD: tl.constexpr, BLOCK_A: tl.constexpr,
           BLOCK_B: tl.constexpr):
    """Merges a tile of squared distances into one column's lists of the K_PAD smallest
    (`column`: a pointer per anchor to its list), when the tile beats a row's k-th."""
    kth = key_value(tl.load(column + k - 1, mask=mask_a, other=EMPTY))
    if any_true(sq < kth[:, None]):
        lists = column[:, None] + tl.arange(0, K_PAD)[None, :]
        nearest = tl.load(lists, mask=mask_a[:, None], other=EMPTY)
        no_tag = tl.full((BLOCK_A, BLOCK_B), -1, tl.int32)
        tl.store(lists, merge_smallest(nearest, pack(sq, no_tag), K_PAD, BLOCK_B),
                 mask=mask_a[:, None])
        tl.debug_barrier()


@triton.autotune(configs=tile_configs(), key=["K_PAD"])
@triton.jit(do_not_specialize=["n", "m", "k", "start", "stop"])
def _euclidean_kernel(z_ptr, nearest_ptr, out_ptr, n, m, k, start, stop, stride_n, stride_d,
                      K_PAD: tl.constexpr, BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr):
    # D2_-j(a, b) = D2(a, b) - (z_aj - z_bj)^2: one compensated D2 per pair, then a rank-one
    # downdate per column, exact to about eps of the result however much column j dominates.
    # Each (anchor, column) keeps its K_PAD smallest downdated squares in scratch, column m
    # those of D2 itself. out[a - start, j] = the k-th smallest D2_-j over b != a.
    rows, mask_a = anchor_rows(start, stop, BLOCK_A)
    width = m + 1
    slot = tl.arange(0, K_PAD)[None, :]
    base = nearest_ptr + (rows - start) * width * K_PAD
    for j in range(width):
        tl.store(base[:, None] + j * K_PAD + slot, tl.full((BLOCK_A, K_PAD), EMPTY, tl.int64),
                 mask=mask_a[:, None])
    tl.debug_barrier()
    for b0 in range(0, n, BLOCK_B):
        cols, mask_b = candidate_cols(b0, n, BLOCK_B)
        valid = mask_a[:, None] & mask_b[None, :] & (cols[None, :] != rows[:, None])
        sq_hi, sq_lo = compensated_squared_distance_tile(z_ptr, rows, cols, mask_a, mask_b, m,
                                                          stride_n, stride_d, BLOCK_A, BLOCK_B)
        pa = z_ptr + rows * stride_n
        pb = z_ptr + cols * stride_n
        for j in range(m):
            diff = pair_differences(pa, pb, mask_a, mask_b)
            sq = tl.where(valid, downdated_square(sq_hi, sq_lo, diff), float("inf"))
            _offer(base + j * K_PAD, sq, k, mask_a, K_PAD, BLOCK_A, BLOCK_B)
            pa += stride_d
            pb += stride_d
        _offer(base + m * K_PAD, tl.where(valid, sq_hi + sq_lo, float("inf")), k, mask_a, K_PAD,
               BLOCK_A, BLOCK_B)
    for j in range(width):
        kth = key_value(tl.load(base + j * K_PAD + k - 1, mask=mask_a, other=EMPTY))
        tl.store(out_ptr + (rows - start) * width + j, kth, mask=mask_a)


# --- host side --------------------------------------------------------------------------------


def _anchor_chunks(first: int, last: int, keys_per_anchor: int):
    """[start, stop) ranges of the anchors [first, last) whose scratch fits SCRATCH_KEYS."""
    chunk = max(1, min(last - first, SCRATCH_KEYS // max(1, keys_per_anchor)))
    return [(start, min(last, start + chunk)) for start in range(first, last, chunk)], chunk


def _check_z(z, k):
    z = torch.as_tensor(z, dtype=torch.float32)
    require(z.dim() == 2, "z must be 2-D")
    n, m = z.shape
    require(m >= 1, "z must have at least one column")
    check_k(k, n)
    require(k < n, "k must be >= 1 and smaller than the number of samples")
    return z, n, m


def knn_loo_maxnorm(z, labels, w, k: int, shard=None) -> np.ndarray:
    """(3, m + 1) float64: sum_i log r_i, sum_i psi(c_z(i) + 1), sum_i psi(c_w(i) + 1) over z
    without column j (column j < m) and over all of z (column m); layout of knn_loo.h. A shard
    sums over a range of the label-sorted anchors."""
    part = shard_of(shard)
    z, n, m = _check_z(z, k)
    require(m <= MAX_TAG, f"z must have at most {MAX_TAG} columns")
    require(labels is None or w is None, "give labels or w, not both")
    groups = LabelGroups(labels, n, z.device)
    zs = groups.sort(z)  # the sums do not depend on the order of the anchors
    has_w = w is not None
    if has_w:
        w = torch.as_tensor(w, dtype=torch.float32, device=z.device)
        require(w.dim() == 2 and w.shape[0] == n, "w must have one row per row of z")
    ws = w if has_w else zs
    k_pad = triton.next_power_of_2(k)
    first, last = part.range(n)
    if first == last:
        return np.zeros((3, m + 1))
    # rows of the shard's anchors only
    radii = torch.empty((last - first, m + 1), dtype=torch.float32, device=z.device)
    chunks, chunk = _anchor_chunks(first, last, m * k_pad)
    drops = torch.empty(chunk * m * k_pad, dtype=torch.int64, device=z.device)
    count_z = torch.empty((last - first, m + 1), dtype=torch.int32, device=z.device)
    count_w = torch.empty_like(count_z) if has_w else torch.zeros_like(count_z)
    with on_device(z):
        for start, stop in chunks:
            _maxnorm_radii_kernel[anchor_grid(stop - start)](
                zs, ws, groups.begin, groups.end, drops, radii[start - first:], n, m,
                ws.shape[1], k, start, stop, zs.stride(0), zs.stride(1), ws.stride(0),
                ws.stride(1), HAS_W=has_w, K_PAD=k_pad)
        _maxnorm_counts_kernel[anchor_grid(last - first)](
            zs, ws, radii, count_z, count_w, n, m, ws.shape[1], first, last,
            zs.stride(0), zs.stride(1), ws.stride(0), ws.stride(1), HAS_W=has_w)
    sums = torch.stack([
        torch.log(radii.double()).sum(0),
        torch.special.digamma(count_z.double() + 1).sum(0),
        torch.special.digamma(count_w.double() + 1).sum(0),
    ])
    return numpy_of(sums, torch.float64)


def knn_loo_euclidean(z, k: int, shard=None) -> np.ndarray:
    """(m + 1,) float64: sum_i log r_i with r_i the k-th Euclidean distance over z without
    column j (column j < m) and over all of z (column m). A shard sums over a range of the
    anchors."""
    part = shard_of(shard)
    z, n, m = _check_z(z, k)
    k_pad = triton.next_power_of_2(k)
    first, last = part.range(n)
    if first == last:
        return np.zeros(m + 1)
    kth_sq = torch.empty((last - first, m + 1), dtype=torch.float32, device=z.device)
    chunks, chunk = _anchor_chunks(first, last, (m + 1) * k_pad)
    nearest = torch.empty(chunk * (m + 1) * k_pad, dtype=torch.int64, device=z.device)
    with on_device(z):
        for start, stop in chunks:
            _euclidean_kernel[anchor_grid(stop - start)](
                z, nearest, kth_sq[start - first:], n, m, k, start, stop, z.stride(0),
                z.stride(1), K_PAD=k_pad,
                enable_fp_fusion=False)  # a fused multiply-add would break the compensation
    # log r = log sqrt(D2), in float64 so that integer D2 give the exact CPU sums
    return numpy_of(0.5 * torch.log(kth_sq.double()).sum(0), torch.float64)
