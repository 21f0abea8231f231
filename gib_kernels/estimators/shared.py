"""What several estimator families use, in one place: array helpers, the value codes of discrete
data, float preparation (with tie-breaking noise), the duplicate-row and wide-data warnings, the
loops for families without a fused form, and the k-NN pieces that KSG and Ross's mixed estimator
share (their leave-one-out pass over several targets). Families import this module, never each
other."""
from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.special import digamma

from .._config import progress_bar
from .._validation import jitter

# --- saturation ---------------------------------------------------------------------------------

# An entropy-like term of n samples (binning's H, the KDE bound's -<log mean kernel>) is at
# most log n, reached when each sample is its own pattern or kernel; at or above this fraction
# of it the estimate counts the samples rather than measures the data.
SATURATION = 0.98


def is_saturated(nats, n: int):
    """Whether each value of ``nats`` (entropy-like, of n samples) is within 2% of log n."""
    return np.asarray(nats) >= SATURATION * np.log(n) if n > 1 else \
        np.zeros(np.shape(nats), dtype=bool)


# --- arrays -----------------------------------------------------------------------------------


def cat(a, b):
    """Columns of a and b side by side, in a's array type."""
    if isinstance(a, torch.Tensor):
        return torch.cat([a, b.to(a.device, a.dtype)], dim=1)
    return np.concatenate([a, b], axis=1)


def column(x, j: int):
    """Column j of x as an (n, 1) array."""
    return x[:, j:j + 1]


def value_codes(x):
    """int64 codes of a discrete-valued array, one per distinct value of a column: integers as
    they are, floats by the bits of their float64 value (-0.0 and 0.0 are one value)."""
    if isinstance(x, torch.Tensor):
        if not x.dtype.is_floating_point:
            return x.to(torch.int64)
        return (x.to(torch.float64) + 0.0).contiguous().view(torch.int64)
    x = np.asarray(x)
    if x.dtype.kind in "biu":
        return x.astype(np.int64)
    return (np.ascontiguousarray(x, dtype=np.float64) + 0.0).view(np.int64)


def prepare_floats(d, x, name):
    """float64 (jittered where the estimator's ``noise`` asks for it, from the call's rng)."""
    x = x.astype(np.float64, copy=False) if isinstance(x, np.ndarray) else x.double()
    return jitter(x, d.p.noise, d.rng)


# --- loops ------------------------------------------------------------------------------------


def per_feature_loop(estimate, z) -> np.ndarray:
    """[estimate(column j of z) for every j]: an estimate column by column."""
    columns = progress_bar(range(z.shape[1]), desc="per-feature MI")
    return np.array([estimate(column(z, j)) for j in columns])


def leave_one_out_loop(estimate, z) -> np.ndarray:
    """[estimate(z without column j) for every j]: the naive loop, for estimators without a
    fused form. A single column leaves nothing: 0."""
    m = z.shape[1]
    if m == 1:
        return np.zeros(1)
    keep = [[c for c in range(m) if c != j] for j in range(m)]
    return np.array([estimate(z[:, idx]) for idx in keep])


# --- warnings ---------------------------------------------------------------------------------


def warn_duplicates(be, x, name: str) -> None:
    """Warns when rows of x repeat: k-NN estimators assume distinct points."""
    n = int(x.shape[0])
    distinct = int(be.pattern_counts(be.ints(value_codes(x)), None).size)
    if distinct < n:
        warnings.warn(
            f"'{name}' has {n - distinct} duplicate rows: k-NN estimators assume distinct points "
            "(zero distances bias them). Pass noise=1e-10 (with random_state) to break ties, "
            "or use estimator='binning' for discrete data.",
            UserWarning, stacklevel=5)  # the caller of the public function


_TIE_SAMPLE_ROWS = 4096


def _repeats_values(x) -> bool:
    """Whether a column of x holds a value twice (on its first _TIE_SAMPLE_ROWS rows)."""
    x = x[:_TIE_SAMPLE_ROWS]
    if isinstance(x, torch.Tensor):
        ordered = torch.sort(x, dim=0).values
        return bool((ordered[1:] == ordered[:-1]).any())
    ordered = np.sort(np.asarray(x), axis=0)
    return bool((ordered[1:] == ordered[:-1]).any())


def refuse_float32_ties(be, noise: float, arrays: dict) -> None:
    """Refuses tied data broken by ``noise`` on a float32 backend (Triton). The jitter separates
    tied values by about noise x their scale, below float32's resolution (about 1e-7 relative)
    for noise=1e-10, and leaves the distances of discrete data in bands (two 12-bit rows are 0
    or 1 apart, plus the jitter) where pairs differ by less than that resolution even for larger
    noise: distances come out 0 or tied again and the estimate would be silently wrong."""
    if not noise or be is None:
        return
    if be.floats(next(iter(arrays.values()))[:1]).dtype not in (np.float32, torch.float32):
        return
    for name, x in arrays.items():
        if _repeats_values(x):
            raise ValueError(
                f"the {be.name!r} backend computes distances in float32, which cannot tell "
                f"apart the tied values of '{name}' once a jitter has broken them: its k-NN "
                "estimate would be silently wrong. Use backend='cpu' (float64), or "
                "estimator='binning' for discrete data.")


# Past this many dimensions k-NN estimates lose most of their signal (docs/science.md, "Known
# bias"): the first estimate on wider data says so, once per process.
WIDE_DIMENSIONS = 20
_warned_wide = False


def warn_if_wide(dimensions: int, estimator: str) -> None:
    global _warned_wide
    if dimensions > WIDE_DIMENSIONS and not _warned_wide:
        _warned_wide = True
        warnings.warn(
            f"the {estimator!r} k-NN estimate works in {dimensions} dimensions: past about "
            f"{WIDE_DIMENSIONS}, k-NN mutual information is biased towards 0 (half the true value "
            "at 16 dimensions in docs/science.md). estimator='gaussian' stays meaningful on wide "
            "layers. This warning is shown once.", UserWarning, stacklevel=5)


# --- the k-NN pieces KSG and Ross's mixed estimator share --------------------------------------


def ksg_from_sums(sums: np.ndarray, n: int, m: int, k: int) -> np.ndarray:
    """I(Z_-j; W) for every j from the sums of ``knn_loo_maxnorm`` with a w (entry m, if
    asked for: I(Z; W), all columns)."""
    return digamma(k) + digamma(n) - (sums[1, :m] + sums[2, :m]) / n


class LabelClasses:
    """Points whose label is not unique (Ross and scikit-learn drop the others) and the terms of
    Ross's estimate that need no neighbours."""

    def __init__(self, labels: np.ndarray, k: int):
        counts = np.bincount(labels)
        self.keep = counts[labels] > 1
        kept = labels[self.keep]
        self.labels = np.unique(kept, return_inverse=True)[1].astype(np.int64).reshape(-1)
        self.n = int(kept.size)
        class_size = counts[kept]
        k_i = np.minimum(k, class_size - 1)
        # psi(n) + <psi(k_i)> - <psi(N_y)>: the part of Ross's formula that needs no neighbours
        self.constant = float(digamma(self.n) + np.mean(digamma(k_i)) - np.mean(digamma(class_size)))
        self.bound = _mixed_bound(class_size)

    def select(self, be, z):
        if self.keep.all():
            return be.floats(z)
        if isinstance(z, np.ndarray):
            return be.floats(z[self.keep])
        return be.floats(z[torch.from_numpy(self.keep).to(z.device)])

    def from_sums(self, sums: np.ndarray, m: int) -> np.ndarray:
        """Ross's estimate without column j for every j from the sums of ``knn_loo_maxnorm``
        with these labels (entry m, if asked for: all columns)."""
        return self.constant - sums[1, :m] / self.n


def _mixed_bound(class_size: np.ndarray) -> float:
    """psi(n) - <psi(N_y)> over the points of labels that are not unique."""
    return float(digamma(class_size.size) - np.mean(digamma(class_size)))


def check_mixed_bound(nats, labels: np.ndarray, bound: float | None = None):
    """The mixed estimate(s) in nats, or a ValueError when one passes the estimator's bound.

    Without distance ties the k_i - 1 nearer same-label neighbours of a point lie strictly
    inside its radius, so m_i >= k_i - 1 and the estimate is at most psi(n) - <psi(N_y)> (about
    H(Y); points of unique labels left out). Only ties, points at exactly a k-th neighbour
    distance, make the strict counts fall below that. ``bound``: computed once per call
    (``LabelClasses.bound``), or here from the labels.
    """
    if bound is None:
        counts = np.bincount(labels)
        bound = _mixed_bound(counts[labels][counts[labels] > 1])
    worst = float(np.max(nats))
    if worst > bound + 1e-9 * max(1.0, abs(bound)):
        raise ValueError(
            f"the mixed estimate ({worst:.6g} nats) exceeds its bound psi(n) - <psi(N_y)> = "
            f"{bound:.6g} nats (about H(Y)): many points share their k-th neighbour distance, so "
            "the strict radius counts fall short. Pass noise=1e-10 (with random_state) to break "
            "the ties, or use estimator='binning' for discrete data.")
    return nats


def knn_loo_targets(be, z, targets: list, k: int) -> list:
    """Leave-one-out MI against several targets with one ``knn_loo_maxnorm_targets`` call: one
    pass over the pairs of z where the backend ``fuses_targets``. ``targets`` holds ("mixed",
    labels) or ("knn", w) pairs; the kernel leaves out the points of unique labels itself."""
    n, m = z.shape
    if m == 1:
        return [np.zeros(1) for _ in targets]
    specs = [(be.ints(t), None) if kind == "mixed" else (None, be.floats(t)) for kind, t in targets]
    sums = be.knn_loo_maxnorm_targets(be.floats(z), specs, k)
    results = []
    for (kind, t), s in zip(targets, sums):
        if kind == "mixed":
            classes = LabelClasses(t, k)
            results.append(check_mixed_bound(classes.from_sums(s, m), t, classes.bound))
        else:
            results.append(ksg_from_sums(s, n, m, k))
    return results

