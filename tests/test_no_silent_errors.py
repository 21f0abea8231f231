"""Estimates that were once silently wrong, and what the library does about each now.

- The KDE leave-one-out downdate on a column that dominates the distances (exact now).
- k-NN estimates on discrete-valued data, where distance ties dominate ("auto" picks binning,
  k-NN estimators refuse, and no mixed estimate passes its bound without an error).
- The KDE bound with a continuous target (refused; discrete targets are classes).
- Binning leave-one-out terms on the grid of the whole array (documented; reproducible).
- The command line's estimate under "auto" against class labels: H(Z) came from k-NN and I(Z;W)
  from the mixed estimator under one unnamed choice, and "--estimator mixed" failed on H(Z)
  (now every printed value comes from the estimator it names, and mixed gives no H(Z)).
"""
import json
import warnings

import numpy as np
import pytest
from scipy.special import digamma

import gib_kernels as gk
from conftest import CPU_BACKENDS, assert_close
from gib_kernels import _cpu
from gib_kernels.cli import main
from inputs import continuous, labels_for

# --- A: the KDE downdate of a dominant column -------------------------------------------------


def _brute_kde_loo(t, labels, n_classes, sigma2):
    """kde_loo by deleting each column and summing the log mean kernels over exact distances."""
    n, m = t.shape
    out = np.zeros((n_classes, m + 1))
    for j in range(m + 1):
        tj = np.delete(t, j, axis=1) if j < m else t
        sq = ((tj[:, None, :] - tj[None, :, :]) ** 2).sum(-1)
        same = np.ones((n, n), bool) if labels is None else labels[:, None] == labels[None, :]
        kernel = np.where(same, np.exp(-sq / (2 * sigma2)), 0.0)
        log_mean = np.log(kernel.sum(1) / same.sum(1))
        for c in range(n_classes):
            rows = np.ones(n, bool) if labels is None else labels == c
            out[c, j] = log_mean[rows].sum()
    return out


@pytest.mark.parametrize("scale", [1e4, 1e6, 1e7, 1e8, 1e10, 1e12])
@pytest.mark.parametrize("labelled", [False, True], ids=["unlabelled", "labelled"])
def test_kde_leave_one_out_is_exact_when_one_column_dominates(scale, labelled):
    rng = np.random.default_rng(0)
    t = rng.standard_normal((120, 4)) * 0.05
    t[:, 2] *= scale
    labels = rng.integers(0, 2, 120).astype(np.int64) if labelled else None
    n_classes = 2 if labelled else 1
    got = _cpu.kde_loo(t, labels, n_classes, 1e-3)
    assert_close(got, _brute_kde_loo(t, labels, n_classes, 1e-3), 1e-9, 1e-12,
                 name=f"kde_loo, column 2 x {scale:g}")


@pytest.mark.parametrize("scale", [1e6, 1e7, 1e8, 1e12])
def test_kde_leave_one_out_mi_matches_the_estimate_without_the_column(scale):
    """The reproducer: dropping a column 1e8 times wider gave 0.0308 nats instead of 0.6370."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 3))
    y = rng.integers(0, 2, 300)
    z[:, 2] *= scale
    loo = gk.leave_one_out_mutual_information(z, y, estimator="kde", base="e")
    direct = gk.mutual_information(z[:, :2], y, estimator="kde", base="e")
    assert loo[2] == pytest.approx(direct, rel=1e-9)


def test_kde_leave_one_out_with_several_dominant_columns():
    """Every pair has its own dominant column (scales differ by column): each is summed
    directly, at most one per pair."""
    rng = np.random.default_rng(3)
    t = rng.standard_normal((90, 5)) * np.array([1e9, 1.0, 1e5, 1e-3, 1e12]) * 1e-2
    assert_close(_cpu.kde_loo(t, None, 1, 0.5), _brute_kde_loo(t, None, 1, 0.5), 1e-9, 1e-12)


# --- B: discrete-valued data and the k-NN estimators ------------------------------------------

X12, Y12 = gk.datasets.tishby_12bit()
H_Y12 = 0.99916  # bits


def _rounded_gaussian(seed=0, n=2000, d=3):
    rng = np.random.default_rng(seed)
    z = np.round(rng.standard_normal((n, d)) * 1.5)
    return z, labels_for(rng, z)


def test_auto_picks_binning_for_the_12bit_inputs_and_stays_within_h_y():
    assert X12.dtype == np.float32  # binary values stored as floats
    value = gk.mutual_information(X12, Y12)
    assert value == pytest.approx(H_Y12, abs=1e-5)  # X determines Y
    assert value == gk.mutual_information(X12.astype(np.int64), Y12)


def test_auto_synergy_profile_of_the_12bit_inputs_equals_binning():
    np.testing.assert_array_equal(gk.synergy_profile(X12, Y12),
                                  gk.synergy_profile(X12.astype(np.int64), Y12))
    assert np.all(gk.synergy_profile(X12, Y12) > 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_auto_takes_rounded_gaussians_as_discrete_values(seed):
    z, y = _rounded_gaussian(seed)
    assert gk.mutual_information(z, y) == gk.mutual_information(z.astype(np.int64), y)
    # unbinned: 30 equal-width bins would merge nothing here, but more values than bins would
    wide = z * 7.0
    assert gk.entropy(wide) == gk.entropy(z)


def test_auto_keeps_knn_for_continuous_data():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 3))
    assert gk.entropy(z) == gk.entropy(z, estimator="knn")
    y = labels_for(rng, z)
    assert gk.mutual_information(z, y) == gk.mutual_information(z, y, estimator="mixed")


@pytest.mark.parametrize("estimator", ["mixed", "knn"])
@pytest.mark.parametrize("data", ["12bit", "rounded-gaussian"])
def test_knn_estimators_refuse_discrete_data(estimator, data):
    z, y = (X12, Y12) if data == "12bit" else _rounded_gaussian()
    w = y if estimator == "mixed" else np.random.default_rng(0).standard_normal((len(y), 1))
    with pytest.raises(ValueError, match="discrete-valued.*noise=1e-10"):
        gk.mutual_information(z, w, estimator=estimator)
    with pytest.raises(ValueError, match="discrete-valued"):
        gk.synergy_profile(z, w, estimator=estimator)


def test_knn_takes_integers_with_many_values_and_refuses_few():
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 10**6, (400, 2))  # integer-valued, but hardly a tie
    assert np.isfinite(gk.entropy(counts, estimator="knn"))
    with pytest.raises(ValueError, match="discrete-valued"):
        gk.entropy(rng.integers(0, 3, (400, 2)), estimator="knn")


def test_knn_refuses_a_discrete_valued_target():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((400, 2))
    with pytest.raises(ValueError, match="'w' is discrete-valued"):
        gk.mutual_information(z, (z[:, :1] > 0).astype(float), estimator="knn")


def test_knn_on_discrete_data_runs_when_ties_are_broken_on_request():
    value = gk.mutual_information(X12, Y12, estimator="mixed", noise=1e-10, random_state=0)
    assert value <= H_Y12


def _ross_bound(labels):
    counts = np.bincount(labels)
    size = counts[labels][counts[labels] > 1]
    return (digamma(size.size) - np.mean(digamma(size))) / np.log(2)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_a_mixed_estimate_past_its_bound_raises(backend):
    """Binary columns and one continuous column in [0, 0.5): the data is not discrete-valued as
    a whole, but the max-norm distance of most pairs is exactly 1, so the counts fall short."""
    rng = np.random.default_rng(0)
    z = np.column_stack([X12, rng.uniform(0, 0.5, len(X12))])
    for estimate in (lambda: gk.mutual_information(z, Y12, estimator="mixed", backend=backend),
                     lambda: gk.leave_one_out_mutual_information(z, Y12, estimator="mixed",
                                                                 backend=backend),
                     lambda: gk.leave_one_out_mutual_information(z, [Y12, Y12 ^ 1],
                                                                 estimator="mixed",
                                                                 backend=backend)):
        with pytest.raises(ValueError, match="exceeds its bound"):
            estimate()


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_mixed_estimates_of_continuous_data_stay_within_the_bound(backend):
    rng = np.random.default_rng(5)
    z = continuous(rng, 600, 4)
    y = labels_for(rng, z, 4)
    bound = _ross_bound(y)
    assert gk.mutual_information(z, y, backend=backend) <= bound
    assert np.all(gk.leave_one_out_mutual_information(z, y, backend=backend) <= bound)
    assert np.all(gk.per_feature_mutual_information(z, y, backend=backend) <= bound)


def test_discrete_value_rule_needs_few_values_relative_to_n():
    rng = np.random.default_rng(0)
    few = rng.standard_normal(30)  # 30 distinct values in 30 samples: continuous
    assert gk.entropy(few) == gk.entropy(few, estimator="knn")
    repeated = np.repeat(rng.standard_normal(8), 40)  # 8 values, 320 samples: discrete
    assert gk.entropy(repeated) == pytest.approx(3.0)


# --- C: the KDE bound and continuous targets --------------------------------------------------


def test_kde_refuses_a_continuous_target():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 3))
    with pytest.raises(ValueError, match="estimator='kde' needs a discrete target"):
        gk.mutual_information(z, rng.standard_normal(300), estimator="kde")
    with pytest.raises(ValueError, match="discrete target"):
        gk.synergy_profile(z, rng.standard_normal((300, 2)), estimator="kde")


def test_kde_takes_float_coded_labels_as_classes():
    """The reproducer's y.astype(float): the classes of y, not an ignored target."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 3))
    y = rng.integers(0, 2, 300)
    as_float = gk.mutual_information(z, y.astype(float), estimator="kde", sigma2=0.5)
    assert as_float == gk.mutual_information(z, y, estimator="kde", sigma2=0.5)
    h_y = -sum(p * np.log2(p) for p in np.bincount(y) / 300)
    assert as_float <= h_y


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_kde_with_distinct_input_rows_is_the_noisy_layer_information(backend):
    """T computed from distinct inputs X: I(X;T) = H(T) - H(noise), whichever argument is X."""
    rng = np.random.default_rng(1)
    x = X12[::8].astype(np.int64)
    t = np.tanh(x @ rng.standard_normal((12, 3)))
    sigma2 = 1e-2
    noise = 1.5 * (np.log(2 * np.pi * sigma2) + 1) / np.log(2)
    expected = gk.entropy(t, estimator="kde", sigma2=sigma2, backend=backend) - noise
    kw = dict(estimator="kde", sigma2=sigma2, backend=backend)
    assert gk.mutual_information(t, x, **kw) == pytest.approx(expected, rel=1e-12)
    assert gk.mutual_information(x, t, **kw) == pytest.approx(expected, rel=1e-12)
    ids = np.unique(x, axis=0, return_inverse=True)[1]
    assert gk.mutual_information(t, ids, **kw) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_kde_synergy_with_the_layer_as_target_matches_the_loop(backend):
    """S(X -> T): the discrete inputs are the sources, so the layer is the noisy side and the
    classes come from the inputs' columns."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 2, (200, 4))
    t = np.tanh(x @ rng.standard_normal((4, 2)) + 0.3 * rng.standard_normal((200, 2)))
    kw = dict(estimator="kde", sigma2=0.05, backend=backend)
    profile = gk.synergy_profile(x, t, **kw)
    full = gk.mutual_information(t, x, **kw)
    for j in range(4):
        single = gk.mutual_information(t, x[:, j], **kw)
        rest = gk.mutual_information(t, np.delete(x, j, axis=1), **kw)
        assert profile[j] == pytest.approx(full - single - rest, rel=1e-9, abs=1e-12)


# --- D: the binning grid of the leave-one-out terms -------------------------------------------


def test_binning_leave_one_out_keeps_the_whole_arrays_grid():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 3))
    y = rng.integers(0, 2, 300)
    z[:, 2] *= 5
    loo = gk.leave_one_out_mutual_information(z, y, estimator="binning")
    grid = (z.min(), z.max())
    own = [gk.mutual_information(np.delete(z, j, axis=1), y, estimator="binning",
                                 bin_range=grid) for j in range(3)]
    np.testing.assert_allclose(loo, own, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default_loop = gk.mutual_information(np.delete(z, 2, axis=1), y, estimator="binning")
    assert default_loop != pytest.approx(loo[2])  # the documented difference


# --- E: the command line's estimate on class labels -------------------------------------------


@pytest.mark.parametrize("estimator", ["auto", "mixed"])
def test_command_line_estimates_on_labels_come_from_the_estimator_named(tmp_path, capsys,
                                                                        estimator):
    rng = np.random.default_rng(5)
    z = continuous(rng, 301, 4)
    y = labels_for(rng, z)
    np.savez(tmp_path / "acts.npz", layer=z, labels=y)
    code = main(["estimate", str(tmp_path / "acts.npz"), "--z", "layer", "--w", "labels",
                 "--estimator", estimator, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["estimator"]["used"] == "mixed" and "entropy" not in result
    assert result["mutual_information"] == pytest.approx(
        gk.mutual_information(z, y, estimator="mixed"), rel=1e-9)
    assert result["synergy"] == pytest.approx(gk.synergy(z, y, estimator="mixed"), rel=1e-9,
                                              abs=1e-12)
