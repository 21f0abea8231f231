"""Closed forms for Gaussian variables, and the Gaussian class model's information written out
plainly, in nats: the ground truth for the estimators' tests."""
import numpy as np
from scipy.special import digamma


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


def _entropy_bias(d, n):
    """The analytic bias of the Gaussian entropy estimate of d columns from n samples (nats)."""
    i = np.arange(1, d + 1)
    return d * (np.log(2) - np.log(n - 1)) / 2 + digamma((n - i) / 2).sum() / 2


def _class_log_density(x, rows, ridge, corrected):
    """log N(x; mean, S) of the Gaussian fitted to ``rows`` (S: the sample covariance, n - 1,
    plus ``ridge`` on the diagonal). ``corrected``: log det S less twice the entropy bias, and
    the Mahalanobis term times (n - d - 2) / (n - 1) less d / n (unbiased where x is independent
    of the rows)."""
    n, d = rows.shape
    mean = rows.mean(0)
    cov = np.cov(rows, rowvar=False).reshape(d, d) + ridge * np.eye(d)
    logdet = np.linalg.slogdet(cov)[1]
    maha = (x - mean) @ np.linalg.solve(cov, x - mean)
    if corrected:
        logdet -= 2 * _entropy_bias(d, n)
        maha = maha * (n - d - 2) / (n - 1) - d / n
    return -0.5 * (d * np.log(2 * np.pi) + logdet + maha)


def gaussian_class_information(z, labels, bias_correction=True, ridge=0.0):
    """I(Z; Y) of the Gaussian class model (quadratic discriminant analysis), in nats:
    H(Y) + mean_i log q(y_i | z_i), q the posterior of class-conditional Gaussians with the
    priors n_c / n.

    ``bias_correction=False``: resubstitution, every class fitted on all its samples (biased up).
    True: the mean of that and the leave-one-out value, where each sample's own class is fitted
    again without it (``np.delete``; its ridge (n_c - 1) / (n_c - 2) times ``ridge``, the
    downdate of the ridged scatter), the priors are counted without it, and every class
    log-density is bias-corrected (``_class_log_density``). One refit per sample: slow.
    """
    z = np.asarray(z, dtype=np.float64)
    z = z.reshape(len(z), -1)
    _, y = np.unique(labels, return_inverse=True)
    n, classes = len(y), y.max() + 1
    sizes = np.bincount(y)
    h_y = -np.sum(sizes / n * np.log(sizes / n))
    groups = [z[y == c] for c in range(classes)]

    def log_posterior(i, log_joint):
        top = log_joint.max()
        return log_joint[y[i]] - top - np.log(np.sum(np.exp(log_joint - top)))

    resub = np.mean([log_posterior(i, np.array([
        np.log(sizes[c] / n) + _class_log_density(z[i], groups[c], ridge, False)
        for c in range(classes)])) for i in range(n)])
    if not bias_correction:
        return float(h_y + resub)
    loo = []
    for i in range(n):
        log_joint = np.empty(classes)
        for c in range(classes):
            if c == y[i]:
                rows = np.delete(z, i, axis=0)[np.delete(y, i) == c]
                scaled = ridge * (sizes[c] - 1) / (sizes[c] - 2)
                log_joint[c] = np.log((sizes[c] - 1) / (n - 1)) \
                    + _class_log_density(z[i], rows, scaled, True)
            else:
                log_joint[c] = np.log(sizes[c] / (n - 1)) \
                    + _class_log_density(z[i], groups[c], ridge, True)
        loo.append(log_posterior(i, log_joint))
    return float(h_y + (resub + np.mean(loo)) / 2)
