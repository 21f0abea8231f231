"""Closed forms for Gaussian variables, in nats: the ground truth for the estimators' tests."""
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
