"""Plug-in entropy of discrete patterns with torch operations on the data's device (contract:
``csrc/include/gib/binning.h``), shared by the CUDA and Triton backends.

Pattern counts sort the rows themselves (exact). Pattern classes and the leave-one-out sums use
the CPU kernels' 128-bit row hashes (``CellHasher`` of ``csrc/cpu/binning_cpu.cpp``): per lane,
h = sum_c mix64(key[c] ^ code_c) mod 2^64 with key[c] from splitmix64, fixed columns numbered
after the codes' columns. The hashes are bit for bit the CPU's, so classes counted on any
backend merge by hash; the row without column j is h minus its cell, so the leave-one-out sums
take m sorts of n hash pairs instead of m sorts of n rows. torch has no uint64 arithmetic:
int64 holds the same bits, and its additions and multiplications wrap mod 2^64 alike.
"""
from __future__ import annotations

import torch

from .protocol import Shard

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # splitmix64's increment
_LANE_SEEDS = (0x243F6A8885A308D3, 0x13198A2E03707344)  # kSeedA, kSeedB


def _int64(value: int) -> int:
    """An unsigned 64-bit constant as the int64 with the same bits."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


_SIGN = _int64(1 << 63)


def _shift_right(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (>> on int64 is arithmetic)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def _mix64(x: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser, a bijection of 64-bit words."""
    x = (x ^ _shift_right(x, 30)) * _int64(0xBF58476D1CE4E5B9)
    x = (x ^ _shift_right(x, 27)) * _int64(0x94D049BB133111EB)
    return x ^ _shift_right(x, 31)


def _cell_hashes(values: torch.Tensor, first_column: int) -> torch.Tensor:
    """(2, n, w): per lane mix64(key[c] ^ v) of every cell of values (n, w), whose columns are
    numbered from first_column."""
    column = torch.arange(first_column + 1, first_column + 1 + values.shape[1],
                          device=values.device)
    keys = torch.stack([_mix64(column * _int64(_GOLDEN) + _int64(seed)) for seed in _LANE_SEEDS])
    return _mix64(keys[:, None, :] ^ values[None])


def row_hashes(codes: torch.Tensor, fixed: torch.Tensor | None):
    """(cells (2, n, m) of codes, rows (2, n)): the cell hashes of codes and the row hashes of
    [codes, fixed], int64 bit patterns of the CPU's uint64 lanes."""
    cells = _cell_hashes(codes, 0)
    rows = cells.sum(2)  # int64 sums wrap: arithmetic mod 2^64
    if fixed is not None:
        rows = rows + _cell_hashes(fixed, codes.shape[1]).sum(2)
    return cells, rows


def _classes(row_hashes_: torch.Tensor):
    """(hashes (classes, 2), counts) of the classes of equal (lane a, lane b) rows of (2, n), in
    ascending unsigned order: flipping the sign bits makes int64 order the unsigned order."""
    flipped = (row_hashes_ ^ _SIGN).T
    hashes, counts = torch.unique(flipped, dim=0, return_counts=True)
    return hashes ^ _SIGN, counts


def _sum_c_log_c(row_hashes_: torch.Tensor) -> torch.Tensor:
    """sum of c log c over the classes of equal (lane a, lane b) hashes, row_hashes_ (2, n)."""
    counts = torch.unique(row_hashes_.T, dim=0, return_counts=True)[1].double()
    return (counts * torch.log(counts)).sum()


def pattern_counts(rows: torch.Tensor) -> torch.Tensor:
    """Sizes of the classes of identical rows of an int64 (n, w) tensor, in no particular order."""
    n, width = rows.shape
    if n == 0:
        return rows.new_zeros(0)
    if width == 0:
        return rows.new_full((1,), n)
    return torch.unique(rows, dim=0, return_counts=True)[1]


def pattern_classes(codes: torch.Tensor, fixed: torch.Tensor | None):
    """(hashes (classes, 2) int64 bit patterns, counts (classes,) int64): the classes of
    identical rows of [codes, fixed] with the CPU's hashes, in its ascending unsigned order."""
    if codes.shape[0] == 0:
        return codes.new_zeros((0, 2)), codes.new_zeros(0)
    return _classes(row_hashes(codes, fixed)[1])


def binning_loo(codes: torch.Tensor, fixed: torch.Tensor | None, shard: Shard = Shard()):
    """(m + 1,) float64 with the semantics of ``binning_loo_cpu``: entry j is the sum of c log c
    over the distinct rows of [codes without column j, fixed], entry m over all of codes. A
    shard owns the columns [begin(m), end(m)); the other entries are 0, and entry m is 0 except
    on shard 0."""
    n, m = codes.shape
    out = torch.zeros(m + 1, dtype=torch.float64, device=codes.device)
    lo, hi = shard.range(m)
    if n == 0 or (lo == hi and shard.index != 0):
        return out
    cells, rows = row_hashes(codes, fixed)
    if shard.index == 0:
        out[m] = _sum_c_log_c(rows)
    for j in range(lo, hi):
        out[j] = _sum_c_log_c(rows - cells[:, :, j])
    return out
