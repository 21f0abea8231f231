"""Estimates that were once silently wrong, and what the library does about each now.

- The KDE leave-one-out downdate on a column that dominates the distances (exact now).
- k-NN estimates on discrete-valued data, where distance ties dominate ("auto" picks binning,
  k-NN estimators refuse, and no mixed estimate passes its bound without an error).
- The KDE bound with a continuous target (refused; discrete targets are classes).
- Binning leave-one-out terms on the grid of the whole array (documented; reproducible, and
  the recipe bins a continuous target on its own grid).
- Binning and KDE estimates that only count the samples (a SaturationWarning, and a flag in the
  tracker's records).
- The tracker on ordinary data: constant input columns, NaN activations, errors that name the
  layer, the epoch and the tracker keyword, steps after finish().
- Progress bars on quick calls and under a tracker with progress=False (none).
- The command line's estimate under "auto" against class labels: H(Z) came from k-NN and I(Z;W)
  from the mixed estimator under one unnamed choice, and "--estimator mixed" failed on H(Z)
  (now every printed value comes from the estimator it names, and mixed gives no H(Z)).
"""
import json
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch
from scipy.special import digamma
from torch import nn

import gib_kernels as gk
from gib_kernels._config import config_context
from gib_kernels.exceptions import SaturationWarning
from gib_kernels import reference as ref
from gib_kernels.tracking import InformationTracker
from conftest import CPU_BACKENDS, assert_close
from gib_kernels import _cpu
from gib_kernels.cli import main
from inputs import continuous, labels_for

# --- A: the KDE downdate of a dominant column -------------------------------------------------


@pytest.mark.parametrize("scale", [1e4, 1e6, 1e7, 1e8, 1e10, 1e12])
@pytest.mark.parametrize("labelled", [False, True], ids=["unlabelled", "labelled"])
def test_kde_leave_one_out_is_exact_when_one_column_dominates(scale, labelled):
    rng = np.random.default_rng(0)
    t = rng.standard_normal((120, 4)) * 0.05
    t[:, 2] *= scale
    labels = rng.integers(0, 2, 120).astype(np.int64) if labelled else None
    n_classes = 2 if labelled else 1
    got = _cpu.kde_loo(t, labels, n_classes, 1e-3)
    assert_close(got, ref.kde_loo(t, labels, n_classes, 1e-3), 1e-9, 1e-12,
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
    assert_close(_cpu.kde_loo(t, None, 1, 0.5), ref.kde_loo(t, None, 1, 0.5), 1e-9, 1e-12)


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
    loop = ref.synergy_profile(lambda sources, layer: gk.mutual_information(layer, sources, **kw),
                               x, t)
    assert gk.synergy_profile(x, t, **kw) == pytest.approx(loop, rel=1e-9, abs=1e-12)


# --- D: the binning grid of the leave-one-out terms -------------------------------------------


def test_binning_leave_one_out_keeps_the_whole_arrays_grid():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 3))
    y = rng.integers(0, 2, 300)
    z[:, 2] *= 5
    loo = gk.leave_one_out_mutual_information(z, y, estimator="binning")
    grid = (z.min(), z.max())
    own = ref.leave_one_out(
        lambda zj, y: gk.mutual_information(zj, y, estimator="binning", bin_range=grid), z, y)
    np.testing.assert_allclose(loo, own, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default_loop = gk.mutual_information(np.delete(z, 2, axis=1), y, estimator="binning")
    assert default_loop != pytest.approx(loo[2])  # the documented difference


def test_binning_recipe_bins_a_continuous_target_on_its_own_grid():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((400, 3))
    w = z[:, :1] * 4 + rng.standard_normal((400, 1))  # a range of its own, wider than z's
    loo = gk.leave_one_out_mutual_information(z, w, estimator="binning")
    codes = ref.discretize(w, 30)  # integers are used as they are
    own = ref.leave_one_out(lambda zj, codes: gk.mutual_information(
        zj, codes, estimator="binning", bin_range=(z.min(), z.max())), z, codes)
    np.testing.assert_allclose(loo, own, rtol=1e-12)


# --- E: estimates that count the samples --------------------------------------------------------


def _saturation_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = call()
    return value, [w for w in caught if issubclass(w.category, SaturationWarning)]


INDEPENDENT = np.random.default_rng(7)
Z5, W3 = INDEPENDENT.standard_normal((2000, 5)), INDEPENDENT.standard_normal((2000, 3))
Y4 = INDEPENDENT.integers(0, 4, 2000)


@pytest.mark.parametrize("name, call, value", [
    ("binning-continuous-target", lambda: gk.mutual_information(Z5, W3, estimator="binning"),
     "H(W)"),
    ("binning-labels", lambda: gk.mutual_information(Z5, Y4, estimator="binning"), 2.0),
    ("kde-labels", lambda: gk.mutual_information(Z5, Y4, estimator="kde"), 2.0),
    ("binning-entropy", lambda: gk.entropy(Z5, estimator="binning"), np.log2(2000)),
    ("binning-profile", lambda: gk.synergy_profile(Z5, Y4, estimator="binning").mean(), 0.0),
    ("binning-leave-one-out", lambda: gk.leave_one_out_mutual_information(
        Z5, Y4, estimator="binning").mean(), 2.0),
    ("binning-conditional", lambda: gk.conditional_mutual_information(
        Z5[:, :3], Y4, Z5[:, 3:], estimator="binning"), "H(Y|V)"),
])
def test_saturated_estimates_warn_and_come_back_as_computed(name, call, value):
    got, caught = _saturation_warnings(call)
    assert len(caught) == 1, name
    if value == "H(W)":  # Z's rows all distinct: I(Z;W) = H(W) by construction
        value = _saturation_warnings(lambda: gk.entropy(W3, estimator="binning"))[0]
    if value == "H(Y|V)":  # (Z, V)'s rows all distinct: I(Z;Y|V) = H(Y|V) by construction
        h = lambda *a: _saturation_warnings(lambda: gk.entropy(  # noqa: E731
            np.column_stack(a), estimator="binning"))[0]
        v = ref.discretize(Z5[:, 3:], 30)
        value = h(Y4, v) - h(v)
    assert got == pytest.approx(value, abs=0.05)  # the value that counts samples, unchanged
    message = str(caught[0].message)
    assert "saturates" in message and "estimator='gaussian'" in message
    assert caught[0].filename == __file__  # attributed to the caller's line


@pytest.mark.parametrize("name, call", [
    ("one-binned-column", lambda: gk.mutual_information(Z5[:, :1], Y4, estimator="binning")),
    ("12-bit-inputs", lambda: gk.mutual_information(*gk.datasets.tishby_12bit(),
                                                    estimator="binning")),
    ("12-bit-auto", lambda: gk.synergy_profile(*gk.datasets.tishby_12bit())),
    ("kde-wide-kernels", lambda: gk.mutual_information(Z5[:, :2], Y4, estimator="kde",
                                                       sigma2=1.0)),
])
def test_estimates_that_measure_the_data_do_not_warn(name, call):
    assert _saturation_warnings(call)[1] == [], name


# --- F: the tracker on ordinary data ------------------------------------------------------------


def _digits_mlp(hidden=32, activation=nn.ReLU):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    probe = rng.permutation(len(x))[:540]
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(fc1=nn.Linear(64, hidden), act1=activation(),
                                      fc2=nn.Linear(hidden, 10)))
    return model, (x[probe] / 16).astype(np.float32), y[probe].astype(np.int64)


def _train(tracker, model, x, y, epochs=3):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    tracker.step(0)
    for epoch in range(1, epochs + 1):
        loss = nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        tracker.step(epoch, loss=loss.item())
    return tracker.finish()


def test_the_tracker_with_its_defaults_on_a_digits_mlp_gives_non_degenerate_records():
    model, x, y = _digits_mlp()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SaturationWarning)
        tracker = InformationTracker(model, ["act1"], x, y)
        records = _train(tracker, model, x, y)
    assert tracker.estimators == {"act1": "gaussian"}
    columns = tracker.config["input_columns"]
    assert columns["given"] == 64 and columns["dropped_constant"]  # the digits' empty corners
    assert columns["used"] == 64 - len(columns["dropped_constant"]) - len(columns["dropped_duplicate"])
    h_y = -sum(p * np.log2(p) for p in np.bincount(y) / len(y))
    for r in records:
        assert r["saturated"] == []
        assert 0 < r["I_TY"] < h_y and r["I_XT"] < 32 * 5 + 1e-9  # the ridge's 5 bits a column
        assert len(r["profile_XT"]) == columns["used"]


def test_the_tracker_flags_saturated_binning_in_its_records_and_warns_once_per_layer():
    model, x, y = _digits_mlp()
    tracker = InformationTracker(model, ["fc1", "act1"], x, y, estimator="binning")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = _train(tracker, model, x, y, epochs=2)
    flagged = [w for w in caught if issubclass(w.category, SaturationWarning)]
    assert sorted(str(w.message).split("'")[1] for w in flagged) == ["act1", "fc1"]
    assert all("I_XT" in r["saturated"] and "I_TY" in r["saturated"] for r in records)


def test_nan_activations_raise_at_step_with_the_layer_and_the_epoch():
    model, x, y = _digits_mlp(activation=nn.Tanh)
    tracker = InformationTracker(model, ["act1"], x, y, estimator="binning",
                                 bin_ranges={"act1": (-1, 1)})
    tracker.step(0)
    with torch.no_grad():
        model.fc1.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"layer 'act1' at epoch 1: 17280 of 17280"):
        tracker.step(1)
    assert [r["epoch"] for r in tracker.finish()] == [0]  # nothing recorded as 0 for epoch 1


def test_step_after_finish_says_the_tracker_is_finished():
    model, x, y = _digits_mlp()
    tracker = InformationTracker(model, ["act1"], x, y)
    _train(tracker, model, x, y, epochs=1)
    with pytest.raises(RuntimeError, match="the tracker is finished"):
        tracker.step(2)


def test_estimator_errors_in_the_tracker_name_the_layer_epoch_and_keyword():
    model, x, y = _digits_mlp()
    with torch.no_grad():
        model.fc1.bias[3] = -1e3  # a dead ReLU unit: constant
    tracker = InformationTracker(model, ["act1"], x, y, estimator="gaussian",
                                 estimator_options={"ridge": 0})
    with pytest.raises(ValueError, match=r"layer 'act1' at epoch 0 \(gaussian\): .*"
                                         r"estimator_options=\{'ridge': 1e-6\}"):
        tracker.step(0)
    bits, labels = gk.datasets.tishby_12bit()
    model = nn.Sequential(OrderedDict(fc=nn.Linear(12, 4), act=nn.Tanh()))
    tracker = InformationTracker(model, ["act"], bits[:600], labels[:600], estimator="knn")
    with pytest.raises(ValueError, match=r"layer 'act' at epoch 0 \(knn\): .*"
                                         r"estimator_options=\{'noise': 1e-10\}"):
        tracker.step(0)


# --- G: quiet by default --------------------------------------------------------------------------


def test_quick_per_feature_loops_show_no_progress_bar(capfd):
    z = np.random.default_rng(0).standard_normal((200, 80))
    y = (z[:, 0] > 0).astype(np.int64)
    gk.per_feature_mutual_information(z, y, estimator="kde")  # a loop of 80 quick estimates
    assert capfd.readouterr().err == ""


def test_config_context_turns_progress_bars_off(monkeypatch, capfd):
    monkeypatch.setattr("gib_kernels._config.PROGRESS_DELAY", 0.0)
    z = np.random.default_rng(0).standard_normal((100, 5))
    y = (z[:, 0] > 0).astype(np.int64)
    gk.per_feature_mutual_information(z, y, estimator="kde")
    assert "per-feature MI" in capfd.readouterr().err
    with config_context(progress=False):
        gk.per_feature_mutual_information(z, y, estimator="kde")
    assert capfd.readouterr().err == ""


def test_a_tracker_without_progress_shows_no_library_bar(monkeypatch, capfd):
    monkeypatch.setattr("gib_kernels._config.PROGRESS_DELAY", 0.0)
    model, x, y = _digits_mlp(hidden=6)
    tracker = InformationTracker(model, ["act1"], x, y, estimator="kde", progress=False)
    _train(tracker, model, x, y, epochs=1)
    assert "per-feature MI" not in capfd.readouterr().err


# --- H: the command line's estimate on class labels -------------------------------------------


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
