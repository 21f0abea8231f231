"""Array conventions shared by the reference estimators."""
import numpy as np


def as_columns(x, dtype=None):
    """View `x` as an (n, d) matrix: a 1-D array is one column."""
    x = np.asarray(x, dtype=dtype)
    return x.reshape(-1, 1) if x.ndim == 1 else x
