"""The wide-layer demos: a CNN on handwritten digits and a Transformer on a token-interaction
task, their IB and GIB planes over training, and their adversarial robustness.

Both run on data that ships with the installed packages (no download):

- ``cnn``: scikit-learn's 1797 digits (8x8, 10 classes), 50/50 split; conv 16 - pool - conv 32 -
  pool - dense 64, ReLU. Tracked: the three ReLU outputs (1024, 512 and 64 units).
- ``transformer``: ``datasets.matching_tokens`` (sequences of 8 tokens over 8 symbols, label:
  first token == last token, pure synergy of the pair), 75/25 split; token + position embedding
  (width 32), two encoder blocks (4 heads), mean pooling, linear head. Tracked: the embedding
  and both blocks (8 x 32 = 256 units each) and the pooled vector (32).

Every tracked layer is recorded on the held-out probe set over a log-spaced epoch grid, reduced
to its top principal directions fitted over the run when wider (32 for the CNN, whose 10
classes leave about 90 probe samples each; 64 for the Transformer), and estimated with the
Gaussian copula ("auto": the layers are far too wide for binning). X is the input as the
estimators see it: the non-constant pixels, or the one-hot tokens (one symbol per position left
out, as it is determined by the others). At each measured epoch the
probe accuracy under FGSM and PGD (L-infinity; pixels in [0, 1], or the embedding for the
Transformer) goes to ``robustness.csv``; the summary states per layer whether each complexity
compresses (the 12-bit demo's rule) and the rank correlation of robust accuracy with I(X;T) and
S(X -> T) over the measured epochs, whichever way it comes out.
"""
from __future__ import annotations

import csv
import math
import textwrap
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn
from tqdm.auto import tqdm

from .. import datasets
from ..exceptions import SaturationWarning
from .demo import (MIN_RELATIVE_DROP, _describe, _single_thread, _train_one_epoch,
                   compression, loss_text, saturation_lines)
from .plots import plot_ib_vs_gib, plot_robustness, plot_synergy_over_epochs, save_figure
from .robustness import Attack, adversarial_accuracy
from . import InformationTracker, Run, log_spaced_epochs

__all__ = ["TASKS", "Task", "WideDemoResult", "build_cnn", "build_transformer",
           "robustness_correlations", "run_wide_demo", "summarize_wide", "train_and_track_task"]

FILE_NAME, SUMMARY_NAME, ROBUSTNESS_NAME = "information.jsonl", "summary.txt", "robustness.csv"
# The Gaussian ridge, read as the variance of a noise added to every copula-normalised (unit
# variance) column. A deterministic layer is a function of X, so without noise I(X;T) has no
# finite value; this caps each column's share at 0.5 log2(1 + 1/variance) = 5 bits.
NOISE_VARIANCE = 1e-3


# --- the networks -------------------------------------------------------------------------------


def build_cnn() -> nn.Sequential:
    """conv(1->16, 3x3) ReLU, max-pool 2, conv(16->32, 3x3) ReLU, max-pool 2, dense 128->64
    ReLU, dense 64->10; the tracked blocks are ``relu1``, ``relu2`` and ``relu3``."""
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 16, 3, padding=1), relu1=nn.ReLU(), pool1=nn.MaxPool2d(2),
        conv2=nn.Conv2d(16, 32, 3, padding=1), relu2=nn.ReLU(), pool2=nn.MaxPool2d(2),
        flatten=nn.Flatten(), dense=nn.Linear(128, 64), relu3=nn.ReLU(), out=nn.Linear(64, 10)))


class TokenEmbedding(nn.Module):
    """Token embedding plus a learned position embedding: (n, L) ids -> (n, L, width)."""

    def __init__(self, vocabulary: int, length: int, width: int):
        super().__init__()
        self.tokens = nn.Embedding(vocabulary, width)
        self.positions = nn.Parameter(0.1 * torch.randn(length, width))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.tokens(ids) + self.positions


class MeanPool(nn.Module):
    """(n, L, width) -> (n, width), the mean over the token positions."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.mean(1)


class TokenTransformer(nn.Module):
    """Embedding, ``blocks`` pre-norm encoder blocks, mean pooling, a linear head."""

    def __init__(self, vocabulary: int = 8, length: int = 8, width: int = 32, heads: int = 4,
                 blocks: int = 2, classes: int = 2):
        super().__init__()
        self.embedding = TokenEmbedding(vocabulary, length, width)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0,
                                       batch_first=True, norm_first=True)
            for _ in range(blocks))
        self.pool = MeanPool()
        self.head = nn.Linear(width, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embedding(ids)
        for block in self.blocks:
            h = block(h)
        return self.head(self.pool(h))


def build_transformer() -> TokenTransformer:
    return TokenTransformer()


# --- the tasks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One demo: its data, network, tracked layers, training and attack settings."""

    name: str
    title: str
    load: Callable[[int], tuple[np.ndarray, np.ndarray]]
    build: Callable[[], nn.Module]
    layers: tuple[str, ...]
    train_fraction: float
    epochs: int
    points: int
    learning_rate: float
    batch_size: int
    epsilon: float
    attack_at: str | None = None
    bounds: tuple[float, float] | None = None
    pgd_steps: int = 10
    one_hot: int | None = None  # the vocabulary, when X is the one-hot tokens
    # Wider layers keep this many principal directions: the class-conditional Gaussians of
    # I(T;Y) need several times more probe samples per class than columns.
    components: int = 64

    def attacks(self) -> list[Attack]:
        return [Attack("fgsm", self.epsilon, at=self.attack_at, bounds=self.bounds),
                Attack("pgd", self.epsilon, steps=self.pgd_steps, at=self.attack_at,
                       bounds=self.bounds)]


TASKS = {
    "cnn": Task("cnn", "CNN on the 8x8 digits", lambda seed: datasets.digits(), build_cnn,
                ("relu1", "relu2", "relu3"), train_fraction=0.5, epochs=200, points=30,
                learning_rate=1e-3, batch_size=64, epsilon=0.1, bounds=(0.0, 1.0),
                components=32),
    "transformer": Task("transformer", "Transformer on matching tokens",
                        lambda seed: datasets.matching_tokens(3000, 8, 8, seed=seed),
                        build_transformer, ("embedding", "blocks.0", "blocks.1", "pool"),
                        train_fraction=0.75, epochs=150, points=30, learning_rate=2e-3,
                        batch_size=64, epsilon=0.1, attack_at="embedding", one_hot=8),
}


def _input_features(task: Task, inputs: np.ndarray) -> tuple[np.ndarray, str]:
    """X as the estimators see it, with its description: one-hot tokens, or the pixels;
    columns constant on the probe set carry nothing and are dropped (their copula is
    degenerate)."""
    if task.one_hot is not None:
        # Dummy coding: the last symbol's column is 1 minus the others', so it is left out
        # (keeping it would make the covariance of X singular).
        one_hot = np.eye(task.one_hot, dtype=np.float32)[inputs][:, :, :-1]
        features = one_hot.reshape(len(inputs), -1)
        what = (f"one-hot tokens ({inputs.shape[1]} positions x {task.one_hot - 1} of "
                f"{task.one_hot} symbols)")
    else:
        features = inputs.reshape(len(inputs), -1)
        what = "pixels"
    varying = features.std(0) > 0
    return features[:, varying], f"{what}, {int(varying.sum())} non-constant columns"


# --- training -----------------------------------------------------------------------------------


@dataclass
class TaskRun:
    run: Run
    robustness: list[dict] = field(default_factory=list)


def train_and_track_task(task: Task, *, epochs: int | None = None, points: int | None = None,
                         seed: int = 0, estimator: str = "auto", device="cpu", path=None,
                         store=None, progress: bool = True) -> TaskRun:
    """Trains the task's network, tracks its layers on the held-out probe set and measures its
    robustness at every measured epoch; returns the run and the robustness rows."""
    epochs, points = epochs or task.epochs, points or task.points
    inputs, labels = task.load(seed)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_train = round(task.train_fraction * len(labels))
    train, probe = order[:n_train], order[n_train:]
    device = torch.device(device)
    x = torch.from_numpy(inputs).to(device)
    y = torch.from_numpy(labels).to(device)
    features, features_text = _input_features(task, inputs[probe])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = task.build().to(device)

    schedule = log_spaced_epochs(epochs, points)
    attacks = task.attacks()
    config = {"task": task.name, "epochs": epochs, "seed": seed, "optimizer": "Adam",
              "learning_rate": task.learning_rate, "batch_size": task.batch_size,
              "train_fraction": task.train_fraction, "input_features": features_text,
              "attacks": [a.describe() for a in attacks], "device": device.type}
    tracker = InformationTracker(
        model, task.layers, x[probe], y[probe].cpu(), input_features=features,
        estimator=estimator, every=schedule, path=path, run=task.name,
        reduction=("pca", task.components), store=store, seed=seed, config=config,
        estimator_options={"ridge": NOISE_VARIANCE, "noise": 1e-10, "random_state": seed},
        progress=progress)
    optimizer = torch.optim.Adam(model.parameters(), lr=task.learning_rate)
    shuffle = torch.Generator().manual_seed(seed + 1)
    train_t = torch.from_numpy(train).to(device)
    rows = []
    # One thread: these networks are small enough that more threads cost more in
    # synchronisation than they save (0.035 s against 5 s per CNN epoch on 2 busy cores).
    # Saturated records are flagged in the file and counted in the summary, not warned about.
    with tracker, _single_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", SaturationWarning)
        bar = tqdm(range(epochs + 1), desc=f"{task.name}: training", unit="epoch",
                   disable=not progress)
        for epoch in bar:
            loss = math.nan
            if epoch > 0:
                loss = _train_one_epoch(model, optimizer, x, y, train_t, shuffle,
                                        task.batch_size)
            if not tracker.is_scheduled(epoch):
                continue
            measured = {"train_loss": loss,
                        "train_accuracy": _accuracy(model, x[train_t], y[train_t]),
                        "test_accuracy": _accuracy(model, x[probe], y[probe])}
            for attack in attacks:
                accuracy = adversarial_accuracy(model, x[probe], y[probe], attack, seed=seed)
                measured[f"{attack.method}_accuracy"] = accuracy
                rows.append({"epoch": epoch, **attack.describe(),
                             "clean_accuracy": measured["test_accuracy"],
                             "robust_accuracy": accuracy})
            tracker.step(epoch, **measured)
            bar.set_postfix(loss=loss_text(loss), test=f"{measured['test_accuracy']:.3f}",
                            pgd=f"{measured['pgd_accuracy']:.3f}")
        bar.close()
        records = tracker.finish()
    return TaskRun(Run(task.name, tracker.config, records), rows)


def _accuracy(model, x, y) -> float:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        correct = int((model(x).argmax(1) == y).sum()) / len(y)
    model.train(was_training)
    return correct


# --- the verdicts -------------------------------------------------------------------------------


def robustness_correlations(run: Run, rows: list[dict]) -> dict[tuple[str, str, str], tuple]:
    """{(layer, quantity, attack): (Spearman rho, p-value, epochs)} between robust accuracy and
    each complexity (I_XT, S_XT) over the measured epochs."""
    out = {}
    for attack in sorted({r["attack"] for r in rows}):
        accuracy = {r["epoch"]: r["robust_accuracy"] for r in rows if r["attack"] == attack}
        for layer in run.layers:
            for quantity in ("I_XT", "S_XT"):
                epochs, values = run.trajectory(layer, quantity)
                keep = [i for i, e in enumerate(epochs) if e in accuracy]
                a = np.array([accuracy[epochs[i]] for i in keep])
                v = values[keep]
                if len(keep) < 3 or np.ptp(a) == 0 or np.ptp(v) == 0:
                    out[(layer, quantity, attack)] = (math.nan, math.nan, len(keep))
                    continue
                result = spearmanr(v, a)
                out[(layer, quantity, attack)] = (float(result.statistic), float(result.pvalue),
                                                  len(keep))
    return out


def summarize_wide(task: Task, task_run: TaskRun) -> str:
    run, rows = task_run.run, task_run.robustness
    config = run.config
    reductions = config["reductions"]
    header = (
        f"GIB demo '{task.name}': {task.title}. {config['epochs']} epochs, Adam "
        f"{config['learning_rate']:g}, batch {config['batch_size']}, seed {config['seed']}, "
        f"{len(config['schedule']['epochs'])} log-spaced measurements on the "
        f"{config['probe']['n']} held-out probe samples. X: {config['input_features']}. "
        f"Layers wider than {task.components} columns are reduced to their top "
        f"{task.components} principal directions fitted over the run. Estimators: "
        + ", ".join(f"{layer} {name}" for layer, name in config["estimators"].items())
        + f". A complexity compresses when its last value is at least "
        f"{100 * MIN_RELATIVE_DROP:g}% of |peak| below the peak and the peak is not the last "
        "measurement. Units: bits.")
    lines = [textwrap.fill(header, width=100)]
    last = run.records[-1]["metrics"]
    lines += ["", f"final train accuracy {last.get('train_accuracy', math.nan):.3f}, probe "
                  f"accuracy {last.get('test_accuracy', math.nan):.3f}, under FGSM "
                  f"{last.get('fgsm_accuracy', math.nan):.3f}, under PGD "
                  f"{last.get('pgd_accuracy', math.nan):.3f} (epsilon {task.epsilon:g}, "
                  f"perturbing the {task.attack_at or 'input'})"]
    planes = {"I_XT": [], "S_XT": []}
    for layer in run.layers:
        record = next(r for r in run.records if r["layer"] == layer)
        reduced = reductions.get(layer)
        explained = record.get("explained_variance")
        kept = f", PCA {record['features']} (variance kept {explained:.2f})" \
            if reduced and explained is not None and record["features"] < record["units"] \
            else ""
        lines.append(f"  {layer} ({record['units']} units{kept})")
        for quantity, verdicts in planes.items():
            verdicts.append(compression(run, layer, quantity))
            lines.append("    " + _describe(verdicts[-1]))
    for quantity, verdicts in planes.items():
        count = sum(c.compresses for c in verdicts)
        lines.append(f"  {'IB' if quantity == 'I_XT' else 'GIB'} plane: {count} of "
                     f"{len(verdicts)} layers compress")
    lines += saturation_lines(run)
    lines += ["", "Spearman rank correlation of robust accuracy with each complexity over the "
                  "measured epochs (rho, p-value):"]
    correlations = robustness_correlations(run, rows)
    for layer in run.layers:
        cells = []
        for quantity in ("I_XT", "S_XT"):
            for attack in ("fgsm", "pgd"):
                rho, p, _ = correlations.get((layer, quantity, attack), (math.nan,) * 3)
                cells.append(f"{quantity}~{attack} {rho:+.2f} ({p:.2g})" if math.isfinite(rho)
                             else f"{quantity}~{attack} undefined (constant over the epochs)")
        lines.append(f"  {layer:<10} " + "  ".join(cells))
    return "\n".join(lines) + "\n"


# --- the whole demo -----------------------------------------------------------------------------


@dataclass
class WideDemoResult:
    run: Run
    robustness: list[dict]
    summary: str
    files: list[Path]


def run_wide_demo(task_name: str, out, *, epochs: int | None = None, points: int | None = None,
                  seed: int = 0, estimator: str = "auto", device="cpu", store=None,
                  progress: bool = True) -> WideDemoResult:
    """Trains and tracks one task, then writes to ``out``: ``information.jsonl``, the planes
    ``ib_vs_gib_<task>.png/.svg``, ``synergy_<task>.png/.svg``, ``robustness.csv``,
    ``robustness_<task>.png/.svg`` and ``summary.txt``."""
    task = TASKS[task_name]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task_run = train_and_track_task(task, epochs=epochs, points=points, seed=seed,
                                    estimator=estimator, device=device, path=out / FILE_NAME,
                                    store=store, progress=progress)
    run, rows = task_run.run, task_run.robustness
    files = [out / FILE_NAME]
    files += save_figure(plot_ib_vs_gib(run, f"{task.title}: IB and GIB planes"),
                         out / f"ib_vs_gib_{task.name}")
    files += save_figure(plot_synergy_over_epochs(run, f"{task.title}: synergy"),
                         out / f"synergy_{task.name}")
    files += save_figure(plot_robustness(run, rows, f"{task.title}: robustness and complexity"),
                         out / f"robustness_{task.name}")
    with open(out / ROBUSTNESS_NAME, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = summarize_wide(task, task_run)
    (out / SUMMARY_NAME).write_text(summary, encoding="utf-8")
    files += [out / ROBUSTNESS_NAME, out / SUMMARY_NAME]
    return WideDemoResult(run, rows, summary, files)
