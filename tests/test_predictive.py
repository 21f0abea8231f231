"""The predictive family against closed forms, Monte Carlo truths and its own loop: jointly
Gaussian data (a linear decoder gives the Gaussian MI), Gaussian classes with a shared covariance
(a linear decoder is Bayes-optimal there), XOR (only a nonlinear decoder sees it), the batched
decoders against one-at-a-time training, the surrogate against separate decoders, bad input."""
import numpy as np
import pytest
from scipy.special import logsumexp

import gib_kernels as gk

NATS = dict(estimator="predictive", base="e")


def _gaussian(rng, n, cov):
    return rng.multivariate_normal(np.zeros(len(cov)), cov, size=n)


def _closed_form_mi(cov, a, b):
    det = lambda idx: np.linalg.slogdet(cov[np.ix_(idx, idx)])[1]
    return 0.5 * (det(a) + det(b) - det(a + b))


@pytest.mark.parametrize("q", [1, 3])
def test_linear_decoder_gives_the_gaussian_mi(q):
    rng = np.random.default_rng(q)
    a = rng.normal(size=(7 + q, 7 + q))
    cov = a @ a.T + np.eye(7 + q)
    x = _gaussian(rng, 20000, cov)
    truth = _closed_form_mi(cov, list(range(7)), list(range(7, 7 + q)))
    got = gk.mutual_information(x[:, :7], x[:, 7:], random_state=0, **NATS)
    assert abs(got - truth) < 0.02, (got, truth)


def test_profile_signs_synergy_and_redundancy():
    """W = z1 + z2 + noise with z1, z2 independent (synergy: each tells more given the other)
    and z3 a noisy copy of z1 (redundant with it)."""
    rng = np.random.default_rng(5)
    n = 20000
    z1, z2 = rng.normal(size=n), rng.normal(size=n)
    z3 = z1 + 0.3 * rng.normal(size=n)
    w = z1 + z2 + 0.5 * rng.normal(size=n)
    z = np.stack([z1, z2, z3], 1)
    got = gk.synergy_profile(z, w[:, None], random_state=0, **NATS)
    gaussian = gk.synergy_profile(z, w[:, None], estimator="gaussian", copula=False, base="e")
    assert got[1] > 0.1 and got[0] < -0.05 and got[2] < -0.05, got
    np.testing.assert_allclose(got, gaussian, atol=0.02)


def _mixture_mi_bits(rng, means, cov, prior, draws=200_000):
    """I(Z; Y) of Gaussian classes N(mu_c, cov), prior p_c, by Monte Carlo: H(Y) + E log q(y|z)."""
    y = rng.choice(len(prior), size=draws, p=prior)
    z = means[y] + rng.multivariate_normal(np.zeros(cov.shape[0]), cov, size=draws)
    precision = np.linalg.inv(cov)
    d = z[:, None, :] - means[None]
    log_joint = -0.5 * np.einsum("ncm,mk,nck->nc", d, precision, d) + np.log(prior)
    log_post = log_joint[np.arange(draws), y] - logsumexp(log_joint, axis=1)
    h_y = -(prior * np.log(prior)).sum()
    return (h_y + log_post.mean()) / np.log(2)


@pytest.mark.parametrize("separation", [0.5, 1.5])
def test_linear_decoder_on_shared_covariance_classes(separation):
    rng = np.random.default_rng(int(separation * 10))
    m, prior = 5, np.array([0.4, 0.3, 0.2, 0.1])
    means = rng.normal(size=(4, m)) * separation
    a = rng.normal(size=(m, m))
    cov = a @ a.T / m + np.eye(m)
    truth = _mixture_mi_bits(rng, means, cov, prior)
    n = 12000
    y = rng.choice(4, size=n, p=prior)
    z = means[y] + rng.multivariate_normal(np.zeros(m), cov, size=n)
    got = gk.mutual_information(z, y, estimator="predictive", random_state=0)
    assert abs(got - truth) < 0.03, (got, truth)


def _xor(rng, n=2000):
    bits = rng.integers(0, 2, size=(n, 6))
    return bits.astype(np.float64), bits[:, 0] ^ bits[:, 1]


def test_mlp_sees_xor_synergy_and_linear_does_not():
    z, y = _xor(np.random.default_rng(0))
    mlp = gk.synergy_profile(z, y, estimator="predictive", decoder="mlp", random_state=0)
    assert np.all(np.abs(mlp[:2] - 1.0) < 0.1), mlp
    assert np.all(np.abs(mlp[2:]) < 0.1), mlp
    linear = gk.synergy_profile(z, y, estimator="predictive", random_state=0)
    assert np.all(np.abs(linear) < 0.05), linear


@pytest.mark.parametrize("case", ["labels-linear", "continuous-linear", "labels-mlp",
                                  "continuous-mlp"])
def test_batched_decoders_equal_separate_ones(case):
    rng = np.random.default_rng(11)
    n, m = 600, 5
    z = rng.normal(size=(n, m))
    if case.startswith("labels"):
        target = (z[:, 0] + z[:, 1] * z[:, 2] + 0.5 * rng.normal(size=n) > 0).astype(int)
    else:
        target = np.stack([z[:, 0] - z[:, 3], z[:, 1] * z[:, 2]], 1) + rng.normal(size=(n, 2))
    options = dict(decoder=case.split("-")[1], random_state=3, epochs=30, patience=5, **NATS)
    batched = gk.information_terms(z, target, **options)
    loop = gk.information_terms(z, target, mode="loop", **options)
    for a, b in zip(batched[:4], loop[:4]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


@pytest.mark.parametrize("solver", ["schur", "lbfgs"])
def test_logistic_solvers_reach_the_newton_optimum(monkeypatch, solver):
    """The leave-one-out masks' quasi-Newton steps under the full Hessian's metric, and L-BFGS
    for large decoders, reach the optimum exact Newton reaches (a strictly convex problem, to
    the gradient tolerance), batched as one at a time."""
    from gib_kernels.estimators.predictive import decoders

    rng = np.random.default_rng(5)
    n, m = 900, 9
    z = rng.normal(size=(n, m))
    z[:, 3] = z[:, 2] + 0.3 * rng.normal(size=n)  # correlated columns: a curved problem
    y = np.digitize(z[:, 0] + z[:, 1] * z[:, 2] + z[:, 3] + rng.normal(size=n), [-1, 0, 1])
    options = dict(random_state=2, **NATS)
    newton = gk.information_terms(z, y, **options)
    monkeypatch.setattr(decoders, "NEWTON_PARAMETERS", 0)
    if solver == "lbfgs":
        monkeypatch.setattr(decoders, "SCHUR_PARAMETERS", 0)
    batched = gk.information_terms(z, y, **options)
    loop = gk.information_terms(z, y, mode="loop", **options)
    for a, b, c in zip(newton[:4], batched[:4], loop[:4]):
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-6)
        np.testing.assert_allclose(c, b, rtol=0, atol=1e-8 if solver == "schur" else 2e-6)


def test_surrogate_close_to_separate_decoders():
    z, y = _xor(np.random.default_rng(1))
    options = dict(decoder="mlp", random_state=0, estimator="predictive")
    separate = gk.information_terms(z, y, **options)
    surrogate = gk.information_terms(z, y, mode="surrogate", **options)
    assert abs(surrogate.mutual_information - separate.mutual_information) < 0.1
    np.testing.assert_allclose(surrogate.synergy_profile, separate.synergy_profile, atol=0.15)


def test_repeats_give_the_mean_and_its_spread():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(400, 3))
    y = (z[:, 0] > 0).astype(int)
    one = [gk.information_terms(z, y, estimator="predictive", random_state=s) for s in (0, 1)]
    assert one[0].spread is None
    both = gk.information_terms(z, y, estimator="predictive", repeats=3, random_state=0)
    assert both.spread is not None and both.spread.mutual_information > 0
    assert both.spread.synergy_profile.shape == (3,)


def test_bad_input_is_refused_clearly():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(200, 3))
    with pytest.raises(TypeError, match="integer class labels"):
        gk.mutual_information(z, rng.normal(size=200), estimator="predictive",
                              target_type="classes")
    lonely = np.r_[np.zeros(199, int), 1]
    with pytest.raises(ValueError, match="single sample"):
        gk.mutual_information(z, lonely, estimator="predictive")
    with pytest.raises(ValueError, match="too few"):
        gk.mutual_information(z[:8], np.arange(8) % 2, estimator="predictive")
    with pytest.raises(ValueError, match="no entropy"):
        gk.entropy(z, estimator="predictive")
    with pytest.raises(ValueError, match="surrogate"):
        gk.estimators.Predictive(mode="surrogate")
    with pytest.raises(ValueError, match="decoder"):
        gk.estimators.Predictive(decoder="forest")


def test_the_tracker_records_it_with_its_spread_and_the_command_line_takes_its_options(
        tmp_path, capsys):
    import json

    import torch
    from torch import nn

    from gib_kernels.cli import main
    from gib_kernels.tracking import InformationTracker

    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(int)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    tracker = InformationTracker(model, ["1"], x, y, estimator="predictive",
                                 estimator_options={"repeats": 2, "random_state": 0})
    tracker.step(0)
    (record,) = tracker.finish()
    t = model(torch.from_numpy(x)).detach().numpy()
    expected = gk.information_terms(t, y, estimator="predictive", repeats=2, random_state=0)
    assert record["estimator"] == "predictive"
    assert record["I_TY"] == pytest.approx(expected.mutual_information)
    assert record["spread"]["I_TY"] == pytest.approx(expected.spread.mutual_information)
    assert len(record["spread"]["profile_XT"]) == 4

    np.savez(tmp_path / "a.npz", z=x, w=y)
    assert main(["estimate", str(tmp_path / "a.npz"), "--z", "z", "--w", "w", "--estimator",
                 "predictive", "-o", "folds=3", "-o", "random_state=1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["estimator"]["parameters"]["folds"] == 3
    assert result["synergy"] == pytest.approx(
        gk.synergy(x, y, estimator="predictive", folds=3, random_state=1))
    assert main(["estimate", str(tmp_path / "a.npz"), "--z", "z", "--w", "w", "--estimator",
                 "predictive", "-o", "bins=3"]) == 2
    error = capsys.readouterr().err
    assert "--bins is not an option of the predictive estimator" in error
    assert "-o decoder=..." in error


def test_a_target_the_features_determine_is_capped_by_the_ridge():
    """Without a noise on W, a W the features determine has only the penalty's residual left
    (a large value); ``ridge`` caps each column's share at 0.5 log(1 + 1 / ridge)."""
    rng = np.random.default_rng(6)
    z = rng.normal(size=(500, 3))
    w = z[:, :2] @ np.array([[1.0, 2.0], [0.5, -1.0]])  # a linear function of z
    ridge = 1e-3
    cap = 2 * 0.5 * np.log(1 + 1 / ridge)
    got = gk.mutual_information(z, w, ridge=ridge, random_state=0, **NATS)
    assert 0.5 * cap < got <= cap + 0.05, (got, cap)
    assert gk.mutual_information(z, w, random_state=0, **NATS) > cap + 1
