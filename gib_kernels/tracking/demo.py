"""The 12-bit demo: IB and GIB information planes of a tanh and a ReLU network over training.

The classic setting (Shwartz-Ziv & Tishby 2017; Saxe et al. 2018; docs/science.md, "The 12-bit
task"): the 4096 inputs of the 12-bit task, a 12-10-7-5-4-3-2 network with a softmax output,
Adam (learning rate 4e-4), batches of 256, a random 80/20 train/test split. Every hidden layer is tracked on all
4096 inputs at log-spaced epochs. Weights start from PyTorch's default initialisation.

The question it answers, per activation: do the IB complexity I(X;T) and the GIB complexity
S(X -> T) of the last hidden layers fall after their peak (a compression phase)? The GIB paper
reports that the IB plane of ReLU networks does not compress while the GIB plane does, for
both activations. The summary states what this run measured, whichever way it goes.
"""
from __future__ import annotations

import contextlib
import math
import textwrap
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .. import datasets
from ..exceptions import SaturationWarning
from .plots import plot_ib_vs_gib, plot_synergy_over_epochs, save_figure
from . import InformationTracker, Run, log_spaced_epochs

__all__ = ["DemoResult", "Compression", "build_network", "compression", "hidden_layers",
           "run_demo", "summarize", "train_and_track"]

WIDTHS = (12, 10, 7, 5, 4, 3, 2)
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
LEARNING_RATE = 4e-4
BATCH_SIZE = 256
TRAIN_FRACTION = 0.8
# Defaults sized to finish well within 10 minutes on 2 CPU cores, both activations included.
DEFAULT_EPOCHS, DEFAULT_POINTS = 3000, 40
# The paper-length schedule (Shwartz-Ziv & Tishby 2017 train for 10^4 epochs).
FULL_EPOCHS, FULL_POINTS = 10_000, 100
LAST_LAYERS = 2  # the compression verdict looks at the last hidden layers
# A complexity "decreases after its peak" when its last value is at least this fraction of
# |peak| below the peak: a rule stated in the summary, not tuned to any outcome.
MIN_RELATIVE_DROP = 0.05
FILE_NAME = "information.jsonl"
SUMMARY_NAME = "summary.txt"


def build_network(activation: str) -> nn.Sequential:
    """12-10-7-5-4-3-2 with the given hidden activation, modules named ``linear1..linear6``
    and ``hidden1..hidden5`` (the activation outputs, the layers T that are tracked); the
    softmax of the output is in the loss."""
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (fan_in, fan_out) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:]), start=1):
        modules[f"linear{i}"] = nn.Linear(fan_in, fan_out)
        if i < len(WIDTHS) - 1:
            modules[f"hidden{i}"] = ACTIVATIONS[activation]()
    return nn.Sequential(modules)


def hidden_layers() -> list[str]:
    return [f"hidden{i}" for i in range(1, len(WIDTHS) - 1)]


@contextlib.contextmanager
def _single_thread():
    """One thread for training and estimates. The network is tiny: with more threads, their
    synchronisation costs more than the matrix products (40 ms against 1 s per epoch, measured
    on 2 busy cores). torch and the C++ kernels share one OpenMP runtime, so the estimates run
    on one thread too, which suits their short parallel regions at n = 4096 (65 ms against
    1.2-1.7 s per layer and epoch on the same busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _estimator_options(estimator: str, seed: int) -> dict:
    # The 12 inputs are bits: k-NN estimators need jitter to break the ties. Dead ReLU units are
    # constant: the Gaussian covariances need a ridge.
    if estimator == "knn":
        return {"noise": 1e-10, "random_state": seed}
    return {"ridge": 1e-6} if estimator == "gaussian" else {}


def train_and_track(activation: str, *, epochs: int, points: int, seed: int = 0,
                    estimator: str = "binning", device="cpu", path=None,
                    activations_path=None, progress: bool = True) -> Run:
    """Trains one network on the 12-bit task and tracks its hidden layers; returns the run.

    With ``path`` the records go to that JSON-lines file as run ``activation``; a file that
    already holds this run in full (same configuration) is read back without training."""
    x_all, y_all = (torch.from_numpy(a) for a in datasets.tishby_12bit())
    split = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(seed))
    n_train = round(TRAIN_FRACTION * len(x_all))
    device = torch.device(device)
    x_all, y_all = x_all.to(device), y_all.to(device)
    train, test = split[:n_train].to(device), split[n_train:].to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_network(activation).to(device)

    config = {"task": "tishby_12bit", "activation": activation, "widths": list(WIDTHS),
              "optimizer": "Adam", "learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE,
              "train_fraction": TRAIN_FRACTION, "epochs": epochs, "seed": seed,
              "device": device.type}
    tracker = InformationTracker(
        model, hidden_layers(), x_all, y_all, estimator=estimator,
        every=log_spaced_epochs(epochs, points), path=path, run=activation, config=config,
        estimator_options=_estimator_options(estimator, seed), progress=progress)
    if tracker.is_complete() and activations_path is None:
        return Run(activation, tracker.config, tracker.finish())

    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, fused=True)
    shuffle = torch.Generator().manual_seed(seed + 1)

    def metrics(loss: float) -> dict:
        with torch.no_grad():
            correct = model(x_all).argmax(1) == y_all
        return {"train_loss": loss, "train_accuracy": correct[train].float().mean().item(),
                "test_accuracy": correct[test].float().mean().item()}

    # Saturated records are flagged in the file and counted in the summary, not warned about.
    with tracker, _single_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", SaturationWarning)
        bar = tqdm(range(epochs + 1), desc=f"{activation}: training", unit="epoch",
                   disable=not progress)
        for epoch in bar:
            loss = math.nan
            if epoch > 0:
                loss = _train_one_epoch(model, optimizer, x_all, y_all, train, shuffle)
            if tracker.is_scheduled(epoch):
                measured = metrics(loss)
                tracker.step(epoch, **measured)
                bar.set_postfix(loss=loss_text(loss), test_acc=f"{measured['test_accuracy']:.3f}")
        bar.close()
        records = tracker.finish()
        if activations_path is not None:
            tracker.save_activations(activations_path)
    return Run(activation, tracker.config, records)


def loss_text(loss: float) -> str:
    """The training loss for a progress bar: "-" before the first epoch has one."""
    return "-" if math.isnan(loss) else f"{loss:.3f}"


def _train_one_epoch(model, optimizer, x, y, train, shuffle, batch_size=BATCH_SIZE) -> float:
    """One pass over the training indices in shuffled batches of cross-entropy; returns the
    mean batch loss."""
    model.train()
    order = train[torch.randperm(len(train), generator=shuffle).to(train.device)]
    losses = []
    for batch in order.split(batch_size):
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return torch.stack(losses).mean().item()


# --- the verdict --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compression:
    """The course of one complexity measure of one layer: its peak and where it ended."""

    layer: str
    quantity: str
    peak: float
    peak_epoch: int
    final: float
    final_epoch: int

    @property
    def relative_drop(self) -> float:
        """(peak - final) / |peak|; 0 for a zero peak."""
        return (self.peak - self.final) / abs(self.peak) if self.peak else 0.0

    @property
    def compresses(self) -> bool:
        return self.peak_epoch < self.final_epoch and self.relative_drop >= MIN_RELATIVE_DROP


def compression(run: Run, layer: str, quantity: str) -> Compression:
    epochs, values = run.trajectory(layer, quantity)
    peak = int(np.argmax(values))
    return Compression(layer, quantity, float(values[peak]), int(epochs[peak]),
                       float(values[-1]), int(epochs[-1]))


_NAMES = {"I_XT": "IB  complexity I(X;T)", "S_XT": "GIB complexity S(X->T)"}


def _describe(c: Compression) -> str:
    verdict = "decreases after its peak (compression)" if c.compresses \
        else "does not decrease after its peak"
    return (f"{_NAMES[c.quantity]:<24} peak {c.peak:7.3f} bits at epoch {c.peak_epoch:>5}, "
            f"final {c.final:7.3f} at epoch {c.final_epoch:>5} "
            f"({-100 * c.relative_drop:+.1f}%): {verdict}")


def _plane_verdict(verdicts: list[Compression]) -> str:
    count = sum(c.compresses for c in verdicts)
    return "yes" if count == len(verdicts) else "no" if count == 0 else \
        f"partly ({count} of {len(verdicts)} layers)"


def saturation_lines(run: Run) -> list[str]:
    """One line naming the layers whose estimates counted the probe samples (the records'
    ``saturated`` flags), with how many of their measurements did; none where no record did."""
    counts: dict[str, int] = {}
    for r in run.records:
        if r.get("saturated"):
            counts[r["layer"]] = counts.get(r["layer"], 0) + 1
    if not counts:
        return []
    measured = {layer: sum(r["layer"] == layer for r in run.records) for layer in counts}
    return ["  saturated (nearly every binned row distinct: I(X;T) = log2(n) and I(T;Y) = H(Y) "
            "by construction) in " + ", ".join(f"{layer} {counts[layer]} of {measured[layer]}"
                                               for layer in counts) + " measurements"]


def summarize(runs: dict[str, Run]) -> str:
    """The summary text: configuration, then per activation whether the IB and the GIB
    complexity of the last hidden layers decrease after their peak, with the figures."""
    first = next(iter(runs.values())).config
    header = [
        "GIB demo: the 12-bit task (Shwartz-Ziv & Tishby 2017), network "
        f"{'-'.join(map(str, first['widths']))}, Adam {first['learning_rate']:g}, batch "
        f"{first['batch_size']}, {round(100 * first['train_fraction'])}/"
        f"{round(100 * (1 - first['train_fraction']))} split, seed {first['seed']}, "
        f"{first['epochs']} epochs, {len(first['schedule']['epochs'])} log-spaced measurements "
        f"on all {first['probe']['n']} inputs, estimator {first['estimator']}"
        + (f" ({first['bins']} equal-width bins; ranges follow the activation, tanh [-1, 1], "
           "ReLU [0, max over the run], fixed before binning so that all epochs share one "
           "grid)." if first["bins"] else "."),
        f"A complexity decreases after its peak (compression) when its last value is at least "
        f"{100 * MIN_RELATIVE_DROP:g}% of |peak| below the peak, and the peak is not the last "
        "measurement. Units: bits.",
    ]
    lines = [textwrap.fill(paragraph, width=100) for paragraph in header]
    for name, run in runs.items():
        last = run.records[-1]["metrics"]
        lines += ["", f"{name}: final train accuracy {last.get('train_accuracy', math.nan):.3f}, "
                      f"test accuracy {last.get('test_accuracy', math.nan):.3f}"]
        if first["bins"]:
            ranges = {r["layer"]: r["bin_range"] for r in run.records}
            lines.append("  binning ranges (fixed over the run): " + ", ".join(
                f"{layer} [{lo:.3g}, {hi:.3g}]" for layer, (lo, hi) in ranges.items()))
        lines += saturation_lines(run)
        planes = {"I_XT": [], "S_XT": []}
        for layer in run.layers[-LAST_LAYERS:]:
            units = next(r["units"] for r in run.records if r["layer"] == layer)
            lines.append(f"  {layer} ({units} units)")
            for quantity, verdicts in planes.items():
                verdicts.append(compression(run, layer, quantity))
                lines.append("    " + _describe(verdicts[-1]))
        lines.append(f"  compression in the last {LAST_LAYERS} hidden layers: IB plane "
                     f"{_plane_verdict(planes['I_XT'])}, GIB plane {_plane_verdict(planes['S_XT'])}")
    return "\n".join(lines) + "\n"


# --- the whole demo -----------------------------------------------------------------------------


@dataclass
class DemoResult:
    runs: dict[str, Run]
    summary: str
    files: list[Path]


def run_demo(out="gib-demo", *, epochs: int = DEFAULT_EPOCHS, points: int = DEFAULT_POINTS,
             seed: int = 0, estimator: str = "binning", device="cpu",
             save_activations: bool = False, progress: bool = True) -> DemoResult:
    """Trains and tracks the tanh and the ReLU network, then writes to ``out``: the records
    (``information.jsonl``), per activation ``ib_vs_gib_<act>.png/.svg`` and
    ``synergy_<act>.png/.svg``, optionally ``activations_<act>.npz``, and ``summary.txt``.

    Rerunning into the same ``out`` resumes: finished runs are read back, an unfinished one is
    trained again from its seed and only its missing records are estimated."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs, files = {}, [out / FILE_NAME]
    for activation in ACTIVATIONS:
        activations_path = out / f"activations_{activation}.npz" if save_activations else None
        run = train_and_track(activation, epochs=epochs, points=points, seed=seed,
                              estimator=estimator, device=device, path=out / FILE_NAME,
                              activations_path=activations_path, progress=progress)
        runs[activation] = run
        files += save_figure(plot_ib_vs_gib(run, f"{activation} network: IB and GIB planes"),
                             out / f"ib_vs_gib_{activation}")
        files += save_figure(plot_synergy_over_epochs(run, f"{activation} network: synergy"),
                             out / f"synergy_{activation}")
        if activations_path is not None:
            files.append(activations_path)
    summary = summarize(runs)
    (out / SUMMARY_NAME).write_text(summary, encoding="utf-8")
    files.append(out / SUMMARY_NAME)
    return DemoResult(runs, summary, files)
