"""Closed forms for Gaussian variables, and the Gaussian class model's information written out
plainly, in nats: the ground truth for the estimators' tests."""
import numpy as np


def gaussian_entropy(cov):
    """H(N(mu, S)) = (d/2) log(2 pi e) + (1/2) log det S for a d x d covariance S, in nats.

    Reference: Cover & Thomas, Elements of Information Theory, theorem 8.4.1.
    """
    cov = np.atleast_2d(np.asarray(cov, dtype=np.float64))
    d = cov.shape[0]
    return float(0.5 * d * np.log(2.0 * np.pi * np.e) + 0.5 * np.linalg.slogdet(cov)[1])


def gaussian_mutual_information(cov, x_idx, w_idx):
    """I(X;W) = H(X) + H(W) - H(X,W) for jointly Gaussian variables with covariance `cov`.

    x_idx, w_idx: indices (int or sequence) of the two groups of variables in `cov`.
    """
    cov = np.asarray(cov, dtype=np.float64)
    x_idx, w_idx = np.atleast_1d(x_idx), np.atleast_1d(w_idx)
    joint = np.concatenate([x_idx, w_idx])

    def block_entropy(idx):
        return gaussian_entropy(cov[np.ix_(idx, idx)])

    return block_entropy(x_idx) + block_entropy(w_idx) - block_entropy(joint)


def gaussian_mutual_information_rho(rho):
    """I(X;W) = -(1/2) log(1 - rho^2) for two unit Gaussians with correlation rho."""
    return -0.5 * np.log1p(-np.square(rho))


PRIOR_GRID = (1.0, 4.0, 16.0, 64.0, np.inf)  # pseudo-samples in units of m + 2; inf: pooled
PRIOR_ROWS = 1000


def gaussian_class_information(z, labels, bias_correction=True, ridge=0.0, prior_samples=None):
    """I(Z; Y) of the Gaussian class model (regularised quadratic discriminant analysis), in
    nats: H(Y) + mean_i log q(y_i | z_i), q the posterior of class-conditional Gaussians with
    the priors n_c / n, means mu_c and covariances (W_c + nu S_pool) / (n_c - 1 + nu) + ridge,
    W_c the class's scatter, S_pool = sum_c W_c / (n - classes); nu = inf: S_pool + ridge for
    every class (linear discriminant analysis).

    ``prior_samples`` (nu): a number, or None for the value chosen by
    ``class_model_prior_samples``.
    ``bias_correction=False``: resubstitution, every class fitted on all its samples (biased up).
    True: the mean of that and the leave-one-out value, where each sample's own class is fitted
    again without it (``np.delete``; S_pool kept, the ridge (n_c - 1 + nu) / (n_c - 2 + nu)
    times ``ridge``, the downdate of the ridged matrix), the priors counted without it. One refit
    per sample: slow.
    """
    z = np.asarray(z, dtype=np.float64)
    z = z.reshape(len(z), -1)
    _, y = np.unique(labels, return_inverse=True)
    n, m = z.shape
    classes = y.max() + 1
    sizes = np.bincount(y)
    h_y = -np.sum(sizes / n * np.log(sizes / n))
    groups = [z[y == c] for c in range(classes)]
    pooled = sum(_scatter(g) for g in groups) / (n - classes)

    def log_density(x, rows, ridge_, nu):
        mean = rows.mean(0)
        cov = _class_covariance(rows, pooled, nu) + ridge_ * np.eye(m)
        maha = (x - mean) @ np.linalg.solve(cov, x - mean)
        return -0.5 * (m * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + maha)

    def log_posterior(i, log_joint):
        top = log_joint.max()
        return log_joint[y[i]] - top - np.log(np.sum(np.exp(log_joint - top)))

    def resubstitution(i, nu):
        return log_posterior(i, np.array([np.log(sizes[c] / n)
                                          + log_density(z[i], groups[c], ridge, nu)
                                          for c in range(classes)]))

    def leave_one_out(i, nu):
        log_joint = np.empty(classes)
        for c in range(classes):
            if c == y[i]:
                rows = np.delete(z, i, axis=0)[np.delete(y, i) == c]
                scaled = ridge * _ridge_downdate(sizes[c], nu)
                log_joint[c] = np.log((sizes[c] - 1) / (n - 1)) \
                    + log_density(z[i], rows, scaled, nu)
            else:
                log_joint[c] = np.log(sizes[c] / (n - 1)) \
                    + log_density(z[i], groups[c], ridge, nu)
        return log_posterior(i, log_joint)

    if prior_samples is None:
        prior_samples = class_model_prior_samples(z, labels, ridge)
    resub = np.mean([resubstitution(i, prior_samples) for i in range(n)])
    if not bias_correction:
        return float(h_y + resub)
    loo = np.mean([leave_one_out(i, prior_samples) for i in range(n)])
    return float(h_y + (resub + loo) / 2)


def class_model_prior_samples(z, labels, ridge=0.0):
    """The prior of ``gaussian_class_information`` chosen from the data: the grid PRIOR_GRID x
    (m + 2) descended from the pooled covariance (inf) while the leave-one-out log-likelihood,
    summed over every k-th row of each class (k = ceil(n / PRIOR_ROWS)), rises; the nu of the
    highest score met (a singular fit is passed over)."""
    z = np.asarray(z, dtype=np.float64)
    z = z.reshape(len(z), -1)
    _, y = np.unique(labels, return_inverse=True)
    n, m = z.shape
    stride = int(np.ceil(n / PRIOR_ROWS))
    rows = [i for c in range(y.max() + 1) for i in np.flatnonzero(y == c)[::stride]]
    best, best_score = PRIOR_GRID[0], -np.inf
    for factor in sorted(PRIOR_GRID, reverse=True):
        try:
            score = _leave_one_out_sum(z, y, ridge, factor * (m + 2), rows)
        except np.linalg.LinAlgError:
            continue
        if score > best_score:
            best, best_score = factor, score
        elif score < best_score:
            break
    return best * (m + 2)


def _leave_one_out_sum(z, y, ridge, nu, rows):
    """sum over ``rows`` of log q(y_i | z_i), each sample's own class fitted without it."""
    n, m = z.shape
    classes = y.max() + 1
    sizes = np.bincount(y)
    groups = [z[y == c] for c in range(classes)]
    pooled = sum(_scatter(g) for g in groups) / (n - classes)
    total = 0.0
    for i in rows:
        log_joint = np.empty(classes)
        for c in range(classes):
            own = c == y[i]
            fit = np.delete(z, i, axis=0)[np.delete(y, i) == c] if own else groups[c]
            k = len(fit)
            ridge_ = ridge * _ridge_downdate(sizes[c], nu) if own else ridge
            cov = _class_covariance(fit, pooled, nu) + ridge_ * np.eye(m)
            mean = fit.mean(0)
            maha = (z[i] - mean) @ np.linalg.solve(cov, z[i] - mean)
            log_joint[c] = np.log(k / (n - 1)) \
                - 0.5 * (m * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + maha)
        top = log_joint.max()
        total += log_joint[y[i]] - top - np.log(np.sum(np.exp(log_joint - top)))
    return total


def _class_covariance(rows, pooled, nu):
    """(W + nu S_pool) / (k - 1 + nu) of k rows; S_pool itself where nu is inf."""
    if np.isinf(nu):
        return pooled
    return (_scatter(rows) + nu * pooled) / (len(rows) - 1 + nu)


def _ridge_downdate(n_c, nu):
    """The ridge of a class's covariance refitted without one of its samples, relative to the
    ridge: the downdate of (n_c - 1 + nu) (S + ridge) over n_c - 2 + nu (1 where nu is inf)."""
    return 1.0 if np.isinf(nu) else (n_c - 1 + nu) / (n_c - 2 + nu)


def _scatter(rows):
    centred = rows - rows.mean(0)
    return centred.T @ centred
