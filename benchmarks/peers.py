"""gib_kernels against the libraries a user would otherwise reach for: one adapter per
(provider, task), the workload data and the closed-form cases, shared by ``bm_peers.py``
(pytest-benchmark) and ``compare.py`` (one process per measurement).

Every adapter has the same signature: ``adapter(z, y)`` does the untimed part (imports, data
layout, copies to a GPU) and returns a closure without arguments whose call is the timed
estimate. The closure returns nats: a float, or a vector of length m for the leave-one-out and
per-feature tasks. Peers are called the way their users call them (public functions, their
defaults except k = 3 and the natural log); where a peer has no fused leave-one-out or
per-feature form, the adapter is the user's loop over j.

Tasks (z: n x m; y: integer class labels):

- ``mixed_mi``: I(Z; Y) for a multivariate continuous Z (Ross 2014, or KSG with Y as a number);
- ``mixed_loo``: I(Z_-j; Y) for every column j, Z_-j being z without column j;
- ``per_feature_mi``: I(Z_j; Y) for every column j (scikit-learn's ``mutual_info_classif``);
- ``kl_entropy``: Kozachenko-Leonenko H(Z);
- ``binning_entropy``, ``binning_loo``: plug-in H(Z) and H(Z_-j) of integer codes.

Only numpy is imported here at module level: a peer's measurement process loads that peer's
library and nothing else (importing gib_kernels loads torch, about 200 MB of memory).
"""
from __future__ import annotations

import functools
import importlib.util
import math
from typing import Callable

import numpy as np

from tests.inputs import continuous, labels_for, layer_like

K = 3  # neighbours of every k-NN estimator
N_CLASSES = 10  # classes of the workload labels
BINS = 30  # equal-width bins over [-1, 1] of the binned workload (the classic tanh layer)

TASKS = ("mixed_mi", "mixed_loo", "per_feature_mi", "kl_entropy", "binning_entropy", "binning_loo")
LABEL_TASKS = ("mixed_mi", "mixed_loo", "per_feature_mi")
BINNING_TASKS = ("binning_entropy", "binning_loo")
VECTOR_TASKS = ("mixed_loo", "per_feature_mi", "binning_loo")

GIB_PROVIDERS = ("reference", "cpu", "cuda", "triton")
PEERS = ("hoi", "sklearn", "infomeasure", "ennemi", "numpy")
PROVIDERS = GIB_PROVIDERS + PEERS

# The module each peer needs and the package that installs it (pip install .[bench]).
_PEER_MODULES = {"hoi": ("hoi", "hoi"), "sklearn": ("sklearn", "scikit-learn"),
                 "infomeasure": ("infomeasure", "infomeasure"), "ennemi": ("ennemi", "ennemi"),
                 "numpy": ("numpy", "numpy")}

Estimate = Callable[[], "float | np.ndarray"]
# (provider, task) -> adapter(z, y) -> the timed closure
ADAPTERS: dict[tuple[str, str], Callable[[np.ndarray, "np.ndarray | None"], Estimate]] = {}


def unavailable_reason(provider: str) -> str | None:
    """Why `provider` cannot run here (a note for the skip), or None when it can."""
    if provider in _PEER_MODULES:
        module, package = _PEER_MODULES[provider]
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install .[bench])"
        return None
    from gib_kernels import backends

    # GPU backends are measured on CUDA copies of the data, as their users hold it.
    return backends.unavailable_reason(provider, data_on_cuda=provider in ("cuda", "triton"))


def _adapter(provider: str, *tasks: str):
    """Registers `make(task, z, y)` as the adapter of `provider` for each of `tasks`."""
    def register(make):
        for task in tasks:
            ADAPTERS[provider, task] = functools.partial(make, task)
        return make
    return register


# --- data -------------------------------------------------------------------------------------


def workload(task: str, n: int, m: int, seed: int = 0):
    """The timing data, from the tests' input builders: a tanh layer and labels that depend on
    it (mixed tasks), that layer in BINS bins (binning), correlated Gaussians (KL entropy).
    Returns (z, y) with y None for the entropy tasks."""
    rng = np.random.default_rng(seed)
    if task == "kl_entropy":
        return continuous(rng, n, m), None
    z = layer_like(rng, n, m, "tanh")
    if task in BINNING_TASKS:
        from gib_kernels.reference import discretize

        return discretize(z, BINS, (-1.0, 1.0)), None
    return z, labels_for(rng, z, N_CLASSES)


# Ross (2014), docs/science.md, "Reference values for tests": Y ~ Bernoulli(1/2), Z_0 | Y ~ U(Y - 1, Y + 1): I = log(2) / 2.
_ROSS_MI = 0.5 * math.log(2.0)
# Standard normal values cut at -2 and +2: three codes of known probabilities.
_CUTS = (-2.0, 2.0)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _cut_normal_entropy() -> float:
    tail = _normal_cdf(_CUTS[0])
    p = np.array([tail, 1.0 - 2.0 * tail, tail])
    return float(-np.sum(p * np.log(p)))


def _correlated_gaussian(rng, n: int, m: int):
    """n draws of N(0, S) with a random well-conditioned S; returns (z, S)."""
    a = rng.standard_normal((m, m))
    cov = a @ a.T / m + np.eye(m)
    return rng.multivariate_normal(np.zeros(m), cov, size=n), cov


def closed_form_case(task: str, n: int, m: int, seed: int = 1):
    """Data with a known answer, for the accuracy columns: (z, y, truth in nats).

    Mixed tasks: column 0 carries the Ross case's log(2)/2 nats about the binary labels, the
    m - 1 other columns are correlated Gaussian noise independent of them, so
    I(Z; Y) = I(Z_-j; Y) = log(2)/2 for j > 0, I(Z_-0; Y) = 0, and I(Z_j; Y) is log(2)/2 for
    j = 0 and 0 otherwise. KL entropy: N(0, S), whose entropy is
    ``gib_kernels.reference.gaussian_entropy(S)``. Binning: independent standard normals cut at
    -2 and +2, whose codes have entropy m times that of one cut normal.
    """
    rng = np.random.default_rng(seed)
    if task in LABEL_TASKS:
        y = rng.integers(0, 2, size=n)
        noise, _ = _correlated_gaussian(rng, n, m - 1)
        z = np.column_stack([rng.uniform(-1.0, 1.0, size=n) + y, noise])
        truth = {"mixed_mi": _ROSS_MI,
                 "mixed_loo": np.r_[0.0, np.full(m - 1, _ROSS_MI)],
                 "per_feature_mi": np.r_[_ROSS_MI, np.zeros(m - 1)]}[task]
        return z, y.astype(np.int64), truth
    if task == "kl_entropy":
        from gib_kernels.reference import gaussian_entropy

        z, cov = _correlated_gaussian(rng, n, m)
        return z, None, gaussian_entropy(cov)
    codes = np.digitize(rng.standard_normal((n, m)), _CUTS).astype(np.int64)
    h = _cut_normal_entropy()
    truth = m * h if task == "binning_entropy" else np.full(m, (m - 1) * h)
    return codes, None, truth


def abs_error(estimate, truth) -> float:
    """Absolute error in nats; for a vector, the mean over its entries."""
    return float(np.mean(np.abs(np.asarray(estimate, dtype=np.float64) - truth)))


# --- gib_kernels ------------------------------------------------------------------------------

_GIB_CALLS = {
    "mixed_mi": ("mutual_information", {"estimator": "mixed", "k": K}),
    "mixed_loo": ("leave_one_out_mutual_information", {"estimator": "mixed", "k": K}),
    "per_feature_mi": ("per_feature_mutual_information", {"estimator": "mixed", "k": K}),
    "kl_entropy": ("entropy", {"estimator": "knn", "k": K}),
    "binning_entropy": ("entropy", {"estimator": "binning"}),
    "binning_loo": ("leave_one_out_entropy", {"estimator": "binning"}),
}


def _gib(backend: str, task: str, z, y):
    import torch

    import gib_kernels as gk

    if backend in ("cuda", "triton"):
        z, y = (None if a is None else torch.as_tensor(a, device="cuda") for a in (z, y))
    name, options = _GIB_CALLS[task]
    estimate = getattr(gk, name)
    args = (z,) if y is None else (z, y)

    def run():
        result = estimate(*args, base="e", backend=backend, **options)
        # Vectors come back in the caller's array type; the copy to the host also waits for
        # the GPU.
        return result.cpu().numpy() if isinstance(result, torch.Tensor) else result
    return run


ADAPTERS.update({(backend, task): functools.partial(_gib, backend, task)
                 for backend in GIB_PROVIDERS for task in TASKS})


# --- the naive loops a peer's user writes -----------------------------------------------------
# (gib_kernels.reference.leave_one_out is the same loop, but importing it loads torch.)


def _leave_one_out(estimate_one, z) -> np.ndarray:
    return np.array([estimate_one(np.delete(z, j, axis=1)) for j in range(z.shape[1])])


def _per_column(estimate_one, z) -> np.ndarray:
    return np.array([estimate_one(z[:, j:j + 1]) for j in range(z.shape[1])])


def _over(task: str, estimate_one, z):
    """The task's closure from a single estimate `estimate_one(columns)` in nats."""
    if task in ("mixed_loo", "binning_loo"):
        return lambda: _leave_one_out(estimate_one, z)
    if task == "per_feature_mi":
        return lambda: _per_column(estimate_one, z)
    return lambda: float(estimate_one(z))


# --- HOI: jax, float32 by default, results in bits; (n_features, n_samples) layout ------------


@_adapter("hoi", "mixed_mi", "mixed_loo", "per_feature_mi")
def _hoi_mi(task, z, y):
    from hoi.core import get_mi

    mi = get_mi("knn", k=K)  # KSG; the labels are one more continuous variable
    labels = y[None, :].astype(np.float64)
    return _over(task, lambda zs: float(mi(zs.T, labels)) * math.log(2.0), z)


@_adapter("hoi", "kl_entropy", "binning_entropy", "binning_loo")
def _hoi_entropy(task, z, y):
    from hoi.core import get_entropy

    entropy = get_entropy("binning") if task in BINNING_TASKS else get_entropy("knn", k=K)
    return _over(task, lambda zs: float(entropy(zs.T)) * math.log(2.0), z)


# --- scikit-learn: per feature only, clipped at zero --------------------------------------------


@_adapter("sklearn", "per_feature_mi")
def _sklearn_per_feature(task, z, y):
    from sklearn.feature_selection import mutual_info_classif

    return lambda: mutual_info_classif(z, y, n_neighbors=K, random_state=0)


# --- infomeasure: KSG (labels as a continuous variable), KL, discrete ------------------------


@_adapter("infomeasure", "mixed_mi", "mixed_loo", "per_feature_mi")
def _infomeasure_mi(task, z, y):
    import infomeasure as im

    def mi(zs):
        return im.mutual_information(zs, y, approach="ksg", k=K, base="e")
    return _over(task, mi, z)


@_adapter("infomeasure", "kl_entropy", "binning_entropy", "binning_loo")
def _infomeasure_entropy(task, z, y):
    import infomeasure as im

    options = {"approach": "discrete"} if task in BINNING_TASKS else {"approach": "kl", "k": K}
    return _over(task, lambda zs: im.entropy(zs, base="e", **options), z)


# --- ennemi: per-column estimate_mi; its multivariate Ross estimator is internal -------------


@_adapter("ennemi", "mixed_mi", "mixed_loo")
def _ennemi_mi(task, z, y):
    from ennemi._entropy_estimators import _estimate_semidiscrete_mi

    return _over(task, lambda zs: _estimate_semidiscrete_mi(zs, y, k=K), z)


@_adapter("ennemi", "per_feature_mi")
def _ennemi_per_feature(task, z, y):
    from ennemi import estimate_mi

    return lambda: estimate_mi(y, z, k=K, discrete_y=True)[0]


@_adapter("ennemi", "kl_entropy", "binning_entropy", "binning_loo")
def _ennemi_entropy(task, z, y):
    from ennemi import estimate_entropy

    def entropy(zs):
        return estimate_entropy(zs, k=K, multidim=True, discrete=task in BINNING_TASKS)
    return _over(task, entropy, z)


# --- numpy: the np.unique loop of the classic information-plane code (Saxe et al. 2018) ------


@_adapter("numpy", "binning_entropy", "binning_loo")
def _numpy_entropy(task, z, y):
    def entropy(codes):
        # One opaque byte string per row, so np.unique compares whole rows at once.
        row_bytes = codes.dtype.itemsize * codes.shape[1]
        rows = np.ascontiguousarray(codes).view(np.dtype((np.void, row_bytes)))
        p = np.unique(rows, return_counts=True)[1] / codes.shape[0]
        return float(-np.sum(p * np.log(p)))
    return _over(task, entropy, z)
