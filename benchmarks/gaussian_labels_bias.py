"""Bias of the Gaussian family's I(Z; Y) against class labels, against a Monte Carlo truth:
the tables of docs/science.md ("Known bias") and benchmarks/results/gaussian_labels_bias.md.

    python benchmarks/gaussian_labels_bias.py [--draws 10] [--quick]

Classes: 4 equiprobable Gaussian classes. Table 1 (the estimators side by side): 6 dimensions,
means at the vertices of a tetrahedron 2 x separation apart in the first 3, identity
covariances, n = 8000. Table 2 (bias against m and n): means as in table 1, class c with
variance 1 + c / 4 in the 3 informative dimensions, m - 3 dimensions of pure noise. All with
copula=False, so the class model holds exactly; truth by Monte Carlo over 200000 draws of the
true posterior. Bits. Deterministic: every draw is seeded.
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy.special import logsumexp

import gib_kernels as gk

CLASSES = 4
TETRAHEDRON = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(2)


def _model(m: int, separation: float, unequal: bool):
    means = np.zeros((CLASSES, m))
    means[:, :3] = separation * TETRAHEDRON  # vertices 2 x separation apart
    variances = np.ones((CLASSES, m))
    if unequal:
        variances[:, :3] += np.arange(CLASSES)[:, None] / 4
    return means, variances


def _draw(means, variances, n, rng):
    y = np.repeat(np.arange(CLASSES), n // CLASSES)
    z = means[y] + np.sqrt(variances[y]) * rng.standard_normal((len(y), means.shape[1]))
    return z, y


def _truth(means, variances, draws=200_000, seed=12345) -> float:
    z, y = _draw(means, variances, draws, np.random.default_rng(seed))
    log_density = np.stack([-0.5 * (((z - means[c]) ** 2 / variances[c]).sum(1)
                                     + np.log(variances[c]).sum()) for c in range(CLASSES)], 1)
    posterior = log_density[np.arange(len(y)), y] - logsumexp(log_density, axis=1)
    return float((np.log(CLASSES) + posterior.mean()) / np.log(2))


def _pairwise_kl(z, y) -> float:
    """Kolchinsky & Tracey's upper bound, -sum_i p_i log sum_j p_j exp(-KL_ij), fitted classes."""
    fits = [(z[y == c].mean(0), np.cov(z[y == c], rowvar=False)) for c in range(CLASSES)]
    kl = np.zeros((CLASSES, CLASSES))
    for i, (mi, si) in enumerate(fits):
        for j, (mj, sj) in enumerate(fits):
            pj = np.linalg.inv(sj)
            kl[i, j] = 0.5 * (np.trace(pj @ si) + (mi - mj) @ pj @ (mi - mj) - len(mi)
                              + np.linalg.slogdet(sj)[1] - np.linalg.slogdet(si)[1])
    p = np.full(CLASSES, 1 / CLASSES)
    return float(-(p * logsumexp(np.log(p)[None] - kl, axis=1)).sum() / np.log(2))


def estimators_table(draws: int) -> list[str]:
    rows = ["| separation | truth | pairwise KL (upper bound) | class model, resubstitution | "
            "class model, plain QDA (covariance_prior=0) | class model (default) |",
            "|---|---|---|---|---|---|"]
    for separation in (0.25, 0.5, 1.0, 2.0, 4.0):
        means, variances = _model(6, separation, unequal=False)
        values = []
        for draw in range(draws):
            z, y = _draw(means, variances, 8000, np.random.default_rng(100 * draw + 1))
            kw = dict(estimator="gaussian", copula=False)
            values.append([_pairwise_kl(z, y),
                           gk.mutual_information(z, y, bias_correction=False, **kw),
                           gk.mutual_information(z, y, covariance_prior=0, **kw),
                           gk.mutual_information(z, y, **kw)])
        mean = np.mean(values, 0)
        rows.append(f"| {separation:g} | {_truth(means, variances):.3f} | "
                    + " | ".join(f"{v:.3f}" for v in mean) + " |")
    return rows


def bias_table(draws: int, shapes) -> list[str]:
    rows = ["| m, n | resubstitution | plain QDA (covariance_prior=0) | default | default, sd |",
            "|---|---|---|---|---|"]
    for m, n in shapes:
        cells = {key: [] for key in ("resub", "qda", "default", "sd")}
        for separation in (0.25, 1.0):
            means, variances = _model(m, separation, unequal=True)
            truth = _truth(means, variances)
            values = []
            for draw in range(draws):
                z, y = _draw(means, variances, n, np.random.default_rng(1000 * draw + m + n))
                kw = dict(estimator="gaussian", copula=False)
                values.append([gk.mutual_information(z, y, bias_correction=False, **kw),
                               gk.mutual_information(z, y, covariance_prior=0, **kw),
                               gk.mutual_information(z, y, **kw)])
            errors = np.array(values) - truth
            cells["resub"].append(f"{errors[:, 0].mean():+.3f}")
            cells["qda"].append(f"{errors[:, 1].mean():+.3f}")
            cells["default"].append(f"{errors[:, 2].mean():+.3f}")
            cells["sd"].append(f"{errors[:, 2].std(ddof=1):.3f}")
        rows.append(f"| {m}, {n} | " + " | ".join(" / ".join(v) for v in cells.values()) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="a few shapes, 3 draws")
    args = parser.parse_args()
    draws = 3 if args.quick else args.draws
    shapes = [(6, 1000), (32, 2000)] if args.quick else \
        [(6, 1000), (6, 10000), (16, 1000), (16, 2000), (32, 1000), (32, 2000), (32, 10000),
         (64, 2000), (64, 10000), (256, 2000), (256, 10000)]
    print("\n".join(estimators_table(draws)))
    print()
    print("Bias in bits, separation 0.25 / 1 (truth about 0.17 / 1.3):")
    print("\n".join(bias_table(draws, shapes)))


if __name__ == "__main__":
    main()
