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
_LBFGS_TOLERANCE = 1e-6
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


def _gaussian_nll_sums(scatter_train, scatter_test, n_train: int, n_test: int, what: str):
    """Held-out Gaussian NLL sums (B,) from residual scatters R^T R (B, q, q): the covariance
    is the training one (maximum likelihood), the held-out sum is
    n_test (q log 2 pi + log det S) / 2 + tr(S^-1 R_test^T R_test) / 2."""
    q = scatter_train.shape[-1]
    cov = scatter_train / n_train
    chol, info = torch.linalg.cholesky_ex(cov)
    if bool((info != 0).any()):
        raise ValueError(f"the residual covariance of {what} is singular: the target has "
                         "constant or linearly dependent columns, or fewer training rows than "
                         "columns; drop them")
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
                              t_train.shape[0], r_test.shape[0], "the target")[0]


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
        g = gram[cols[:, :, None], cols[:, None, :]]  # (B, k, k)
        g = g + ridge * torch.eye(k, dtype=x.dtype, device=x.device)
        c = cross[cols]  # (B, k, q)
        beta = torch.linalg.solve(g, c)  # (B, k, q)
        # R^T R = W^T W - B^T X^T W - W^T X B + B^T X^T X B, on the training and held-out rows
        fitted = beta.transpose(1, 2) @ c  # B^T X^T W (train), symmetric at the optimum up to ridge
        gt = gram_t[cols[:, :, None], cols[:, None, :]]
        ct = cross_t[cols]
        r_train = (scatter - fitted - fitted.transpose(1, 2)
                   + beta.transpose(1, 2) @ (gram[cols[:, :, None], cols[:, None, :]] @ beta))
        bc = beta.transpose(1, 2) @ ct
        r_test = scatter_t - bc - bc.transpose(1, 2) + beta.transpose(1, 2) @ gt @ beta
        out[block] = _gaussian_nll_sums(r_train, r_test, n_train, n_test, "the decoded target")
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
        n, (bsz, m, width) = x.shape[0], masked.shape
        out = (x @ masked.permute(1, 0, 2).reshape(m, bsz * width)).view(n, bsz, width)
        return out.transpose(0, 1) + b[:, None, :]

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

    def load(self, values: list, which: torch.Tensor | None = None) -> None:
        with torch.no_grad():
            for p, v in zip(self.parameters, values):
                if which is None:
                    p.copy_(v)
                else:
                    p[which] = v[which]


def _row_step(per_row_values: int) -> int:
    return max(1, _VALUES_PER_BLOCK // max(1, per_row_values))


def _loss_rows(out: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """Per network and row: cross-entropy, or half the squared error of a standardised
    target, (B, rows)."""
    if classes:
        bsz, rows, _ = out.shape
        return F.cross_entropy(out.reshape(bsz * rows, classes), target.repeat(bsz),
                               reduction="none").view(bsz, rows)
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
                                  x_fit.shape[0], s.x_test.shape[0], "the decoded target")


# Newton's method where a decoder has at most this many parameters ((m + 1) x classes): a few
# iterations whatever the conditioning (separable classes, where L-BFGS crawls); L-BFGS above.
NEWTON_PARAMETERS = 256
_NEWTON_ITERATIONS = 100


def _newton_logistic(x, y, masks, classes: int, decay: float) -> torch.Tensor:
    """The weights (B, m + 1, C) (the last row the intercepts) of L2-regularised multinomial
    logistic regressions of y on each mask's columns of x, by Newton's method with a
    backtracking line search of each mask's own: every decoder's iterates are those it would
    have alone. The objective, mean cross-entropy + decay / 2 |theta|^2 (intercepts included),
    is that of the L-BFGS path."""
    n, m = x.shape
    ones = torch.ones((n, 1), dtype=x.dtype, device=x.device)
    xt = torch.cat([x, ones], 1)  # (n, k), k = m + 1
    k = m + 1
    keep = torch.cat([masks.to(x.dtype), torch.ones((masks.shape[0], 1), dtype=x.dtype,
                                                     device=x.device)], 1)  # (B, k)
    bsz = masks.shape[0]
    onehot = F.one_hot(y, classes).to(x.dtype)
    theta = torch.zeros((bsz, k, classes), dtype=x.dtype, device=x.device)

    def objective(th):
        logits = torch.einsum("nk,bkc->bnc", xt, th)
        ce = torch.logsumexp(logits, -1) - (logits * onehot).sum(-1)
        return ce.mean(1) + 0.5 * decay * (th * th).sum((1, 2)), logits

    value, logits = objective(theta)
    eye = torch.eye(k * classes, dtype=x.dtype, device=x.device)
    outer = (keep[:, :, None] * keep[:, None, :])  # (B, k, k): masked columns take no part
    for _ in range(_NEWTON_ITERATIONS):
        p = torch.softmax(logits, -1)  # (B, n, C)
        grad = torch.einsum("nk,bnc->bkc", xt, p - onehot) / n * keep[:, :, None] + decay * theta
        active = grad.abs().amax((1, 2)) > _LBFGS_TOLERANCE * 1e-2
        if not bool(active.any()):
            break
        hess = torch.empty((bsz, k, classes, k, classes), dtype=x.dtype, device=x.device)
        for c in range(classes):
            for d in range(c, classes):
                w = p[:, :, c] * ((1.0 if c == d else 0.0) - p[:, :, d])  # (B, n)
                block = torch.einsum("nk,bn,nl->bkl", xt, w, xt) / n * outer
                hess[:, :, c, :, d] = block
                hess[:, :, d, :, c] = block
        hess = hess.reshape(bsz, k * classes, k * classes) + decay * eye
        step = torch.linalg.solve(hess, grad.reshape(bsz, -1)).reshape(bsz, k, classes)
        step = torch.where(active[:, None, None], step, 0.0)
        slope = (grad * step).sum((1, 2))  # the decrease along -step, per mask
        size = torch.ones(bsz, dtype=x.dtype, device=x.device)
        done = ~active
        new_theta, new_value, new_logits = theta, value, logits
        for _ in range(40):  # Armijo backtracking, each mask its own step size
            trial = theta - size[:, None, None] * step
            trial_value, trial_logits = objective(trial)
            ok = (trial_value <= value - 1e-4 * size * slope) & ~done
            new_theta = torch.where(ok[:, None, None], trial, new_theta)
            new_value = torch.where(ok, trial_value, new_value)
            new_logits = torch.where(ok[:, None, None], trial_logits, new_logits)
            done = done | ok
            if bool(done.all()):
                break
            size = torch.where(done, size, size / 2)
        if bool((new_value == value).all()):
            break  # no mask could improve: at the optimum to rounding
        theta, value, logits = new_theta, new_value, new_logits
    return theta


def logistic_losses(s: Split, masks: torch.Tensor, t: Training,
                    start: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Held-out cross-entropy sums (B,) of L2-regularised multinomial logistic regressions on
    each mask's columns, and their weights (B, m, C) (for a warm start of smaller masks:
    ``start`` (m, C) weights the masks' own are taken from)."""
    x, y = _train_rows(s), _train_target(s)
    n, m, classes = x.shape[0], x.shape[1], s.classes
    if (m + 1) * classes <= NEWTON_PARAMETERS:
        out = torch.empty(masks.shape[0], dtype=torch.float64, device=x.device)
        weights = torch.empty((masks.shape[0], m, classes), dtype=x.dtype, device=x.device)
        for block in _blocks(masks.shape[0], n * classes * (m + 1), t.loop):
            theta = _newton_logistic(x, y, masks[block], classes, t.weight_decay)
            logits = torch.einsum("nk,bkc->bnc", s.x_test, theta[:, :m]) + theta[:, None, m]
            out[block] = _loss_rows(logits, s.t_test, classes).sum(1).double()
            weights[block] = theta[:, :m]
        return out, weights
    out = torch.empty(masks.shape[0], dtype=torch.float64, device=x.device)
    weights = torch.empty((masks.shape[0], m, classes), dtype=x.dtype, device=x.device)
    counts = torch.bincount(y, minlength=classes).to(x.dtype)
    log_prior = torch.log(counts / n)
    for block in _blocks(masks.shape[0], n * classes, t.loop):
        net = _Stack(masks[block], [classes], [0] * (block.stop - block.start), x.dtype,
                     x.device, zero=True)
        with torch.no_grad():
            net.biases[0].copy_(log_prior.expand_as(net.biases[0]))
            if start is not None:
                w0 = start[None] if net.single is None else start[net.single][:, None, :]
                net.weights[0].copy_(w0 * (net.masks[:, :, None] if net.single is None else 1))
        optimiser = torch.optim.LBFGS(net.parameters, lr=1, max_iter=_LBFGS_ITERATIONS,
                                      tolerance_grad=_LBFGS_TOLERANCE, tolerance_change=1e-15,
                                      history_size=20, line_search_fn="strong_wolfe")
        step = _row_step((block.stop - block.start) * classes)

        def closure():
            optimiser.zero_grad()
            total = 0.0
            for r0 in range(0, n, step):
                part = _loss_rows(net(x[r0:r0 + step]), y[r0:r0 + step], classes).sum() / n
                part.backward()
                total += float(part.detach())
            penalty = 0.5 * t.weight_decay * (net.penalty() + (net.biases[0] ** 2).sum())
            penalty.backward()
            return torch.tensor(total + float(penalty.detach()), dtype=torch.float64)

        optimiser.step(closure)
        out[block] = _held_out(net, s, x, y)
        w = net.weights[0].detach()
        if net.single is None:
            weights[block] = w
        else:
            weights[block] = 0
            weights[block][torch.arange(w.shape[0]), net.single] = w[:, 0]
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
    keeping its weights of its best validation loss; stops when every network has gone
    ``patience`` epochs without improving."""
    n = s.x_train.shape[0]
    bsz = net.weights[0].shape[0]
    optimiser = torch.optim.Adam(net.parameters, lr=t.learning_rate, foreach=True)
    order = torch.Generator().manual_seed(t.seed)
    best = torch.full((bsz,), math.inf, dtype=torch.float64, device=s.x_train.device)
    since = torch.zeros(bsz, dtype=torch.int64, device=s.x_train.device)
    kept = net.snapshot()
    for _ in range(t.epochs):
        permutation = torch.randperm(n, generator=order).to(s.x_train.device)
        for r0 in range(0, n, t.batch_size):
            rows = permutation[r0:r0 + t.batch_size]
            x = s.x_train[rows] if masks_of is None else masks_of(s.x_train[rows], rows)
            loss = _loss_rows(net(x), s.t_train[rows], s.classes).mean(1).sum()
            loss = loss + 0.5 * t.weight_decay * net.penalty()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            x_val = s.x_val if masks_of is None else masks_of(s.x_val, None)
            val = _loss_rows(net(x_val), s.t_val, s.classes).mean(1).double()
        # a network that has stopped keeps its record: trained alone, it would have ended there
        improved = (val < best) & (since < t.patience)
        best = torch.where(improved, val, best)
        since = torch.where(improved, 0, since + 1)
        if bool(improved.any()):
            current = net.snapshot()
            for k, v in zip(kept, current):
                k[improved] = v[improved]
        if bool((since >= t.patience).all()):
            break
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
