"""The information tracker, its JSON-lines file (write, resume, refuse), the plots and the
demo's compression verdict, on tiny networks trained for two or three epochs."""
import json
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

import gib_kernels as gk
from gib_kernels.reference import discretize
from gib_kernels.tracking import (
    InformationTracker,
    Run,
    RunMismatchError,
    TrackingFileError,
    activation_bin_range,
    log_spaced_epochs,
    read_runs,
)
from gib_kernels.demos import MIN_RELATIVE_DROP, compression
from gib_kernels.tracking.plots import plot_ib_vs_gib, plot_synergy_over_epochs, save_figure

RECORD_FIELDS = {"kind", "run", "epoch", "layer", "units", "features", "estimator", "bin_range",
                 "saturated",
                 "explained_variance", "I_XT", "I_TY", "S_XT",
                 "S_TY", "profile_XT", "profile_TY", "metrics"}
LAYERS = ["hidden1", "hidden2"]
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


# ----------------------------------------------------------------------------- problems
def make_probe(seed, n=97, d=7):
    """n distinct binary rows of d bits (odd sizes) and labels from a majority rule."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(2 ** d, size=n, replace=False)
    x = ((rows[:, None] >> np.arange(d)) & 1).astype(np.float32)
    y = (x[:, :3].sum(1) >= 2).astype(np.int64)
    return x, y


def make_model(activation, d=7, seed=0):
    torch.manual_seed(seed)
    act = ACTIVATIONS[activation]
    return nn.Sequential(OrderedDict([
        ("linear1", nn.Linear(d, 5)), ("hidden1", act()),
        ("linear2", nn.Linear(5, 3)), ("hidden2", act()),
        ("out", nn.Linear(3, 2)),
    ]))


def train(tracker, model, x, y, epochs, lr=0.05):
    """Full-batch Adam; the tracker measures after every epoch (epoch 0 before training)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    for epoch in range(epochs + 1):
        loss = math.nan
        if epoch:
            optimizer.zero_grad()
            loss_t = nn.functional.cross_entropy(model(x), y)
            loss_t.backward()
            optimizer.step()
            loss = loss_t.item()
        tracker.step(epoch, loss=loss)


def track(path, activation="tanh", epochs=2, seed=0, **options):
    x, y = make_probe(seed)
    model = make_model(activation, seed=seed)
    options.setdefault("estimator", "binning")  # the classic estimator, as these tests check it
    tracker = InformationTracker(model, LAYERS, x, y, path=path, run=activation,
                                 every=options.pop("every", range(epochs + 1)), **options)
    train(tracker, model, x, y, epochs)
    return tracker, model, tracker.finish()


def file_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# ----------------------------------------------------------------------------- schedule
@pytest.mark.parametrize("last, count", [(3000, 40), (10_000, 100), (7, 3), (10, 40), (1, 1)],
                         ids=lambda v: str(v))
def test_log_spaced_epochs(last, count):
    epochs = log_spaced_epochs(last, count)
    assert epochs[0] == 0 and epochs[-1] == last
    assert len(epochs) == min(count, last) + 1
    assert all(a < b for a, b in zip(epochs, epochs[1:]))
    if last >= 10 * count:  # the tail is geometric, with the ratio last^(1/(count-1))
        ratios = np.array(epochs[-10:][1:]) / np.array(epochs[-10:][:-1])
        np.testing.assert_allclose(ratios, last ** (1 / (count - 1)), rtol=0.05)


@pytest.mark.parametrize("module, expected", [
    (nn.Tanh(), (-1.0, 1.0)), (nn.Sigmoid(), (0.0, 1.0)), (nn.ReLU(), (0.0, None)),
    (nn.Linear(3, 2), (None, None)),
], ids=["tanh", "sigmoid", "relu", "linear"])
def test_activation_bin_range(module, expected):
    assert activation_bin_range(module) == expected


# ----------------------------------------------------------------------------- records
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_tracker_writes_every_field(tmp_path, activation):
    path = tmp_path / "run.jsonl"
    tracker, model, records = track(path, activation)
    header, *lines = file_lines(path)
    assert header["kind"] == "header" and header["run"] == activation
    assert header["config"]["layers"] == LAYERS and header["config"]["unit"] == "bits"
    assert {(r["epoch"], r["layer"]) for r in lines} == {(e, n) for e in range(3) for n in LAYERS}
    assert len(lines) == 6
    for record in lines:
        assert set(record) == RECORD_FIELDS
        assert len(record["profile_XT"]) == 7
        assert len(record["profile_TY"]) == record["units"] == {"hidden1": 5, "hidden2": 3}[
            record["layer"]]
        assert record["S_XT"] == pytest.approx(np.mean(record["profile_XT"]), abs=1e-12)
        assert record["S_TY"] == pytest.approx(np.mean(record["profile_TY"]), abs=1e-12)
        assert (record["metrics"]["loss"] is None) == (record["epoch"] == 0)  # JSON has no NaN
    assert [r["epoch"] for r in records] == [0, 1, 2, 0, 1, 2]


def test_every_n_epochs():
    tracker, _, records = track(None, "relu", epochs=5, every=2)
    assert [r["epoch"] for r in records] == [0, 2, 4] * len(LAYERS)
    assert not tracker.is_complete()  # an open-ended schedule is never complete


def test_knn_takes_the_raw_activations():
    options = {"noise": 1e-10, "random_state": 3}
    tracker, model, records = track(None, "tanh", estimator="knn", estimator_options=options)
    x, y = make_probe(0)
    with torch.no_grad():
        t = model.hidden1(model.linear1(torch.from_numpy(x))).double().numpy()
    record = next(r for r in records if r["layer"] == "hidden1" and r["epoch"] == 2)
    assert record["bin_range"] is None
    assert record["I_TY"] == pytest.approx(
        gk.mutual_information(t, y, estimator="knn", **options), abs=1e-9)


@pytest.mark.parametrize("estimator,options", [("gaussian", {"ridge": 1e-6}),
                                               ("kde", {"sigma2": 0.05})])
def test_gaussian_and_kde_planes_match_the_api(estimator, options):
    """The Gaussian copula on the raw activations and inputs; the KDE bound against the inputs'
    classes (their distinct rows), with the layer as the noisy side of S(X -> T) too."""
    tracker, model, records = track(None, "tanh", estimator=estimator, estimator_options=options)
    x, y = make_probe(0)
    with torch.no_grad():
        t = model.hidden1(model.linear1(torch.from_numpy(x))).double().numpy()
    record = next(r for r in records if r["layer"] == "hidden1" and r["epoch"] == 2)
    kw = dict(estimator=estimator, **options)
    xs = x if estimator == "gaussian" else tracker.probe.x_discrete
    assert record["I_XT"] == pytest.approx(gk.mutual_information(t, xs, **kw), abs=1e-9)
    assert record["I_TY"] == pytest.approx(gk.mutual_information(t, y, **kw), abs=1e-9)
    assert record["profile_XT"] == pytest.approx(list(gk.synergy_profile(xs, t, **kw)), abs=1e-9)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_ranges_follow_the_activation_and_stay_fixed(tmp_path, activation):
    tracker, model, records = track(tmp_path / "run.jsonl", activation)
    activations = np.load(tracker.save_activations(tmp_path / "acts.npz"))
    for layer in LAYERS:
        ranges = {tuple(r["bin_range"]) for r in records if r["layer"] == layer}
        if activation == "tanh":
            assert ranges == {(-1.0, 1.0)}
        else:  # [0, max over every recorded epoch], one range for the whole run
            run_max = max(activations[f"{layer}/epoch{e}"].max() for e in range(3))
            assert ranges == {(0.0, float(run_max))}


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_last_record_matches_an_independent_estimate(tmp_path, activation):
    """The rows of X are distinct and T a function of X: I(X;T) = H(T), computed here from
    codes binned independently of the tracker."""
    x, y = make_probe(0)
    tracker, model, records = track(tmp_path / "run.jsonl", activation)
    with torch.no_grad():
        t = model.hidden2(model.linear2(model.hidden1(model.linear1(torch.from_numpy(x)))))
    record = next(r for r in records if r["layer"] == "hidden2" and r["epoch"] == 2)
    codes = discretize(t.numpy(), 30, tuple(record["bin_range"]))
    assert record["I_XT"] == pytest.approx(gk.entropy(codes), abs=1e-9)
    assert record["I_TY"] == pytest.approx(gk.mutual_information(codes, y), abs=1e-9)
    assert record["S_TY"] == pytest.approx(gk.synergy(codes, y), abs=1e-9)


# ----------------------------------------------------------------------------- resume
def test_resume_after_a_crash_keeps_and_skips_finished_records(tmp_path):
    path = tmp_path / "run.jsonl"
    x, y = make_probe(0)
    model = make_model("tanh")
    crashed = InformationTracker(model, LAYERS, x, y, path=path, run="tanh", every=[0, 1, 2])
    train(crashed, model, x, y, epochs=1)  # tanh ranges are known: epochs 0, 1 are on file
    crashed.close()
    with open(path, "a") as f:
        f.write('{"kind": "record", "run": "ta')  # a write cut short
    before = path.read_text()[: path.read_text().rfind("\n") + 1]

    model = make_model("tanh")
    with pytest.warns(RuntimeWarning, match="incomplete last line"):
        resumed = InformationTracker(model, LAYERS, x, y, path=path, run="tanh", every=[0, 1, 2])
    assert not resumed.is_complete()
    train(resumed, model, x, y, epochs=2)
    records = resumed.finish()

    text = path.read_text()
    assert text.startswith(before)
    lines = file_lines(path)
    assert len(lines) == 1 + 6
    assert sorted((r["epoch"], r["layer"]) for r in lines[1:]) == \
        sorted((e, n) for e in range(3) for n in LAYERS)
    assert len(records) == 6
    again = InformationTracker(make_model("tanh"), LAYERS, x, y, path=path, run="tanh",
                               every=[0, 1, 2])
    assert again.is_complete()
    again.close()


def test_resumed_relu_run_keeps_its_range(tmp_path):
    path = tmp_path / "run.jsonl"
    _, _, first = track(path, "relu")
    # A resumed run that sees smaller activations (another seed) must not move the range.
    x, y = make_probe(0)
    model = make_model("relu", seed=5)
    tracker = InformationTracker(model, LAYERS, x, y, path=path, run="relu", every=range(3),
                                 estimator="binning")
    assert [tracker.run_range(n) for n in LAYERS] == \
        [tuple(next(r["bin_range"] for r in first if r["layer"] == n)) for n in LAYERS]
    tracker.close()


@pytest.mark.parametrize("change, key", [
    ({"bins": 20}, "bins"),
    ({"every": [0, 1, 3]}, "schedule"),
    ({"config": {"seed": 1}}, "seed"),
    ({"estimator": "knn"}, "estimator"),
    ({"probe_seed": 1}, "probe"),
], ids=["bins", "schedule", "extra-config", "estimator", "other-probe"])
def test_resume_refuses_another_configuration(tmp_path, change, key):
    path = tmp_path / "run.jsonl"
    track(path, "tanh")
    before = path.read_text()
    change = dict(change)
    x, y = make_probe(change.pop("probe_seed", 0))
    options = {"every": range(3), **change}
    with pytest.raises(RunMismatchError, match=key):
        InformationTracker(make_model("tanh"), LAYERS, x, y, path=path, run="tanh", **options)
    assert path.read_text() == before


def test_one_file_holds_several_runs(tmp_path):
    path = tmp_path / "runs.jsonl"
    track(path, "tanh")
    track(path, "relu")
    runs = read_runs(path)
    assert sorted(runs) == ["relu", "tanh"]
    assert all(len(run.records) == 6 for run in runs.values())
    assert runs["tanh"].config["bin_ranges"]["hidden1"] == [-1.0, 1.0]
    assert runs["relu"].config["bin_ranges"]["hidden1"] == [0.0, None]


@pytest.mark.parametrize("content, message", [
    ("not json at all\n", "line 1 is not JSON"),
    ('{"epoch": 3}\n', "neither a run header"),
    ('{"kind": "header", "format": "other/9", "run": "a", "config": {}}\n', "format"),
    ('{"kind": "record", "run": "a", "epoch": 0}\n', "announced before"),
], ids=["not-json", "no-kind", "other-format", "record-without-header"])
def test_refuses_a_file_that_is_not_a_tracking_file(tmp_path, content, message):
    path = tmp_path / "other.jsonl"
    path.write_text(content)
    x, y = make_probe(0)
    with pytest.raises(TrackingFileError, match=message):
        InformationTracker(make_model("tanh"), LAYERS, x, y, path=path)


# ----------------------------------------------------------------------------- hooks, inputs
def test_hooks_are_removed_and_the_training_mode_kept(tmp_path):
    x, y = make_probe(0)
    model = make_model("tanh")
    tracker = InformationTracker(model, LAYERS, x, y, every=[0])
    assert all(len(getattr(model, n)._forward_hooks) == 1 for n in LAYERS)
    model.train()
    tracker.step(0)
    assert model.training
    records = tracker.finish()
    assert len(records) == 2
    assert all(len(getattr(model, n)._forward_hooks) == 0 for n in LAYERS)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"layers": ["hidden1", "nope"]}, ValueError, "no submodule named 'nope'.*linear1"),
    ({"layers": []}, ValueError, "empty"),
    ({"estimator": "mixed"}, ValueError, "'estimator' parameter"),
    ({"every": 0}, ValueError, "'every'"),
    ({"labels": np.linspace(0, 1, 97)}, TypeError, "integer class labels"),
    ({"labels": np.zeros(96, dtype=np.int64)}, ValueError, r"\(97, 7\) and \(96,\)"),
], ids=["unknown-layer", "no-layers", "estimator", "every-zero", "float-labels", "rows"])
def test_bad_arguments_are_explained(kwargs, error, message):
    x, y = make_probe(0)
    arguments = {"model": make_model("tanh"), "layers": LAYERS, "inputs": x, "labels": y,
                 **kwargs}
    with pytest.raises(error, match=message):
        InformationTracker(**arguments)


def test_save_activations(tmp_path):
    tracker, _, _ = track(None, "relu")
    with np.load(tracker.save_activations(tmp_path / "acts.npz")) as saved:
        assert saved["epochs"].tolist() == [0, 1, 2]
        assert saved["inputs"].shape == (97, 7) and saved["labels"].shape == (97,)
        assert saved["hidden1/epoch2"].shape == (97, 5)
        assert saved["hidden2/epoch0"].shape == (97, 3)
        assert saved["hidden2/epoch0"].min() >= 0  # ReLU outputs


# ----------------------------------------------------------------------------- plots
def test_plots_write_png_and_svg(tmp_path):
    _, _, records = track(tmp_path / "run.jsonl", "tanh")
    run = read_runs(tmp_path / "run.jsonl")["tanh"]
    planes = plot_ib_vs_gib(run)
    ib, gib = planes.axes[:2]
    assert len(ib.lines) == len(gib.lines) == len(LAYERS)  # one line per layer
    np.testing.assert_allclose(ib.lines[0].get_xdata(), [r["I_XT"] for r in records[:3]])
    np.testing.assert_allclose(gib.lines[1].get_ydata(), [r["S_TY"] for r in records[3:]])
    paths = save_figure(planes, tmp_path / "planes") + \
        save_figure(plot_synergy_over_epochs(run), tmp_path / "synergy")
    assert [p.name for p in paths] == ["planes.png", "planes.svg", "synergy.png", "synergy.svg"]
    for path in paths:
        head = path.read_bytes()[:200]
        assert head.startswith(b"\x89PNG") if path.suffix == ".png" else b"<svg" in head


# ----------------------------------------------------------------------------- verdict
def _run_of(values):
    return Run("r", {"layers": ["h"]},
               [{"layer": "h", "epoch": e, "I_XT": v} for e, v in enumerate(values)])


@pytest.mark.parametrize("values, compresses", [
    ([1.0, 3.0, 5.0, 4.0, 3.5], True),
    ([1.0, 2.0, 3.0, 4.0, 5.0], False),
    ([1.0, 5.0, 5.0 * (1 - MIN_RELATIVE_DROP / 2)], False),
    ([5.0, 4.0, 3.0], True),
    ([2.0, 2.0, 2.0], False),
], ids=["rise-then-fall", "rise-only", "small-dip", "falls-from-start", "flat"])
def test_compression_verdict(values, compresses):
    c = compression(_run_of(values), "h", "I_XT")
    assert c.compresses is compresses
    assert c.peak == max(values) and c.final == values[-1]
    assert c.peak_epoch == int(np.argmax(values)) and c.final_epoch == len(values) - 1
