"""The functional API: entropy, mutual information, conditional MI, interaction information,
the leave-one-feature-out loop and synergy.

Conventions (see the package docstring): results in bits by default (``base=2``; ``base="e"``
gives nats); positive interaction information is synergy, negative is redundancy (the GIB
paper's sign; ``co_information`` is McGill's, the negative); estimates are returned raw, never
clipped at zero.

Estimators (``estimator=``):

- ``"binning"``: plug-in entropy of discretised patterns (``bins`` equal-width bins).
- ``"knn"``: Kozachenko-Leonenko entropy, KSG mutual information (algorithm 1, max-norm),
  Frenzel-Pompe conditional MI.
- ``"mixed"``: Ross (2014) for a continuous, multivariate ``z`` against integer class labels.
- ``"kde"``: the Kolchinsky-Tracey pairwise-distance upper bound for ``T`` + N(0, sigma2 I),
  against a discrete variable (class labels, or discrete inputs whose distinct rows are the
  classes); a continuous target is refused.
- ``"auto"`` (default): ``"binning"`` when ``z`` is discrete-valued (an integer array, or floats
  whose every column takes at most ``min(64, n // 4)`` distinct values: bits, rounded or quantised
  data), with each distinct value its own bin; ``"mixed"`` when the target is 1-D integer labels;
  ``"knn"`` otherwise.

k-NN estimators refuse discrete-valued inputs (distance ties make them meaningless) unless
``noise`` breaks the ties on request, and a mixed estimate above its bound psi(n) - <psi(N_y)>
(about H(Y)) raises an error instead of being returned. See ``docs/science.md``.

Backends (``backend=``): ``"cpu"`` (C++/OpenMP), ``"cuda"``, ``"triton"``, ``"reference"``
(slow numpy), ``"auto"`` (CUDA data to a GPU backend, everything else to the CPU kernels).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from . import _backend, _binning, _kde, _knn
from . import reference as ref
from ._validation import (
    ESTIMATORS,
    MAX_BINS,
    METRICS,
    Origin,
    as_labels,
    as_row_classes,
    as_matrix,
    check_bin_range,
    check_choice,
    check_int,
    check_k,
    check_mixed_labels,
    check_positive,
    check_random_state,
    check_same_rows,
    is_cuda,
    check_no_ties,
    is_discrete_valued,
    is_integer,
    is_label_vector,
    jitter,
    log_base,
    warn_duplicates,
)

__all__ = [
    "entropy",
    "mutual_information",
    "conditional_mutual_information",
    "interaction_information",
    "co_information",
    "per_feature_mutual_information",
    "leave_one_out_entropy",
    "leave_one_out_mutual_information",
    "synergy_profile",
    "synergy",
]

_PROGRESS_MIN_FEATURES = 64  # per-feature loops longer than this show a progress bar


@dataclass
class _Params:
    estimator: str
    k: int
    bins: int
    bin_range: Any
    metric: str
    sigma2: float
    log_base: float
    noise: float
    rng: np.random.Generator
    backend_name: str = "auto"


def _params(estimator, k, bins, bin_range, metric, sigma2, base, noise, random_state) -> _Params:
    check_choice(estimator, "estimator", ESTIMATORS)
    check_choice(metric, "metric", METRICS)
    if isinstance(noise, (bool, np.bool_)) or not isinstance(noise, (int, float)) \
            or not math.isfinite(noise) or noise < 0:
        raise ValueError(f"The 'noise' parameter must be a finite number >= 0. Got {noise!r} instead.")
    return _Params(
        estimator=estimator,
        k=check_int(k, "k", 1),
        bins=check_int(bins, "bins", 1, MAX_BINS),
        bin_range=check_bin_range(bin_range),
        metric=metric,
        sigma2=check_positive(sigma2, "sigma2"),
        log_base=log_base(base),
        noise=float(noise),
        rng=check_random_state(random_state),
    )


def _resolve_estimator(p: _Params, z, target) -> str:
    if p.estimator != "auto":
        return p.estimator
    if is_discrete_valued(z):
        return "binning"
    if target is not None and is_label_vector(target):
        return "mixed"
    return "knn"


class _Data:
    """Validated inputs for one estimate, prepared once for the chosen estimator: binning codes,
    class labels, or (jittered) floats. Shared by the full, per-feature and leave-one-out terms."""

    def __init__(self, p: _Params, z, target=None, condition=None, target_name="w", entropy_only=False):
        self.p = p
        z, self.origin = as_matrix(z, "z")
        arrays = {"z": z}
        if target is not None:
            arrays[target_name] = as_matrix(target, target_name)[0]
        if condition is not None:
            arrays["v"] = as_matrix(condition, "v")[0]
        self.n = check_same_rows(arrays)
        self.estimator = _resolve_estimator(p, z, None if entropy_only else arrays.get(target_name))
        on_cuda = any(is_cuda(a) for a in arrays.values())
        self.backend = _backend.select(p.backend_name, on_cuda)
        est = self.estimator
        if est in ("knn", "mixed"):
            check_k(p.k, self.n)
        self.labels = None
        if est == "mixed":
            if target is None:
                raise ValueError("estimator='mixed' needs class labels as the target")
            self.labels = as_labels(target, target_name)
            check_mixed_labels(self.labels, p.k)
        # The KDE bound holds a continuous layer against a discrete variable: the target's
        # distinct rows are the classes, or, where z is the discrete one, the layer is the target.
        self.kde_layer_is_target = False
        if est == "kde" and target is not None:
            w_arr = arrays[target_name]
            if is_discrete_valued(w_arr):
                self.labels = as_row_classes(w_arr)
            elif condition is None and is_discrete_valued(z):
                self.kde_layer_is_target = True
            else:
                raise ValueError(
                    f"estimator='kde' needs a discrete target ('{target_name}' is continuous): the "
                    "bound is I(T;W) = H(T) - sum_w p(w) H(T | W = w) for a noisy layer T and a "
                    "discrete W (class labels, or discrete inputs whose distinct rows are the "
                    "classes). For the information a layer keeps about the continuous input it "
                    "is computed from, pass the input's row ids, np.unique(x, axis=0, "
                    "return_inverse=True)[1]: that gives H(T) - H(noise) (Saxe et al. 2018).")
        if est in ("knn", "mixed"):
            for name, x in arrays.items():
                if est == "knn" or name == "z":
                    check_no_ties(x, name, est, p.noise)
        self.z = self._prepare(z, "z")
        self.w = None if target is None or self.labels is not None and est == "mixed" \
            else self._prepare(arrays[target_name], target_name)
        self.v = None if condition is None else self._prepare(arrays["v"], "v")
        if est in ("knn", "mixed"):
            joint = self.z if self.w is None or est == "mixed" else _cat(self.z, self.w)
            warn_duplicates(joint, "z" if joint is self.z else f"(z, {target_name})")

    def _prepare(self, x, name):
        est = self.estimator
        if est == "binning" and self.p.estimator == "auto" and is_discrete_valued(x):
            return _binning.value_codes(x)  # "auto" takes discrete data as it is, unbinned
        if est == "binning" and self.is_reference:
            return ref.discretize(_np(x), self.p.bins, self.p.bin_range)
        if est == "binning":
            return _binning.discretize(x, self.p.bins, self.p.bin_range)
        if est == "kde" and (name == "z") == self.kde_layer_is_target:
            return x  # the discrete side: classes from its rows
        x = x.astype(np.float64, copy=False) if isinstance(x, np.ndarray) else x.double()
        return jitter(x, self.p.noise, self.p.rng)

    @property
    def is_reference(self) -> bool:
        return isinstance(self.backend, str)


def _cat(a, b):
    if isinstance(a, torch.Tensor):
        return torch.cat([a, b.to(a.device, a.dtype)], dim=1)
    return np.concatenate([a, b], axis=1)


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _columns(x, idx):
    return x[:, idx] if not isinstance(idx, int) else x[:, idx:idx + 1]


# --- the estimate dispatch (nats) -------------------------------------------------------------


def _entropy_nats(d: _Data, z) -> float:
    p, be = d.p, d.backend
    est = "knn" if d.estimator == "mixed" else d.estimator
    if d.is_reference:
        z = _np(z)
        if est == "binning":
            return ref.entropy_discrete(z)
        if est == "kde":
            return ref.entropy_kde(z, p.sigma2)
        return ref.entropy_kl(z, p.k, p.metric)
    if est == "binning":
        return _binning.entropy(be, z)
    if est == "kde":
        return _kde.entropy(be, z, p.sigma2)
    return _knn.kl_entropy(be, z, p.k, p.metric)


def _mi_nats(d: _Data, z) -> float:
    nats = _mi_nats_unchecked(d, z)
    return _knn.check_mixed_bound(nats, d.labels) if d.estimator == "mixed" else nats


def _mi_nats_unchecked(d: _Data, z) -> float:
    p, be, w = d.p, d.backend, d.w
    if d.is_reference:
        z = _np(z)
        if d.estimator == "binning":
            return ref.mutual_information_discrete(z, _np(w))
        if d.estimator == "mixed":
            return ref.mutual_information_mixed(z, d.labels, p.k)
        if d.estimator == "kde" and d.kde_layer_is_target:
            return ref.mutual_information_kde(_np(w), as_row_classes(z), p.sigma2)
        if d.estimator == "kde":
            return ref.mutual_information_kde(z, d.labels, p.sigma2)
        return ref.mutual_information_ksg(z, _np(w), p.k)
    if d.estimator == "binning":
        return _binning.mutual_information(be, z, w)
    if d.estimator == "mixed":
        return _knn.mixed_mutual_information(be, z, d.labels, p.k)
    if d.estimator == "kde" and d.kde_layer_is_target:
        return _kde.mutual_information(be, w, p.sigma2, as_row_classes(z))
    if d.estimator == "kde":
        return _kde.mutual_information(be, z, p.sigma2, d.labels)
    return _knn.ksg_mutual_information(be, z, w, p.k)


def _mi_loo_nats(d: _Data) -> np.ndarray:
    p, be, z, w = d.p, d.backend, d.z, d.w
    if d.is_reference or d.kde_layer_is_target:  # the latter: one class partition per column
        return ref.leave_one_out(lambda zj, _: _mi_nats(d, zj), _np(z), None)
    if d.estimator == "binning":
        return _binning.mutual_information_loo(be, z, w)
    if d.estimator == "mixed":
        return _knn.check_mixed_bound(_knn.mixed_mutual_information_loo(be, z, d.labels, p.k),
                                      d.labels)
    if d.estimator == "kde":
        return _kde.mutual_information_loo(be, z, p.sigma2, d.labels)
    return _knn.ksg_mutual_information_loo(be, z, w, p.k)


def _entropy_loo_nats(d: _Data) -> np.ndarray:
    p, be, z = d.p, d.backend, d.z
    est = "knn" if d.estimator == "mixed" else d.estimator
    if d.is_reference:
        return ref.leave_one_out(lambda zj, _: _entropy_nats(d, zj), _np(z), None)
    if est == "binning":
        return _binning.entropy_loo(be, z)
    if est == "kde":
        return _kde.entropy_loo(be, z, p.sigma2)
    return _knn.kl_entropy_loo(be, z, p.k, p.metric)


def _per_feature_mi_nats(d: _Data) -> np.ndarray:
    m = d.z.shape[1]
    columns = tqdm(range(m), desc="per-feature MI", leave=False,
                   disable=m < _PROGRESS_MIN_FEATURES)
    return np.array([_mi_nats(d, _columns(d.z, j)) for j in columns])


def _cmi_nats(d: _Data) -> float:
    p, be = d.p, d.backend
    z, w, v = d.z, d.w, d.v
    if d.estimator in ("mixed", "kde"):
        # chain rule: I(Z; W | V) = I(Z, V; W) - I(V; W), each with the labels as target
        return _mi_nats(d, _cat(z, v)) - _mi_nats(d, v)
    if d.is_reference:
        if d.estimator == "binning":
            return ref.conditional_mutual_information_discrete(_np(z), _np(w), _np(v))
        return ref.conditional_mutual_information_ksg(_np(z), _np(w), _np(v), p.k)
    if d.estimator == "binning":
        return _binning.conditional_mutual_information(be, z, w, v)
    return _knn.frenzel_pompe_cmi(be, z, w, v, p.k)


# --- public API -------------------------------------------------------------------------------

_COMMON_DOC = """
    estimator : {"auto", "binning", "knn", "mixed", "kde"}, default "auto". "auto": binning for
        discrete-valued z (integers, or few distinct values per column: each value its own bin),
        mixed for integer class labels as the target, knn otherwise.
    k : int, default 3. Neighbours of the k-NN estimators (1 <= k < n).
    bins : int, default 30. Equal-width bins of the binning estimator.
    bin_range : None, "column" or (low, high). None: one range [min, max] over the whole array.
        The per-feature and leave-one-out terms keep the grid of the whole ``z``, so that the
        terms of a synergy share it; to reproduce them with your own loop over
        ``np.delete(z, j, axis=1)``, pass ``bin_range=(z.min(), z.max())`` (or "column").
    metric : {"max", "euclidean"}, default "max". Norm of the KL entropy (KSG/mixed: max-norm).
    sigma2 : float, default 1e-3. Noise variance of the KDE bound.
    base : 2, "e" or a positive number, default 2 (bits).
    backend : {"auto", "cpu", "cuda", "triton", "reference"}, default "auto".
    noise : float, default 0. Relative jitter added to continuous inputs of k-NN/KDE estimators
        to break ties (duplicate points, discrete-valued data, which k-NN estimators otherwise
        refuse); reproducible through ``random_state``.
    random_state : int, numpy Generator or None. Seeds ``noise``.
"""


def _with_common_doc(fn):
    fn.__doc__ = fn.__doc__.replace("    {common}\n", _COMMON_DOC.strip("\n") + "\n")
    return fn


_OPTIONS = ("estimator", "k", "bins", "bin_range", "metric", "sigma2", "base", "noise",
            "random_state")


def _make_params(arguments: dict) -> _Params:
    """Validated options from a public function's ``locals()``."""
    p = _params(**{name: arguments[name] for name in _OPTIONS})
    p.backend_name = arguments["backend"]
    return p


def _scalar(nats: float, p: _Params) -> float:
    return float(nats) / p.log_base


def _vector(nats: np.ndarray, p: _Params, origin: Origin):
    return origin.wrap(np.asarray(nats, dtype=np.float64) / p.log_base)


def _targets(w) -> tuple[list, bool]:
    """A list or tuple of arrays is several targets; anything else is one."""
    if isinstance(w, (list, tuple)) and len(w) > 0 and all(hasattr(t, "shape") for t in w):
        return list(w), True
    return [w], False


@_with_common_doc
def entropy(z, *, estimator="auto", k=3, bins=30, bin_range=None, metric="max", sigma2=1e-3,
            base=2, backend="auto", noise=0.0, random_state=None) -> float:
    """Entropy H(Z) of the rows of ``z`` (n samples, d features; 1-D means one feature).

    Differential entropy for continuous estimators (KL, KDE bound), discrete entropy for binning.

    Parameters
    ----------
    z : array (n, d)
    {common}
    """
    p = _make_params(locals())
    d = _Data(p, z, entropy_only=True)
    return _scalar(_entropy_nats(d, d.z), p)


@_with_common_doc
def mutual_information(z, w, *, estimator="auto", k=3, bins=30, bin_range=None, metric="max",
                       sigma2=1e-3, base=2, backend="auto", noise=0.0, random_state=None) -> float:
    """Mutual information I(Z; W), raw (it may come out slightly negative: never clipped).

    Bias: binning is the plug-in estimate of the binned variables (biased up for few samples per
    pattern, and exactly H(W) once every row of z is distinct); KSG and mixed are biased towards
    0 in many dimensions; the KDE value is an upper-bound estimate that depends on ``sigma2``.
    The mixed estimate never exceeds psi(n) - <psi(N_y)> (about H(Y)) without distance ties: a
    value past it raises a ValueError.

    Parameters
    ----------
    z : array (n, d)
    w : array (n,) of integer class labels, or (n, q). For "kde", a discrete variable: class
        labels or discrete inputs (each distinct row a class); ``z`` may be the discrete side
        instead, the other argument then being the noisy layer. Two continuous arguments raise a
        ValueError (to bound I(X;T) of a layer computed from continuous X, pass X's row ids).
    {common}

    Returns
    -------
    float, in bits by default (``base``).
    """
    p = _make_params(locals())
    d = _Data(p, z, w)
    return _scalar(_mi_nats(d, d.z), p)


@_with_common_doc
def conditional_mutual_information(z, w, v, *, estimator="auto", k=3, bins=30, bin_range=None,
                                   metric="max", sigma2=1e-3, base=2, backend="auto", noise=0.0,
                                   random_state=None) -> float:
    """Conditional mutual information I(Z; W | V).

    k-NN: Frenzel-Pompe (KSG in the joint space of (Z, W, V)); binning: plug-in
    H(Z,V) + H(W,V) - H(Z,W,V) - H(V); mixed and KDE (W class labels): the chain rule
    I(Z,V; W) - I(V; W).

    Parameters
    ----------
    z : array (n, d)
    w : array (n,) of class labels or (n, q)
    v : array (n, r), the condition
    {common}
    """
    p = _make_params(locals())
    d = _Data(p, z, w, condition=v)
    return _scalar(_cmi_nats(d), p)


@_with_common_doc
def interaction_information(a, b, w, *, estimator="auto", k=3, bins=30, bin_range=None,
                            metric="max", sigma2=1e-3, base=2, backend="auto", noise=0.0,
                            random_state=None) -> float:
    """Interaction information II(A; B; W) = I(A,B; W) - I(A; W) - I(B; W).

    Positive = synergy (A and B together tell more about W than apart), negative = redundancy:
    the sign of the GIB paper. McGill's co-information is its negative (``co_information``).
    XOR: A, B fair bits and W = A xor B give +1 bit.

    Parameters
    ----------
    a : array (n, d_a)
    b : array (n, d_b)
    w : array (n,) of class labels or (n, q), the target
    {common}
    """
    p = _make_params(locals())
    a_arr = as_matrix(a, "a")[0]
    b_arr = as_matrix(b, "b")[0]
    check_same_rows({"a": a_arr, "b": b_arr})
    if is_integer(a_arr) != is_integer(b_arr):
        raise TypeError("'a' and 'b' must both be integer (discrete) or both be float arrays")
    d = _Data(p, _cat(a_arr, b_arr), w)
    split = a_arr.shape[1]
    za, zb = d.z[:, :split], d.z[:, split:]
    return _scalar(_mi_nats(d, d.z) - _mi_nats(d, za) - _mi_nats(d, zb), p)


def co_information(a, b, w, **kwargs) -> float:
    """McGill's co-information I(A; B; W) = I(A; W) - I(A; W | B): the NEGATIVE of
    ``interaction_information`` (positive = redundancy), the convention of HOI and infomeasure.
    Takes the same keywords as ``interaction_information``."""
    return -interaction_information(a, b, w, **kwargs)


@_with_common_doc
def per_feature_mutual_information(z, w, *, estimator="auto", k=3, bins=30, bin_range=None,
                                   metric="max", sigma2=1e-3, base=2, backend="auto", noise=0.0,
                                   random_state=None):
    """The vector I(Z_j; W) of each single feature of ``z`` with the target (scikit-learn's
    ``mutual_info_classif`` task, without its clipping at zero). Returned in the caller's array type.

    Parameters
    ----------
    z : array (n, m)
    w : array (n,) of class labels or (n, q)
    {common}
    """
    p = _make_params(locals())
    d = _Data(p, z, w)
    return _vector(_per_feature_mi_nats(d), p, d.origin)


@_with_common_doc
def leave_one_out_entropy(z, *, estimator="auto", k=3, bins=30, bin_range=None, metric="max",
                          sigma2=1e-3, base=2, backend="auto", noise=0.0, random_state=None):
    """The vector H(Z_-j): the entropy of ``z`` without column j, for every j, fused so that all
    m estimates cost about one. A single column leaves nothing: H = 0.

    Parameters
    ----------
    z : array (n, m)
    {common}
    """
    p = _make_params(locals())
    d = _Data(p, z, entropy_only=True)
    return _vector(_entropy_loo_nats(d), p, d.origin)


@_with_common_doc
def leave_one_out_mutual_information(z, w, *, estimator="auto", k=3, bins=30, bin_range=None,
                                     metric="max", sigma2=1e-3, base=2, backend="auto",
                                     noise=0.0, random_state=None):
    """The vector I(Z_-j; W) for every feature j of ``z`` (``Z_-j``: z without column j): the
    all-features-vs-rest loop, fused so that all m estimates cost about one full estimate.

    ``w`` may be a list of targets (e.g. ``[labels, x]``); the result is then a list of vectors,
    and the k-NN targets share one pass over the pairs of ``z`` (with ``noise``, the jitter of
    ``z`` drawn for the first of them serves all).
    A single column leaves nothing: I(Z_-0; W) = 0.

    Parameters
    ----------
    z : array (n, m)
    w : array (n,) of class labels or (n, q), or a list of such arrays
    {common}
    """
    p = _make_params(locals())
    targets, several = _targets(w)
    datas = [_Data(p, z, target) for target in targets]
    nats = [None] * len(datas)
    # k-NN targets share one pass over the pairs of z where the backend can do that.
    shared = [i for i, d in enumerate(datas) if d.estimator in ("knn", "mixed")
              and hasattr(d.backend, "knn_loo_maxnorm_targets")]
    if len(shared) > 1:
        first = datas[shared[0]]
        pairs = [(datas[i].estimator, datas[i].labels if datas[i].estimator == "mixed"
                  else datas[i].w) for i in shared]
        for i, values in zip(shared, _knn.mutual_information_loo_targets(
                first.backend, first.z, pairs, p.k)):
            mixed = datas[i].estimator == "mixed"
            nats[i] = _knn.check_mixed_bound(values, datas[i].labels) if mixed else values
    results = [_vector(v if v is not None else _mi_loo_nats(d), p, d.origin)
               for v, d in zip(nats, datas)]
    return results if several else results[0]


def _synergy_profile_nats(d: _Data) -> np.ndarray:
    full = _mi_nats(d, d.z)
    return full - _per_feature_mi_nats(d) - _mi_loo_nats(d)


@_with_common_doc
def synergy_profile(z, w, *, estimator="auto", k=3, bins=30, bin_range=None, metric="max",
                    sigma2=1e-3, base=2, backend="auto", noise=0.0, random_state=None):
    """Feature-wise synergy s_j = II(Z_j; Z_-j; W) = I(Z; W) - I(Z_j; W) - I(Z_-j; W).

    Positive s_j: feature j carries information about W only jointly with the others
    (synergy); negative: what it carries is also in the others (redundancy). XOR of two bits
    gives (1, 1) bit; a duplicated bit predicting itself gives (-1, -1).

    Parameters
    ----------
    z : array (n, m), the sources (input features, or the units of a layer)
    w : array (n,) of class labels or (n, q), the target
    {common}
    """
    p = _make_params(locals())
    d = _Data(p, z, w)
    return _vector(_synergy_profile_nats(d), p, d.origin)


@_with_common_doc
def synergy(z, w, *, estimator="auto", k=3, bins=30, bin_range=None, metric="max", sigma2=1e-3,
            base=2, backend="auto", noise=0.0, random_state=None) -> float:
    """Synergy S(Z -> W) = (1/m) sum_j s_j, the mean feature-wise synergy (docs/science.md,
    "The quantities").

    This is the plain average of ``synergy_profile``; the GIB paper's PMI-based reweighting is
    not applied.

    Parameters
    ----------
    z : array (n, m), the sources
    w : array (n,) of class labels or (n, q), the target
    {common}
    """
    p = _make_params(locals())
    d = _Data(p, z, w)
    return _scalar(float(np.mean(_synergy_profile_nats(d))), p)
