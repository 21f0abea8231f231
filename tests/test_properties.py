"""Properties that hold for any input, checked on inputs that hypothesis draws.

- Every fast backend agrees with the reference whatever the shape, the dtype (float16, bfloat16,
  float32, float64) and the memory order (C, Fortran, strided and reversed views, non-contiguous
  torch tensors); on the CPU the memory order and the array type change no bit of the result.
- Class labels of any integer dtype, relabelled by any one-to-one map, give the same estimates.
- Permuting the samples changes nothing; permuting the features permutes the per-feature results.
- Max-norm k-NN estimates do not move when a continuous feature is shifted, nor when all the
  data is scaled (KL entropy then moves by d log2 c, exactly the change of the true entropy).
- ``synergy_profile`` is its definition, I(Z;W) - I(Z_j;W) - I(Z_-j;W), term by term.

Data values come from numpy generators seeded by hypothesis; hypothesis draws the case, the
shape, the dtype, the memory order and the transformation, and shrinks them on failure.
"""
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, note, settings
from hypothesis import strategies as st

import gib_kernels as gk
from conftest import assert_close
from gib_kernels import reference as ref
from gib_kernels._validation import is_integer
from inputs import continuous, family_options, labels_for, layer_like

FLOAT_DTYPES = ["float16", "bfloat16", "float32", "float64"]
NUMPY_LAYOUTS = ["C", "F", "strided", "reversed"]
TORCH_LAYOUTS = ["torch", "torch-transposed", "torch-strided"]
LABEL_DTYPES = [f"numpy-{t}" for t in ("int8", "int16", "int32", "int64", "uint8", "uint16",
                                       "uint32", "uint64")] + \
               [f"torch-{t}" for t in ("int8", "int16", "int32", "int64", "uint8", "uint16",
                                       "uint32", "uint64")]

# (function, target: None, "labels" or "continuous", keywords). Binning uses per-column ranges
# so that a subset of the columns is binned as it is within the whole array.
CASES = {
    "kl-max": (gk.entropy, None, dict(estimator="knn")),
    "kl-euclidean": (gk.entropy, None, dict(estimator="knn", metric="euclidean")),
    "kl-leave-one-out": (gk.leave_one_out_entropy, None, dict(estimator="knn")),
    "kl-euclidean-leave-one-out": (gk.leave_one_out_entropy, None,
                                   dict(estimator="knn", metric="euclidean")),
    "ksg": (gk.mutual_information, "continuous", dict(estimator="knn")),
    "ksg-synergy": (gk.synergy_profile, "continuous", dict(estimator="knn")),
    "mixed": (gk.mutual_information, "labels", dict(estimator="mixed")),
    "mixed-synergy": (gk.synergy_profile, "labels", dict(estimator="mixed")),
    "binning-synergy": (gk.synergy_profile, "labels",
                        dict(estimator="binning", bins=4, bin_range="column")),
    "binning-leave-one-out": (gk.leave_one_out_entropy, None,
                              dict(estimator="binning", bins=3, bin_range="column")),
    "kde": (gk.entropy, None, dict(estimator="kde", sigma2=0.1)),
    "kde-synergy": (gk.synergy_profile, "labels", dict(estimator="kde", sigma2=0.1)),
}
KNN_MAX_CASES = ["kl-max", "kl-leave-one-out", "ksg", "ksg-synergy", "mixed", "mixed-synergy"]
LABEL_CASES = [name for name, (_, target, _) in CASES.items() if target == "labels"]
SYNERGY_ESTIMATORS = ["ksg-synergy", "mixed-synergy", "binning-synergy", "kde-synergy"]

# CPU: float64 kernels, equal to the reference up to the order of float64 sums. Triton: fp32
# distances and kernel sums, radii and counts still equal on these small inputs.
TOLERANCES = {"cpu": dict(rtol=1e-9, atol=1e-12), "triton": dict(rtol=1e-4, atol=1e-4)}
SAME_UP_TO_SUM_ORDER = dict(rtol=1e-10, atol=1e-12)


def as_input(values: np.ndarray, dtype: str, layout: str):
    """`values` (n, d) rounded to `dtype`: a numpy array or torch tensor in memory order `layout`."""
    t = torch.from_numpy(np.ascontiguousarray(values)).to(getattr(torch, dtype))
    n, d = t.shape
    if layout == "torch":
        return t
    if layout == "torch-transposed":
        return t.T.contiguous().T
    if layout == "torch-strided":
        big = t.new_zeros((2 * n + 1, 2 * d))
        big[1::2, ::2] = t
        return big[1::2, ::2]
    a = t.numpy()
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros((2 * n + 1, 3 * d), a.dtype)
        big[1::2, ::3] = a
        return big[1::2, ::3]
    if layout == "reversed":
        return np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1]
    return a


def rounded(values: np.ndarray, dtype: str) -> np.ndarray:
    """The float64 values an array of `dtype` holds: what every backend sees."""
    return torch.from_numpy(np.ascontiguousarray(values)).to(getattr(torch, dtype)).double().numpy()


@dataclass
class Problem:
    """One drawn estimate: the case, the data in float64 (already rounded to the drawn dtype),
    its dtype and memory order, the target and k."""

    case: str
    z: np.ndarray
    dtype: str
    layout: str
    target: np.ndarray | None
    k: int

    def call(self, z=None, target=None, **overrides):
        fn, _, kwargs = CASES[self.case]
        z = self.z if z is None else z
        target = self.target if target is None else target
        args = (z,) if target is None else (z, target)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # duplicate points of tied data
            return fn(*args, **{**family_options(kwargs, k=self.k), **overrides})

    def drawn_z(self):
        """z in the drawn dtype and memory order."""
        return as_input(self.z, self.dtype, self.layout)

    def drawn_target(self):
        """The target likewise (class labels stay int64: their dtypes have their own test)."""
        if self.target is None or CASES[self.case][1] == "labels":
            return self.target
        return as_input(self.target, self.dtype, self.layout)


@st.composite
def problems(draw, cases=tuple(CASES), max_n=60, max_d=5, min_d=1,
             kinds=("gaussian", "ties", "tanh"), dtypes=tuple(FLOAT_DTYPES)):
    """A Problem: one of `cases` on fresh data of a drawn shape, kind, dtype and memory order."""
    case = draw(st.sampled_from(cases))
    n = draw(st.integers(8, max_n))
    d = draw(st.integers(min_d, max_d))
    kind = draw(st.sampled_from(kinds))
    if kind == "ties" and CASES[case][2]["estimator"] in ("knn", "mixed"):
        kind = "gaussian"  # k-NN estimators refuse discrete-valued data (tests/test_no_silent_errors)
    dtype = draw(st.sampled_from(dtypes))
    layouts = TORCH_LAYOUTS if dtype == "bfloat16" else NUMPY_LAYOUTS + TORCH_LAYOUTS
    layout = draw(st.sampled_from(layouts))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "tanh":
        z = layer_like(rng, n, d)
    else:
        z = continuous(rng, n, d, ties=kind == "ties")
    z = rounded(z, dtype)
    target = CASES[case][1]
    if target == "labels":
        target = labels_for(rng, z, n_classes=int(rng.integers(2, 5)))
    elif target == "continuous":
        target = rounded(z[:, :1] ** 2 + 0.3 * rng.standard_normal((n, 2)), dtype)
    k = draw(st.integers(1, min(5, n // 4)))
    problem = Problem(case, z, dtype, layout, target, k)
    note(f"case={case} n={n} d={d} kind={kind} dtype={dtype} layout={layout} k={k}")
    return problem


# --- every backend agrees with the reference --------------------------------------------------


def _agrees_with_reference(p: Problem, backend: str):
    fast = p.call(p.drawn_z(), p.drawn_target(), backend=backend)
    ref = p.call(backend="reference")
    assert_close(fast, ref, name=f"{p.case} on {backend}", **TOLERANCES[backend])


@settings(max_examples=25, deadline=None)
@given(problems())
def test_cpu_agrees_with_reference(p):
    _agrees_with_reference(p, "cpu")


@pytest.mark.triton
@settings(max_examples=15, deadline=None)  # the interpreter runs every kernel operation in Python
@given(problems(max_n=24, max_d=3))
def test_triton_agrees_with_reference(p):
    pytest.importorskip("triton")
    _agrees_with_reference(p, "triton")


@settings(max_examples=25, deadline=None)
@given(problems())
def test_memory_order_and_array_type_change_no_bit(p):
    """Any layout or dtype of the same values gives the bits of a C-contiguous float64 array."""
    assert np.array_equal(np.asarray(p.call(p.drawn_z(), p.drawn_target())), np.asarray(p.call()))


# --- labels -----------------------------------------------------------------------------------


def _label_array(codes: np.ndarray, dtype: str, rng: np.random.Generator):
    """Classes 0..C-1 relabelled one-to-one with random values of `dtype` (numpy- or torch-)."""
    library, name = dtype.split("-")
    info = np.iinfo(name)
    n_classes = int(codes.max()) + 1
    ids = np.empty(0, name)
    while ids.size < n_classes:
        drawn = rng.integers(info.min, info.max, size=n_classes, endpoint=True, dtype=name)
        ids = np.unique(np.concatenate([ids, drawn]))
    relabelled = rng.permutation(ids)[:n_classes][codes]
    return torch.from_numpy(relabelled) if library == "torch" else relabelled


@settings(max_examples=25, deadline=None)
@given(problems(cases=LABEL_CASES), st.sampled_from(LABEL_DTYPES + ["bool"]),
       st.integers(0, 2**32 - 1))
def test_labels_of_any_integer_dtype_and_any_naming(p, dtype, seed):
    rng = np.random.default_rng(seed)
    codes = p.target
    if dtype == "bool":
        codes = codes % 2
        if np.bincount(codes).min() < 2:
            codes[:4] = [0, 0, 1, 1]  # two classes of at least two members each
        labels = codes == 0  # relabelled: class 0 is True
    else:
        labels = _label_array(codes, dtype, rng)
    assert_close(p.call(target=labels), p.call(target=codes), name=f"{p.case} labels {dtype}",
                 **SAME_UP_TO_SUM_ORDER)


@pytest.mark.parametrize("dtype", [torch.bool, torch.int8, torch.int16, torch.int32, torch.int64,
                                   torch.uint8, torch.uint16, torch.uint32, torch.uint64],
                         ids=str)
def test_tensors_of_every_integer_dtype_are_discrete(dtype):
    """CUDA tensors keep their torch dtype through validation: each integer one means labels."""
    assert is_integer(torch.zeros(3, dtype=dtype))


# --- invariances ------------------------------------------------------------------------------


def _permuted_target(p: Problem, rows):
    return None if p.target is None else p.target[rows]


@settings(max_examples=25, deadline=None)
@given(problems(), st.integers(0, 2**32 - 1))
def test_permuting_samples_changes_nothing(p, seed):
    rows = np.random.default_rng(seed).permutation(p.z.shape[0])
    assert_close(p.call(p.z[rows], _permuted_target(p, rows)), p.call(), name=p.case,
                 **SAME_UP_TO_SUM_ORDER)


@settings(max_examples=25, deadline=None)
@given(problems(), st.integers(0, 2**32 - 1))
def test_permuting_features_permutes_the_per_feature_results(p, seed):
    cols = np.random.default_rng(seed).permutation(p.z.shape[1])
    permuted = np.asarray(p.call(p.z[:, cols]))
    original = np.asarray(p.call())
    expected = original[cols] if original.ndim == 1 else original
    assert_close(permuted, expected, name=p.case, **SAME_UP_TO_SUM_ORDER)


@settings(max_examples=25, deadline=None)
@given(problems(cases=KNN_MAX_CASES, kinds=("gaussian", "tanh"), dtypes=("float64",)),
       st.floats(-10, 10), st.sampled_from([1e-3, 0.37, 2.0, 3.1, 1e3]), st.data())
def test_max_norm_knn_is_shift_and_scale_invariant(p, shift, scale, data):
    """Continuous float64 data only: rounding would break the exact ties (and equal distances)
    of tied or low-precision data, and move neighbour counts."""
    j = data.draw(st.integers(0, p.z.shape[1] - 1), label="shifted feature")
    shifted = p.z.copy()
    shifted[:, j] += shift
    assert_close(p.call(shifted), p.call(), name=f"{p.case} shifted", rtol=1e-9, atol=1e-9)

    continuous_target = CASES[p.case][1] == "continuous"
    scaled = p.call(p.z * scale, p.target * scale if continuous_target else None)
    expected = np.asarray(p.call(), dtype=np.float64)
    if p.case == "kl-max":
        expected = expected + p.z.shape[1] * math.log2(scale)
    elif p.case == "kl-leave-one-out":
        expected = expected + (p.z.shape[1] - 1) * math.log2(scale)
    assert_close(scaled, expected, name=f"{p.case} scaled by {scale}", rtol=1e-9, atol=1e-9)


# --- synergy is its definition ----------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(problems(cases=SYNERGY_ESTIMATORS, min_d=2))
def test_synergy_profile_is_the_difference_of_three_mutual_informations(p):
    _, _, kwargs = CASES[p.case]
    options = family_options(kwargs, k=p.k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        profile = gk.synergy_profile(p.z, p.target, **options)
        loop = ref.synergy_profile(lambda z, w: gk.mutual_information(z, w, **options), p.z,
                                   p.target)
        assert_close(profile, loop, name=p.case, **SAME_UP_TO_SUM_ORDER)
        for j in range(p.z.shape[1]):
            rest = np.delete(p.z, j, axis=1)
            assert_close(gk.interaction_information(p.z[:, [j]], rest, p.target, **options),
                         profile[j], name=f"{p.case} s_{j}", **SAME_UP_TO_SUM_ORDER)
        assert_close(gk.synergy(p.z, p.target, **options), np.mean(profile), name="synergy",
                     **SAME_UP_TO_SUM_ORDER)
