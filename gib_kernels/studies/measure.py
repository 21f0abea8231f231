"""Trains one model of a study and measures it once, at the end of training, on the held-out
probe set: accuracies and losses (the generalisation gaps), accuracy under FGSM and PGD at each
radius, and the four information quantities of every tracked layer.

The training is the demos' (``demos.train``: their split, batches, input features and one
thread), with AdamW for the weight decay, noisy training labels and PGD batches where the variant
asks; the estimates are the tracker's, stepped once, with the task's estimator and reduction.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..demos.tasks import Task
from ..demos.train import single_thread, train_one_epoch
from ..exceptions import SaturationWarning
from ..tracking import InformationTracker
from ..tracking.estimates import QUANTITIES
from ..tracking.robustness import Attack, adversarial_accuracy, pgd
from .grid import Variant

__all__ = ["ADVERSARIAL_STEPS", "StudyData", "adversarial_epoch", "attack_name", "noisy_labels",
           "train_and_measure"]

# PGD steps of adversarial training: fewer than the evaluation's (the task's pgd_steps), since
# they run on every batch; step size 2.5 epsilon / steps as in the evaluation.
ADVERSARIAL_STEPS = 5


@dataclass(frozen=True)
class StudyData:
    """What every model of a study shares: the inputs and labels, the split, the probe set
    (test indices) with X as the estimators see it, and the attacks."""

    x: torch.Tensor
    y: torch.Tensor
    train: torch.Tensor
    test: torch.Tensor
    probe: torch.Tensor
    features: np.ndarray | None
    attacks: tuple[Attack, ...]
    seed: int


def attack_name(attack: Attack) -> str:
    """The attack's column in the study's table, e.g. ``pgd_0.1``."""
    return f"{attack.method}_{attack.epsilon:g}"


def noisy_labels(y: torch.Tensor, train: torch.Tensor, fraction: float, classes: int,
                 seed: int) -> torch.Tensor:
    """A copy of ``y`` whose training labels, a ``fraction`` of them drawn at random (seeded),
    are replaced by another class, each of the others equally likely."""
    if fraction == 0:
        return y
    rng = np.random.default_rng(seed)
    chosen = rng.choice(train.cpu().numpy(), size=round(fraction * len(train)), replace=False)
    noisy = y.clone()
    shift = torch.from_numpy(rng.integers(1, classes, size=len(chosen))).to(y.device)
    chosen = torch.from_numpy(chosen).to(y.device)
    noisy[chosen] = (y[chosen] + shift) % classes
    return noisy


def _perturbed_logits(model: nn.Module, x: torch.Tensor, delta: torch.Tensor,
                      attack: Attack) -> torch.Tensor:
    """The model's logits with ``delta`` added where ``attack`` perturbs: the input (within its
    bounds) or the output of a submodule."""
    if attack.at is None:
        inputs = x + delta
        return model(inputs if attack.bounds is None else inputs.clamp(*attack.bounds))
    handle = model.get_submodule(attack.at).register_forward_hook(lambda m, a, out: out + delta)
    try:
        return model(x)
    finally:
        handle.remove()


def adversarial_epoch(model, optimizer, x, y, train, shuffle, batch_size: int,
                      attack: Attack) -> float:
    """One pass over the training indices in shuffled batches, each replaced by its PGD
    perturbation against the current model before the step; returns the mean batch loss."""
    model.train()
    order = train[torch.randperm(len(train), generator=shuffle).to(train.device)]
    losses = []
    for batch in order.split(batch_size):
        start = int(torch.randint(2**31 - 1, (1,), generator=shuffle))  # the random start's seed
        delta = pgd(model, x[batch], y[batch], attack.epsilon, steps=attack.steps, at=attack.at,
                    bounds=attack.bounds, seed=start)
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(_perturbed_logits(model, x[batch], delta, attack),
                                           y[batch])
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return torch.stack(losses).mean().item()


def _accuracy_and_loss(model, x, y) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
    return (float((logits.argmax(1) == y).float().mean()),
            float(nn.functional.cross_entropy(logits, y)))


def train_and_measure(task: Task, variant: Variant, data: StudyData, *, epochs: int,
                      estimator: str, device) -> dict:
    """Trains ``variant`` of the task's network ``epochs`` epochs and returns its measurements:
    accuracies and losses on the training set (with the labels it was trained on; its accuracy
    also against the true labels) and the test set, their gaps, the probe accuracy under each
    attack, and per layer I_XT, I_TY, S_XT, S_TY (with the layer's width, the columns
    estimated, its estimator and what saturated)."""
    started = time.perf_counter()
    x, y = data.x, data.y
    classes = int(y.max()) + 1
    trained_on = noisy_labels(y, data.train, variant.label_noise, classes, variant.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(variant.seed)
        model = task.build(variant.width).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=task.learning_rate,
                                  weight_decay=variant.weight_decay,
                                  **({"fused": True} if task.fused_adam else {}))
    shuffle = torch.Generator().manual_seed(variant.seed + 1)
    adversary = None
    if variant.adversarial > 0:
        template = data.attacks[0]
        adversary = Attack("pgd", variant.adversarial, steps=ADVERSARIAL_STEPS, at=template.at,
                           bounds=template.bounds)
    probe_x, probe_y = x[data.probe], y[data.probe]
    # Saturated estimates are flagged in the results and counted in the summary, not warned.
    with single_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", SaturationWarning)
        for _ in range(epochs):
            if adversary is None:
                train_one_epoch(model, optimizer, x, trained_on, data.train, shuffle,
                                task.batch_size)
            else:
                adversarial_epoch(model, optimizer, x, trained_on, data.train, shuffle,
                                  task.batch_size, adversary)
        train_accuracy, train_loss = _accuracy_and_loss(model, x[data.train],
                                                        trained_on[data.train])
        test_accuracy, test_loss = _accuracy_and_loss(model, x[data.test], y[data.test])
        # Against the true labels: how much of the data under the noise it learned.
        clean_train_accuracy = _accuracy_and_loss(model, x[data.train], y[data.train])[0]
        robust = {attack_name(a): adversarial_accuracy(model, probe_x, probe_y, a, seed=data.seed)
                  for a in data.attacks}
        tracker = InformationTracker(
            model, task.layers, probe_x, probe_y.cpu(), input_features=data.features,
            estimator=estimator, every=[epochs], seed=data.seed,
            reduction=None if task.components is None else ("pca", task.components),
            estimator_options=task.estimator_options(estimator, data.seed))
        with tracker:
            tracker.step(epochs)
            records = tracker.finish()
    layers = {r["layer"]: {**{q: r[q] for q in QUANTITIES}, "units": r["units"],
                           "features": r["features"], "estimator": r["estimator"],
                           "saturated": r.get("saturated", [])} for r in records}
    return {"train_accuracy": train_accuracy, "clean_train_accuracy": clean_train_accuracy,
            "test_accuracy": test_accuracy,
            "train_loss": train_loss, "test_loss": test_loss,
            "accuracy_gap": train_accuracy - test_accuracy, "loss_gap": test_loss - train_loss,
            "probe_accuracy": _accuracy_and_loss(model, probe_x, probe_y)[0],
            "robust": robust, "layers": layers,
            "parameters": sum(p.numel() for p in model.parameters()),
            "seconds": time.perf_counter() - started}

