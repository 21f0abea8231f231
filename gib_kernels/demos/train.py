"""One training loop for every task of the table: train, measure at the scheduled epochs
(loss, accuracies, accuracy under attack), track the layers on the probe set."""
from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..exceptions import SaturationWarning
from ..tracking import InformationTracker, Run, log_spaced_epochs
from ..tracking.robustness import adversarial_accuracy
from .tasks import TASKS, Task

__all__ = ["TaskRun", "input_features", "loss_text", "split_indices", "train_and_track",
           "train_and_track_task"]


@dataclass
class TaskRun:
    run: Run
    robustness: list[dict] = field(default_factory=list)


def train_and_track_task(task: Task, *, epochs: int | None = None, points: int | None = None,
                         seed: int = 0, estimator: str | None = None, device="cpu", path=None,
                         store=None, activations_path=None, progress: bool = True) -> TaskRun:
    """Trains the task's network, tracks its layers on the probe set and measures its
    robustness at every measured epoch; returns the run and the robustness rows.

    With ``path`` the records go to that JSON-lines file as run ``task.name``; for a task
    without attacks, a file that already holds the run in full (same configuration) is read
    back without training."""
    epochs, points = epochs or task.epochs, points or task.points
    estimator = estimator or task.estimator
    inputs, labels = task.load(seed)
    train, test, probe = split_indices(task, len(labels), seed)
    device = torch.device(device)
    x = torch.from_numpy(inputs).to(device)
    y = torch.from_numpy(labels).to(device)
    train, test, probe = train.to(device), test.to(device), probe.to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = task.build().to(device)

    attacks = task.attacks()
    config = {**task.config, "optimizer": "Adam", "learning_rate": task.learning_rate,
              "batch_size": task.batch_size, "train_fraction": task.train_fraction,
              "epochs": epochs, "seed": seed}
    features = None
    if task.probe == "held-out":
        features, config["input_features"] = input_features(task, inputs[probe.cpu().numpy()])
    if attacks:
        config["attacks"] = [a.describe() for a in attacks]
    config["device"] = device.type
    tracker = InformationTracker(
        model, task.layers, x[probe], y[probe].cpu(), input_features=features,
        estimator=estimator, every=log_spaced_epochs(epochs, points), path=path, run=task.name,
        reduction=None if task.components is None else ("pca", task.components), store=store,
        seed=seed, config=config, estimator_options=task.estimator_options(estimator, seed),
        progress=progress)
    if not attacks and activations_path is None and tracker.is_complete():
        return TaskRun(Run(task.name, tracker.config, tracker.finish()))

    optimizer = torch.optim.Adam(model.parameters(), lr=task.learning_rate,
                                 **({"fused": True} if task.fused_adam else {}))
    shuffle = torch.Generator().manual_seed(seed + 1)
    rows = []
    # Saturated records are flagged in the file and counted in the summary, not warned about.
    with tracker, single_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", SaturationWarning)
        bar = tqdm(range(epochs + 1), desc=f"{task.name}: training", unit="epoch",
                   disable=not progress)
        for epoch in bar:
            loss = math.nan
            if epoch > 0:
                loss = train_one_epoch(model, optimizer, x, y, train, shuffle, task.batch_size)
            if not tracker.is_scheduled(epoch):
                continue
            measured = {"train_loss": loss, **_accuracies(task, model, x, y, train, test)}
            for attack in attacks:
                accuracy = adversarial_accuracy(model, x[probe], y[probe], attack, seed=seed)
                measured[f"{attack.method}_accuracy"] = accuracy
                rows.append({"epoch": epoch, **attack.describe(),
                             "clean_accuracy": measured["test_accuracy"],
                             "robust_accuracy": accuracy})
            tracker.step(epoch, **measured)
            bar.set_postfix(loss=loss_text(loss), test=f"{measured['test_accuracy']:.3f}",
                            **{a.method: f"{measured[f'{a.method}_accuracy']:.3f}"
                               for a in attacks})
        bar.close()
        records = tracker.finish()
        if activations_path is not None:
            tracker.save_activations(activations_path)
    return TaskRun(Run(task.name, tracker.config, records), rows)


def train_and_track(activation: str, *, epochs: int, points: int, seed: int = 0,
                    estimator: str = "binning", device="cpu", path=None,
                    activations_path=None, progress: bool = True) -> Run:
    """Trains one network of the 12-bit task (``activation``: "tanh" or "relu") and tracks
    its hidden layers; returns the run (see ``train_and_track_task``)."""
    return train_and_track_task(TASKS[activation], epochs=epochs, points=points, seed=seed,
                                estimator=estimator, device=device, path=path,
                                activations_path=activations_path, progress=progress).run


def split_indices(task: Task, n: int, seed: int) -> tuple[torch.Tensor, ...]:
    """(train, test, probe) indices: a random split of ``task.train_fraction``, drawn as the
    published runs drew it (the 12-bit task from torch's generator, the others from numpy's);
    the probe set is the test inputs, or every input in its order for ``probe="all"``."""
    n_train = round(task.train_fraction * n)
    if task.probe == "all":
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        return order[:n_train], order[n_train:], torch.arange(n)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    return order[:n_train], order[n_train:], order[n_train:]


def input_features(task: Task, inputs: np.ndarray) -> tuple[np.ndarray, str]:
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


def _accuracies(task: Task, model, x, y, train, test) -> dict:
    """Train and test accuracy: from one pass over every input when the probe set is all of
    them (the 12-bit task), else from a pass in eval mode over each part."""
    if task.probe == "all":
        with torch.no_grad():
            correct = model(x).argmax(1) == y
        return {"train_accuracy": correct[train].float().mean().item(),
                "test_accuracy": correct[test].float().mean().item()}
    return {"train_accuracy": _accuracy(model, x[train], y[train]),
            "test_accuracy": _accuracy(model, x[test], y[test])}


def _accuracy(model, x, y) -> float:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        correct = int((model(x).argmax(1) == y).sum()) / len(y)
    model.train(was_training)
    return correct


def train_one_epoch(model, optimizer, x, y, train, shuffle, batch_size: int) -> float:
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


def loss_text(loss: float) -> str:
    """The training loss for a progress bar: "-" before the first epoch has one."""
    return "-" if math.isnan(loss) else f"{loss:.3f}"


@contextlib.contextmanager
def single_thread():
    """One thread for training and estimates. The networks are small: with more threads, their
    synchronisation costs more than the matrix products (40 ms against 1 s per 12-bit epoch,
    0.035 s against 5 s per CNN epoch, measured on 2 busy cores). torch and the C++ kernels
    share one OpenMP runtime, so the estimates run on one thread too, which suits their short
    parallel regions at n = 4096 (65 ms against 1.2-1.7 s per layer and epoch on the same busy
    cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
