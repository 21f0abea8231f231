"""estimator="gaussian": closed forms of jointly Gaussian data, an independent implementation of
Ince et al.'s gcmi (written here, numpy) on non-Gaussian data, the class model against labels
(Monte Carlo truth of known class-conditional Gaussians, the plain reference), the exact fused
leave-one-out against the loop, and its inputs (ties, singular covariances)."""
import numpy as np
import pytest
import torch
from scipy.special import logsumexp, ndtri, psi

import gib_kernels as gk
from gib_kernels import reference as ref
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
        (gk.mutual_information(z, labels, **GAUSS), ref.gaussian_class_information(cz, labels)),
        (gk.mutual_information(z, labels, bias_correction=False, **GAUSS),
         ref.gaussian_class_information(cz, labels, bias_correction=False)),
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


# --- the class model against labels: class-conditional Gaussians of known parameters ------

_TETRAHEDRON = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3)


class _Classes:
    """Four classes in m dimensions: means 2 * separation apart at the vertices of a tetrahedron
    (in the first 3 dimensions), variances 1 + c / 4 there for class c where ``unequal``, unit
    noise in the others, all mixed by one fixed random matrix (the MI does not change)."""

    def __init__(self, separation, priors=(0.25,) * 4, unequal=False, m=6):
        rng = np.random.default_rng(m)
        mix = np.eye(m) + 0.5 * rng.standard_normal((m, m)) / np.sqrt(m)
        means = np.zeros((4, m))
        means[:, :3] = 2 * separation * _TETRAHEDRON
        self.means, self.priors, self.m = means @ mix.T, np.asarray(priors), m
        self.factors = []
        for c in range(4):
            scale = np.ones(m)
            scale[:3] = np.sqrt(1 + c / 4) if unequal else 1.0
            self.factors.append(mix * scale)

    def draw(self, n, rng):
        y = rng.choice(4, n, p=self.priors)
        z = self.means[y] + np.einsum("cij,nj->nci", np.stack(self.factors),
                                      rng.standard_normal((n, self.m)))[np.arange(n), y]
        return z, y

    def information(self, draws=200000):
        """I(Z; Y) in bits by Monte Carlo: H(Y) + E log q(Y | Z) with the true posterior."""
        z, y = self.draw(draws, np.random.default_rng(12345))
        log_joint = np.empty((draws, 4))
        for c, factor in enumerate(self.factors):
            cov = factor @ factor.T
            solved = np.linalg.solve(np.linalg.cholesky(cov), (z - self.means[c]).T)
            log_joint[:, c] = np.log(self.priors[c]) - 0.5 * (
                np.linalg.slogdet(2 * np.pi * cov)[1] + (solved * solved).sum(0))
        log_posterior = log_joint[np.arange(draws), y] - logsumexp(log_joint, axis=1)
        return (-np.sum(self.priors * np.log(self.priors)) + log_posterior.mean()) / np.log(2)


CLASS_CASES = {
    "overlap-0.25": dict(separation=0.25),
    "separation-0.5": dict(separation=0.5),
    "separation-1": dict(separation=1.0),
    "separation-2": dict(separation=2.0),
    "disjoint-4": dict(separation=4.0),
    "unequal-priors": dict(separation=0.75, priors=(0.1, 0.2, 0.3, 0.4)),
    "unequal-covariances": dict(separation=0.5, unequal=True),
    "unequal-both": dict(separation=1.0, priors=(0.4, 0.3, 0.2, 0.1), unequal=True),
}


@pytest.mark.parametrize("case", CLASS_CASES.values(), ids=CLASS_CASES.keys())
def test_class_model_information_against_monte_carlo(case):
    """Within 0.05 bits of the truth at n = 10000 (copula=False: the model holds), never above
    H(Y); the resubstitution value (bias_correction=False) neither."""
    classes = _Classes(**case)
    truth = classes.information()
    z, y = classes.draw(10000, np.random.default_rng(7))
    counts = np.bincount(y) / y.size
    h_y = -np.sum(counts * np.log2(counts))
    got = gk.mutual_information(z, y, estimator="gaussian", copula=False)
    assert got == pytest.approx(truth, abs=0.05)
    resubstitution = gk.mutual_information(z, y, estimator="gaussian", copula=False,
                                           bias_correction=False)
    assert got <= h_y and resubstitution <= h_y


def test_class_model_bias_correction_removes_the_optimism_of_resubstitution():
    """16 dimensions, 500 samples per class: the class model fitted and evaluated on the same
    samples is 0.14 bits above the truth (docs/science.md, "Known bias"); the bias-corrected
    value, the mean of that and the exact leave-one-out value, within 0.05."""
    classes = _Classes(separation=0.25, m=16)
    truth = classes.information()
    z, y = classes.draw(2000, np.random.default_rng(8))
    resubstitution = gk.mutual_information(z, y, estimator="gaussian", copula=False,
                                           bias_correction=False, covariance_prior=0)
    corrected = gk.mutual_information(z, y, estimator="gaussian", copula=False,
                                      covariance_prior=0)
    assert resubstitution - truth > 0.08
    assert corrected == pytest.approx(truth, abs=0.05)
    # the prior chosen from the data (these classes share one covariance): both close
    for bias_correction in (True, False):
        assert gk.mutual_information(z, y, estimator="gaussian", copula=False,
                                     bias_correction=bias_correction) == pytest.approx(truth,
                                                                                      abs=0.05)


def test_class_model_stays_below_h_y_with_many_separated_classes():
    """Ten classes far apart in 20 dimensions (the CNN demo's setting): I(Z; Y) within 0.05
    bits of H(Y) and not above it, and so every term of the synergy profile."""
    rng = np.random.default_rng(9)
    y = rng.integers(0, 10, 3000)
    z = rng.standard_normal((3000, 20)) + 8 * rng.standard_normal((10, 20))[y]
    counts = np.bincount(y) / 3000
    h_y = -np.sum(counts * np.log2(counts))
    full = gk.mutual_information(z, y, estimator="gaussian")
    assert h_y - 0.05 < full <= h_y
    for terms in (gk.leave_one_out_mutual_information(z, y, estimator="gaussian"),
                  gk.per_feature_mutual_information(z, y, estimator="gaussian")):
        assert np.all(terms <= h_y)


def _assert_class_model_terms_match_the_reference(z, y, kw, nu, rtol, atol):
    """I(Z; Y), every I(Z_-j; Y) and every I(Z_j; Y) of the fused torch path against the
    reference with ``prior_samples=nu`` (a refit of each class without each sample, each column
    dropped or kept alone by np.delete)."""
    bias_correction, ridge = kw["bias_correction"], kw["ridge"]

    def reference(columns):
        return ref.gaussian_class_information(columns, y, bias_correction, ridge,
                                              prior_samples=nu)

    assert gk.mutual_information(z, y, **kw) == pytest.approx(reference(z), rel=rtol, abs=atol)
    np.testing.assert_allclose(gk.leave_one_out_mutual_information(z, y, **kw),
                               ref.leave_one_out(lambda zj, y: reference(zj), z, y),
                               rtol=rtol, atol=atol)
    np.testing.assert_allclose(gk.per_feature_mutual_information(z, y, **kw),
                               [reference(z[:, j]) for j in range(z.shape[1])],
                               rtol=rtol, atol=atol)


@pytest.mark.parametrize("bias_correction", [True, False])
@pytest.mark.parametrize("ridge", [0.0, 0.5])
def test_class_model_matches_the_plain_reference(bias_correction, ridge):
    """The fused torch path (closed-form leave-one-out of each sample, Schur complements for the
    columns) against the reference, which refits each class without each sample and each
    column with np.delete."""
    rng = np.random.default_rng(10)
    z = _non_gaussian(rng, 90, 4)
    y = np.digitize(z[:, 0] + rng.standard_normal(90), [-0.3, 0.8])
    kw = dict(bias_correction=bias_correction, ridge=ridge, copula=False, **GAUSS)
    assert gk.mutual_information(z, y, **kw) == pytest.approx(
        ref.gaussian_class_information(z, y, bias_correction, ridge), rel=1e-10, abs=1e-12)
    # the terms are marginals of the model of all 4 columns: its prior, chosen on all 4
    nu = ref.class_model_prior_samples(z, y, ridge)
    _assert_class_model_terms_match_the_reference(z, y, kw, nu, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bias_correction", [True, False])
@pytest.mark.parametrize("ridge", [0.0, 0.5])
def test_pooled_class_model_matches_the_plain_reference(bias_correction, ridge):
    """covariance_prior=inf: every class has the pooled covariance (linear discriminant
    analysis), one product for all the classes, the block centred at the mean of z and each
    class's shift subtracted. Against the reference with np.delete, on data far from the origin
    (an offset of 1e4, which a product of the uncentred rows would lose digits to)."""
    rng = np.random.default_rng(12)
    z = _non_gaussian(rng, 120, 5) + 1e4
    y = np.digitize(z[:, 0] - 1e4 + rng.standard_normal(120), [-0.5, 0.3, 1.0])
    kw = dict(bias_correction=bias_correction, ridge=ridge, copula=False,
              covariance_prior=np.inf, **GAUSS)
    _assert_class_model_terms_match_the_reference(z, y, kw, np.inf, rtol=1e-9, atol=1e-11)
    # the limit of a finite prior: nu = 1e12 pseudo-samples of S_pool
    expected = ref.gaussian_class_information(z, y, bias_correction, ridge, prior_samples=np.inf)
    assert gk.mutual_information(z, y, **dict(kw, covariance_prior=1e12)) == pytest.approx(
        expected, abs=1e-6)


@pytest.mark.parametrize("scales", [(1.0, 1.0, 1.0), (0.3, 1.0, 3.0)],
                         ids=["shared-covariance", "unequal-covariances"])
def test_class_model_chooses_the_prior_the_reference_chooses(scales):
    """The prior descended from the pooled covariance while the leave-one-out score rises: the
    pooled one where the classes share a covariance, a finite one where they differ; the same
    choice and value as the reference's."""
    from gib_kernels.estimators import gaussian as g
    rng = np.random.default_rng(13)
    y = rng.integers(0, 3, 600)
    z = rng.standard_normal((600, 4)) * np.asarray(scales)[y][:, None] + 0.8 * y[:, None]
    nu = ref.class_model_prior_samples(z, y)
    assert np.isinf(nu) == (scales[0] == scales[2])
    from gib_kernels.estimators.inputs import Inputs
    from gib_kernels.functional import Request
    d = Inputs(Request("gaussian", {"copula": False}, "e", "auto"), z, y)
    model = g._ClassModel.fitted(g._Moments.of(d.z, d), d.p, d.z)
    assert model.prior_samples == nu
    assert gk.mutual_information(z, y, copula=False, **GAUSS) == pytest.approx(
        ref.gaussian_class_information(z, y, prior_samples=nu), rel=1e-10)


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
    # against labels the terms are marginals of one class model: with a prior given, the naive
    # loop over np.delete with the same prior reproduces them
    prior = {"covariance_prior": 2.5 * m} if target == "labels" else {}
    loo = gk.leave_one_out_mutual_information(z, w, **kw, **prior)
    loop = ref.leave_one_out(lambda zj, w: gk.mutual_information(zj, w, **kw, **prior), z, w)
    np.testing.assert_allclose(loo, loop, rtol=1e-9, atol=1e-12)
    per_feature = gk.per_feature_mutual_information(z, w, **kw, **prior)
    single = [gk.mutual_information(z[:, j], w, **kw, **prior) for j in range(m)]
    np.testing.assert_allclose(per_feature, single, rtol=1e-9, atol=1e-12)
    h_loo = gk.leave_one_out_entropy(z, **kw)
    h_loop = ref.leave_one_out(lambda zj, _: gk.entropy(zj, **kw), z, None)
    np.testing.assert_allclose(h_loo, h_loop, rtol=1e-10, atol=1e-12)


def test_several_targets_and_one_column():
    rng = np.random.default_rng(3)
    z = _non_gaussian(rng, 200, 4)
    y = (z[:, 0] > np.median(z[:, 0])).astype(int)
    both = gk.leave_one_out_mutual_information(z, [y, z[:, :1] + rng.standard_normal((200, 1))],
                                               **GAUSS)
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


SINGULAR = {
    # (columns added to b, copula)
    "duplicate": (lambda b, rng: b[:, 1], False),
    "duplicate-copula": (lambda b, rng: b[:, 1], True),
    "monotone-copy": (lambda b, rng: np.exp(b[:, 1]), True),  # identical after the copula
    "linear-combination": (lambda b, rng: 0.3 * b[:, 0] - 2.1 * b[:, 3], False),
    "combination-of-all": (lambda b, rng: b @ rng.standard_normal(5), False),
}


def _singular_case(kind, seed):
    rng = np.random.default_rng(seed)
    b = rng.standard_normal((400, 5)) @ (np.eye(5) + 0.3 * rng.standard_normal((5, 5)))
    extra, copula = SINGULAR[kind]
    z = np.column_stack([b, extra(b, rng)])
    y = rng.integers(0, 2, 400)
    w = np.column_stack([b[:, 0] + rng.standard_normal(400), rng.standard_normal(400)])
    return z, y, w, copula


@pytest.mark.parametrize("target", ["entropy", "continuous", "labels"])
@pytest.mark.parametrize("kind", SINGULAR.keys())
def test_singular_covariances_are_refused_not_factorised(kind, target):
    """Cholesky often succeeds on an exactly singular covariance with a pivot at the level of
    rounding (with labels, I([b, b_1]; y) came back -0.66 nats); every such covariance raises,
    over 30 seeds, naming the column."""
    for seed in range(1000, 1030):
        z, y, w, copula = _singular_case(kind, seed)
        kw = dict(copula=copula, **GAUSS)
        calls = {"entropy": [lambda: gk.entropy(z, **kw),
                             lambda: gk.leave_one_out_entropy(z, **kw)],
                 "continuous": [lambda: gk.mutual_information(z, w, **kw),
                                lambda: gk.leave_one_out_mutual_information(z, w, **kw)],
                 "labels": [lambda: gk.mutual_information(z, y, **kw),
                            lambda: gk.leave_one_out_mutual_information(z, y, **kw)]}[target]
        for call in calls:
            with pytest.raises(ValueError, match=r"singular: column \d of z is.*ridge=1e-6"):
                call()
        assert np.isfinite(gk.mutual_information(z, y, ridge=1e-6, **kw))


@pytest.mark.parametrize("target", ["entropy", "continuous", "labels"])
def test_nearly_collinear_columns_still_give_a_value(target):
    """A column 1e-5 apart from another (copula=False) is regular, if barely: a value, over 30
    seeds, for the full and the leave-one-out terms."""
    for seed in range(1000, 1030):
        rng = np.random.default_rng(seed)
        b = rng.standard_normal((400, 5))
        z = np.column_stack([b, b[:, 1] + 1e-5 * rng.standard_normal(400)])
        kw = dict(copula=False, **GAUSS)
        if target == "entropy":
            values = [gk.entropy(z, **kw), *gk.leave_one_out_entropy(z, **kw)]
        else:
            w = rng.integers(0, 2, 400) if target == "labels" else rng.standard_normal((400, 2))
            values = [gk.mutual_information(z, w, **kw),
                      *gk.leave_one_out_mutual_information(z, w, **kw),
                      *gk.per_feature_mutual_information(z, w, **kw)]
        assert np.all(np.isfinite(values))


def test_a_column_of_the_target_equal_to_a_column_of_z_is_singular():
    rng = np.random.default_rng(11)
    z = rng.standard_normal((300, 3))
    w = np.column_stack([rng.standard_normal(300), 2 * z[:, 1] - 1])
    with pytest.raises(ValueError, match=r"column 1 of w is, to rounding, a linear combination "
                                         r"of column 1 of z"):
        gk.mutual_information(z, w, copula=False, **GAUSS)
    with pytest.raises(ValueError, match="column 1 of z is, to rounding, a linear function of w"):
        gk.per_feature_mutual_information(z, w, copula=False, **GAUSS)


def test_a_constant_column_is_named():
    z = np.random.default_rng(12).standard_normal((200, 4))
    z[:, 2] = 0.1
    with pytest.raises(ValueError, match="column 2 of z is constant"):
        gk.entropy(z, **GAUSS)


def test_too_few_samples_per_class():
    """A class of few samples against m leans on the pooled covariance, so it still gives a
    value; the leave-one-out refit needs 3 samples per class (the resubstitution value 2), and
    the pooled covariance more samples than classes plus columns."""
    rng = np.random.default_rng(5)
    z = rng.standard_normal((40, 6))
    labels = np.r_[np.zeros(36, int), np.ones(4, int)]  # 4 samples for 6 dimensions
    value = gk.mutual_information(z, labels, **GAUSS)
    assert np.isfinite(value) and value <= -(0.9 * np.log2(0.9) + 0.1 * np.log2(0.1))
    labels = np.r_[np.zeros(38, int), np.ones(2, int)]
    with pytest.raises(ValueError, match="class 1 of z has 2 samples: .* at least 3 per class"):
        gk.mutual_information(z, labels, **GAUSS)
    assert np.isfinite(gk.mutual_information(z, labels, bias_correction=False, **GAUSS))
    with pytest.raises(ValueError, match="pooled covariance .* needs n - classes > 6"):
        gk.mutual_information(z[:8], np.r_[np.zeros(4, int), np.ones(4, int)], **GAUSS)
    with pytest.raises(ValueError, match="the covariance of class 1 of z is singular"):
        gk.mutual_information(z, np.r_[np.zeros(36, int), np.ones(4, int)], covariance_prior=0,
                              **GAUSS)  # plain QDA: the class's own covariance is singular


@pytest.mark.parametrize("bad,match", [({"copula": "yes"}, "'copula' parameter"),
                                       ({"ridge": -1.0}, "'ridge' parameter"),
                                       ({"bias_correction": 1}, "'bias_correction' parameter"),
                                       ({"covariance_prior": -1.0}, "'covariance_prior' param"),
                                       ({"covariance_prior": float("nan")},
                                        "None, a finite number >= 0 or math.inf"),
                                       ({"covariance_prior": -np.inf}, "'covariance_prior'")])
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
    # labels: the prior chosen, the pooled covariance (one product for the classes), and a
    # finite prior (each class its own product)
    for target, kw in ((y, {}), (y, {"covariance_prior": np.inf}),
                       (y, {"covariance_prior": 18.0}), (w, {})):
        cpu = gk.synergy_profile(z, target, **GAUSS, **kw)
        gpu = gk.synergy_profile(torch.from_numpy(z).cuda(), torch.from_numpy(target).cuda(),
                                 **GAUSS, **kw)
        assert gpu.is_cuda
        np.testing.assert_allclose(gpu.cpu().numpy(), cpu, rtol=1e-9, atol=1e-11)
