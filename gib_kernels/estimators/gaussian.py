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
- MI with integer class labels: the information of the Gaussian class model (regularised
  quadratic discriminant analysis), Z given class c Gaussian with the class's mean mu_c and
  covariance S_c = (W_c + nu S_pool) / (n_c - 1 + nu), W_c the class's scatter and S_pool the
  pooled within-class covariance: the posterior mean of S_c under an inverse-Wishart prior
  centred on S_pool with nu pseudo-samples, chosen from the data among (m + 2) x (1, 4, 16, 64,
  inf) (m the columns of z; inf: S_pool for every class, linear discriminant analysis; the
  per-feature and leave-one-out terms are marginals of that one model). Classes of many samples
  keep their own covariance (QDA); classes of few samples against m lean on the pooled one
  (towards LDA), where their own would overfit. Prior p_c = n_c / n. I = H(Y) + mean_i
  log q(y_i | z_i), q(c | z) its posterior: H(Y) less the model's cross-entropy at the samples.
  It converges to the model's own MI, equals the truth where the classes are Gaussian, and lies
  below H(Y) (log q <= 0).
  Finite-sample bias: evaluated at the samples it was fitted to (resubstitution,
  ``bias_correction=False``) it is biased up, towards H(Y); evaluated on each sample with its own
  class refitted without it (leave-one-out, exact: a rank-one downdate of the class's scatter) it
  is biased down, by about as much to first order (the optimism of a fitted log-likelihood,
  Akaike/Takeuchi). With ``bias_correction`` (default) the value is the mean of the two; it needs
  3 samples per class and n - classes > m. Measured bias: docs/science.md, "Known bias".
  (gcmi's H(Z) - sum_c p_c H(Z | c) with one Gaussian for H(Z) is unbounded, 30 bits for 10
  separated classes; the pairwise-KL estimate of Kolchinsky & Tracey is an upper bound that
  doubles the MI of overlapping classes.)
- Leave one feature out, exactly: log det S_-j = log det S + log (S^-1)_jj, so every covariance
  (of Z, of (Z, W), of each class) needs one Cholesky factorisation and the diagonal of one
  inverse for all m columns; the per-feature terms come from the same covariances. With labels,
  with r = P_c (z - mu_c) (P_c the class precision), the Mahalanobis term without column j is
  (z - mu_c)^T P_c (z - mu_c) - r_j^2 / (P_c)_jj and log det S_c,-j = log det S_c +
  log (P_c)_jj: one product with P_c per class gives every sample's class log-densities for all
  m sets of columns, in blocks of rows (O(n m^2 C) time, memory O(m^2 C + block x m)); the
  leave-one-out refit of the sample's class applies to each set as to the whole.
- Singular covariances (duplicated columns, monotone copies under the copula, exact linear
  combinations, constant columns) raise a ValueError naming the column: Cholesky alone often
  succeeds on them at the level of rounding (``_Factor``).

Computed with torch in float64 on the data's device (LAPACK on the CPU, cuSOLVER and cuBLAS on
CUDA; on the CPU the copula's sort is numpy's argsort), whatever the backend: the family needs
no kernel of its own. Memory O(m^2 C + n m).
"""
from __future__ import annotations

import concurrent.futures
import functools
import math

import numpy as np
import torch

from .._validation import as_labels, check_bool, check_non_negative, is_label_vector
from .base import Estimator

_LOG_2PI_E = math.log(2 * math.pi) + 1.0
_COPULA_BLOCK = 1 << 22  # values per block of columns in the rank transform


def _sorted_rows(rows: torch.Tensor):
    """(r0, r1, positions that sort rows r0:r1 of a 2-D tensor) over its rows. On the CPU numpy's
    argsort (a vectorised quicksort where numpy has one: about twice as fast as torch.sort on
    10000-value rows), rows shared between torch's threads (numpy lets go of the GIL while it
    sorts); elsewhere torch.sort. Which of equal values comes first may differ between the two;
    the average ranks made from it do not."""
    if rows.device.type != "cpu":
        yield 0, rows.shape[0], torch.sort(rows, dim=1).indices
        return
    keys = rows.detach().numpy()
    workers = max(1, min(torch.get_num_threads(), keys.shape[0], keys.size >> 16))
    if workers == 1:
        yield 0, keys.shape[0], torch.from_numpy(np.argsort(keys, axis=1))
        return
    bounds = [keys.shape[0] * k // workers for k in range(workers + 1)]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        done = pool.map(lambda r0, r1: np.argsort(keys[r0:r1], axis=1), bounds[:-1], bounds[1:])
        for r0, r1, order in zip(bounds[:-1], bounds[1:], done):
            yield r0, r1, torch.from_numpy(order)


def _tied_scores(value, starts, ends, scores):
    """``value`` (the scores of sorted positions without ties) with the score of the average
    rank on every run of equal values, r = (first + last) / 2 + 1 over its sorted positions
    [first, last]; ``starts`` and ``ends`` mark the first and last position of every run. Few
    ties (float32 data: a few per column) are mended where they are; many (discrete values), by
    running maxima over every position."""
    tied = ~(starts & ends)  # in a run of two or more
    if int(tied.sum()) * 8 > tied.numel():
        n = starts.shape[1]
        position = torch.arange(n, device=starts.device)
        first = torch.where(starts, position, 0).cummax(dim=1).values
        last = torch.where(ends, position, n - 1).flip(1).cummin(dim=1).values.flip(1)
        return scores[first + last + 2]  # 2 r
    row, at = torch.nonzero(tied, as_tuple=True)  # run by run, in order
    first, last = starts[row, at], ends[row, at]
    run = torch.cumsum(first, 0) - 1  # the run of each tied position
    value = value.clone()
    value[row, at] = scores[at[first][run] + at[last][run] + 2]
    return value


def copula_normalise(x: torch.Tensor) -> torch.Tensor:
    """Phi^-1(r / (n + 1)) per column, r the average 1-based rank of each value (ties shared),
    float64. x is ranked in its own dtype where that is float32 or float64 (converting float32
    to float64 keeps every order and tie, and sorting float32 is faster), else as float64."""
    if x.dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float64)
    n, m = x.shape
    # Average ranks are multiples of 1/2: their normal scores come from one table.
    scores = torch.special.ndtri(torch.arange(2 * n + 1, dtype=torch.float64, device=x.device)
                                 / (2 * (n + 1)))
    out = torch.empty(x.shape, dtype=torch.float64, device=x.device)
    step = max(1, _COPULA_BLOCK // max(n, 1))
    position = torch.arange(n, device=x.device)
    for c0 in range(0, m, step):
        block = x[:, c0:c0 + step].T.contiguous()  # (columns, n)
        for r0, r1, order in _sorted_rows(block):
            ordered = torch.gather(block[r0:r1], 1, order)
            # A run of equal values spans sorted positions [first, last]; its rank is their
            # mean + 1.
            starts = torch.ones_like(ordered, dtype=torch.bool)
            starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
            value = scores[2 * position + 2].expand_as(ordered)  # r = position + 1, no ties
            if not bool(starts.all()):
                ends = torch.ones_like(starts)
                ends[:, :-1] = starts[:, 1:]
                value = _tied_scores(value, starts, ends, scores)
            # the score of each sorted position, put back where its value came from
            ranked = torch.empty_like(ordered, dtype=torch.float64).scatter_(1, order, value)
            out[:, c0 + r0:c0 + r1] = ranked.T
    return out


@functools.lru_cache(maxsize=4096)
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


_PIVOT_TOLERANCE = 16.0  # times sqrt(n) eps: see _Factor


_GRAM_BLOCK = 256  # columns below which _gram is one product


def _gram(x: torch.Tensor) -> torch.Tensor:
    """x^T x, symmetric: for wide x the two diagonal blocks recursively and one off-diagonal
    block, mirrored (5/8 of the multiply-adds of x.T @ x at 1024 columns, about 20% faster)."""
    m = x.shape[1]
    if m <= _GRAM_BLOCK:
        return x.T @ x
    h = m // 2
    left, right = x[:, :h], x[:, h:]
    out = torch.empty(m, m, dtype=x.dtype, device=x.device)
    out[:h, :h] = _gram(left)
    out[h:, h:] = _gram(right)
    out[:h, h:] = left.T @ right
    out[h:, :h] = out[:h, h:].T
    return out


_BLOCK_INVERSE = 128  # order up to which _lower_inverse and _lower_gram work directly


def _lower_inverse(chol: torch.Tensor) -> torch.Tensor:
    """L^-1 of a lower-triangular L by halves, [[A, 0], [B, D]]^-1 = [[A^-1, 0],
    [-D^-1 B A^-1, D^-1]]: matrix products where a triangular solve against the identity
    spends half its work on the zeros of the result (about 40% faster at 1024)."""
    d = chol.shape[0]
    if d <= _BLOCK_INVERSE:
        eye = torch.eye(d, dtype=chol.dtype, device=chol.device)
        return torch.linalg.solve_triangular(chol, eye, upper=False)
    h = d // 2
    out = torch.zeros_like(chol)
    out[:h, :h] = _lower_inverse(chol[:h, :h])
    out[h:, h:] = _lower_inverse(chol[h:, h:])
    out[h:, :h] = -(out[h:, h:] @ (chol[h:, :h] @ out[:h, :h]))
    return out


def _lower_gram(inverse: torch.Tensor) -> torch.Tensor:
    """M^T M of a lower-triangular M by halves (S^-1 = L^-T L^-1 from L^-1), symmetric:
    [[X, 0], [Y, Z]] gives [[X^T X + Y^T Y, Y^T Z], [Z^T Y, Z^T Z]] (about 30% faster at 1024
    than cholesky_inverse, which would find L^-1 again)."""
    d = inverse.shape[0]
    if d <= _BLOCK_INVERSE:
        return inverse.T @ inverse
    h = d // 2
    x, y, z = inverse[:h, :h], inverse[h:, :h], inverse[h:, h:]
    out = torch.empty_like(inverse)
    out[:h, :h] = _lower_gram(x) + _gram(y)
    out[h:, h:] = _lower_gram(z)
    out[:h, h:] = y.T @ z
    out[h:, :h] = out[:h, h:].T
    return out


def _column_name(parts, j: int) -> str:
    """Column j of the concatenated columns ``parts`` ((name, width), ...), named."""
    for name, width in parts:
        if j < width:
            return f"column {j} of {name}"
        j -= width
    raise IndexError(j)


def _singular(what: str, d: int, detail: str) -> ValueError:
    return ValueError(
        f"the covariance of {what} is singular{detail} (constant, duplicated or linearly "
        f"dependent columns, a monotone copy of a column, which the copula makes a duplicate, or "
        f"too few samples for {d} dimensions): pass ridge=1e-6 or larger to regularise it, or "
        "drop those columns")


class _Factor:
    """One covariance S (d x d) of n samples: its Cholesky factor L, log det S, and on demand
    log (S^-1)_jj for every j. A singular S is refused, not trusted to the factorisation.

    ``torch.linalg.cholesky_ex`` often succeeds on an exactly singular S, with a pivot at the
    level of rounding. Pivot j, L_jj^2, is the variance of column j left after its regression on
    the columns before it, x_j - sum_k b_jk x_k; the row of L^-1 holds those coefficients
    ((L^-1)_jk = -b_jk / L_jj, (L^-1)_jj = 1 / L_jj), so q_j = 1 / (sum_k |(L^-1)_jk| s_k)^2,
    s_k the standard deviations, is that variance relative to the square of the terms that
    cancel in it: scale-free, and at the level of rounding (measured: below 5e-15 for n up to
    20000) wherever column j is an exact combination of the others, however ill-conditioned they
    are. S is refused where some q_j < 16 sqrt(n) eps (7e-14 at n = 400, 5e-13 at n = 20000:
    the rounding of the n-term sums of a covariance grows about as sqrt(n)); columns 1e-5 apart
    give q about 1e-11 and pass."""

    def __init__(self, cov: torch.Tensor, what: str, n: int, parts, check: bool = True,
                 chol: torch.Tensor | None = None):
        """``parts``: the names and widths of the columns, ((name, width), ...). ``check=False``
        trusts a Cholesky factorisation that succeeds (and keeps no L^-1): for trial fits.
        ``chol``: the Cholesky factor of this very ``cov``, already computed (by a trial fit)."""
        self.d, self.what, self.parts = cov.shape[0], what, parts
        if chol is None:
            self.chol, info = torch.linalg.cholesky_ex(cov)
            if int(info) != 0:
                raise self._error(cov, int(info) - 1)
        else:
            self.chol = chol
        if not check:
            self.logdet = 2.0 * torch.log(torch.diagonal(self.chol)).sum()
            return
        self.inverse_chol = _lower_inverse(self.chol)
        scale = torch.sqrt(torch.diagonal(cov))
        relative = 1.0 / ((self.inverse_chol.abs() * scale).sum(1) ** 2)  # q_j
        tolerance = _PIVOT_TOLERANCE * math.sqrt(n) * torch.finfo(cov.dtype).eps
        below = torch.nonzero(relative < tolerance)
        if below.numel():
            raise self._error(cov, int(below[0, 0]))
        self.logdet = 2.0 * torch.log(torch.diagonal(self.chol)).sum()

    def _error(self, cov: torch.Tensor, j: int) -> ValueError:
        """The error for a singular S whose first dependent column (in order) is j: names j and
        the earlier columns it is a combination of (the regression on the regular block before
        it)."""
        name = _column_name(self.parts, j)
        if not float(cov[j, j]) > 0:
            return _singular(self.what, self.d, f": {name} is constant")
        if j == 0:
            return _singular(self.what, self.d, f" at {name}")
        lead = cov[:j, :j].cpu()
        coefficients = torch.linalg.lstsq(lead, cov[:j, j].cpu()).solution
        weight = coefficients.abs() * torch.sqrt(torch.diagonal(lead).clamp(min=0))
        order = [int(k) for k in torch.argsort(weight, descending=True)
                 if weight[k] > 1e-6 * float(weight.max())]
        names = ", ".join(_column_name(self.parts, k) for k in order[:4])
        more = f" and {len(order) - 4} more" if len(order) > 4 else ""
        return _singular(self.what, self.d,
                         f": {name} is, to rounding, a linear combination of {names}{more}")

    def log_inverse_diagonal(self) -> torch.Tensor:
        """log (S^-1)_jj: S^-1 = L^-T L^-1, so (S^-1)_jj is the squared norm of column j of L^-1."""
        return torch.log((self.inverse_chol * self.inverse_chol).sum(0))

    def precision(self) -> torch.Tensor:
        """S^-1, from L (from L^-1, which the check made, where S is wide)."""
        if self.d <= _BLOCK_INVERSE or not hasattr(self, "inverse_chol"):
            return torch.cholesky_inverse(self.chol)
        return _lower_gram(self.inverse_chol)


# --- the estimates, on prepared float64 tensors ------------------------------------------------


def _covariance(x: torch.Tensor, ridge: float, mean: torch.Tensor | None = None) -> torch.Tensor:
    """The sample covariance (n - 1) of the columns of x, with ``ridge`` on the diagonal. A
    constant column gets a variance of exactly 0 (its mean, rounded, would leave it a tiny
    one that looks regular). ``mean``: x.mean(0), where the caller has it."""
    varies = x.amax(0) > x.amin(0)
    centred = torch.where(varies, x - (x.mean(0) if mean is None else mean), 0.0)
    cov = _gram(centred) / (x.shape[0] - 1)
    if ridge:
        cov = cov + ridge * torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    return cov


class _Moments:
    """The covariances of one set of columns z against the target: of z and, for a continuous
    target w, of (z, w); for class labels, the rows, mean and covariance of z within each class
    (``sizes`` n_c). Those of the full z are computed once per estimate and shared by its
    full, per-feature and leave-one-out terms (one matrix product over the samples each)."""

    def __init__(self, z: torch.Tensor, d):
        p, self.n, self.m = d.p, z.shape[0], z.shape[1]
        self.labels = d.labels is not None
        if self.labels:
            codes = torch.from_numpy(d.labels).to(z.device)
            self.rows = [torch.nonzero(codes == c)[:, 0] for c in range(int(d.labels.max()) + 1)]
            self.sizes = [int(rows.numel()) for rows in self.rows]
            # The class covariances are those of _ClassModel: each class's scatter shrunk towards
            # the pooled covariance.
            self.means, self.scatters = [], []
            for rows, n_c in zip(self.rows, self.sizes):
                rows_z = z[rows]  # gathered once for the mean and the scatter
                self.means.append(rows_z.mean(0))
                self.scatters.append(_covariance(rows_z, 0.0, self.means[-1]) * (n_c - 1))
            self.pooled = sum(self.scatters) / max(1, self.n - len(self.sizes))
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


def _h(cov: torch.Tensor, n: int, p, what: str, parts) -> float:
    d = cov.shape[0]
    _check_samples(n, d, what, p.bias_correction)
    return float(_entropy(_Factor(cov, what, n, parts).logdet, d, n, p.bias_correction))


_LOG_2PI = math.log(2 * math.pi)
# The pseudo-samples of the pooled covariance in each class covariance, in units of m + 2 (the
# weakest prior with a finite mean), tried by _ClassModel.fitted; inf is the pooled one alone.
PRIOR_GRID = (1.0, 4.0, 16.0, 64.0, math.inf)
PRIOR_ROWS = 1000
_CLASS_BLOCK = 1 << 21  # values (rows x columns) per block of rows of the class model


def _log_sum_exp(terms: list) -> torch.Tensor:
    """log sum_c exp(terms[c]) for a list of (b, k) tensors, overwriting the first: one pass
    per term (logaddexp: max(a, b) + log1p(exp(-|a - b|))) where a max, a subtraction, an exp
    and a sum took four."""
    total = terms[0]
    for term in terms[1:]:
        torch.logaddexp(total, term, out=total)
    return total


def _own_log_posterior_sum(others, own: torch.Tensor) -> torch.Tensor:
    """sum over the rows of log q = own - log(exp(own) + exp(others)), others the log-sum-exp of
    the other classes' log joint densities (None where there are none): -softplus(others - own),
    exact to rounding (the threshold of 40 leaves out log1p(e^-40), 4e-18)."""
    if others is None:
        return torch.zeros(own.shape[1:], dtype=own.dtype, device=own.device)
    return -torch.nn.functional.softplus(others - own, threshold=40.0).sum(0)


class _ClassModel:
    """The Gaussian class model of z (regularised quadratic discriminant analysis): class c has
    prior p_c = n_c / n, mean mu_c and covariance S_c = (W_c + nu S_pool) / (n_c - 1 + nu) (+
    ridge), W_c the class's scatter, S_pool the pooled within-class covariance and nu = m + 2
    pseudo-samples (those of ``_Moments``); q(c | z) is its posterior. I(Z; Y) = H(Y) + mean_i
    log q(y_i | z_i), nats, evaluated at the samples for a set of columns at once: all of them,
    all but column j for every j (Schur complements of each class's precision), or column j
    alone for every j; every set is a marginal of the one model (the same nu).

    Resubstitution (``bias_correction=False``): every class fitted on all its samples, biased up.
    With ``bias_correction``: the mean of that and the leave-one-out value, each sample's own
    class refitted without it (its mean and scatter; S_pool kept: a rank-one downdate of the
    class's W_c + nu S_pool + ridge, O(1) per sample and class), biased down."""

    def __init__(self, mo: _Moments, p, prior_samples: float, trial: bool = False):
        self.mo, self.p, self.trial = mo, p, trial
        self.chols = None  # the Cholesky factors of self.covs, where a trial fit has them
        # the leave-one-out sums: for the bias correction, and for the trial fits that choose nu
        self.leave_one_out = trial or p.bias_correction
        self.n, self.classes = mo.n, len(mo.sizes)
        self.prior_samples = nu = float(prior_samples)
        # nu = inf: every class has S_pool (linear discriminant analysis), one factorisation
        # and one product per block of rows for all the classes
        self.pooled = math.isinf(nu)
        if self.pooled:
            cov = mo.pooled.clone() if p.ridge else mo.pooled
            if p.ridge:
                cov.diagonal().add_(p.ridge)
            self.covs = [cov] * self.classes
            return
        self.covs = []  # two passes over each m x m matrix (seven for the trial fits together)
        for scatter, n_c in zip(mo.scatters, mo.sizes):
            cov = torch.add(scatter, mo.pooled, alpha=nu).div_(n_c - 1 + nu)
            if p.ridge:
                cov.diagonal().add_(p.ridge)
            self.covs.append(cov)

    def check(self, dims: int) -> None:
        """Two samples per class (three for the leave-one-out refit of the bias correction),
        and more samples than classes plus dims for the pooled covariance."""
        need = 3 if self.leave_one_out else 2
        for c, n_c in enumerate(self.mo.sizes):
            if n_c < need:
                raise ValueError(
                    f"class {c} of z has {n_c} sample{'s' if n_c != 1 else ''}: the Gaussian "
                    f"class model needs at least {need} per class"
                    + (" for its leave-one-out bias correction (pass bias_correction=False for "
                       "the resubstitution value)" if self.leave_one_out else ""))
        if self.n - self.classes <= dims:
            raise ValueError(
                f"z has {self.n} samples in {self.classes} classes for {dims} dimensions: the "
                f"pooled covariance of the Gaussian class model needs n - classes > {dims}")

    @functools.cached_property
    def factors(self) -> list[_Factor]:
        """The Cholesky factorisations of the whole class covariances (after ``check``)."""
        chols = self.chols or [None] * self.classes
        if self.pooled:
            return [_Factor(self.covs[0], "the classes of z (pooled)", self.n - self.classes,
                            (("z", self.mo.m),), check=not self.trial, chol=chols[0])
                    ] * self.classes
        return [_Factor(cov, f"class {c} of z", n_c, (("z", self.mo.m),), check=not self.trial,
                        chol=chol)
                for c, (cov, n_c, chol) in enumerate(zip(self.covs, self.mo.sizes, chols))]

    @functools.cached_property
    def precisions(self) -> list[torch.Tensor]:
        if self.pooled:
            return [self.factors[0].precision()] * self.classes
        return [f.precision() for f in self.factors]

    def _per_class(self, apply):
        """A function of a block of rows giving [apply(c, block - mu_c) for every class c],
        ``apply`` linear in its rows (a product or a triangular solve with class c's matrix).
        With the pooled covariance, one application to the block centred at the mean of z,
        less each class's shift apply(0, mu_c - mean), computed once here: one product for
        all the classes."""
        if not self.pooled:
            return lambda block: [apply(c, block - mean) for c, mean in enumerate(self.mo.means)]
        grand = sum(n_c * mean for n_c, mean in zip(self.mo.sizes, self.mo.means)) / self.n
        shifts = apply(0, torch.stack(self.mo.means) - grand)[:, None, :].unbind(0)

        def per_class(block):
            shared = apply(0, block - grand)
            return [shared - shift for shift in shifts]

        return per_class

    def _block_rows(self, k: int) -> int:
        return max(1, _CLASS_BLOCK // max(1, k * (self.classes + 1)))

    def _rows(self, z: torch.Tensor, k: int, step: int = 0):
        """(class, block of its rows of z) over every class, rows in blocks of ``step`` or
        _block_rows(k)."""
        step = max(1, step) if step else self._block_rows(k)
        for own, rows in enumerate(self.mo.rows):
            for r0 in range(0, rows.numel(), step):
                yield own, z[rows[r0:r0 + step]]

    def _sums(self, base: list, square: list, sign: float, logdet: torch.Tensor, dims: int,
              own: int):
        """sum over a block of rows of class ``own`` of log q(own | z_i), for k sets of ``dims``
        columns at once. The Mahalanobis terms of the rows to class c are base[c] + sign *
        square[c]^2 ((b, 1) or 0, and (b, k) or None), ``logdet`` (C, k) the classes' log det
        S_c. Returns (resubstitution sums, leave-one-out sums or None), each (k,).

        The other classes' terms enter both sums only through their log-sum-exp (the
        leave-one-out value gives them the priors n_c / (n - 1) instead of n_c / n: the same
        log-sum-exp plus log(n / (n - 1))), and the own class's log q is -softplus(that - its
        own term): some 30 passes over the (b, k) terms where one log-sum-exp per sum took 70."""
        n, sizes = self.n, self.mo.sizes
        constant = dims * _LOG_2PI

        def head(c, prior):
            """log prior - (constant + log det S_c) / 2, (k,) or (1,)."""
            return (math.log(prior) - 0.5 * constant) - 0.5 * logdet[c]

        def maha(c):  # a new tensor: the leave-one-out term overwrites it
            if square[c] is None:
                return torch.as_tensor(base[c], dtype=logdet.dtype, device=logdet.device).clone()
            return torch.addcmul(torch.as_tensor(base[c], dtype=square[c].dtype,
                                                 device=square[c].device),
                                 square[c], square[c], value=sign)

        others = []
        for c, n_c in enumerate(sizes):
            if c == own:
                continue
            if square[c] is None:
                others.append(torch.add(head(c, n_c / n), base[c], alpha=-0.5))
            else:  # log prior - (constant + log det + base + sign square^2) / 2
                out = head(c, n_c / n)
                if torch.is_tensor(base[c]):
                    out = out - 0.5 * base[c]
                others.append(out.addcmul_(square[c], square[c], value=-0.5 * sign)
                              if out.shape == square[c].shape
                              else torch.addcmul(out, square[c], square[c], value=-0.5 * sign))
        others = _log_sum_exp(others) if others else None
        n_c = sizes[own]
        own_maha = maha(own)
        resub = _own_log_posterior_sum(
            others, torch.add(head(own, n_c / n), own_maha, alpha=-0.5))
        if not self.leave_one_out:
            return resub, None
        # Without the row: mean mu - a / (n_c - 1), and B = (n_c - 1 + nu) S less
        # kappa a a^T (a = z - mu, kappa = n_c / (n_c - 1)) over n_c - 2 + nu. With
        # t = a^T B^-1 a (Sherman-Morrison) its Mahalanobis term is
        # kappa^2 (n_c - 2 + nu) t / (1 - kappa t) and
        # log det S_f = log det S + dims log((n_c - 1 + nu) / (n_c - 2 + nu))
        #               + log(1 - kappa t).
        nu = self.prior_samples
        kappa = n_c / (n_c - 1)
        if self.pooled:  # S_pool kept: only the mean moves, z - mu without the row = kappa a
            own_loo = torch.add((math.log((n_c - 1) / n) - 0.5 * constant) - 0.5 * logdet[own],
                                own_maha, alpha=-0.5 * kappa * kappa)
            return resub, _own_log_posterior_sum(others, own_loo)
        before, after = n_c - 1 + nu, n_c - 2 + nu
        shrink = torch.rsub(own_maha, 1.0, alpha=kappa / before)
        tolerance = _PIVOT_TOLERANCE * math.sqrt(n_c) * torch.finfo(shrink.dtype).eps
        if bool(shrink.min() < tolerance):
            raise ValueError(
                f"the covariance of class {own} of z without one of its samples is singular "
                "(a column that varies only at that sample): pass ridge=1e-6 or larger to "
                "regularise it, or drop that column")
        # the own term less log(n / (n - 1)), which the other classes' priors gain
        loo_head = (math.log((n_c - 1) / n) - 0.5 * (
            constant + dims * math.log(before / after))) - 0.5 * logdet[own]
        gain = kappa * kappa * after / before
        own_loo = torch.addcdiv(loo_head, own_maha, shrink, value=-0.5 * gain)
        own_loo.add_(shrink.log_(), alpha=-0.5)
        return resub, _own_log_posterior_sum(others, own_loo)

    def _information(self, resub: torch.Tensor, loo) -> torch.Tensor:
        weights = torch.tensor(self.mo.sizes, dtype=torch.float64) / self.n
        h_y = float(-(weights * torch.log(weights)).sum())
        if loo is None:
            return h_y + resub / self.n
        return h_y + (resub + loo) / (2 * self.n)

    def full(self, z: torch.Tensor) -> torch.Tensor:
        """I(Z; Y) of all m columns: one triangular solve per class and block of rows."""
        return self._information(*self._full_sums(z))[0]

    def _full_sums(self, z: torch.Tensor):
        """(resubstitution, leave-one-out or None) sums of log q(y_i | z_i) over the rows, all m
        columns."""
        self.check(self.mo.m)
        logdet = torch.stack([f.logdet for f in self.factors])[:, None]
        sums = [0.0, 0.0]
        whitened = self._per_class(self._whiten)
        for own, block in self._rows(z, self.mo.m, _CLASS_BLOCK * 2 // self.mo.m):
            base = [torch.linalg.vecdot(white, white)[:, None] for white in whitened(block)]
            parts = self._sums(base, [None] * self.classes, 1.0, logdet, self.mo.m, own)
            sums = [s + t if t is not None else None for s, t in zip(sums, parts)]
        return sums

    def _leave_one_out_score(self, picked: torch.Tensor, counts: list) -> float:
        """sum of the leave-one-out log q(y_i | z_i), all m columns, over the rows ``picked`` (a
        few of each class: counts[0] of class 0, then counts[1] of class 1, ...). For the trial
        fits: one triangular solve per class for all those rows together (the solves for the
        rows of each class apart took three times as long)."""
        self.check(self.mo.m)
        logdet = torch.stack([f.logdet for f in self.factors])[:, None]
        base = [torch.linalg.vecdot(white, white)[:, None]
                for white in self._per_class(self._whiten)(picked)]
        total, r0 = 0.0, 0
        for own, count in enumerate(counts):
            rows = [b[r0:r0 + count] for b in base]
            total += float(self._sums(rows, [None] * self.classes, 1.0, logdet, self.mo.m,
                                      own)[1])
            r0 += count
        return total

    def _whiten(self, c: int, centred: torch.Tensor) -> torch.Tensor:
        """(z - mu_c) L_c^-T, its rows' squared norms the Mahalanobis terms."""
        return torch.linalg.solve_triangular(self.factors[c].chol.T, centred, upper=True,
                                             left=False)

    def with_and_without_each_column(self, z: torch.Tensor):
        """(I(Z; Y), I(Z_-j; Y) for every j): with r = P_c (z - mu_c), the Mahalanobis term
        without column j is (z - mu_c)^T P_c (z - mu_c) - r_j^2 / (P_c)_jj and
        log det S_c,-j = log det S_c + log (P_c)_jj, so one product with P_c per class and block
        of rows gives all m + 1 sets (with P_c's columns scaled by (P_c)_jj^-1/2, the product is
        r_j / (P_c)_jj^(1/2), whose square is subtracted)."""
        m = self.mo.m
        self.check(m)
        logdet = torch.stack([f.logdet for f in self.factors])
        unique = self.precisions[:1] if self.pooled else self.precisions
        roots = [torch.sqrt(torch.diagonal(precision)) for precision in unique]
        scaled = [precision / root for precision, root in zip(unique, roots)]
        if self.pooled:
            roots, scaled = roots * self.classes, scaled * self.classes
        logdet_without = logdet[:, None] + 2.0 * torch.log(torch.stack(roots))  # (C, m)
        sums = [0.0, 0.0, 0.0, 0.0]
        products = self._per_class(lambda c, centred: centred @ scaled[c])
        for own, block in self._rows(z, m):
            base, square = [], []
            for mean, solved, root in zip(self.mo.means, products(block), roots):
                # solved: r_j / (P_c)_jj^(1/2)
                base.append(torch.linalg.vecdot((block - mean).mul_(root), solved)[:, None])
                square.append(solved)
            parts = (self._sums(base, [None] * self.classes, 1.0, logdet[:, None], m, own)
                     + self._sums(base, square, -1.0, logdet_without, m - 1, own))
            sums = [s + t if t is not None else None for s, t in zip(sums, parts)]
        return self._information(*sums[:2])[0], self._information(*sums[2:])

    def each_column(self, z: torch.Tensor) -> torch.Tensor:
        """I(Z_j; Y) for every column j: the class model of each column alone."""
        self.check(1)
        variances = torch.stack([torch.diagonal(cov) for cov in self.covs])  # (C, m)
        if bool((variances <= 0).any()):
            raise ValueError("a column of z is constant within a class: its Gaussian entropy is "
                             "-inf; pass ridge=1e-6 or larger, or drop it")
        logdet, scale = torch.log(variances), torch.rsqrt(variances)
        sums = [0.0, 0.0]
        for own, block in self._rows(z, self.mo.m):
            square = [(block - mean).mul_(inverse) for mean, inverse in zip(self.mo.means, scale)]
            parts = self._sums([0.0] * self.classes, square, 1.0, logdet, 1, own)
            sums = [s + t if t is not None else None for s, t in zip(sums, parts)]
        return self._information(*sums)

    @staticmethod
    def of(mo: _Moments, d, z: torch.Tensor) -> "_ClassModel":
        """The model of z (whose moments are ``mo``), fitted once per estimate for d.z."""
        if mo is not d.cache.get("gaussian"):
            return _ClassModel.fitted(mo, d.p, z)
        if "gaussian-classes" not in d.cache:
            d.cache["gaussian-classes"] = _ClassModel.fitted(mo, d.p, d.z)
        return d.cache["gaussian-classes"]

    @staticmethod
    def fitted(mo: _Moments, p, z) -> "_ClassModel":
        """The model with ``p.covariance_prior`` pseudo-samples, or, where that is None, with
        a number of the grid PRIOR_GRID x (m + 2) chosen by the leave-one-out log-likelihood of
        the labels (all m columns, on at most PRIOR_ROWS rows, every k-th of each class): an
        empirical-Bayes choice between each class's own covariance and the pooled one
        (regularised discriminant analysis, Friedman 1989). The grid is descended from the
        pooled covariance (inf, one factorisation for all the classes) while the score rises,
        and the highest score met wins: most layers against few classes stop after two fits.
        A second, higher peak of the score further down the grid is missed (the score is not
        always unimodal: with class covariances of unequal scale, nu = m + 2 can score above
        4 (m + 2) and below inf)."""
        if p.covariance_prior is not None:
            return _ClassModel(mo, p, p.covariance_prior)
        stride = max(1, math.ceil(mo.n / PRIOR_ROWS))
        picked = [rows[::stride] for rows in mo.rows]
        counts = [int(rows.numel()) for rows in picked]
        picked = z[torch.cat(picked)]
        best, best_score, best_chols = None, -math.inf, None
        for factor in sorted(PRIOR_GRID, reverse=True):
            model = _ClassModel(mo, p, factor * (mo.m + 2), trial=True)
            try:
                score = model._leave_one_out_score(picked, counts)
            except ValueError:  # singular with this prior: the final fit says why, if chosen
                continue
            if score > best_score:
                best, best_score = factor * (mo.m + 2), score
                best_chols = [f.chol for f in model.factors]
            elif score < best_score:
                break  # past the peak
            del model  # one trial's covariances at a time (and the best one's factors)
        if best is None:
            return _ClassModel(mo, p, math.inf)
        final = _ClassModel(mo, p, best)
        # Its covariances are computed as the trial's were, bit for bit: the trial's Cholesky
        # factors are theirs (the final fit still runs the check for singular ones).
        final.chols = best_chols
        return final


def _mi(z: torch.Tensor, d) -> float:
    p, mo = d.p, _Moments.of(z, d)
    if mo.labels:
        if z is d.z and "gaussian-full" in d.cache:  # from the leave-one-out pass
            return d.cache["gaussian-full"]
        return float(_ClassModel.of(mo, d, z).full(z))
    h_z = _h(mo.cov, mo.n, p, "z", (("z", mo.m),))
    m, name = mo.m, d.target_name
    parts = (("z", m), (name, mo.q))
    return (h_z + _h(mo.joint[m:, m:], mo.n, p, name, parts[1:])
            - _h(mo.joint, mo.n, p, f"(z, {name})", parts))


def _entropy_loo(cov: torch.Tensor, n: int, p, what: str, parts) -> torch.Tensor:
    """H without column j (nats), for every column j of a covariance, from one factorisation
    (of a joint (z, w) covariance, the first m entries are those without a column of z)."""
    d = cov.shape[0]
    _check_samples(n, d, what, p.bias_correction)
    factor = _Factor(cov, what, n, parts)
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


# --- the estimator family (estimators/protocol.py) --------------------------------------------


def _check_prior(value):
    """None, a number >= 0 of pseudo-samples, or inf (the pooled covariance)."""
    if value is None:
        return None
    if isinstance(value, (float, np.floating)) and value == math.inf:
        return math.inf
    try:
        return check_non_negative(value, "covariance_prior")
    except ValueError:
        raise ValueError(f"The 'covariance_prior' parameter must be None, a finite number >= 0 "
                         f"or math.inf. Got {value!r} instead.") from None


class Gaussian(Estimator):
    """Gaussian-copula estimators (Ince et al. 2017): entropy, mutual information (with a
    continuous target, or with class labels through a regularised Gaussian class model),
    conditional MI and their exact fused leave-one-feature-out forms. Computed with torch in
    float64 on the data's device, whatever the backend: it calls no kernel.

    Parameters
    ----------
    copula : bool, default True. Rank-normalise every column first (the Gaussian copula; tied
        values share their average rank); False: the plain parametric Gaussian.
    bias_correction : bool, default True. Subtract the analytic bias of each Gaussian entropy
        (Ince et al. 2017); against class labels, the mean of the class model's resubstitution
        value (biased up) and its exact leave-one-out value (biased down), which needs more than
        m + 3 samples per class; False: the resubstitution value.
    ridge : float, default 0. Added to the diagonal of every covariance (on copula data the
        variances are about 1), for layers whose covariance is singular (m close to n, constant
        or duplicated units); 0 raises an error on a singular covariance.
    covariance_prior : float or None, default None. Against class labels: the weight, in
        pseudo-samples, of the pooled within-class covariance in each class covariance,
        (W_c + nu S_pool) / (n_c - 1 + nu); None: chosen from the data among (m + 2) x
        (1, 4, 16, 64, inf), one model for all the terms of a synergy (a loop of your own over
        ``np.delete(z, j, axis=1)`` matches its leave-one-out terms with
        ``covariance_prior=z.shape[1] + 2``); 0: each class its own covariance (plain QDA, which
        overfits where a class has few samples against m); ``math.inf``: the pooled covariance
        for every class (linear discriminant analysis, a quarter of the work with 4 classes).

    Bias: with a continuous target, a lower bound on the MI of the copula-normalised variables,
    exact where their dependence is Gaussian; against labels, H(Y) + mean log q(y|z), below H(Y)
    and biased down where a class has few samples against the m^2 / 2 entries of its covariance
    (docs/science.md, "Known bias"). Results in nats inside, the caller's ``base`` outside.
    """

    name = "gaussian"
    _parameters = {"copula": lambda v: check_bool(v, "copula"),
                   "bias_correction": lambda v: check_bool(v, "bias_correction"),
                   "ridge": lambda v: check_non_negative(v, "ridge"),
                   "covariance_prior": _check_prior}
    fused_leave_one_out = True
    runs_on = "torch"
    entropy_description = "differential entropy of a Gaussian with the covariance of Z"

    def __init__(self, copula=True, bias_correction=True, ridge=0.0, covariance_prior=None):
        self.copula = copula
        self.bias_correction = bias_correction
        self.ridge = ridge
        self.covariance_prior = covariance_prior
        self._validate()

    def setup(self, d, arrays) -> None:
        target = arrays.get(d.target_name)
        if target is not None and is_label_vector(target):
            d.labels = as_labels(target, d.target_name)

    def prepare(self, d, x, name):
        if name == d.target_name and d.labels is not None:
            return None  # the target is d.labels
        t = x.detach() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
        if d.p.copula:  # ranked in the data's own float dtype, normal scores in float64
            return copula_normalise(t)
        return t.to(torch.float64).contiguous()

    def entropy(self, d, z) -> float:
        return _h(_covariance(z, d.p.ridge), z.shape[0], d.p, "z", (("z", z.shape[1]),))

    def mutual_information(self, d, z) -> float:
        return _mi(z, d)

    def conditional_mutual_information(self, d) -> float:
        z, v = d.z, d.v
        if d.labels is not None:  # chain rule: I(Z; Y | V) = I(Z, V; Y) - I(V; Y)
            return _mi(torch.cat([z, v], 1), d) - _mi(v, d)
        p, n = d.p, d.n
        arrays = {"z": z, d.target_name: d.w, "v": v}

        def h(*names):
            parts = tuple((name, arrays[name].shape[1]) for name in names)
            return _h(_covariance(torch.cat([arrays[name] for name in names], 1), p.ridge), n, p,
                      f"({', '.join(names)})" if len(names) > 1 else names[0], parts)

        w = d.target_name
        return h("z", "v") + h(w, "v") - h("z", w, "v") - h("v")

    def entropy_loo(self, d) -> np.ndarray:
        if d.z.shape[1] == 1:
            return np.zeros(1)  # no feature left: H of a constant
        return _entropy_loo(_covariance(d.z, d.p.ridge), d.n, d.p, "z",
                            (("z", d.z.shape[1]),)).cpu().numpy()

    def mutual_information_loo(self, d) -> np.ndarray:
        p, mo = d.p, _Moments.of(d.z, d)
        m = mo.m
        if m == 1:
            return np.zeros(1)
        if mo.labels:
            full, without = _ClassModel.of(mo, d, d.z).with_and_without_each_column(d.z)
            d.cache["gaussian-full"] = float(full)  # the same pass gives I(Z; Y)
            return without.cpu().numpy()
        name = d.target_name
        parts = (("z", m), (name, mo.q))
        h_z = _entropy_loo(mo.cov, mo.n, p, "z", parts[:1])
        h_w = _h(mo.joint[m:, m:], mo.n, p, name, parts[1:])
        h_zw = _entropy_loo(mo.joint, mo.n, p, f"(z, {name})", parts)[:m]
        return (h_z + h_w - h_zw).cpu().numpy()

    def per_feature_mutual_information(self, d) -> np.ndarray:
        """I(Z_j; W) for every column from the covariances at once, no loop over the columns."""
        p, mo = d.p, _Moments.of(d.z, d)
        n, m = mo.n, mo.m
        if mo.labels:
            return _ClassModel.of(mo, d, d.z).each_column(d.z).cpu().numpy()
        h_j = _variance_entropies(mo.cov, n, p, "z")
        # H(Z_j, W) of the (1 + q) covariance [[S_jj, S_jw], [S_wj, S_ww]], through its Schur
        # complement: log det = log det S_ww + log(S_jj - S_jw S_ww^-1 S_wj).
        q, name = mo.q, d.target_name
        _check_samples(n, q + 1, f"(a column of z, {name})", p.bias_correction)
        s_ww, s_wz = mo.joint[m:, m:], mo.joint[m:, :m]
        factor = _Factor(s_ww, name, n, ((name, q),))
        solved = torch.cholesky_solve(s_wz, factor.chol)  # S_ww^-1 S_wz, (q, m)
        variance = torch.diagonal(mo.cov)
        schur = variance - (s_wz * solved).sum(0)
        # q_j of column j after w (see _Factor): the Schur complement relative to the terms that
        # cancel in it, (s_j + sum_k |b_jk| s_k)^2 with b_j = S_ww^-1 S_wj
        w_scale = torch.sqrt(torch.diagonal(s_ww))[:, None]
        cancel = torch.sqrt(variance) + (solved.abs() * w_scale).sum(0)
        tolerance = _PIVOT_TOLERANCE * math.sqrt(n) * torch.finfo(schur.dtype).eps
        below = torch.nonzero(schur < tolerance * cancel * cancel)
        if below.numel():
            j = int(below[0, 0])
            raise _singular(f"(column {j} of z, {name})", q + 1,
                            f": column {j} of z is, to rounding, a linear function of {name}")
        h_jw = _entropy(factor.logdet + torch.log(schur), q + 1, n, p.bias_correction)
        h_w = _entropy(factor.logdet, q, n, p.bias_correction)
        return (h_j + h_w - h_jw).cpu().numpy()
