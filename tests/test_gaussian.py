"""estimator="gaussian": closed forms of jointly Gaussian data, an independent implementation of
Ince et al.'s gcmi (written here, numpy) on non-Gaussian data, the exact fused leave-one-out
against the loop, and its inputs (ties, singular covariances)."""
import numpy as np
import pytest
import torch
from scipy.special import ndtri, psi

import gib_kernels as gk
from gib_kernels.estimators.gaussian import copula_normalise

GAUSS = dict(estimator="gaussian", base="e")

# --- an independent gcmi (after robince/gcmi, in nats) -------------------------------------


def gcmi_copnorm(x):
    """Ranks by double argsort (no ties in these tests), then the normal quantile."""
    ranks = np.argsort(np.argsort(x, axis=0), axis=0) + 1
    return ndtri(ranks / (x.shape[0] + 1))


def gcmi_entropy(x, biascorrect=True):
    n, d = x.shape
    x = x - x.mean(0)
    chol = np.linalg.cholesky(x.T @ x / (n - 1))
    h = np.sum(np.log(np.diagonal(chol))) + 0.5 * d * (np.log(2 * np.pi) + 1)
    if biascorrect:
        h -= d * (np.log(2) - np.log(n - 1)) / 2 + psi((n - np.arange(1, d + 1)) / 2).sum() / 2
    return h


def gcmi_mi(x, y):
    return gcmi_entropy(x) + gcmi_entropy(y) - gcmi_entropy(np.hstack([x, y]))


def mixture_mi(x, labels, biascorrect=True):
    """I(X; Y) for class labels: the class-conditional Gaussians as a mixture, its information
    about the component from pairwise KL divergences (Kolchinsky & Tracey 2017), written out
    with numpy's inverse and slogdet, one pair at a time."""
    classes = np.unique(labels)
    weights = np.array([np.mean(labels == c) for c in classes])
    d = x.shape[1]
    parts = [x[labels == c] for c in classes]
    means = [part.mean(0) for part in parts]
    covs = [np.cov(part, rowvar=False).reshape(d, d) for part in parts]
    h = [gcmi_entropy(part, biascorrect) for part in parts]
    total = 0.0
    for i in range(len(classes)):
        inner = 0.0
        for j in range(len(classes)):
            if i == j:
                kl = 0.0
            else:
                inverse = np.linalg.inv(covs[j])
                delta = means[i] - means[j]
                kl = 0.5 * (np.trace(inverse @ covs[i]) + delta @ inverse @ delta - d) \
                    + h[j] - h[i]
            inner += weights[j] * np.exp(-kl)
        total -= weights[i] * np.log(inner)
    return total


def gcmi_cmi(x, y, z):
    return (gcmi_entropy(np.hstack([x, z])) + gcmi_entropy(np.hstack([y, z]))
            - gcmi_entropy(np.hstack([x, y, z])) - gcmi_entropy(z))


def _non_gaussian(rng, n, m):
    """Skewed, heavy-tailed and bounded columns with dependence: no ties."""
    base = rng.standard_normal((n, m)) @ (np.eye(m) + 0.4 * rng.standard_normal((m, m)))
    return np.column_stack([np.exp(base[:, 0])] + [np.tanh(base[:, j]) ** 3 + base[:, j] ** 2
                                                   for j in range(1, m)])


@pytest.mark.parametrize("n,m", [(400, 3), (1001, 7)])
def test_matches_an_independent_gcmi_on_non_gaussian_data(n, m):
    rng = np.random.default_rng(m)
    z = _non_gaussian(rng, n, m)
    w = np.column_stack([np.log1p(np.abs(z[:, 0])) + rng.exponential(size=n),
                         rng.standard_t(3, size=n)])
    v = z[:, :1] + rng.gamma(2.0, size=(n, 1))
    labels = np.digitize(z[:, 1] + rng.standard_normal(n), [-0.5, 0.5, 1.5])
    cz, cw, cv = gcmi_copnorm(z), gcmi_copnorm(w), gcmi_copnorm(v)
    checks = [
        (gk.entropy(z, **GAUSS), gcmi_entropy(cz)),
        (gk.entropy(z, copula=False, **GAUSS), gcmi_entropy(z)),
        (gk.entropy(z, bias_correction=False, **GAUSS), gcmi_entropy(cz, biascorrect=False)),
        (gk.mutual_information(z, w, **GAUSS), gcmi_mi(cz, cw)),
        (gk.mutual_information(z, labels, **GAUSS), mixture_mi(cz, labels)),
        (gk.mutual_information(z, labels, bias_correction=False, **GAUSS),
         mixture_mi(cz, labels, biascorrect=False)),
        (gk.conditional_mutual_information(z, w, v, **GAUSS), gcmi_cmi(cz, cw, cv)),
    ]
    for ours, theirs in checks:
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


# --- closed forms of jointly Gaussian data (n = 20000: sampling error about 0.01 nats) ------

N = 20000


def _gaussian_entropy(cov):
    return 0.5 * np.linalg.slogdet(2 * np.pi * np.e * np.atleast_2d(cov))[1]


def _gaussian_mi(cov, a, b):
    a, b = list(a), list(b)
    sub = lambda idx: cov[np.ix_(idx, idx)]  # noqa: E731
    return _gaussian_entropy(sub(a)) + _gaussian_entropy(sub(b)) - _gaussian_entropy(sub(a + b))


def _synergy_cov():
    """(Z_0..Z_3, W): W = X + E_W / 2; Z_0 = X + N and Z_1 = N (together they cancel the noise:
    synergy), Z_2 = X + E_2 and Z_3 = X + E_3 (each tells about the same X: redundancy)."""
    rng = np.random.default_rng(5)
    x, noise, e_w = (rng.standard_normal(N) for _ in range(3))
    e2, e3 = 0.7 * rng.standard_normal(N), 0.7 * rng.standard_normal(N)
    columns = np.column_stack([x + noise, noise, x + e2, x + e3, x + 0.5 * e_w])
    # population covariance of the construction
    cov = np.array([[2, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 1.49, 1, 1], [1, 0, 1, 1.49, 1],
                    [1, 0, 1, 1, 1.25]], dtype=float)
    return columns[:, :4], columns[:, 4:], cov


@pytest.mark.parametrize("copula", [False, True])
@pytest.mark.parametrize("rho", [0.5, 0.8, 0.9])
def test_gaussian_mi_closed_form(copula, rho):
    rng = np.random.default_rng(int(rho * 10))
    x = rng.standard_normal(N)
    y = rho * x + np.sqrt(1 - rho ** 2) * rng.standard_normal(N)
    expected = -0.5 * np.log(1 - rho ** 2)
    assert gk.mutual_information(x, y, copula=copula, **GAUSS) == pytest.approx(expected, abs=0.015)


@pytest.mark.parametrize("separation", [0.5, 1.5, 3.0, 40.0])
def test_class_mixture_mi_closed_form_and_bound(separation):
    """Two classes, identity covariances, means `separation` apart: KL = separation^2 / 2 both
    ways, I = -sum_i p_i log(p_i + (1 - p_i) exp(-KL)) (nats), never above H(Y)."""
    rng = np.random.default_rng(int(separation * 10))
    y = (rng.random(N) < 0.3).astype(int)
    z = rng.standard_normal((N, 3))
    z[y == 1, 0] += separation
    p = np.bincount(y) / N
    kl = separation ** 2 / 2
    expected = -sum(p_i * np.log(p_i + (1 - p_i) * np.exp(-kl)) for p_i in p)
    h_y = -np.sum(p * np.log(p))
    got = gk.mutual_information(z, y, copula=False, **GAUSS)
    assert got == pytest.approx(expected, abs=0.02)  # sampling error of the means: ~0.01
    assert got <= h_y
    profile_terms = gk.leave_one_out_mutual_information(z, y, copula=False, **GAUSS)
    assert np.all(profile_terms <= h_y)


def test_class_mixture_mi_stays_below_h_y_with_many_separated_classes():
    """Ten classes far apart in 20 dimensions (the CNN demo's setting): every term of the
    synergy profile is at most H(Y), the full one within 1% of it."""
    rng = np.random.default_rng(9)
    y = rng.integers(0, 10, 3000)
    z = rng.standard_normal((3000, 20)) + 8 * rng.standard_normal((10, 20))[y]
    h_y = -np.sum(np.bincount(y) / 3000 * np.log(np.bincount(y) / 3000))
    full = gk.mutual_information(z, y, **GAUSS)
    assert h_y * 0.99 < full <= h_y
    for terms in (gk.leave_one_out_mutual_information(z, y, **GAUSS),
                  gk.per_feature_mutual_information(z, y, **GAUSS)):
        assert np.all(terms <= h_y)


def test_gaussian_entropy_closed_form():
    rng = np.random.default_rng(1)
    mix = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.2, -0.3, 1.5]])
    z = rng.standard_normal((N, 3)) @ mix.T
    expected = _gaussian_entropy(mix @ mix.T)
    assert gk.entropy(z, copula=False, **GAUSS) == pytest.approx(expected, abs=0.02)
    assert gk.entropy(rng.standard_normal(N), copula=False, **GAUSS) == pytest.approx(1.41894,
                                                                                         abs=0.01)


def test_gaussian_conditional_mi_closed_form():
    rng = np.random.default_rng(2)
    v = rng.standard_normal(N)
    z = v + rng.standard_normal(N)
    w = 0.5 * z + v + rng.standard_normal(N)
    cov = np.cov(np.column_stack([z, w, v]).T)  # sampling error aside, the population's
    population = np.array([[2, 2, 1], [2, 3.5, 1.5], [1, 1.5, 1]], dtype=float)
    expected = (_gaussian_entropy(population[np.ix_([0, 2], [0, 2])])
                + _gaussian_entropy(population[np.ix_([1, 2], [1, 2])])
                - _gaussian_entropy(population) - _gaussian_entropy(population[2, 2]))
    assert np.allclose(cov, population, atol=0.1)
    got = gk.conditional_mutual_information(z, w, v, copula=False, **GAUSS)
    assert got == pytest.approx(expected, abs=0.015)


@pytest.mark.parametrize("copula", [False, True])
def test_gaussian_synergy_profile_closed_form(copula):
    z, w, cov = _synergy_cov()
    everything = [0, 1, 2, 3]
    full = _gaussian_mi(cov, everything, [4])
    expected = [full - _gaussian_mi(cov, [j], [4])
                - _gaussian_mi(cov, [c for c in everything if c != j], [4]) for j in everything]
    profile = gk.synergy_profile(z, w, copula=copula, **GAUSS)
    assert expected[0] > 0.03 and expected[1] > 0.25 and expected[2] < -0.38 and expected[3] < -0.38
    np.testing.assert_allclose(profile, expected, atol=0.015)
    ii = gk.interaction_information(z[:, :1], z[:, 1:2], w, copula=copula, **GAUSS)
    expected_ii = _gaussian_mi(cov, [0, 1], [4]) - _gaussian_mi(cov, [0], [4]) \
        - _gaussian_mi(cov, [1], [4])
    assert ii == pytest.approx(expected_ii, abs=0.03)


# --- the fused leave-one-out and per-feature terms against the loop ------------------------

SHAPES = [(57, 3), (300, 11), (1001, 25)]


@pytest.mark.parametrize("n,m", SHAPES, ids=[f"n{n}-m{m}" for n, m in SHAPES])
@pytest.mark.parametrize("target", ["labels", "continuous"])
@pytest.mark.parametrize("copula", [True, False])
def test_fused_leave_one_out_equals_the_loop(n, m, target, copula):
    rng = np.random.default_rng(n + m)
    z = _non_gaussian(rng, n, m)
    w = np.digitize(z[:, 0], np.quantile(z[:, 0], [0.3, 0.7])) if target == "labels" \
        else np.column_stack([z[:, 1] + rng.standard_normal(n), rng.standard_normal(n)])
    kw = dict(copula=copula, **GAUSS)
    # with the copula, the transform of each column is the same in z and in z without a column
    loo = gk.leave_one_out_mutual_information(z, w, **kw)
    loop = [gk.mutual_information(np.delete(z, j, axis=1), w, **kw) for j in range(m)]
    np.testing.assert_allclose(loo, loop, rtol=1e-9, atol=1e-12)
    per_feature = gk.per_feature_mutual_information(z, w, **kw)
    single = [gk.mutual_information(z[:, j], w, **kw) for j in range(m)]
    np.testing.assert_allclose(per_feature, single, rtol=1e-9, atol=1e-12)
    h_loo = gk.leave_one_out_entropy(z, **kw)
    h_loop = [gk.entropy(np.delete(z, j, axis=1), **kw) for j in range(m)]
    np.testing.assert_allclose(h_loo, h_loop, rtol=1e-10, atol=1e-12)


def test_several_targets_and_one_column():
    rng = np.random.default_rng(3)
    z = _non_gaussian(rng, 200, 4)
    y = (z[:, 0] > np.median(z[:, 0])).astype(int)
    both = gk.leave_one_out_mutual_information(z, [y, z[:, :1] ** 2], **GAUSS)
    np.testing.assert_array_equal(both[0], gk.leave_one_out_mutual_information(z, y, **GAUSS))
    assert gk.leave_one_out_mutual_information(z[:, :1], y, **GAUSS).tolist() == [0.0]


# --- inputs ------------------------------------------------------------------------------------


def test_copula_gives_tied_values_one_score_and_keeps_order():
    x = torch.tensor([[3.0, 1.0], [1.0, 1.0], [2.0, 5.0], [1.0, 0.0]], dtype=torch.float64)
    c = copula_normalise(x).numpy()
    ranks = np.array([[4, 2.5], [1.5, 2.5], [3, 4], [1.5, 1]])  # average ranks of ties
    np.testing.assert_allclose(c, ndtri(ranks / 5))


def test_singular_covariance_asks_for_a_ridge():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((300, 3))
    z[:, 2] = z[:, 0] + z[:, 1]
    with pytest.raises(ValueError, match="singular.*ridge"):
        gk.mutual_information(z, (z[:, 0] > 0).astype(int), copula=False, **GAUSS)
    value = gk.mutual_information(z, (z[:, 0] > 0).astype(int), copula=False, ridge=1e-3, **GAUSS)
    assert np.isfinite(value)


def test_too_few_samples_per_class():
    rng = np.random.default_rng(5)
    z = rng.standard_normal((40, 6))
    labels = np.r_[np.zeros(36, int), np.ones(4, int)]
    with pytest.raises(ValueError, match="needs more samples than dimensions"):
        gk.mutual_information(z, labels, **GAUSS)


@pytest.mark.parametrize("bad,match", [({"copula": "yes"}, "'copula' parameter"),
                                       ({"ridge": -1.0}, "'ridge' parameter"),
                                       ({"bias_correction": 1}, "'bias_correction' parameter")])
def test_bad_options(bad, match):
    with pytest.raises(ValueError, match=match):
        gk.entropy(np.random.default_rng(0).standard_normal((50, 2)), **GAUSS, **bad)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_give_the_cpu_values():
    rng = np.random.default_rng(6)
    z = _non_gaussian(rng, 2000, 16)
    y = (z[:, 0] > np.median(z[:, 0])).astype(int)
    w = z[:, 1:3] + rng.standard_normal((2000, 2))
    for target in (y, w):
        cpu = gk.synergy_profile(z, target, **GAUSS)
        gpu = gk.synergy_profile(torch.from_numpy(z).cuda(), torch.from_numpy(target).cuda(),
                                 **GAUSS)
        assert gpu.is_cuda
        np.testing.assert_allclose(gpu.cpu().numpy(), cpu, rtol=1e-9, atol=1e-11)
