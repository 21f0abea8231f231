"""The one place that checks inputs and parameters, and converts arrays.

Arrays arrive as numpy arrays, torch tensors (any device) or any DLPack-capable array (JAX,
CuPy); they leave as numpy arrays or, for CUDA data, torch tensors on the same device.
Errors name the argument and the value received, in scikit-learn's style.
"""
from __future__ import annotations

import math
import numbers
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

METRICS = ("max", "euclidean")

Array = Any  # np.ndarray | torch.Tensor


def _param_error(name: str, expected: str, got: Any) -> ValueError:
    return ValueError(f"The '{name}' parameter must be {expected}. Got {got!r} instead.")


def check_int(value: Any, name: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"The '{name}' parameter must be an int >= {minimum}. "
                        f"Got {value!r} instead.")
    if value < minimum:
        raise _param_error(name, f"an int >= {minimum}", value)
    if maximum is not None and value > maximum:
        raise _param_error(name, f"an int in [{minimum}, {maximum}]", value)
    return int(value)


# Bin indices are computed in float64, where every integer up to 2**53 is exact.
MAX_BINS = 2**53


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _param_error(name, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def log_base(base: Any) -> float:
    """Natural log of the unit base: results in nats are divided by it."""
    if base == "e":
        return 1.0
    if isinstance(base, (bool, np.bool_)) or not isinstance(base, numbers.Real) \
            or not math.isfinite(base) or base <= 0 or base == 1:
        raise _param_error("base", "2, 'e' (nats), or a positive number other than 1", base)
    return math.log(base)


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise _param_error(name, "True or False", value)
    return bool(value)


def check_non_negative(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0:
        raise _param_error(name, "a finite number >= 0", value)
    return float(value)


def check_positive(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value <= 0:
        raise _param_error(name, "a positive finite number", value)
    return float(value)


def check_random_state(value: Any) -> np.random.Generator:
    try:
        return np.random.default_rng(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)("The 'random_state' parameter must be None, an int >= 0 or a numpy "
                        f"Generator. Got {value!r} instead.") from None


def check_noise(value: Any) -> float:
    """The relative tie-breaking jitter: a finite number >= 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise _param_error("noise", "a finite number >= 0", value)
    return float(value)


def check_seed(value: Any):
    """A ``random_state`` numpy takes (None, an int >= 0, a Generator), kept as given: the
    generator is made once per call (``check_random_state``)."""
    check_random_state(value)
    return value


def check_bin_range(value: Any):
    if value is None or value == "column":
        return value
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise _param_error("bin_range", "None, 'column' or a (low, high) pair", value) from None
    if not (lo < hi and math.isfinite(hi - lo)):
        raise _param_error("bin_range", "a (low, high) pair with low < high and a finite width",
                           value)
    return (lo, hi)


# ---------------------------------------------------------------------------------------------
# Arrays
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """What the caller passed, so that vector results come back in the caller's array type."""

    kind: str  # "numpy", "torch" or "dlpack"
    device: Any = None
    module: Any = None

    def wrap(self, values: np.ndarray):
        if self.kind == "torch":
            return torch.from_numpy(np.ascontiguousarray(values)).to(self.device)
        if self.kind == "dlpack" and self.module is not None:
            return self.module.from_dlpack(torch.from_numpy(np.ascontiguousarray(values)))
        return values


def _dlpack_module(x: Any):
    root = type(x).__module__.split(".")[0]
    if root in ("jax", "jaxlib"):
        import jax.numpy as jnp

        return jnp
    return sys.modules.get(root) if hasattr(sys.modules.get(root), "from_dlpack") else None


def as_array(x: Any, name: str) -> tuple[Array, Origin]:
    """numpy array or torch tensor (CUDA tensors stay on their device), with the caller's origin."""
    if isinstance(x, torch.Tensor):
        origin = Origin("torch", x.device)
        x = x.detach()
        if x.device.type not in ("cpu", "cuda"):
            x = x.cpu()
        if x.device.type == "cpu":
            x = x.resolve_conj().resolve_neg()
            if x.dtype in (torch.float16, torch.bfloat16):
                x = x.float()
            x = x.numpy()
        return x, origin
    if isinstance(x, np.ndarray):
        if any(stride < 0 for stride in x.strides):
            x = x.copy()  # torch cannot view reversed (negative-stride) arrays
        return x, Origin("numpy")
    if hasattr(x, "__dlpack__") and not isinstance(x, (list, tuple)):
        tensor = torch.from_dlpack(x)
        arr, _ = as_array(tensor, name)
        return arr, Origin("dlpack", tensor.device, _dlpack_module(x))
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"'{name}' must be an array (numpy, torch or DLPack). "
                        f"Got {type(x).__name__}: {exc}") from None
    return arr, Origin("numpy")


def is_cuda(x: Array) -> bool:
    return isinstance(x, torch.Tensor) and x.is_cuda


def _dtype_kind(x: Array) -> str:
    """'f' float, 'i' integer (bool included), or 'other'."""
    if isinstance(x, torch.Tensor):
        if x.dtype.is_floating_point:
            return "f"
        if x.dtype in (torch.bool, torch.int8, torch.int16, torch.int32, torch.int64,
                       torch.uint8, torch.uint16, torch.uint32, torch.uint64):
            return "i"
        return "other"
    kind = x.dtype.kind
    return {"f": "f", "i": "i", "u": "i", "b": "i"}.get(kind, "other")


def is_integer(x: Array) -> bool:
    return _dtype_kind(x) == "i"


def _all_finite(x: Array) -> bool:
    if isinstance(x, torch.Tensor):
        return bool(torch.isfinite(x).all())
    return bool(np.isfinite(x).all())


def _overflowing_range(x: Array) -> tuple[float, float] | None:
    """(min, max) of a 2-D float array when d * (max - min)^2, a bound on every squared distance
    between two rows (and on every bin width), overflows float64 or is NaN; else None."""
    lo, hi = float(x.min()), float(x.max())
    span = hi - lo
    return None if math.isfinite(span * span * x.shape[1]) else (lo, hi)


def as_matrix(x: Any, name: str, min_rows: int = 1) -> tuple[Array, Origin]:
    """A 2-D (n, d) float or integer array: 1-D means one feature. Rejects NaN/inf and odd dtypes."""
    arr, origin = as_array(x, name)
    kind = _dtype_kind(arr)
    if kind == "other":
        dtype = arr.dtype
        raise TypeError(f"'{name}' must hold real numbers (float or integer), got dtype {dtype}")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    elif arr.ndim != 2:
        raise ValueError(f"'{name}' must be 1-D (n,) or 2-D (n samples, d features); "
                         f"got shape {tuple(arr.shape)}")
    n, d = arr.shape
    if n == 0 or d == 0:
        raise ValueError(f"'{name}' is empty: shape {tuple(arr.shape)}")
    if n < min_rows:
        raise ValueError(f"'{name}' has {n} samples; this estimate needs at least {min_rows}")
    if kind == "f" and not _all_finite(arr):
        raise ValueError(f"'{name}' contains NaN or infinite values")
    # Finite values can still be too far apart: inf distances would turn into inf - inf = NaN.
    if kind == "f" and (bounds := _overflowing_range(arr)) is not None:
        raise ValueError(f"'{name}' spans too wide a range for float64 distances: its values run "
                         f"from {bounds[0]:.3g} to {bounds[1]:.3g}. Rescale it.")
    return arr, origin


def as_labels(y: Any, name: str) -> np.ndarray:
    """Class labels as int64 codes 0..C-1 (numpy). Rejects floats, strings, more than 1-D."""
    arr, _ = as_array(y, name)
    if isinstance(arr, torch.Tensor):
        arr = arr.cpu().numpy()
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"'{name}' must be 1-D class labels; got shape {arr.shape}")
    if not is_integer(arr):
        raise TypeError(f"'{name}' must hold integer class labels; got dtype {arr.dtype}. "
                        "Cast class ids with .astype(int), or use estimator='knn' for a "
                        "continuous target.")
    _, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int64).reshape(-1)


def as_row_classes(x: Array) -> np.ndarray:
    """int64 codes 0..C-1 of the distinct rows of a 2-D discrete array (numpy): each distinct
    row is one class."""
    if isinstance(x, torch.Tensor):
        return torch.unique(x, dim=0, return_inverse=True)[1].cpu().numpy().astype(np.int64)
    return np.unique(x, axis=0, return_inverse=True)[1].astype(np.int64).reshape(-1)


def is_label_vector(w: Array) -> bool:
    """A 1-D (or (n, 1)) integer array: class labels."""
    return is_integer(w) and (w.ndim == 1 or (w.ndim == 2 and w.shape[1] == 1))


def check_same_rows(arrays: dict[str, Array]) -> int:
    sizes = {name: int(a.shape[0]) for name, a in arrays.items()}
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{k} has {v}" for k, v in sizes.items())
        raise ValueError(f"all inputs must have the same number of samples (rows): {detail}")
    return next(iter(sizes.values()))


def check_k(k: Any, n: int) -> int:
    k = check_int(k, "k", 1)
    if k >= n:
        raise ValueError(f"The 'k' parameter must be smaller than the number of samples "
                         f"({n}). Got {k} instead.")
    return k


def check_mixed_labels(labels: np.ndarray, k: int) -> None:
    counts = np.bincount(labels)
    if counts.size < 2:
        raise ValueError("the labels hold a single class: the mixed estimator needs at least 2")
    if (counts > 1).sum() == 0:
        raise ValueError("every label is unique: the mixed estimator needs classes with at "
                         "least 2 members")


# A float column is discrete-valued when it takes at most this many distinct values, and at most
# a quarter as many as there are samples (so that a few continuous samples are not "discrete").
DISCRETE_MAX_VALUES = 64
_DISCRETE_SAMPLE_ROWS = 1024


def _discrete_value_limit(n: int) -> int:
    return min(DISCRETE_MAX_VALUES, n // 4)


def is_discrete_valued(x: Array) -> bool:
    """Whether a 2-D array holds discrete data: an integer array, or floats whose every column
    takes few distinct values (``few_distinct_values``): bits, rounded or quantised values, class
    ids stored as floats."""
    return is_integer(x) or few_distinct_values(x)


def few_distinct_values(x: Array) -> bool:
    """Whether every column of a 2-D array takes at most ``min(64, n // 4)`` distinct values.
    Continuous data is told apart on its first rows, so the check costs little there; discrete
    data is sorted once, in blocks of columns."""
    limit = _discrete_value_limit(int(x.shape[0]))
    return (_max_distinct(x[:_DISCRETE_SAMPLE_ROWS], limit) <= limit
            and _max_distinct(x, limit) <= limit)


def _max_distinct(x: Array, limit: int) -> int:
    """The largest number of distinct values of a column, or a number past `limit` as soon as
    one column has more."""
    step = max(1, (1 << 22) // max(int(x.shape[0]), 1))
    most = 0
    for c0 in range(0, int(x.shape[1]), step):
        block = x[:, c0:c0 + step]
        if isinstance(block, torch.Tensor):
            ordered = torch.sort(block, dim=0).values
            distinct = 1 + (ordered[1:] != ordered[:-1]).sum(0)
        else:
            ordered = np.sort(block, axis=0)
            distinct = 1 + (ordered[1:] != ordered[:-1]).sum(0)
        most = max(most, int(distinct.max()))
        if most > limit:
            break
    return most


def check_no_ties(x: Array, name: str, estimator: str, noise: float) -> None:
    """Refuses data whose columns take few distinct values (whatever the dtype) for a k-NN
    estimator unless ties are broken with ``noise``.

    On such data most k-th neighbour distances are shared by many points (the max-norm distance
    between two 12-bit rows is 0 or 1), so the strict radius counts of KSG and Ross jump and the
    estimate can pass its bounds (I(Z;Y) above H(Y)) with nothing to show for it."""
    if noise > 0 or not few_distinct_values(x):
        return
    limit = _discrete_value_limit(int(x.shape[0]))
    raise ValueError(
        f"'{name}' is discrete-valued (every column takes at most {limit} distinct values): "
        f"distance ties dominate and the {estimator!r} k-NN estimate would be meaningless. Use "
        "estimator='binning' (or 'auto', which picks it for discrete data), pass integer class "
        "labels as the target for the mixed estimator, or pass noise=1e-10 (with random_state) to "
        "break the ties on purpose.")


def jitter(x: Array, noise: float, rng: np.random.Generator) -> Array:
    """Adds noise * max(1, mean |x_col|) * N(0, 1) per column (scikit-learn's tie breaking)."""
    if noise == 0:
        return x
    if isinstance(x, torch.Tensor):
        scale = torch.clamp(x.abs().double().mean(0), min=1.0)
        eps = torch.from_numpy(rng.standard_normal(tuple(x.shape))).to(x.device)
        jittered = x.double() + noise * scale * eps
    else:
        x = np.asarray(x, dtype=np.float64)
        scale = np.maximum(1.0, np.abs(x).mean(0))
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported just below
            jittered = x + noise * scale * rng.standard_normal(x.shape)
    if _overflowing_range(jittered) is not None:
        raise _param_error("noise", "small enough to keep the jittered data within float64 range",
                           noise)
    return jittered
