"""Plug-in (binning) estimators over discrete codes, in nats, and the primitives behind them.

The classic information-plane estimator (Shwartz-Ziv & Tishby 2017; Saxe et al. 2018): bin each
value, treat every distinct row of codes as one symbol, and use empirical frequencies.
"""
import numpy as np

from ._arrays import as_columns, each_column_left_out, refuse_shard


# --- the primitives of backends.protocol ---------------------------------------------------------

def _with_fixed(codes, fixed):
    return codes if fixed is None else np.hstack([codes, fixed])


def pattern_counts(codes, fixed):
    """Sizes of the classes of identical rows of [codes, fixed] (int64, in no promised order)."""
    return np.unique(_with_fixed(codes, fixed), axis=0, return_counts=True)[1].astype(np.int64)


def binning_loo(codes, fixed, shard=None):
    """(m + 1,) sum of c log c over the distinct rows of [codes without column j, fixed]
    (column m: all of codes), c the rows' counts."""
    refuse_shard(shard)
    out = np.zeros(codes.shape[1] + 1)
    for j, cj in each_column_left_out(codes):
        counts = pattern_counts(cj, fixed).astype(np.float64)
        out[j] = np.sum(counts * np.log(counts))
    return out


# --- the estimators ------------------------------------------------------------------------------

def discretize(z, bins=30, bin_range=None):
    """Equal-width binning of `z` into int64 codes in [0, bins).

    code = floor((clip(z, lo, hi) - lo) / (hi - lo) * bins), with a value equal to hi put in the
    last bin and a constant range (hi == lo) mapping everything to bin 0.

    bin_range: None for one range [min(z), max(z)] over the whole array; "column" for each
    column's own [min, max]; a (lo, hi) tuple for that range in every column. Integer (and
    boolean) `z` is already discrete and comes back as int64 codes unchanged. The shape of `z`
    is kept.

    Reference: Shwartz-Ziv & Tishby 2017, Saxe et al. 2018 (30 equal-width bins).
    """
    z = np.asarray(z)
    if z.dtype.kind in "biu":
        return z.astype(np.int64)
    z = z.astype(np.float64)
    if bin_range is None:
        lo, hi = z.min(), z.max()
    elif isinstance(bin_range, str) and bin_range == "column":
        lo, hi = z.min(axis=0), z.max(axis=0)
    else:
        lo, hi = bin_range
    # With hi == lo every clipped value equals lo, so any non-zero width gives bin 0.
    width = np.where(hi > lo, hi - lo, 1.0)
    codes = np.floor((np.clip(z, lo, hi) - lo) / width * bins).astype(np.int64)
    # Only values equal to hi reach `bins`: the last bin is closed on the right.
    return np.minimum(codes, bins - 1)


def discrete_entropy(codes):
    """Plug-in entropy of the rows of `codes`, in nats.

    H(Z) = -sum_z p(z) log p(z), p(z) the fraction of rows equal to z (a 1-D array is one
    column). Biased low for few samples per pattern (Paninski 2003).
    """
    codes = as_columns(codes)
    counts = np.unique(codes, axis=0, return_counts=True)[1]
    p = counts / codes.shape[0]
    return float(-np.sum(p * np.log(p)))


def discrete_mutual_information(cz, cw):
    """Plug-in mutual information I(Z;W) = H(Z) + H(W) - H(Z,W), in nats (Cover & Thomas 2.4)."""
    cz, cw = as_columns(cz), as_columns(cw)
    return discrete_entropy(cz) + discrete_entropy(cw) - discrete_entropy(np.hstack([cz, cw]))


def discrete_conditional_mutual_information(cz, cw, cv):
    """Plug-in conditional mutual information, in nats.

    I(Z;W|V) = H(Z,V) + H(W,V) - H(Z,W,V) - H(V)  (Cover & Thomas 2.5).
    """
    cz, cw, cv = as_columns(cz), as_columns(cw), as_columns(cv)
    return (
        discrete_entropy(np.hstack([cz, cv]))
        + discrete_entropy(np.hstack([cw, cv]))
        - discrete_entropy(np.hstack([cz, cw, cv]))
        - discrete_entropy(cv)
    )

