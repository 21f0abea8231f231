"""Bad input gives a clear error that names the argument and the value received: the one table
of bad calls of the public API, and the bindings' own checks."""
import numpy as np
import pytest
import torch

import gib_kernels as gk
from inputs import continuous, labels_for

_rng = np.random.default_rng(20240611)
Z = continuous(_rng, 50, 3)
Y = labels_for(_rng, Z)
W = Z[:, :1] ** 2 + 0.3 * _rng.standard_normal((50, 2))
with_nan = Z.copy()
with_nan[3, 1] = np.nan
with_inf = Z.copy()
with_inf[0, 0] = np.inf


def _float16_overflow(x):
    """x cast to float16, where its large values become inf (the cast's overflow is the point)."""
    with np.errstate(over="ignore"):
        return x.astype(np.float16)


def _with(array, row, col, value):
    out = np.array(array, dtype=np.float64)
    out[row, col] = value
    return out


BAD_CALLS = [
    # NaN or inf anywhere
    ("nan-in-condition", lambda: gk.conditional_mutual_information(Z, W, _with(Z[:, :1], 7, 0, np.nan)),
     ValueError, "'v' contains NaN"),
    ("inf-in-a", lambda: gk.interaction_information(_with(Z[:, :1], 0, 0, np.inf), Z[:, 1:], Y),
     ValueError, "'a' contains NaN or infinite"),
    ("minus-inf-in-b", lambda: gk.interaction_information(Z[:, :1], _with(Z[:, 1:], 3, 1, -np.inf), Y),
     ValueError, "'b' contains NaN or infinite"),
    ("nan-in-second-target", lambda: gk.leave_one_out_mutual_information(Z, [Y, _with(W, 2, 0, np.nan)]),
     ValueError, "'w' contains NaN"),
    ("nan-float16", lambda: gk.entropy(_with(Z, 1, 1, np.nan).astype(np.float16)),
     ValueError, "'z' contains NaN"),
    ("float16-overflow-to-inf", lambda: gk.entropy(_float16_overflow(Z * 1e5)),
     ValueError, "'z' contains NaN or infinite"),
    ("bfloat16-inf", lambda: gk.synergy_profile(torch.from_numpy(_with(Z, 0, 2, np.inf)).bfloat16(), Y),
     ValueError, "'z' contains NaN or infinite"),
    ("nan-labels", lambda: gk.mutual_information(Z, np.where(Y == 0, np.nan, Y)),
     ValueError, "'w' contains NaN"),
    ("range-overflows-distances", lambda: gk.entropy(Z * 1e200),
     ValueError, r"'z' spans too wide a range .* from -\d.*e\+200 to \d.*e\+200"),
    ("target-range-overflows", lambda: gk.mutual_information(Z, np.array([[-1e308], [1e308]] * 25)),
     ValueError, r"'w' spans too wide a range .* from -1e\+308 to 1e\+308"),
    # empty and shapeless
    ("empty-target", lambda: gk.mutual_information(Z, np.zeros((50, 0))), ValueError,
     r"'w' is empty: shape \(50, 0\)"),
    ("empty-list", lambda: gk.entropy([]), ValueError, r"'z' is empty: shape \(0, 1\)"),
    ("empty-with-labels", lambda: gk.synergy_profile(np.zeros((0, 3)), np.zeros(0, int)),
     ValueError, r"'z' is empty: shape \(0, 3\)"),
    ("scalar", lambda: gk.entropy(3.0), ValueError, r"'z' must be 1-D .* got shape \(\)"),
    # data an estimator cannot handle
    ("kde-continuous-target", lambda: gk.mutual_information(Z, Z[:, :1] ** 2, estimator="kde"),
     ValueError, r"estimator='kde' needs a discrete target \('w' is continuous\)"),
    ("knn-on-discrete-values", lambda: gk.entropy(np.round(Z), estimator="knn"), ValueError,
     r"'z' is discrete-valued .* pass noise=1e-10"),
    # n <= k
    ("one-sample", lambda: gk.entropy(Z[:1]), ValueError,
     r"'k' parameter (of \w+ )?must be smaller than the number of samples \(1\). Got 3"),
    ("n-equals-k-mixed", lambda: gk.mutual_information(Z[:4], Y[:4], k=4, estimator="mixed"),
     ValueError, r"smaller than the number of samples \(4\). Got 4"),
    ("n-equals-k-synergy", lambda: gk.synergy_profile(Z[:5], W[:5], k=5), ValueError,
     r"smaller than the number of samples \(5\). Got 5"),
    ("n-below-k-cmi", lambda: gk.conditional_mutual_information(Z[:3], W[:3], Z[:3, :1], k=7),
     ValueError, r"smaller than the number of samples \(3\). Got 7"),
    # mismatched n
    ("mismatched-condition", lambda: gk.conditional_mutual_information(Z, W, Z[:40, :1]),
     ValueError, "z has 50, w has 50, v has 40"),
    ("mismatched-a-b", lambda: gk.interaction_information(Z[:, :1], Z[:49, 1:], Y), ValueError,
     "a has 50, b has 49"),
    ("mismatched-second-target", lambda: gk.leave_one_out_mutual_information(Z, [Y, W[:48]]),
     ValueError, "z has 50, w has 48"),
    ("mismatched-torch-labels",
     lambda: gk.synergy_profile(torch.from_numpy(Z), torch.from_numpy(Y[:30])),
     ValueError, "z has 50, w has 30"),
    # 3-D arrays
    ("3-d-target", lambda: gk.mutual_information(Z, np.zeros((50, 2, 2))), ValueError,
     r"'w' must be 1-D .* got shape \(50, 2, 2\)"),
    ("3-d-condition", lambda: gk.conditional_mutual_information(Z, W, np.zeros((50, 1, 1))),
     ValueError, r"'v' must be 1-D .* got shape \(50, 1, 1\)"),
    ("3-d-torch", lambda: gk.leave_one_out_entropy(torch.zeros(4, 3, 2)), ValueError,
     r"'z' must be 1-D .* got shape \(4, 3, 2\)"),
    ("2-d-labels-mixed", lambda: gk.mutual_information(Z, np.stack([Y, Y], 1), estimator="mixed"),
     ValueError, r"'w' must be 1-D class labels; got shape \(50, 2\)"),
    # object arrays, strings and other non-numbers
    ("object-labels", lambda: gk.mutual_information(Z, Y.astype(object)), TypeError,
     "'w' must hold real numbers .* got dtype object"),
    ("none", lambda: gk.entropy(None), TypeError, "'z' must hold real numbers .* got dtype object"),
    ("string-labels-synergy", lambda: gk.synergy_profile(Z, np.array(["cat", "dog"] * 25)),
     TypeError, "'w' must hold real numbers .* got dtype <U3"),
    ("bytes-labels", lambda: gk.per_feature_mutual_information(Z, np.array([b"a", b"b"] * 25)),
     TypeError, r"'w' must hold real numbers .* got dtype \|S1"),
    ("datetime", lambda: gk.entropy(np.arange(10).astype("datetime64[D]")), TypeError,
     r"'z' must hold real numbers .* got dtype datetime64\[D\]"),
    ("float-labels-synergy", lambda: gk.synergy_profile(Z, Y + 0.5, estimator="mixed"), TypeError,
     "'w' must hold integer class labels; got dtype float64"),
    ("int-and-float-sources", lambda: gk.interaction_information(Y[:, None], Z[:, :1], Y),
     TypeError, "'a' and 'b' must both be integer .* or both be float"),
    # a single class
    ("single-class-synergy", lambda: gk.synergy_profile(Z, np.ones(50, int)), ValueError,
     "single class"),
    ("single-class-leave-one-out",
     lambda: gk.leave_one_out_mutual_information(Z, np.zeros(50, np.uint8)),
     ValueError, "single class"),
    ("single-class-cmi",
     lambda: gk.conditional_mutual_information(Z, np.zeros(50, int), W, estimator="mixed"),
     ValueError, "single class"),
    # k and bins
    ("k-numpy-negative", lambda: gk.mutual_information(Z, Y, k=np.int64(-1)), ValueError,
     r"'k' parameter (of \w+ )?must be an int >= 1. Got np.int64\(-1\)"),
    ("k-numpy-float", lambda: gk.entropy(Z, k=np.float64(3.0)), TypeError,
     r"'k' parameter (of \w+ )?must be an int >= 1. Got np.float64\(3.0\)"),
    ("k-string", lambda: gk.synergy_profile(Z, Y, k="3"), TypeError, "'k' parameter .* Got '3'"),
    ("k-none", lambda: gk.entropy(Z, k=None), TypeError, "'k' parameter .* Got None"),
    ("bins-negative", lambda: gk.entropy(Z, estimator="binning", bins=-3), ValueError,
     r"'bins' parameter (of \w+ )?must be an int >= 1. Got -3"),
    ("bins-string", lambda: gk.synergy_profile(Z, Y, estimator="binning", bins="30"), TypeError,
     "'bins' parameter .* Got '30'"),
    ("bins-beyond-float64-integers", lambda: gk.entropy(Z, estimator="binning", bins=2**60),
     ValueError, r"'bins' parameter (of \w+ )?must be an int in \[1, 9007199254740992\]. Got 1152921504606846976"),
    # names of estimators, backends, metrics and units
    ("estimator-none", lambda: gk.entropy(Z, estimator=None), ValueError,
     "'estimator' parameter .* Got None"),
    ("estimator-upper-case", lambda: gk.mutual_information(Z, Y, estimator="KNN"), ValueError,
     "'estimator' parameter .* Got 'KNN'"),
    ("backend-upper-case", lambda: gk.synergy_profile(Z, Y, backend="CPU"), ValueError,
     "'backend' parameter .* Got 'CPU'"),
    ("backend-none", lambda: gk.entropy(Z, backend=None), ValueError, "'backend' parameter .* Got None"),
    ("metric-none", lambda: gk.entropy(Z, metric=None), ValueError, "'metric' parameter .* Got None"),
    ("base-zero", lambda: gk.entropy(Z, base=0), ValueError, "'base' parameter .* Got 0"),
    ("base-nan", lambda: gk.entropy(Z, base=float("nan")), ValueError, "'base' parameter .* Got nan"),
    ("base-inf", lambda: gk.synergy(Z, Y, base=float("inf")), ValueError, "'base' parameter .* Got inf"),
    ("base-none", lambda: gk.entropy(Z, base=None), ValueError, "'base' parameter .* Got None"),
    ("base-true", lambda: gk.entropy(Z, base=True), ValueError, "'base' parameter .* Got True"),
    # the other options
    ("sigma2-nan", lambda: gk.entropy(Z, estimator="kde", sigma2=float("nan")), ValueError,
     "'sigma2' parameter .* Got nan"),
    ("sigma2-negative", lambda: gk.synergy_profile(Z, Y, estimator="kde", sigma2=-1e-3), ValueError,
     r"'sigma2' parameter .* Got -0.001"),
    ("noise-inf", lambda: gk.entropy(Z, noise=float("inf")), ValueError, "'noise' parameter .* Got inf"),
    ("noise-string", lambda: gk.entropy(Z, noise="1e-10"), ValueError, "'noise' parameter .* Got '1e-10'"),
    ("noise-overflows-data", lambda: gk.entropy(Z, noise=1e308, random_state=0), ValueError,
     r"'noise' parameter (of \w+ )?must be small enough .* Got 1e\+308"),
    ("random-state-string", lambda: gk.entropy(Z, noise=1e-10, random_state="seed"), TypeError,
     "'random_state' parameter .* Got 'seed'"),
    ("random-state-negative", lambda: gk.entropy(Z, noise=1e-10, random_state=-1), ValueError,
     "'random_state' parameter .* Got -1"),
    ("random-state-float", lambda: gk.entropy(Z, random_state=0.5), TypeError,
     "'random_state' parameter .* Got 0.5"),
    ("bin-range-nan", lambda: gk.entropy(Z, estimator="binning", bin_range=(np.nan, 1)), ValueError,
     r"'bin_range' parameter .* Got \(nan, 1\)"),
    ("bin-range-infinite-width", lambda: gk.entropy(Z, estimator="binning", bin_range=(-1e308, 1e308)),
     ValueError, r"'bin_range' parameter .* finite width. Got \(-1e\+308, 1e\+308\)"),
    ("bin-range-three-numbers", lambda: gk.entropy(Z, estimator="binning", bin_range=(0, 1, 2)),
     ValueError, r"'bin_range' parameter .* Got \(0, 1, 2\)"),
    ("bin-range-misspelt", lambda: gk.entropy(Z, estimator="binning", bin_range="columns"),
     ValueError, "'bin_range' parameter .* Got 'columns'"),
    # more of each kind
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
    ("k-too-large", lambda: gk.entropy(Z, k=50), ValueError, r"'k' parameter (of \w+ )?must be smaller"),
    ("k-zero", lambda: gk.entropy(Z, k=0), ValueError, r"'k' parameter (of \w+ )?must be an int >= 1. Got 0"),
    ("k-negative", lambda: gk.entropy(Z, k=-2), ValueError, "Got -2"),
    ("k-float", lambda: gk.entropy(Z, k=2.5), TypeError, r"'k' parameter (of \w+ )?must be an int"),
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
def test_bad_input_raises_an_error_naming_argument_and_value(call, error, match):
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
