"""Decoders trained for many feature masks at once, and their held-out losses (nats).

A *mask set* is a boolean (B, m) tensor: row b keeps the columns of z that decoder b sees. Every
decoder of a set is trained on the same rows in the same order; their weights are stacked on a
leading dimension of size B, and the mask is applied to the first layer's weights, so the input
rows are never copied B times (a set of single columns gathers those columns instead: one copy
of z in all). Each decoder draws its initial weights from a generator of its own (its ``seeds``
entry), so a decoder's training does not depend on which others share its batch: a set trained
in blocks of one mask (``mode="loop"``) is the same computation, decoder by decoder.

- ``least_squares_losses``: linear regression against a continuous target, closed form from
  Gram matrices (ridge ``weight_decay`` x rows on the standardised columns), residual covariance
  on the training rows, Gaussian negative log-likelihood on the held-out rows. No n x B array.
- ``logistic_losses``: multinomial logistic regression (L2 ``weight_decay``), convex, solved to
  a gradient tolerance by L-BFGS over all the masks' weights at once (the problems are
  separable, so their joint optimum is each one's optimum).
- ``mlp_losses``: ReLU networks (``hidden`` units x ``depth`` layers) trained by Adam on
  minibatches with L2 ``weight_decay``, each decoder stopped early on the validation rows (its
  weights at its best validation epoch); cross-entropy for classes, squared error on the
  standardised target (then a Gaussian with the residual covariance) for a continuous one.
- ``surrogate_losses``: one MLP taking (z * mask, mask), trained on rows each under a mask drawn
  from the evaluation set, evaluated under every mask.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_LOG_2PI = math.log(2 * math.pi)
_VALUES_PER_BLOCK = 1 << 23  # activations (rows x masks x units) held at once
# On the largest gradient entry of the mean loss: with the L2 penalty's curvature of at least
# weight_decay, the loss is then within tolerance^2 / (2 weight_decay) of its optimum.
_TOLERANCE = 1e-7
_LBFGS_ITERATIONS = 2000


@dataclass
class Split:
    """One fold's rows, standardised on its training part. ``target`` holds class codes
    (int64, ``classes`` > 0) or a standardised continuous target (float, ``classes`` == 0)."""

    x_train: torch.Tensor
    x_val: torch.Tensor | None
    x_test: torch.Tensor
    t_train: torch.Tensor
    t_val: torch.Tensor | None
    t_test: torch.Tensor
    classes: int
    ridge: float = 0.0  # added to the variance of every standardised target column

    @property
    def outputs(self) -> int:
        return self.classes or self.t_train.shape[1]


@dataclass
class Training:
    """How the decoders are trained (the family's checked options and one fold's seed)."""

    hidden: int = 64
    depth: int = 1
    epochs: int = 200
    patience: int = 20
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    loop: bool = False  # one mask per block: the decoders trained one after the other


# --- mask sets -------------------------------------------------------------------------------


def _blocks(count: int, per_mask: int, loop: bool):
    """Slices of a mask set, each holding at most _VALUES_PER_BLOCK / per_mask masks."""
    step = 1 if loop else max(1, _VALUES_PER_BLOCK // max(1, per_mask))
    for b0 in range(0, count, step):
        yield slice(b0, min(count, b0 + step))


def _single_columns(masks: torch.Tensor) -> torch.Tensor | None:
    """For a set of masks that each keep one column, those columns (B,); else None."""
    if bool((masks.sum(1) == 1).all()):
        return masks.to(torch.int64).argmax(1)
    return None


# --- linear regression, closed form ---------------------------------------------------------


def _gaussian_nll_sums(scatter_train, scatter_test, n_train: int, n_test: int, what: str,
                       ridge: float = 0.0):
    """Held-out Gaussian NLL sums (B,) from residual scatters R^T R (B, q, q): the covariance
    is the training one (maximum likelihood), the held-out sum is
    n_test (q log 2 pi + log det S) / 2 + tr(S^-1 R_test^T R_test) / 2."""
    q = scatter_train.shape[-1]
    cov = scatter_train / n_train
    if ridge:  # a noise of variance ridge on W, in the fitted covariance and the held-out rows
        eye = torch.eye(q, dtype=cov.dtype, device=cov.device)
        cov = cov + ridge * eye
        scatter_test = scatter_test + n_test * ridge * eye
    chol, info = torch.linalg.cholesky_ex(cov)
    if bool((info != 0).any()):
        raise ValueError(f"the residual covariance of {what} is singular: the target has "
                         "linearly dependent columns (or columns constant within a fold), or "
                         "fewer training rows than columns, or the features determine it: pass "
                         "ridge=1e-3 (a noise of that variance on each standardised target "
                         "column) or drop those columns")
    logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    trace = torch.diagonal(torch.cholesky_solve(scatter_test, chol), dim1=-2, dim2=-1).sum(-1)
    return 0.5 * n_test * (q * _LOG_2PI + logdet) + 0.5 * trace


def none_losses(s: Split) -> torch.Tensor:
    """The held-out loss sum of the decoder that sees nothing: the training part's class prior
    (cross-entropy), or a Gaussian fitted to the training part's target (NLL)."""
    if s.classes:
        counts = torch.bincount(_train_target(s), minlength=s.classes).to(torch.float64)
        log_prior = torch.log(counts / counts.sum())
        return -log_prior[s.t_test].sum()
    t_train = _train_target(s)
    mean = t_train.mean(0)
    r_train, r_test = t_train - mean, s.t_test - mean
    return _gaussian_nll_sums((r_train.T @ r_train)[None], (r_test.T @ r_test)[None],
                              t_train.shape[0], r_test.shape[0], "the target", s.ridge)[0]


def _train_rows(s: Split) -> torch.Tensor:
    return s.x_train if s.x_val is None else torch.cat([s.x_train, s.x_val])


def _train_target(s: Split) -> torch.Tensor:
    return s.t_train if s.t_val is None else torch.cat([s.t_train, s.t_val])


def least_squares_losses(s: Split, masks: torch.Tensor, t: Training) -> torch.Tensor:
    """Held-out Gaussian NLL sums (B,) of ridge regressions of the target on each mask's
    columns, from the Gram matrices of the training and held-out rows (columns centred on the
    training means, which fits the intercept): every mask costs one k x k Cholesky solve."""
    x, w = _train_rows(s), _train_target(s)
    n_train, n_test, m = x.shape[0], s.x_test.shape[0], x.shape[1]
    x_mean, w_mean = x.mean(0), w.mean(0)
    x, w = x - x_mean, w - w_mean
    xt, wt = s.x_test - x_mean, s.t_test - w_mean
    gram, cross, scatter = x.T @ x, x.T @ w, w.T @ w
    gram_t, cross_t, scatter_t = xt.T @ xt, xt.T @ wt, wt.T @ wt
    ridge = t.weight_decay * n_train
    out = torch.empty(masks.shape[0], dtype=x.dtype, device=x.device)
    q = w.shape[1]
    for block in _blocks(masks.shape[0], m * m + m * q, t.loop):
        keep = masks[block]
        k = int(keep[0].sum())
        if not bool((keep.sum(1) == k).all()):
            raise ValueError("least_squares_losses: the masks of one block keep as many columns")
        cols = torch.nonzero(keep)[:, 1].view(-1, k)  # (B, k)
        g_masked = gram[cols[:, :, None], cols[:, None, :]]  # (B, k, k)
        g = g_masked + ridge * torch.eye(k, dtype=x.dtype, device=x.device)
        c = cross[cols]  # (B, k, q)
        beta = torch.linalg.solve(g, c)  # (B, k, q)
        # R^T R = W^T W - B^T X^T W - W^T X B + B^T X^T X B, on the training and held-out rows
        fitted = beta.transpose(1, 2) @ c  # B^T X^T W (train), symmetric at the optimum up to ridge
        gt = gram_t[cols[:, :, None], cols[:, None, :]]
        ct = cross_t[cols]
        r_train = (scatter - fitted - fitted.transpose(1, 2)
                   + beta.transpose(1, 2) @ (g_masked @ beta))
        bc = beta.transpose(1, 2) @ ct
        r_test = scatter_t - bc - bc.transpose(1, 2) + beta.transpose(1, 2) @ gt @ beta
        out[block] = _gaussian_nll_sums(r_train, r_test, n_train, n_test, "the decoded target",
                                        s.ridge)
    return out


# --- batched networks ------------------------------------------------------------------------


class _Stack:
    """B networks of one architecture, weights stacked on a leading dimension: a first layer
    from the masked columns of z (masks applied to its weights, or single columns gathered),
    ``depth`` - 1 hidden layers after it for an MLP, and the output layer. ``widths`` are the
    layer widths after the first layer's input ([outputs] for a linear decoder)."""

    def __init__(self, masks: torch.Tensor, widths: list, seeds: list, dtype, device,
                 zero: bool = False):
        self.masks = masks.to(dtype)
        self.single = _single_columns(masks)
        m = masks.shape[1]
        fan_in = masks.sum(1).tolist()
        shapes = [(1 if self.single is not None else m, widths[0])]
        shapes += [(a, b) for a, b in zip(widths[:-1], widths[1:])]
        self.weights, self.biases = [], []
        for layer, (rows, cols) in enumerate(shapes):
            w = torch.zeros((len(seeds), rows, cols), dtype=torch.float64)
            b = torch.zeros((len(seeds), cols), dtype=torch.float64)
            if not zero:
                for i, seed in enumerate(seeds):
                    g = torch.Generator().manual_seed(int(seed) * 1009 + layer)
                    bound = 1.0 / math.sqrt(fan_in[i] if layer == 0 else rows)
                    values = (torch.rand((int(fan_in[i]) if layer == 0 else rows, cols),
                                         generator=g, dtype=torch.float64) * 2 - 1) * bound
                    if layer == 0 and self.single is None:
                        w[i, masks[i].cpu()] = values
                    else:
                        w[i] = values
                    b[i] = (torch.rand(cols, generator=g, dtype=torch.float64) * 2 - 1) * bound
            self.weights.append(w.to(device, dtype).requires_grad_())
            self.biases.append(b.to(device, dtype).requires_grad_())

    @property
    def parameters(self) -> list:
        return self.weights + self.biases

    def first(self, x: torch.Tensor) -> torch.Tensor:
        """The first layer's pre-activations, (B, rows, width)."""
        w, b = self.weights[0], self.biases[0]
        if self.single is not None:  # one column per network: (B, rows, 1) @ (B, 1, width)
            return torch.baddbmm(b[:, None, :], x.T[self.single][:, :, None], w)
        masked = w * self.masks[:, :, None]
        # the rows broadcast over the networks (a view: x is not copied B times), and the
        # activations laid out (B, rows, width), contiguous for the layers after
        return torch.baddbmm(b[:, None, :], x.expand(masked.shape[0], *x.shape), masked)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h = self.first(x)
        for w, b in zip(self.weights[1:], self.biases[1:]):
            h = torch.baddbmm(b[:, None, :], torch.relu(h), w)
        return h  # (B, rows, outputs)

    def penalty(self) -> torch.Tensor:
        """sum over the networks of the squared weights (masked entries are zero)."""
        return sum((w * w).sum() for w in self.weights)

    def snapshot(self) -> list:
        return [p.detach().clone() for p in self.parameters]

    def load(self, values: list) -> None:
        with torch.no_grad():
            for p, v in zip(self.parameters, values):
                p.copy_(v)

    def subset(self, rows: torch.Tensor) -> "_Stack":
        """The networks ``rows`` of this stack, as a stack of their own (copies)."""
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.masks = self.masks[rows]
        other.single = None if self.single is None else self.single[rows]
        other.weights = [w.detach()[rows].requires_grad_() for w in self.weights]
        other.biases = [b.detach()[rows].requires_grad_() for b in self.biases]
        return other


def _row_step(per_row_values: int) -> int:
    return max(1, _VALUES_PER_BLOCK // max(1, per_row_values))


def _loss_rows(out: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """Per network and row: cross-entropy, or half the squared error of a standardised
    target, (B, rows)."""
    if classes:  # log-sum-exp less the target's logit (cross_entropy is slower on few classes)
        picked = out.gather(-1, target.expand(out.shape[0], -1)[..., None])[..., 0]
        return torch.logsumexp(out, -1) - picked
    return 0.5 * ((out - target[None]) ** 2).sum(-1)


def _held_out(net, s: Split, x_fit: torch.Tensor, t_fit: torch.Tensor) -> torch.Tensor:
    """Held-out loss sums (B,): cross-entropy, or the Gaussian NLL with each network's
    residual covariance on the rows it was fitted to."""
    bsz = net.weights[0].shape[0]
    step = _row_step(bsz * max(s.outputs, net.weights[0].shape[-1]))
    with torch.no_grad():
        if s.classes:
            total = torch.zeros(bsz, dtype=torch.float64, device=s.x_test.device)
            for r0 in range(0, s.x_test.shape[0], step):
                out = net(s.x_test[r0:r0 + step])
                total += _loss_rows(out, s.t_test[r0:r0 + step], s.classes).sum(1).double()
            return total

        def scatter(x, t):
            q = t.shape[1]
            acc = torch.zeros((bsz, q, q), dtype=torch.float64, device=x.device)
            for r0 in range(0, x.shape[0], step):
                r = (t[r0:r0 + step][None] - net(x[r0:r0 + step])).double()
                acc += r.transpose(1, 2) @ r
            return acc

        return _gaussian_nll_sums(scatter(x_fit, t_fit), scatter(s.x_test, s.t_test),
                                  x_fit.shape[0], s.x_test.shape[0], "the decoded target",
                                  s.ridge)


# Newton's method where a decoder has at most this many parameters ((m + 1) x classes), and for
# single columns: a few iterations whatever the conditioning (separable classes, where L-BFGS
# crawls). Masks that leave one column out of a decoder of at most SCHUR_PARAMETERS take the
# full decoder's Hessian, with that column's block removed (a Schur complement of its inverse),
# as their initial metric, refined by L-BFGS pairs of their own (``_quasi_newton``): close to
# their own curvature, so about ten steps from the full weights converge. L-BFGS beyond both.
NEWTON_PARAMETERS = 256
SCHUR_PARAMETERS = 4096
_SECOND_ORDER_ITERATIONS = 200


class _Logistic:
    """Mean cross-entropy + decay / 2 |theta|^2 (intercepts included) of B multinomial
    logistic regressions, theta (B, k, C) over the design ``xt`` ((n, k), shared, with a
    column of ones last; or (B, n, k), one per regression) and ``keep`` (B, k) the rows of theta
    each may use. Logits and probabilities are laid out (B, C, n): the sums over the few
    classes then run along whole rows of samples."""

    def __init__(self, xt, y, classes: int, decay: float, keep):
        self.xt, self.classes, self.decay, self.keep = xt, classes, decay, keep
        self.onehot = F.one_hot(y, classes).to(xt.dtype).T.contiguous()  # (C, n)
        self.n = y.shape[0]
        self.shared = xt.ndim == 2

    def logits(self, theta):
        form = "nk,bkc->bcn" if self.shared else "bnk,bkc->bcn"
        return torch.einsum(form, self.xt, theta).contiguous()

    def evaluate(self, theta, logits):
        """(the objective (B,), the probabilities (B, C, n))."""
        top = logits.amax(1, keepdim=True)
        shifted = logits - top
        total = shifted.exp().sum(1, keepdim=True)
        log_total = total.log()
        ce = (top + log_total)[:, 0] - (logits * self.onehot).sum(1)
        p = (shifted - log_total).exp_()
        return ce.mean(1) + 0.5 * self.decay * (theta * theta).sum((1, 2)), p

    def gradient(self, theta, p):
        form = "nk,bcn->bkc" if self.shared else "bnk,bcn->bkc"
        g = torch.einsum(form, self.xt, p - self.onehot)
        return g / self.n * self.keep[:, :, None] + self.decay * theta

    def hessian(self, p):
        """(B, k C, k C), parameters in (row, class) order; rows not kept decay alone."""
        bsz, k, classes = p.shape[0], self.keep.shape[1], self.classes
        n = self.n
        if self.shared:
            # X^T diag(w_cd) X with w = diag(p) - p p^T, the softmax's curvature per row, for
            # every class pair c <= d as one product (the other half by symmetry)
            first, second = torch.triu_indices(classes, classes, device=p.device)
            w = -p[:, first] * p[:, second]
            w[:, first == second] += p
            weighted = self.xt[None, :, :, None] * w.transpose(1, 2)[:, :, None, :]
            half = (self.xt.T @ weighted.reshape(bsz, n, -1)).view(bsz, k, k, -1) / n
            hess = torch.empty((bsz, k, classes, k, classes), dtype=p.dtype, device=p.device)
            hess[:, :, first, :, second] = half.permute(3, 0, 1, 2)  # (pairs, B, k, k)
            hess[:, :, second, :, first] = half.permute(3, 0, 2, 1)
        else:  # few design columns each: sum_n x_k x_l (p_c delta_cd - p_c p_d) by bmm
            a = (self.xt[:, :, :, None] * p.transpose(1, 2)[:, :, None, :]).reshape(
                bsz, n, k * classes)  # rows (k, c): x_k p_c
            hess = -(a.transpose(1, 2) @ a).view(bsz, k, classes, k, classes)
            xx = (self.xt[:, :, :, None] * self.xt[:, :, None, :]).reshape(bsz, n, k * k)
            diagonal = (p @ xx).view(bsz, classes, k, k)  # sum_n p_c x_k x_l
            hess.diagonal(dim1=2, dim2=4).add_(diagonal.permute(0, 2, 3, 1))
            hess /= n
        keep = self.keep
        hess = hess * (keep[:, :, None, None, None] * keep[:, None, None, :, None])
        eye = torch.eye(k * classes, dtype=p.dtype, device=p.device)
        return hess.reshape(bsz, k * classes, k * classes) + self.decay * eye


def _second_order(problem: _Logistic, theta, direction) -> torch.Tensor:
    """Minimise ``problem`` from theta (B, k, C) along ``direction(theta, p, grad)`` (a descent
    direction per regression, p its probabilities), each with an Armijo backtracking line search
    of its own, until every gradient is below the tolerance: each regression's iterates are
    those it would have alone."""
    value, p = problem.evaluate(theta, problem.logits(theta))
    for _ in range(_SECOND_ORDER_ITERATIONS):
        grad = problem.gradient(theta, p)
        active = grad.abs().amax((1, 2)) > _TOLERANCE
        if not bool(active.any()):
            break
        step = torch.where(active[:, None, None], direction(theta, p, grad), 0.0)
        slope = (grad * step).sum((1, 2))  # the decrease along -step, per regression
        size = torch.ones_like(value)
        done = ~active
        new = (theta, value, p)
        for _ in range(40):
            trial = theta - size[:, None, None] * step
            trial_value, trial_p = problem.evaluate(trial, problem.logits(trial))
            ok = (trial_value <= value - 1e-4 * size * slope) & ~done
            if bool(ok.all()):  # the usual case: every full step accepted
                new = (trial, trial_value, trial_p)
            else:
                new = (torch.where(ok[:, None, None], trial, new[0]),
                       torch.where(ok, trial_value, new[1]),
                       torch.where(ok[:, None, None], trial_p, new[2]))
            done = done | ok
            if bool(done.all()):
                break
            size = torch.where(done, size, size / 2)
        if bool((new[1] == value).all()):
            break  # no regression could improve: at its optimum to rounding
        theta, value, p = new
    return theta


def _newton(problem: _Logistic):
    def direction(theta, p, grad):
        bsz, k, classes = theta.shape
        return torch.linalg.solve(problem.hessian(p),
                                  grad.reshape(bsz, -1)).reshape(bsz, k, classes)
    return direction


def _schur(inverse: torch.Tensor, dropped: torch.Tensor, k: int, classes: int):
    """The Newton direction of each leave-one-column-out regression under the metric of the
    full one: with H^-1 the full inverse Hessian and J the dropped column's C parameters,
    (H_-J,-J)^-1 g = u - (H^-1)_:,J ((H^-1)_JJ)^-1 u_J, u = H^-1 g (g_J = 0)."""
    full = inverse.view(k, classes, k, classes)
    columns = full[:, :, dropped, :].permute(2, 0, 1, 3)  # (B, k, C, C)
    block = full[dropped][torch.arange(dropped.numel()), :, dropped, :]  # (B, C, C)
    rows = torch.arange(dropped.numel())

    def direction(theta, p, grad):
        bsz = theta.shape[0]
        u = (grad.reshape(bsz, -1) @ inverse).view(bsz, k, classes)
        solved = torch.linalg.solve(block, u[rows, dropped][:, :, None])  # (B, C, 1)
        step = u - (columns @ solved[:, None])[..., 0]
        step[rows, dropped] = 0.0
        return step
    return direction


_HISTORY = 10  # L-BFGS pairs kept per regression


def _quasi_newton(metric):
    """L-BFGS directions (per regression, the last _HISTORY steps) whose initial inverse
    Hessian is ``metric``, a direction function: from a metric close to each regression's own
    curvature, they converge superlinearly where the fixed metric alone converges linearly."""
    pairs, previous = [], None

    def direction(theta, p, grad):
        nonlocal previous
        bsz = theta.shape[0]
        x, g = theta.reshape(bsz, -1), grad.reshape(bsz, -1)
        if previous is not None:
            pairs.append((x - previous[0], g - previous[1]))
            del pairs[:-_HISTORY]
        previous = (x, g)
        q, saved = g, []
        for s, y in reversed(pairs):
            sy = (s * y).sum(1)
            rho = torch.where(sy > 0, 1 / torch.where(sy > 0, sy, 1.0), 0.0)  # 0: no step
            a = rho * (s * q).sum(1)
            q = q - a[:, None] * y
            saved.append((s, y, rho, a))
        r = metric(theta, p, q.view_as(grad)).reshape(bsz, -1)
        for s, y, rho, a in reversed(saved):
            r = r + (a - rho * (y * r).sum(1))[:, None] * s
        return r.view_as(grad)
    return direction


def _design(x):
    return torch.cat([x, torch.ones((x.shape[0], 1), dtype=x.dtype, device=x.device)], 1)


def _lbfgs(x, y, masks, classes: int, decay: float, theta):
    """L-BFGS on the regressions of ``masks`` from theta (B, k, C), all at once (the problems
    are separable: their joint optimum is each one's), logits in row blocks; returns theta."""
    n, m = x.shape
    bsz = masks.shape[0]
    net = _Stack(masks, [classes], [0] * bsz, x.dtype, x.device, zero=True)
    with torch.no_grad():
        net.weights[0].copy_(theta[:, :m] * net.masks[:, :, None])
        net.biases[0].copy_(theta[:, m])
    optimiser = torch.optim.LBFGS(net.parameters, lr=1, max_iter=_LBFGS_ITERATIONS,
                                  tolerance_grad=_TOLERANCE, tolerance_change=1e-15,
                                  history_size=20, line_search_fn="strong_wolfe")
    step = _row_step(bsz * classes)

    def closure():
        optimiser.zero_grad()
        total = 0.0
        for r0 in range(0, n, step):
            part = _loss_rows(net(x[r0:r0 + step]), y[r0:r0 + step], classes).sum() / n
            part.backward()
            total += float(part.detach())
        penalty = 0.5 * decay * (net.penalty() + (net.biases[0] ** 2).sum())
        penalty.backward()
        return torch.tensor(total + float(penalty.detach()), dtype=torch.float64)

    optimiser.step(closure)
    return torch.cat([net.weights[0].detach(), net.biases[0].detach()[:, None]], 1)


def logistic_losses(s: Split, masks: torch.Tensor, t: Training,
                    start: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Held-out cross-entropy sums (B,) of L2-regularised multinomial logistic regressions on
    each mask's columns, and their weights (B, m + 1, C) (the last row the intercepts).
    ``start`` (m + 1, C), the full decoder's weights, starts the masks that leave one column
    out. The solver follows the size: Newton for small decoders, single columns and the full
    decoder up to SCHUR_PARAMETERS; for leave-one-column-out masks, L-BFGS steps from the
    full Hessian's metric (``_quasi_newton`` over ``_schur``); L-BFGS beyond."""
    x, y = _train_rows(s), _train_target(s)
    n, m, classes = x.shape[0], x.shape[1], s.classes
    k = m + 1
    size = k * classes
    out = torch.empty(masks.shape[0], dtype=torch.float64, device=x.device)
    weights = torch.zeros((masks.shape[0], k, classes), dtype=x.dtype, device=x.device)
    counts = torch.bincount(y, minlength=classes).to(x.dtype)
    log_prior = torch.log(counts / n)
    single = _single_columns(masks)
    dropped = _single_columns(~masks) if start is not None else None
    schur = dropped is not None and NEWTON_PARAMETERS < size <= SCHUR_PARAMETERS
    newton = size <= NEWTON_PARAMETERS or (masks.shape[0] == 1 and size <= SCHUR_PARAMETERS)
    inverse = None
    design = test_design = None  # x and the held-out rows with a column of ones, built once
    if single is None:
        design, test_design = _design(x), _design(s.x_test)
    if schur:
        problem = _Logistic(design, y, classes, t.weight_decay,
                            torch.ones((1, k), dtype=x.dtype, device=x.device))
        probabilities = problem.evaluate(start[None], problem.logits(start[None]))[1]
        inverse = torch.linalg.inv(problem.hessian(probabilities))[0]
    # values per mask: its logits, and for Newton the terms of its Hessian
    width = 2 if single is not None else k
    per_mask = n * classes * (width * classes if newton and not schur else 1)
    for block in _blocks(masks.shape[0], per_mask, t.loop):
        bsz = block.stop - block.start
        keep = torch.cat([masks[block].to(x.dtype),
                          torch.ones((bsz, 1), dtype=x.dtype, device=x.device)], 1)
        if single is not None:  # each regression its column and the intercept: k = 2
            cols = single[block]
            xt = torch.stack([x.T[cols], torch.ones_like(x.T[cols])], 2)  # (B, n, 2)
            problem = _Logistic(xt, y, classes, t.weight_decay, torch.ones_like(keep[:, :2]))
            theta = torch.zeros((bsz, 2, classes), dtype=x.dtype, device=x.device)
            theta[:, 1] = log_prior
            theta = _second_order(problem, theta, _newton(problem))
            test = torch.stack([s.x_test.T[cols], torch.ones_like(s.x_test.T[cols])], 2)
            logits = torch.einsum("bnk,bkc->bnc", test, theta)  # (B, n, C)
            weights[block.start + torch.arange(bsz), cols] = theta[:, 0]
            weights[block, m] = theta[:, 1]
        else:
            problem = _Logistic(design, y, classes, t.weight_decay, keep)
            if schur:
                theta = start[None] * keep[:, :, None]
                theta = _second_order(problem, theta, _quasi_newton(
                    _schur(inverse, dropped[block], k, classes)))
            else:
                theta = torch.zeros((bsz, k, classes), dtype=x.dtype, device=x.device)
                theta[:, m] = log_prior
                if start is not None:
                    theta = start[None] * keep[:, :, None]
                if not newton:
                    theta = _lbfgs(x, y, masks[block], classes, t.weight_decay, theta)
                else:
                    theta = _second_order(problem, theta, _newton(problem))
            logits = torch.einsum("nk,bkc->bnc", test_design, theta)
            weights[block] = theta
        out[block] = _loss_rows(logits, s.t_test, classes).sum(1).double()
    return out, weights


def mlp_losses(s: Split, masks: torch.Tensor, t: Training, seeds: list) -> torch.Tensor:
    """Held-out loss sums (B,) of ReLU networks on each mask's columns, each trained by Adam
    and stopped at its best epoch on the validation rows."""
    out = torch.empty(masks.shape[0], dtype=torch.float64, device=s.x_train.device)
    widths = [t.hidden] * t.depth + [s.outputs]
    for block in _blocks(masks.shape[0], t.batch_size * t.hidden * (t.depth + 1), t.loop):
        net = _Stack(masks[block], widths, seeds[block], s.x_train.dtype, s.x_train.device)
        _train(net, s, t)
        out[block] = _held_out(net, s, s.x_train, s.t_train)
    return out


def _train(net: _Stack, s: Split, t: Training, masks_of=None) -> None:
    """Adam on minibatches of the training rows (one order for every network), each network
    keeping its weights of its best validation loss; a network stops when it has gone
    ``patience`` epochs without improving, and the stopped ones leave the batch (with their
    optimiser state) once they are a quarter of it, so a batch costs what its networks still
    training cost."""
    n = s.x_train.shape[0]
    bsz = net.weights[0].shape[0]
    device = s.x_train.device
    work = net  # the networks still training
    active = torch.arange(bsz, device=device)  # their rows in ``net``
    optimiser = torch.optim.Adam(work.parameters, lr=t.learning_rate, foreach=True)
    order = torch.Generator().manual_seed(t.seed)
    best = torch.full((bsz,), math.inf, dtype=torch.float64, device=device)
    since = torch.zeros(bsz, dtype=torch.int64, device=device)
    kept = net.snapshot()
    for _ in range(t.epochs):
        permutation = torch.randperm(n, generator=order).to(device)
        for r0 in range(0, n, t.batch_size):
            rows = permutation[r0:r0 + t.batch_size]
            x = s.x_train[rows] if masks_of is None else masks_of(s.x_train[rows], rows)
            loss = _loss_rows(work(x), s.t_train[rows], s.classes).mean(1).sum()
            loss = loss + 0.5 * t.weight_decay * work.penalty()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            x_val = s.x_val if masks_of is None else masks_of(s.x_val, None)
            val = _loss_rows(work(x_val), s.t_val, s.classes).mean(1).double()
        # a network that has stopped keeps its record: trained alone, it would have ended there
        improved = (val < best[active]) & (since[active] < t.patience)
        best[active] = torch.where(improved, val, best[active])
        since[active] = torch.where(improved, 0, since[active] + 1)
        if bool(improved.any()):
            for k, v in zip(kept, work.parameters):
                k[active[improved]] = v.detach()[improved]
        training = since[active] < t.patience
        if not bool(training.any()):
            break
        if 4 * int((~training).sum()) >= len(active):
            state = [optimiser.state[p] for p in work.parameters]
            work = work.subset(training)
            active = active[training]
            optimiser = torch.optim.Adam(work.parameters, lr=t.learning_rate, foreach=True)
            for p, old in zip(work.parameters, state):
                optimiser.state[p] = {key: value if key == "step" else value[training]
                                      for key, value in old.items()}
    net.load(kept)


# --- the surrogate ---------------------------------------------------------------------------


class _Surrogate(_Stack):
    """One MLP taking (z * mask, mask): its first layer's weights are (2m, width); under a
    set of masks it is a _Stack whose first layer is z @ (mask * W_z) + mask @ W_mask + b."""

    def __init__(self, m: int, widths: list, seed: int, dtype, device):
        super().__init__(torch.ones((1, 2 * m), dtype=torch.bool), widths, [seed], dtype,
                         device)
        self.m = m

    def first(self, x):  # x: (rows, 2m) = (z * mask, mask)
        return (x @ self.weights[0][0] + self.biases[0][0])[None]

    def under(self, masks: torch.Tensor) -> _Stack:
        """The networks this one is under each of ``masks`` (B, m), sharing its weights."""
        view = object.__new__(_Stack)
        w, b = self.weights[0][0].detach(), self.biases[0][0].detach()
        m = self.m
        view.masks = masks.to(w.dtype)
        view.single = None
        bsz = masks.shape[0]
        view.weights = [w[:m][None].expand(bsz, m, w.shape[1])]
        view.biases = [view.masks @ w[m:] + b]
        for wl, bl in zip(self.weights[1:], self.biases[1:]):
            view.weights.append(wl.detach().expand(bsz, *wl.shape[1:]))
            view.biases.append(bl.detach().expand(bsz, bl.shape[1]))
        return view


def surrogate_losses(s: Split, masks: torch.Tensor, t: Training, seed: int) -> torch.Tensor:
    """Held-out loss sums (B,) of one network trained on rows under masks drawn uniformly from
    ``masks`` (each row a fresh draw every epoch; the validation rows one fixed draw), evaluated
    under each mask."""
    m = masks.shape[1]
    device, dtype = s.x_train.device, s.x_train.dtype
    net = _Surrogate(m, [t.hidden] * t.depth + [s.outputs], seed, dtype, device)
    draws = torch.Generator().manual_seed(seed + 1)
    table = masks.to(dtype)
    fixed = table[torch.randint(len(masks), (s.x_val.shape[0],), generator=draws).to(device)]

    def masked(x, rows):
        if rows is None:
            chosen = fixed
        else:
            chosen = table[torch.randint(len(masks), (x.shape[0],), generator=draws).to(device)]
        return torch.cat([x * chosen, chosen], 1)

    _train(net, s, t, masks_of=masked)
    out = torch.empty(masks.shape[0], dtype=torch.float64, device=device)
    for block in _blocks(masks.shape[0], s.x_test.shape[0] * t.hidden, False):
        out[block] = _held_out(net.under(masks[block]), s, s.x_train, s.t_train)
    return out
