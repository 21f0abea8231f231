"""Plug-in entropy of discrete patterns with torch operations on the data's device (contract:
``csrc/include/gib/binning.h``): sizes of the classes of identical rows, and the fused
leave-one-feature-out sums of c log c.

Pattern counts sort the rows themselves (exact). The leave-one-out sums hash each row as a sum
of per-(column, value) 64-bit codes, h = sum_j H(j, code_ij) mod 2^64, in two independent
lanes, so that the row without column j is h - H(j, code_ij): m sorts of n hash pairs instead
of m sorts of n rows. Two rows that differ collide with probability about 2^-128 per pair.
"""
from __future__ import annotations

import numpy as np
import torch

from .knn import numpy_of, require

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # splitmix64's increment: spreads the column index
_LANE_SEEDS = (0x243F6A8885A308D3, 0x13198A2E03707344)


def _int64(value: int) -> int:
    """An unsigned 64-bit constant as the int64 with the same bits (torch has no uint64 math)."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


def _shift_right(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (>> on int64 is arithmetic)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def _mix64(x: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser, a bijection of 64-bit words; int64 multiplication wraps."""
    x = (x ^ _shift_right(x, 30)) * _int64(0xBF58476D1CE4E5B9)
    x = (x ^ _shift_right(x, 27)) * _int64(0x94D049BB133111EB)
    return x ^ _shift_right(x, 31)


def _cell_hashes(codes: torch.Tensor, first_column: int, seed: int) -> torch.Tensor:
    """H(j, code_ij) for every cell, columns numbered from first_column."""
    column = torch.arange(first_column + 1, first_column + 1 + codes.shape[1], device=codes.device)
    return _mix64(_mix64(codes ^ _int64(seed)) + column * _int64(_GOLDEN))


def _sum_c_log_c(keys: torch.Tensor) -> float:
    counts = torch.unique(keys, dim=0, return_counts=True)[1].double()
    return float((counts * torch.log(counts)).sum())


def _as_codes(x, name: str, device=None) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.int64, device=device)
    require(x.dim() == 2, f"{name} must be 2-D")
    return x


def _with_fixed(codes: torch.Tensor, fixed) -> torch.Tensor | None:
    if fixed is None:
        return None
    fixed = _as_codes(fixed, "fixed", codes.device)
    require(fixed.shape[0] == codes.shape[0], "fixed must have one row per row of codes")
    return fixed


def pattern_counts(codes, fixed) -> np.ndarray:
    """Sizes of the classes of identical rows of [codes, fixed], int64, in no particular order."""
    codes = _as_codes(codes, "codes")
    fixed = _with_fixed(codes, fixed)
    rows = codes if fixed is None else torch.cat([codes, fixed], dim=1)
    n = rows.shape[0]
    if rows.shape[1] == 0:  # no column: every row is the same empty pattern
        return np.array([n] if n else [], dtype=np.int64)
    return numpy_of(torch.unique(rows, dim=0, return_counts=True)[1], torch.int64)


def binning_loo(codes, fixed) -> np.ndarray:
    """out (m + 1,) float64: out[j] = sum of c log c over the distinct rows of [codes without
    column j, fixed], out[m] the same with every column of codes."""
    codes = _as_codes(codes, "codes")
    fixed = _with_fixed(codes, fixed)
    n, m = codes.shape
    require(m >= 1, "codes must have at least one column")
    cells, rows = [], []
    for seed in _LANE_SEEDS:
        cell = _cell_hashes(codes, 0, seed)
        row = cell.sum(dim=1)  # int64 sums wrap: arithmetic mod 2^64
        if fixed is not None:
            row = row + _cell_hashes(fixed, m, seed).sum(dim=1)
        cells.append(cell)
        rows.append(row)
    out = np.empty(m + 1)
    for j in range(m):
        without_j = [row - cell[:, j] for row, cell in zip(rows, cells)]
        out[j] = _sum_c_log_c(torch.stack(without_j, dim=1))
    out[m] = _sum_c_log_c(torch.stack(rows, dim=1))
    return out
