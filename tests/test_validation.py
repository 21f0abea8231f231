"""Bad input gives a clear error that names the argument and the value received."""
import numpy as np
import pytest
import torch

import gib_kernels as gk

rng = np.random.default_rng(0)
Z = rng.standard_normal((50, 3))
Y = rng.integers(0, 3, 50)

with_nan = Z.copy()
with_nan[3, 1] = np.nan
with_inf = Z.copy()
with_inf[0, 0] = np.inf

BAD_CALLS = [
    ("nan", lambda: gk.entropy(with_nan), ValueError, "NaN"),
    ("inf-in-target", lambda: gk.mutual_information(Z, with_inf), ValueError, "NaN or infinite"),
    ("empty", lambda: gk.entropy(np.zeros((0, 3))), ValueError, "empty"),
    ("no-columns", lambda: gk.entropy(np.zeros((5, 0))), ValueError, "empty"),
    ("3-d", lambda: gk.entropy(np.zeros((4, 3, 2))), ValueError, "1-D .* or 2-D"),
    ("object-array", lambda: gk.entropy(np.array([{}, {}], dtype=object)), TypeError, "real numbers"),
    ("string-labels", lambda: gk.mutual_information(Z, np.array(["a", "b"] * 25)), TypeError, "real numbers"),
    ("float-labels-mixed", lambda: gk.mutual_information(Z, Y + 0.5, estimator="mixed"), TypeError, "integer class labels"),
    ("single-class", lambda: gk.mutual_information(Z, np.zeros(50, int), estimator="mixed"), ValueError, "single class"),
    ("all-unique-labels", lambda: gk.mutual_information(Z, np.arange(50), estimator="mixed"), ValueError, "unique"),
    ("mismatched-n", lambda: gk.mutual_information(Z, Y[:49]), ValueError, "same number of samples"),
    ("k-too-large", lambda: gk.entropy(Z, k=50), ValueError, "'k' parameter must be smaller"),
    ("k-zero", lambda: gk.entropy(Z, k=0), ValueError, r"'k' parameter must be an int >= 1. Got 0"),
    ("k-negative", lambda: gk.entropy(Z, k=-2), ValueError, "Got -2"),
    ("k-float", lambda: gk.entropy(Z, k=2.5), TypeError, "'k' parameter must be an int"),
    ("k-bool", lambda: gk.entropy(Z, k=True), TypeError, "'k' parameter"),
    ("bins-zero", lambda: gk.entropy(Z, estimator="binning", bins=0), ValueError, "'bins'"),
    ("bins-float", lambda: gk.entropy(Z, estimator="binning", bins=3.0), TypeError, "'bins'"),
    ("bad-bin-range", lambda: gk.entropy(Z, estimator="binning", bin_range=(1, 0)), ValueError, "'bin_range'"),
    ("unknown-estimator", lambda: gk.entropy(Z, estimator="ksg"), ValueError, "'estimator' parameter .* Got 'ksg'"),
    ("unknown-backend", lambda: gk.entropy(Z, backend="gpu"), ValueError, "'backend' parameter .* Got 'gpu'"),
    ("unknown-metric", lambda: gk.entropy(Z, metric="l1"), ValueError, "'metric'"),
    ("base-one", lambda: gk.entropy(Z, base=1), ValueError, "'base' parameter"),
    ("base-negative", lambda: gk.entropy(Z, base=-2), ValueError, "'base' parameter"),
    ("base-string", lambda: gk.entropy(Z, base="bits"), ValueError, "'base' parameter"),
    ("sigma2-zero", lambda: gk.entropy(Z, estimator="kde", sigma2=0), ValueError, "'sigma2'"),
    ("negative-noise", lambda: gk.entropy(Z, noise=-1), ValueError, "'noise'"),
    ("mixed-without-target", lambda: gk.entropy(Z, estimator="mixed"), ValueError, None),
    ("ragged-list", lambda: gk.entropy([[1.0, 2.0], [3.0]]), TypeError, "'z' must be an array"),
    ("complex", lambda: gk.entropy(Z.astype(complex)), TypeError, "real numbers"),
    ("torch-nan", lambda: gk.entropy(torch.tensor([[0.0], [float("nan")], [1.0]])), ValueError, "NaN"),
]


@pytest.mark.parametrize("call,error,match", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_input_raises_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_constant_column_is_not_an_error_for_binning():
    z = np.column_stack([np.zeros(40), np.arange(40) % 4])
    assert gk.entropy(z, estimator="binning") == pytest.approx(2.0)


def test_bindings_validate_before_calling():
    """The C++ module itself refuses bad buffers instead of crashing the process."""
    from gib_kernels import _ext

    with pytest.raises(ValueError, match="k must"):
        _ext.cpu.kth_neighbor_distance(np.zeros((5, 2)), None, 5, 0)
    with pytest.raises(ValueError, match="labels must have one entry"):
        _ext.cpu.kth_neighbor_distance(np.zeros((5, 2)), np.zeros(4, np.int64), 1, 0)
    with pytest.raises(ValueError, match="metric"):
        _ext.cpu.count_within(np.zeros((5, 2)), np.zeros(5), 7)
    with pytest.raises(ValueError, match="labels must lie"):
        _ext.cpu.kde_loo(np.zeros((5, 2)), np.array([0, 1, 2, 3, 9]), 4, 1.0)
