"""The functional API: entropy, mutual information, conditional MI, interaction information,
the leave-one-feature-out loop and synergy.

Conventions (see the package docstring): results in bits by default (``base=2``; ``base="e"``
gives nats); positive interaction information is synergy, negative is redundancy (the GIB
paper's sign; ``co_information`` is McGill's, the negative); estimates are returned raw, never
clipped at zero.

Estimators (``estimator=``): a name of the registry ``estimators.ESTIMATORS`` with its options
as keywords, or the object (``estimators.KNN(k=5)``), whose class documents each option:

- ``"binning"``: plug-in entropy of discretised patterns (``bins`` equal-width bins).
- ``"knn"``: Kozachenko-Leonenko entropy, KSG mutual information (algorithm 1, max-norm),
  Frenzel-Pompe conditional MI.
- ``"mixed"``: Ross (2014) for a continuous, multivariate ``z`` against integer class labels.
- ``"kde"``: the Kolchinsky-Tracey pairwise-distance upper bound for ``T`` + N(0, sigma2 I),
  against a discrete variable (class labels, or discrete inputs whose distinct rows are the
  classes); a continuous target is refused.
- ``"gaussian"``: Gaussian-copula estimates (Ince et al. 2017), computed with torch.
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

import numpy as np

from typing import NamedTuple

from ._validation import Origin, as_matrix, check_same_rows, is_integer
from .estimators.inputs import Inputs, Request
from .estimators.shared import cat, knn_loo_targets

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
    "information_terms",
    "InformationTerms",
]

def _synergy_profile_nats(d: Inputs) -> np.ndarray:
    full, per_feature, without = d.family.information_terms(d)
    return full - per_feature - without


# --- public API -------------------------------------------------------------------------------

_COMMON_DOC = """
    estimator : "auto", a name or an estimator object, default "auto". The names are those of
        ``gib_kernels.estimators.ESTIMATORS`` ("binning", "knn", "mixed", "kde", "gaussian");
        the objects are their classes (``gib_kernels.estimators.KNN(k=5)``), whose docstrings
        give each option with its units and bias. "auto": binning for discrete-valued z
        (integers, or few distinct values per column: each value its own bin), mixed for integer
        class labels as the target, knn otherwise.
    base : 2, "e" or a positive number, default 2 (bits).
    backend : {"auto", "cpu", "cuda", "triton", "reference"}, default "auto". The Gaussian
        estimator runs on torch on the data's device and says so when asked for another.
    **options : the named estimator's options, as its class takes them (``estimator="knn",
        k=5`` is ``estimator=KNN(k=5)``). With "auto", each option goes to the families it may
        choose that take it (binning: bins, bin_range; knn: k, metric, noise, random_state;
        mixed: k, noise, random_state) and applies to the one it chooses. An option no family
        takes, or any option beside an estimator object, is a TypeError; an option of another
        family warns (FutureWarning) and is ignored.
"""


def _with_common_doc(fn):
    fn.__doc__ = fn.__doc__.replace("    {common}\n", _COMMON_DOC.strip("\n") + "\n")
    return fn


def _scalar(nats: float, p: Request) -> float:
    return float(nats) / p.log_base


def _vector(nats: np.ndarray, p: Request, origin: Origin):
    return origin.wrap(np.asarray(nats, dtype=np.float64) / p.log_base)


def _targets(w) -> tuple[list, bool]:
    """A list or tuple of arrays is several targets; anything else is one."""
    if isinstance(w, (list, tuple)) and len(w) > 0 and all(hasattr(t, "shape") for t in w):
        return list(w), True
    return [w], False


@_with_common_doc
def entropy(z, *, estimator="auto", base=2, backend="auto", **options) -> float:
    """Entropy H(Z) of the rows of ``z`` (n samples, d features; 1-D means one feature).

    Differential entropy for continuous estimators (KL, KDE bound), discrete entropy for binning.

    Parameters
    ----------
    z : array (n, d)
    {common}
    """
    p = Request(estimator, options, base, backend)
    d = Inputs(p, z, entropy_only=True)
    return _scalar(d.family.entropy(d, d.z), p)


@_with_common_doc
def mutual_information(z, w, *, estimator="auto", base=2, backend="auto", **options) -> float:
    """Mutual information I(Z; W), raw (it may come out slightly negative: never clipped).

    Bias: binning is the plug-in estimate of the binned variables (biased up for few samples per
    pattern, and exactly H(W) once every row of z is distinct); KSG and mixed are biased towards
    0 in many dimensions; the KDE value is an upper-bound estimate that depends on ``sigma2``.
    The mixed estimate never exceeds psi(n) - <psi(N_y)> (about H(Y)) without distance ties: a
    value past it raises a ValueError. The Gaussian estimate against labels, H(Y) + mean log
    q(y|z) of the fitted class model, stays below H(Y) and is biased down where a class has few
    samples against the m^2 / 2 entries of its covariance (docs/science.md, "Known bias").

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
    p = Request(estimator, options, base, backend)
    d = Inputs(p, z, w)
    return _scalar(d.family.mutual_information(d, d.z), p)


@_with_common_doc
def conditional_mutual_information(z, w, v, *, estimator="auto", base=2, backend="auto",
                                   **options) -> float:
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
    p = Request(estimator, options, base, backend)
    d = Inputs(p, z, w, condition=v)
    return _scalar(d.family.conditional_mutual_information(d), p)


@_with_common_doc
def interaction_information(a, b, w, *, estimator="auto", base=2, backend="auto",
                            **options) -> float:
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
    p = Request(estimator, options, base, backend)
    a_arr = as_matrix(a, "a")[0]
    b_arr = as_matrix(b, "b")[0]
    check_same_rows({"a": a_arr, "b": b_arr})
    if is_integer(a_arr) != is_integer(b_arr):
        raise TypeError("'a' and 'b' must both be integer (discrete) or both be float arrays")
    d = Inputs(p, cat(a_arr, b_arr), w)
    split = a_arr.shape[1]
    za, zb = d.z[:, :split], d.z[:, split:]
    mi = d.family.mutual_information
    return _scalar(mi(d, d.z) - mi(d, za) - mi(d, zb), p)


def co_information(a, b, w, **kwargs) -> float:
    """McGill's co-information I(A; B; W) = I(A; W) - I(A; W | B): the NEGATIVE of
    ``interaction_information`` (positive = redundancy), the convention of HOI and infomeasure.
    Takes the same keywords as ``interaction_information``."""
    return -interaction_information(a, b, w, **kwargs)


@_with_common_doc
def per_feature_mutual_information(z, w, *, estimator="auto", base=2, backend="auto",
                                   **options):
    """The vector I(Z_j; W) of each single feature of ``z`` with the target (scikit-learn's
    ``mutual_info_classif`` task, without its clipping at zero). Returned in the caller's array type.

    Parameters
    ----------
    z : array (n, m)
    w : array (n,) of class labels or (n, q)
    {common}
    """
    p = Request(estimator, options, base, backend)
    d = Inputs(p, z, w)
    return _vector(d.family.per_feature_mutual_information(d), p, d.origin)


@_with_common_doc
def leave_one_out_entropy(z, *, estimator="auto", base=2, backend="auto", **options):
    """The vector H(Z_-j): the entropy of ``z`` without column j, for every j, fused so that all
    m estimates cost about one. A single column leaves nothing: H = 0.

    Parameters
    ----------
    z : array (n, m)
    {common}
    """
    p = Request(estimator, options, base, backend)
    d = Inputs(p, z, entropy_only=True)
    return _vector(d.family.entropy_loo(d), p, d.origin)


@_with_common_doc
def leave_one_out_mutual_information(z, w, *, estimator="auto", base=2, backend="auto", **options):
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
    p = Request(estimator, options, base, backend)
    targets, several = _targets(w)
    datas = [Inputs(p, z, target) for target in targets]
    nats = [None] * len(datas)
    # k-NN targets share one pass over the pairs of z where the backend fuses targets.
    shared = [i for i, d in enumerate(datas) if hasattr(d.family, "fused_target")]
    if len(shared) > 1 and datas[shared[0]].backend.fuses_targets:
        first = datas[shared[0]]
        pairs = [datas[i].family.fused_target(datas[i]) for i in shared]
        for i, values in zip(shared, knn_loo_targets(first.backend, first.z, pairs, first.p.k)):
            nats[i] = values
    results = [_vector(v if v is not None else d.family.mutual_information_loo(d), p, d.origin)
               for v, d in zip(nats, datas)]
    return results if several else results[0]


@_with_common_doc
def synergy_profile(z, w, *, estimator="auto", base=2, backend="auto", **options):
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
    p = Request(estimator, options, base, backend)
    d = Inputs(p, z, w)
    return _vector(_synergy_profile_nats(d), p, d.origin)


@_with_common_doc
def synergy(z, w, *, estimator="auto", base=2, backend="auto", **options) -> float:
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
    p = Request(estimator, options, base, backend)
    d = Inputs(p, z, w)
    return _scalar(float(np.mean(_synergy_profile_nats(d))), p)


class InformationTerms(NamedTuple):
    """What ``information_terms`` returns, in the caller's base: I(Z; W) (float) and the vectors
    I(Z_j; W), I(Z_-j; W) and s_j = I(Z; W) - I(Z_j; W) - I(Z_-j; W), in the caller's array
    type; ``spread``: for an estimate repeated over seeds (the predictive family's ``repeats``
    > 1), the standard deviations of those four over the repeats as an ``InformationTerms``
    (its own ``spread`` None), else None."""

    mutual_information: float
    per_feature: object
    leave_one_out: object
    synergy_profile: object
    spread: "InformationTerms | None" = None


@_with_common_doc
def information_terms(z, w, *, estimator="auto", base=2, backend="auto",
                      **options) -> InformationTerms:
    """I(Z; W), the per-feature I(Z_j; W), the leave-one-out I(Z_-j; W) and the synergy profile
    from one call: the terms of ``synergy_profile`` with the estimate of I(Z; W) it makes anyway
    (a fused leave-one-out pass that gives the full estimate too is not repeated).

    Parameters
    ----------
    z : array (n, m), the sources
    w : array (n,) of class labels or (n, q), the target
    {common}

    Returns
    -------
    InformationTerms(mutual_information, per_feature, leave_one_out, synergy_profile)
    """
    p = Request(estimator, options, base, backend)
    d = Inputs(p, z, w)
    full, per_feature, without = d.family.information_terms(d)
    spread = d.cache.get("spread")  # a family's standard deviations over repeats, nats
    if spread is not None and len(d.cache.get("seeds", ())) > 1:
        spread = InformationTerms(_scalar(spread[0], p),
                                  *(_vector(v, p, d.origin) for v in spread[1:]))
    else:
        spread = None
    return InformationTerms(_scalar(full, p), _vector(per_feature, p, d.origin),
                            _vector(without, p, d.origin),
                            _vector(full - per_feature - without, p, d.origin), spread)
