"""Tracking wide and structured layers: views, reductions, stores, per-layer estimators, integer
inputs; the FGSM/PGD attacks against closed forms; the wide demos' parts (the demos end to end
are in test_cli.py); the Lightning callback where Lightning is installed."""
import json
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

import gib_kernels as gk
from gib_kernels.tracking import InformationTracker, read_runs
from gib_kernels.tracking.tracker import GAUSSIAN_RIDGE
from gib_kernels.tracking.activations import ActivationStore, Reduction, as_units
from gib_kernels.tracking.robustness import Attack, adversarial_accuracy, fgsm, pgd
from gib_kernels.demos import TokenTransformer, build_cnn, robustness_correlations


# ----------------------------------------------------------------------------- problems
def conv_problem(seed=0, n=150):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 6, 6)).astype(np.float32)
    y = (x[:, 0, :3].mean((1, 2)) > x[:, 0, 3:].mean((1, 2))).astype(np.int64)
    torch.manual_seed(seed)
    model = nn.Sequential(OrderedDict(
        conv=nn.Conv2d(1, 4, 3, padding=1), relu=nn.ReLU(), flatten=nn.Flatten(),
        dense=nn.Linear(4 * 36, 6), act=nn.Tanh(), out=nn.Linear(6, 2)))
    return model, x, y


def fit(tracker, model, x, y, epochs=2):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    for epoch in range(epochs + 1):
        if epoch:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        tracker.step(epoch)
    return tracker.finish()


def conv_output(model, x):
    with torch.no_grad():
        return model.relu(model.conv(torch.as_tensor(x)))


# ----------------------------------------------------------------------------- views
@pytest.mark.parametrize("view, shape", [("flatten", (5, 48)), ("channel", (5, 3)),
                                         ("token", (5, 4))])
def test_views_of_a_map(view, shape):
    out = torch.arange(5 * 3 * 4 * 4, dtype=torch.float32).reshape(5, 3, 4, 4)
    if view == "token":
        out = out.reshape(5, 12, 4)
    units = as_units(out, view)
    assert tuple(units.shape) == shape
    if view == "channel":
        assert torch.equal(units, out.mean((2, 3)))
    if view == "token":
        assert torch.equal(units, out.mean(1))


def test_token_view_needs_a_sequence():
    with pytest.raises(ValueError, match="sequence output"):
        as_units(torch.zeros(4, 3, 2, 2), "token")


def test_conv_layer_flattened_and_pooled_records_its_width():
    model, x, y = conv_problem()
    tracker = InformationTracker(model, ["relu", "act"], x, y, estimator="gaussian",
                                 view={"relu": "channel"}, estimator_options={"ridge": 1e-6})
    records = fit(tracker, model, x, y)
    conv = [r for r in records if r["layer"] == "relu"]
    assert {r["units"] for r in conv} == {4 * 36} and {r["features"] for r in conv} == {4}
    assert tracker.config["views"] == {"relu": "channel", "act": "flatten"}
    t = conv_output(model, x).mean((2, 3)).double().numpy()
    features = x.reshape(len(x), -1)
    last = conv[-1]
    assert last["I_TY"] == pytest.approx(
        gk.mutual_information(t, y, estimator="gaussian", ridge=1e-6), abs=1e-9)
    assert last["I_XT"] == pytest.approx(
        gk.mutual_information(t, features, estimator="gaussian", ridge=1e-6), abs=1e-9)


# ----------------------------------------------------------------------------- reductions
def test_random_projection_is_fixed_over_the_run_and_kept_on_the_fly():
    model, x, y = conv_problem(1)
    tracker = InformationTracker(model, ["relu"], x, y, estimator="gaussian",
                                 reduction=("random", 10), seed=3,
                                 estimator_options={"ridge": 1e-6})
    records = fit(tracker, model, x, y)
    basis = tracker.reductions["relu"].basis
    assert basis.shape == (144, 10)
    assert tracker._activations.get(2, "relu").shape == (150, 10)  # only the projection kept
    t = (conv_output(model, x).flatten(1).double().numpy() @ basis).astype(np.float32)
    assert records[-1]["I_TY"] == pytest.approx(
        gk.mutual_information(t, y, estimator="gaussian", ridge=1e-6), abs=1e-9)
    again = Reduction("random", 10, seed=3).random_basis(144)
    assert np.array_equal(again, basis)


def test_pca_is_fitted_over_the_run_and_estimated_at_the_end(tmp_path):
    model, x, y = conv_problem(2)
    path = tmp_path / "run.jsonl"
    tracker = InformationTracker(model, ["relu", "act"], x, y, estimator="gaussian",
                                 reduction={"relu": ("pca", 8)}, path=path,
                                 estimator_options={"ridge": 1e-6})
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    outputs = []
    for epoch in range(3):
        if epoch:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(torch.as_tensor(x)), torch.as_tensor(y)).backward()
            optimizer.step()
        tracker.step(epoch)
        outputs.append(conv_output(model, x).flatten(1).double().numpy())
        # The narrow layer is estimated at once; the PCA layer waits for the basis.
        assert {r["layer"] for r in tracker.records} == {"act"}
    records = tracker.finish()
    reduction = tracker.reductions["relu"]
    stacked = np.concatenate(outputs)
    assert np.allclose(reduction.mean, stacked.mean(0), atol=1e-6)
    # The basis spans the top principal directions of the whole run.
    centred = stacked - stacked.mean(0)
    top = np.linalg.svd(centred, full_matrices=False)[2][:8].T
    overlap = np.linalg.svd(top.T @ reduction.basis, compute_uv=False)
    assert overlap.min() > 0.99
    pca = [r for r in records if r["layer"] == "relu"]
    assert [r["epoch"] for r in pca] == [0, 1, 2] and {r["features"] for r in pca} == {8}
    assert 0 < pca[0]["explained_variance"] <= 1
    t = ((outputs[1] - reduction.mean) @ reduction.basis).astype(np.float32)
    assert pca[1]["I_TY"] == pytest.approx(
        gk.mutual_information(t, y, estimator="gaussian", ridge=1e-6), abs=1e-9)
    # The basis is kept beside the file for a resume.
    with np.load(tmp_path / "run.run.pca.npz") as saved:
        assert np.array_equal(saved["relu/basis"], reduction.basis)


def test_disk_store_and_batched_probe_give_the_same_records(tmp_path):
    results = []
    for store, batch in ((None, None), (tmp_path / "acts", 32)):
        model, x, y = conv_problem(4)
        tracker = InformationTracker(model, ["relu", "act"], x, y, estimator="gaussian",
                                     reduction=("pca", 6), store=store, probe_batch_size=batch,
                                     estimator_options={"ridge": 1e-6})
        results.append(fit(tracker, model, x, y))
    assert len(results[0]) == len(results[1])
    for memory, disk in zip(*results):
        assert memory.keys() == disk.keys()
        for key in memory.keys() - {"metrics"}:
            if isinstance(memory[key], (float, list)):  # estimates and profiles
                assert np.allclose(memory[key], disk[key], rtol=1e-6, atol=1e-6), key
            else:
                assert memory[key] == disk[key], key
    assert sorted(p.name for p in (tmp_path / "acts").iterdir())[0].endswith(".npy")


def test_activation_store_round_trip(tmp_path):
    store = ActivationStore(tmp_path / "s")
    a = np.random.default_rng(0).standard_normal((7, 3)).astype(np.float32)
    store.put(2, "blocks.0", a)
    store.put(0, "blocks.0", a + 1)
    assert store.epochs() == [0, 2] and np.array_equal(store.get(2, "blocks.0"), a)
    assert len(store.of_layer("blocks.0")) == 2
    store.clear()
    assert not (tmp_path / "s").exists()


# ----------------------------------------------------------------------------- estimators
def test_auto_bins_narrow_layers_and_uses_the_copula_on_wide_ones(tmp_path):
    model, x, y = conv_problem(5)
    tracker = InformationTracker(model, ["relu", "act"], x, y, estimator="auto",
                                 reduction={"relu": ("pca", 20)}, path=tmp_path / "run.jsonl",
                                 estimator_options={"ridge": 1e-6}, binning_max_units=6)
    records = fit(tracker, model, x, y)
    assert tracker.estimators == {"relu": "gaussian", "act": "binning"}
    header = json.loads((tmp_path / "run.jsonl").read_text().splitlines()[0])
    assert header["config"]["estimators"] == {"relu": "gaussian", "act": "binning"}
    assert header["config"]["bin_ranges"] == {"act": [-1.0, 1.0]}
    assert {r["estimator"] for r in records if r["layer"] == "act"} == {"binning"}


@pytest.mark.parametrize("n, bins, binned", [(150, 30, 1), (900, 30, 2), (150, 4, 3)])
def test_auto_bins_a_layer_only_where_the_grid_has_no_more_cells_than_samples(n, bins, binned):
    model, x, y = conv_problem(5, n=n)
    tracker = InformationTracker(model, ["act"], x, y, bins=bins, estimator="auto",
                                 view={"act": "flatten"}, reduction={"act": ("random", binned)})
    assert tracker.estimators == {"act": "binning"}
    wider = InformationTracker(model, ["act"], x, y, bins=bins, estimator="auto",
                               reduction={"act": ("random", binned + 1)})
    assert wider.estimators == {"act": "gaussian"}
    assert wider.estimator_options == {"ridge": GAUSSIAN_RIDGE}


def test_integer_inputs_reach_the_model_as_ids_and_x_is_the_given_features():
    tokens, y = gk.datasets.matching_tokens(200, length=5, vocabulary=4, seed=1)
    torch.manual_seed(0)
    model = TokenTransformer(vocabulary=4, length=5, width=8, heads=2, blocks=1)
    one_hot = np.eye(4, dtype=np.float32)[tokens].reshape(200, -1)
    tracker = InformationTracker(model, ["embedding", "blocks.0", "pool"], tokens, y,
                                 input_features=one_hot, estimator="gaussian",
                                 view={"blocks.0": "token"}, estimator_options={"ridge": 1e-3})
    tracker.step(0)
    records = tracker.finish()
    assert {r["layer"]: (r["units"], r["features"]) for r in records} == {
        "embedding": (40, 40), "blocks.0": (40, 8), "pool": (8, 8)}
    with torch.no_grad():
        pooled = model.pool(model.blocks[0](model.embedding(torch.from_numpy(tokens))))
    record = next(r for r in records if r["layer"] == "pool")
    assert record["I_XT"] == pytest.approx(gk.mutual_information(
        pooled.double().numpy(), one_hot, estimator="gaussian", ridge=1e-3), abs=1e-9)


def test_each_layer_gets_the_estimator_options_its_family_takes():
    model, x, y = conv_problem(5)
    tracker = InformationTracker(model, ["relu", "act"], x, y, estimator="auto",
                                 reduction={"relu": ("pca", 20)}, binning_max_units=6,
                                 estimator_options={"ridge": 1e-6})
    records = fit(tracker, model, x, y)  # binning of "act" takes no ridge: not passed to it
    assert {r["layer"]: r["estimator"] for r in records} == {"relu": "gaussian", "act": "binning"}
    with pytest.raises(ValueError, match=r"estimator_options 'ridg': no estimator of the "
                                         r"tracked layers \(binning, gaussian\) takes it"):
        InformationTracker(model, ["relu", "act"], x, y, estimator="auto",
                           reduction={"relu": ("pca", 20)}, binning_max_units=6,
                           estimator_options={"ridg": 1e-6})


def test_a_gaussian_layer_with_a_class_of_two_probe_samples_is_refused():
    model, x, y = conv_problem()
    y[:2] = 2  # a third class of two samples
    with pytest.raises(ValueError, match="the smallest of 2: at least 3 each"):
        InformationTracker(model, ["act"], x, y, estimator="gaussian")


@pytest.mark.parametrize("options, match", [
    (dict(view="pooled"), "'view' parameter"),
    (dict(view={"nope": "flatten"}), "not tracked layers"),
    (dict(reduction=("svd", 4)), "'reduction' parameter"),
    (dict(reduction=("pca", 0)), "components"),
    (dict(reduction="pca"), "'reduction' parameter"),
    (dict(estimator={"relu": "magic"}), "'estimator' parameter"),
    (dict(probe_batch_size=0), "probe_batch_size"),
    (dict(input_features=np.zeros((3, 2))), "'input_features'"),
    (dict(estimator="gaussian"), "more probe samples than columns"),
], ids=["view", "view-layer", "reduction-method", "reduction-k", "reduction-form",
        "estimator", "batch", "features", "gaussian-too-wide"])
def test_bad_tracker_options_are_refused(options, match):
    model, x, y = conv_problem()
    with pytest.raises(ValueError, match=match):
        InformationTracker(model, ["relu", "act"], x, y, **options)


# ----------------------------------------------------------------------------- attacks
def linear_problem(seed=0, n=400, d=5):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.random((n, d))).float()
    torch.manual_seed(seed)
    model = nn.Linear(d, 2)
    with torch.no_grad():
        y = model(x).argmax(1)
        y[: n // 10] = 1 - y[: n // 10]  # some misclassified points
    return model, x, y


def closed_form_robust_accuracy(model, x, y, epsilon):
    """A linear two-class model without bounds: the worst L-inf perturbation lowers every
    margin by epsilon * ||w_y - w_other||_1, so accuracy = fraction of margins above that."""
    w, b = model.weight.detach(), model.bias.detach()
    sign = torch.where(y == 1, 1.0, -1.0)
    margin = sign * (x @ (w[1] - w[0]) + b[1] - b[0])
    return int((margin > epsilon * (w[1] - w[0]).abs().sum()).sum()) / len(y)


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
@pytest.mark.parametrize("epsilon", [0.0, 0.05, 0.2])
def test_attacks_reach_the_closed_form_on_a_linear_model(method, epsilon):
    model, x, y = linear_problem()
    attack = Attack(method, epsilon, steps=5)
    accuracy = adversarial_accuracy(model, x, y, attack)
    assert accuracy == pytest.approx(closed_form_robust_accuracy(model, x, y, epsilon), abs=1e-9)


def test_pgd_stays_in_the_ball_and_the_bounds():
    model, x, y = linear_problem(1)
    delta = pgd(model, x, y, 0.3, steps=7, bounds=(0.0, 1.0), seed=2)
    assert delta.abs().max() <= 0.3 + 1e-7
    assert (x + delta).min() >= 0 and (x + delta).max() <= 1
    step = fgsm(model, x, y, 0.3)
    assert torch.allclose(step.abs(), torch.full_like(step, 0.3))


def test_attack_on_an_embedding_lowers_accuracy_and_leaves_the_model_unchanged():
    tokens, y = gk.datasets.matching_tokens(300, length=5, vocabulary=4, seed=2)
    torch.manual_seed(0)
    model = TokenTransformer(vocabulary=4, length=5, width=8, heads=2, blocks=1)
    ids, labels = torch.from_numpy(tokens), torch.from_numpy(y)
    before = [p.detach().clone() for p in model.parameters()]
    clean = adversarial_accuracy(model, ids, labels, Attack("pgd", 0.0, at="embedding"))
    attacked = adversarial_accuracy(model, ids, labels, Attack("pgd", 1.0, steps=5,
                                                               at="embedding"))
    assert attacked <= clean
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="no submodule"):
        adversarial_accuracy(model, ids, labels, Attack("fgsm", 0.1, at="nope"))


# ----------------------------------------------------------------------------- demos
def test_robustness_correlations_are_spearman_over_the_epochs():
    from gib_kernels.tracking import Run
    records = [{"layer": "a", "epoch": e, "I_XT": v, "S_XT": -v}
               for e, v in zip(range(5), [1.0, 3.0, 2.0, 5.0, 4.0])]
    rows = [{"epoch": e, "attack": "pgd", "robust_accuracy": a}
            for e, a in zip(range(5), [0.1, 0.2, 0.3, 0.4, 0.5])]
    out = robustness_correlations(Run("r", {"layers": ["a"]}, records), rows)
    assert out[("a", "I_XT", "pgd")][0] == pytest.approx(0.8)
    assert out[("a", "S_XT", "pgd")][0] == pytest.approx(-0.8)


def test_cnn_is_the_documented_network():
    model = build_cnn()
    shapes = {}

    def keep(name):
        def hook(module, args, output):
            shapes[name] = tuple(output.shape[1:])
        return hook

    hooks = [getattr(model, n).register_forward_hook(keep(n)) for n in ("relu1", "relu2", "relu3")]
    model(torch.zeros(2, 1, 8, 8))
    for h in hooks:
        h.remove()
    assert shapes == {"relu1": (16, 8, 8), "relu2": (32, 4, 4), "relu3": (64,)}


# ----------------------------------------------------------------------------- lightning
# Lightning 2.6 calls a torch pytree API that torch 2.13 deprecates: not this package's to fix.
@pytest.mark.filterwarnings("ignore:.*LeafSpec")
def test_lightning_callback_tracks_like_the_tracker(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from gib_kernels.tracking.lightning import InformationCallback

    model, x, y = conv_problem(6, n=64)

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, inputs):
            return self.net(inputs)

        def training_step(self, batch, _):
            loss = nn.functional.cross_entropy(self(batch[0]), batch[1])
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=0.01)

    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=64)
    callback = InformationCallback(["net.relu", "net.act"], x, y, estimator="auto",
                                   reduction={"net.relu": ("pca", 8)}, path=tmp_path / "run.jsonl",
                                   estimator_options={"ridge": 1e-6})
    trainer = pl.Trainer(max_epochs=2, callbacks=[callback], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu",
                         default_root_dir=tmp_path)
    trainer.fit(Module(), data)
    run = read_runs(tmp_path / "run.jsonl")["run"]
    assert sorted({r["epoch"] for r in run.records}) == [0, 1, 2]
    assert {r["layer"] for r in run.records} == {"net.relu", "net.act"}
    assert callback.records and "train_loss" in callback.records[-1]["metrics"]
