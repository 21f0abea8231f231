"""Array conventions shared by the reference estimators and primitives."""
import numpy as np


def as_columns(x, dtype=None):
    """View `x` as an (n, d) matrix: a 1-D array is one column."""
    x = np.asarray(x, dtype=dtype)
    return x.reshape(-1, 1) if x.ndim == 1 else x


def each_column_left_out(z):
    """(j, z without column j) for every column j, then (m, z): the naive leave-one-out loop
    behind an (m + 1)-column output of the primitives, which starts over for every column."""
    for j in range(z.shape[1]):
        yield j, np.delete(z, j, axis=1)
    yield z.shape[1], z


def refuse_shard(shard):
    """The reference runs every primitive whole, so that nothing of it needs trusting."""
    if shard is not None:
        raise ValueError("the reference cannot be sharded")
