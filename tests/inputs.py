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


def labels_of_three(rng, z, lonely=False):
    """Labels of 3 classes (one class below 3 points); with `lonely`, one point alone in its class."""
    n = z.shape[0]
    labels = labels_for(rng, z, n_classes=3) if n >= 3 else np.zeros(n, np.int64)
    if lonely:
        labels[0] = 3
    return labels


def loo_target(rng, z, target, make_w):
    """(labels, w) of a fused leave-one-out case: target "none", "labels", "lonely" (a class of
    one) or "w" (make_w(n) builds it)."""
    if target in ("labels", "lonely"):
        return labels_of_three(rng, z, lonely=target == "lonely"), None
    if target == "w":
        return None, make_w(z.shape[0])
    return None, None


# --- binning codes ----------------------------------------------------------------------------

BINNING_CASES = [  # (n, m, fixed columns, code range)
    (0, 2, 1, 2),
    (1, 3, 0, 2),
    (17, 4, 0, 1 << 62),
    (33, 1, 2, 2),
    (40, 1, 0, 3),
    (64, 12, 1, 2),
    (70, 5, 0, 3),
    (97, 4, 1, 3),
    (300, 9, 0, 3),
    (333, 1, 2, 2),
    (599, 37, 0, 2),
]
BINNING_IDS = [f"n{n}-m{m}-fixed{f}-codes{'huge' if h > 9 else h}"
               for n, m, f, h in BINNING_CASES]


def binning_inputs(rng, n, m, f, high):
    """Codes in [-high, high) with near duplicates (rows that merge once a column is left out),
    and f fixed columns (or None)."""
    codes = rng.integers(-high, high, (n, m))
    if n > 1 and m:
        codes[n // 2:] = codes[:n - n // 2]
        codes[n // 2:, rng.integers(0, m)] += 1
    return codes, (rng.integers(0, 3, (n, f)) if f else None)


# --- sharded kernels (shard = (index, count), see Shard in csrc/include/gib/common.h) ---------

BAD_SHARDS = [(2, 2), (0, 0), (-1, 3)]  # index past the parts, no parts, negative index


def shard_parts(call, count):
    """call(shard) for every part of `count`: their sum is the unsharded output."""
    return [call((index, count)) for index in range(count)]


def family_options(options, **extra):
    """``options`` (with its "estimator") and those of ``extra`` that this estimator takes: a
    table of cases can offer k to every row, and only the k-NN families receive it."""
    import gib_kernels as gk

    name = options.get("estimator", "auto")
    if name == "auto":
        return {**options, **extra}
    takes = gk.estimators.family(name).parameter_names()
    return {**options, **{key: value for key, value in extra.items() if key in takes}}
