"""Input builders shared by the tests and the benchmarks."""
import numpy as np


def continuous(rng, n, d, ties=False):
    """Correlated Gaussian features; with ties, small integers (duplicates and equal distances)."""
    if ties:
        return rng.integers(0, 3, size=(n, d)).astype(np.float64)
    mix = rng.standard_normal((d, d)) / np.sqrt(d) + np.eye(d)
    return rng.standard_normal((n, d)) @ mix


def labels_for(rng, z, n_classes=3):
    """Class labels that depend on z (so the MI is not zero), every class with >= 2 members."""
    score = z[:, 0] + 0.5 * rng.standard_normal(z.shape[0])
    edges = np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1])
    return np.searchsorted(edges, score).astype(np.int64)


def layer_like(rng, n, m, activation="tanh"):
    """Activations of a random layer: tanh in (-1, 1) or ReLU in [0, inf)."""
    x = rng.standard_normal((n, 8))
    pre = x @ rng.standard_normal((8, m)) / np.sqrt(8) * 2.0
    return np.tanh(pre) if activation == "tanh" else np.maximum(pre, 0.0)
