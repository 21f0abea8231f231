"""Gaussian-copula estimators (nats): entropy, mutual information, conditional MI and their
exact fused leave-one-feature-out forms, after Ince et al. 2017 (Human Brain Mapping 38:1541).
Formulas, assumptions and bias: docs/science.md, "Estimators".

- Copula (``copula=True``, default): every column goes through its empirical CDF and then the
  standard normal quantile, c = Phi^-1(r / (n + 1)) with r the 1-based rank (tied values share
  their average rank, so equal values stay equal). ``copula=False``: the data as it is.
- Entropy of d columns: H = (d/2) log(2 pi e) + (1/2) log det S, S the sample covariance (n - 1),
  less the analytic bias d (ln 2 - ln(n - 1)) / 2 + sum_{i=1..d} psi((n - i) / 2) / 2 where
  ``bias_correction`` (default).
- MI with a continuous target: H(Z) + H(W) - H(Z, W), a lower bound on the MI of the
  copula-normalised variables, exact where their dependence is Gaussian.
- MI with integer class labels: Z given each class c is Gaussian (mean mu_c, covariance S_c), Z
  is the mixture of the classes, and I(Z; Y) is that mixture's information about its component,
  from the pairwise-KL estimate of mixture entropy (Kolchinsky & Tracey 2017):
  I = -sum_i p_i log sum_j p_j exp(-KL(i || j)), KL between the class Gaussians (the log
  determinants bias-corrected as the entropies are). It lies between 0 and H(Y) (the diagonal
  KL(i || i) = 0 gives the upper end) and equals the mixture's MI when the classes do not
  overlap or coincide. (H(Z) - sum_c p_c H(Z | c) with a single Gaussian for H(Z) has no such
  bound: separated classes drive it far past H(Y).)
- Leave one feature out, exactly: log det S_-j = log det S + log (S^-1)_jj, so every covariance
  (of Z, of (Z, W), of each class) needs one Cholesky factorisation and the diagonal of one
  inverse for all m columns; the per-feature terms come from the same covariances. With labels
  the KL terms without column k follow from the full precisions P too (Schur complements):
  tr(P_j^(-k) S_i^(-k)) = tr(P_j S_i) - (P_j S_i P_j)_kk / (P_j)_kk and
  d^T P^(-k) d = d^T P d - (P d)_k^2 / P_kk, one m x m product per pair of classes.

Computed with torch in float64 on the data's device (LAPACK on the CPU, cuSOLVER and cuBLAS on
CUDA), whatever the backend: the family needs no kernel of its own. Memory O(m^2 + n m).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

from .._validation import as_labels, is_label_vector

_LOG_2PI_E = math.log(2 * math.pi) + 1.0
_COPULA_BLOCK = 1 << 22  # values per block of columns in the rank transform


def copula_normalise(x: torch.Tensor) -> torch.Tensor:
    """Phi^-1(r / (n + 1)) per column, r the average 1-based rank of each value (ties shared)."""
    n, m = x.shape
    # Average ranks are multiples of 1/2: their normal scores come from one table.
    scores = torch.special.ndtri(torch.arange(2 * n + 1, dtype=torch.float64, device=x.device)
                                 / (2 * (n + 1)))
    out = torch.empty_like(x)
    step = max(1, _COPULA_BLOCK // max(n, 1))
    position = torch.arange(n, device=x.device)
    for c0 in range(0, m, step):
        ordered, order = torch.sort(x[:, c0:c0 + step].T, dim=1)  # (columns, n)
        # A run of equal values spans sorted positions [first, last]; its rank is their mean + 1.
        starts = torch.ones_like(ordered, dtype=torch.bool)
        starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        ends = torch.ones_like(starts)
        ends[:, :-1] = starts[:, 1:]
        first = torch.where(starts, position, 0).cummax(dim=1).values
        last = torch.where(ends, position, n - 1).flip(1).cummin(dim=1).values.flip(1)
        twice_rank = first + last + 2  # 2 r, r = (first + last) / 2 + 1
        ranked = torch.empty_like(twice_rank).scatter_(1, order, twice_rank)
        out[:, c0:c0 + step] = scores[ranked].T
    return out


def _bias(d: int, n: int) -> float:
    """The analytic bias of the Gaussian entropy estimate of d columns from n samples, nats."""
    if d == 0:
        return 0.0
    psi = torch.special.digamma((n - torch.arange(1, d + 1, dtype=torch.float64)) / 2)
    return float(d * (math.log(2) - math.log(n - 1)) / 2 + psi.sum() / 2)


def _entropy(logdet, d: int, n: int, bias_correction: bool):
    """Gaussian entropy (nats) from log det S of d columns estimated on n samples."""
    h = 0.5 * d * _LOG_2PI_E + 0.5 * logdet
    return h - _bias(d, n) if bias_correction else h


class _Factor:
    """One covariance S (d x d): log det S, and on demand log (S^-1)_jj for every j."""

    def __init__(self, cov: torch.Tensor, what: str):
        self.d = cov.shape[0]
        self.chol, info = torch.linalg.cholesky_ex(cov)
        if int(info) != 0:
            raise ValueError(
                f"the covariance of {what} is singular (constant, duplicated or linearly "
                f"dependent columns, or too few samples for {self.d} dimensions): pass ridge=1e-6 "
                "or larger to regularise it, or drop those columns")
        self.logdet = 2.0 * torch.log(torch.diagonal(self.chol)).sum()

    def log_inverse_diagonal(self) -> torch.Tensor:
        """log (S^-1)_jj: S^-1 = L^-T L^-1, so (S^-1)_jj is the squared norm of column j of L^-1."""
        eye = torch.eye(self.d, dtype=self.chol.dtype, device=self.chol.device)
        inverse_chol = torch.linalg.solve_triangular(self.chol, eye, upper=False)
        return torch.log((inverse_chol * inverse_chol).sum(0))


# --- the estimates, on prepared float64 tensors ------------------------------------------------


def _covariance(x: torch.Tensor, ridge: float) -> torch.Tensor:
    """The sample covariance (n - 1) of the columns of x, with ``ridge`` on the diagonal."""
    centred = x - x.mean(0)
    cov = centred.T @ centred / (x.shape[0] - 1)
    if ridge:
        cov = cov + ridge * torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    return cov


def _classes(labels: np.ndarray, like: torch.Tensor):
    """(p_c, rows of class c) for every class."""
    index = torch.from_numpy(labels).to(like.device)
    counts = np.bincount(labels)
    return [(counts[c] / labels.size, index == c) for c in range(counts.size) if counts[c] > 0]


class _Moments:
    """The covariances of one set of columns z against the target: of z and, for a continuous
    target w, of (z, w); for class labels, the mean and covariance of z within each class
    (weight p_c, n_c). Those of the full z are computed once per estimate and shared by its
    full, per-feature and leave-one-out terms (one matrix product over the samples each)."""

    def __init__(self, z: torch.Tensor, d):
        p, self.n, self.m = d.p, z.shape[0], z.shape[1]
        self.labels = d.labels is not None
        if self.labels:
            classes = _classes(d.labels, z)
            self.weights = torch.tensor([w for w, _ in classes], dtype=z.dtype,
                                        device=z.device)
            self.sizes = [int(rows.sum()) for _, rows in classes]
            self.means = torch.stack([z[rows].mean(0) for _, rows in classes])
            self.covs = [_covariance(z[rows], p.ridge) for _, rows in classes]
        else:
            self.joint = _covariance(torch.cat([z, d.w], 1), p.ridge)
            self.cov = self.joint[:self.m, :self.m]
            self.q = d.w.shape[1]

    @staticmethod
    def of(z: torch.Tensor, d) -> "_Moments":
        if z is not d.z:
            return _Moments(z, d)
        if "gaussian" not in d.cache:
            d.cache["gaussian"] = _Moments(z, d)
        return d.cache["gaussian"]


def _h(cov: torch.Tensor, n: int, p, what: str) -> float:
    d = cov.shape[0]
    _check_samples(n, d, what, p.bias_correction)
    return float(_entropy(_Factor(cov, what).logdet, d, n, p.bias_correction))


def _mixture_information(weights: torch.Tensor, kl: torch.Tensor) -> torch.Tensor:
    """-sum_i p_i log sum_j p_j exp(-KL_ij) over the leading (C, C) axes of ``kl`` (nats)."""
    inner = torch.logsumexp(torch.log(weights)[None, :, None] - kl, dim=1)  # (C, K)
    return -(weights[:, None] * inner).sum(0)


class _ClassKL:
    """KL divergences between the class Gaussians of z: all columns, without each column k,
    and of each column alone. Entropy terms are the family's (bias-corrected) Gaussian
    entropies, so KL_ij = (tr(P_j S_i) + d^T P_j d - m) / 2 + H_j - H_i."""

    def __init__(self, mo: _Moments, p):
        self.mo, self.p = mo, p

    def _check(self, columns: int) -> None:
        for c, n_c in enumerate(self.mo.sizes):
            _check_samples(n_c, columns, f"class {c} of z", self.p.bias_correction)

    @functools.cached_property
    def factors(self) -> list[_Factor]:
        """The Cholesky factorisations of the whole class covariances (after ``_check``)."""
        return [_Factor(cov, f"class {c} of z") for c, cov in enumerate(self.mo.covs)]

    @functools.cached_property
    def precisions(self) -> list[torch.Tensor]:
        return [torch.cholesky_inverse(f.chol) for f in self.factors]

    def full(self) -> torch.Tensor:
        mo, m, p = self.mo, self.mo.m, self.p
        self._check(m)
        h = [_entropy(f.logdet, m, n_c, p.bias_correction)
             for f, n_c in zip(self.factors, mo.sizes)]
        classes = len(mo.sizes)
        kl = torch.zeros(classes, classes, 1, dtype=mo.means.dtype, device=mo.means.device)
        for i in range(classes):
            for j in range(classes):
                if i != j:
                    delta = mo.means[i] - mo.means[j]
                    trace = (self.precisions[j] * mo.covs[i]).sum()
                    maha = delta @ self.precisions[j] @ delta
                    kl[i, j, 0] = 0.5 * (trace + maha - m) + h[j] - h[i]
        return _mixture_information(mo.weights, kl)[0]

    def without_each_column(self) -> torch.Tensor:
        mo, m, p = self.mo, self.mo.m, self.p
        self._check(m)
        h = [_entropy(f.logdet + f.log_inverse_diagonal(), m - 1, n_c, p.bias_correction)
             for f, n_c in zip(self.factors, mo.sizes)]
        classes = len(mo.sizes)
        kl = torch.zeros(classes, classes, m, dtype=mo.means.dtype, device=mo.means.device)
        for i in range(classes):
            for j in range(classes):
                if i == j:
                    continue
                precision, delta = self.precisions[j], mo.means[i] - mo.means[j]
                diagonal = torch.diagonal(precision)
                product = precision @ mo.covs[i]  # P_j S_i
                trace = torch.trace(product) - (product * precision).sum(1) / diagonal
                solved = precision @ delta
                maha = delta @ solved - solved * solved / diagonal
                kl[i, j] = 0.5 * (trace + maha - (m - 1)) + h[j] - h[i]
        return _mixture_information(mo.weights, kl)

    def each_column(self) -> torch.Tensor:
        mo, p = self.mo, self.p
        self._check(1)
        variances = torch.stack([torch.diagonal(cov) for cov in mo.covs])  # (C, m)
        if bool((variances <= 0).any()):
            raise ValueError("a column of z is constant within a class: its Gaussian entropy is "
                             "-inf; pass ridge=1e-6 or larger, or drop it")
        h = torch.stack([_entropy(torch.log(v), 1, n_c, p.bias_correction)
                         for v, n_c in zip(variances, mo.sizes)])
        delta = mo.means[:, None, :] - mo.means[None, :, :]  # (C, C, m)
        ratio = variances[:, None, :] / variances[None, :, :]
        kl = 0.5 * (ratio + delta * delta / variances[None, :, :] - 1) + h[None] - h[:, None]
        diagonal = torch.arange(len(mo.sizes), device=kl.device)
        kl[diagonal, diagonal] = 0.0
        return _mixture_information(mo.weights, kl)


def _mi(z: torch.Tensor, d) -> float:
    p, mo = d.p, _Moments.of(z, d)
    if mo.labels:
        return float(_ClassKL(mo, p).full())
    h_z = _h(mo.cov, mo.n, p, "z")
    m, name = mo.m, d.target_name
    return h_z + _h(mo.joint[m:, m:], mo.n, p, name) - _h(mo.joint, mo.n, p, f"(z, {name})")


def _entropy_loo(cov: torch.Tensor, n: int, p, what: str) -> torch.Tensor:
    """H without column j (nats), for every column j of a covariance, from one factorisation
    (of a joint (z, w) covariance, the first m entries are those without a column of z)."""
    d = cov.shape[0]
    _check_samples(n, d, what, p.bias_correction)
    factor = _Factor(cov, what)
    return _entropy(factor.logdet + factor.log_inverse_diagonal(), d - 1, n, p.bias_correction)


def _variance_entropies(cov: torch.Tensor, n: int, p, what: str) -> torch.Tensor:
    """H(Z_j) for every column j (nats), from the diagonal of the covariance."""
    _check_samples(n, 1, what, p.bias_correction)
    variance = torch.diagonal(cov)
    if bool((variance <= 0).any()):
        raise ValueError(f"a column of {what} is constant: its Gaussian entropy is -inf; pass "
                         "ridge=1e-6 or larger, or drop it")
    return _entropy(torch.log(variance), 1, n, p.bias_correction)


def _check_samples(n: int, d: int, what: str, bias_correction: bool) -> None:
    if n < 2 or (bias_correction and n <= d):
        raise ValueError(f"{what} has {n} samples for {d} dimensions: the Gaussian estimate needs "
                         f"more samples than dimensions (n > {d})")


# --- the estimator family's interface (estimators/__init__.py) -------------------------------


def setup(d, arrays) -> None:
    target = arrays.get(d.target_name)
    if target is not None and is_label_vector(target):
        d.labels = as_labels(target, d.target_name)


def prepare(d, x, name):
    if name == d.target_name and d.labels is not None:
        return None  # the target is d.labels
    t = x.detach() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    t = t.to(torch.float64)
    return copula_normalise(t) if d.p.copula else t.contiguous()


def check_prepared(d) -> None:
    pass


def entropy(d, z) -> float:
    return _h(_covariance(z, d.p.ridge), z.shape[0], d.p, "z")


def mutual_information(d, z) -> float:
    return _mi(z, d)


def conditional_mutual_information(d) -> float:
    z, v = d.z, d.v
    if d.labels is not None:  # chain rule: I(Z; Y | V) = I(Z, V; Y) - I(V; Y)
        return _mi(torch.cat([z, v], 1), d) - _mi(v, d)
    p, n, w = d.p, d.n, d.w

    def h(*parts):
        return _h(_covariance(torch.cat(parts, 1), p.ridge), n, p, "the columns")

    return h(z, v) + h(w, v) - h(z, w, v) - h(v)


def entropy_loo(d) -> np.ndarray:
    if d.z.shape[1] == 1:
        return np.zeros(1)  # no feature left: H of a constant
    return _entropy_loo(_covariance(d.z, d.p.ridge), d.n, d.p, "z").cpu().numpy()


def mutual_information_loo(d) -> np.ndarray:
    p, mo = d.p, _Moments.of(d.z, d)
    m = mo.m
    if m == 1:
        return np.zeros(1)
    if mo.labels:
        return _ClassKL(mo, p).without_each_column().cpu().numpy()
    h_z = _entropy_loo(mo.cov, mo.n, p, "z")
    name = d.target_name
    h_w = _h(mo.joint[m:, m:], mo.n, p, name)
    h_zw = _entropy_loo(mo.joint, mo.n, p, f"(z, {name})")[:m]
    return (h_z + h_w - h_zw).cpu().numpy()


def per_feature_mutual_information(d) -> np.ndarray:
    """I(Z_j; W) for every column from the covariances at once, no loop over the columns."""
    p, mo = d.p, _Moments.of(d.z, d)
    n, m = mo.n, mo.m
    if mo.labels:
        return _ClassKL(mo, p).each_column().cpu().numpy()
    h_j = _variance_entropies(mo.cov, n, p, "z")
    # H(Z_j, W) of the (1 + q) covariance [[S_jj, S_jw], [S_wj, S_ww]], through its Schur
    # complement: log det = log det S_ww + log(S_jj - S_jw S_ww^-1 S_wj).
    q, name = mo.q, d.target_name
    _check_samples(n, q + 1, f"(a column of z, {name})", p.bias_correction)
    s_ww, s_wz = mo.joint[m:, m:], mo.joint[m:, :m]
    factor = _Factor(s_ww, name)
    solved = torch.cholesky_solve(s_wz, factor.chol)  # S_ww^-1 S_wz, (q, m)
    schur = torch.diagonal(mo.cov) - (s_wz * solved).sum(0)
    h_jw = _entropy(factor.logdet + torch.log(schur), q + 1, n, p.bias_correction)
    h_w = _entropy(factor.logdet, q, n, p.bias_correction)
    return (h_j + h_w - h_jw).cpu().numpy()
