"""Adversarial robustness of a classifier: accuracy under the L-infinity FGSM and PGD attacks.

FGSM (Goodfellow et al. 2015) moves every coordinate by ``epsilon`` in the direction of the
sign of the loss gradient, once. PGD (Madry et al. 2018) takes ``steps`` signed-gradient steps of
``step_size`` from a random start in the epsilon ball, projecting back into the ball (and into
``bounds``, the valid input range) after each. Both maximise the cross-entropy of the true label.

The perturbation is added to the model's input, or with ``at="name"`` to the output of that
submodule: for a sequence model whose inputs are token ids, the attack moves the token
embeddings (the usual continuous relaxation of text attacks), with ``epsilon`` in embedding units.
The model is evaluated in eval mode; its parameters receive no gradient.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .._validation import check_choice, check_int

__all__ = ["ATTACKS", "Attack", "adversarial_accuracy", "fgsm", "pgd"]

ATTACKS = ("fgsm", "pgd")


@dataclass(frozen=True)
class Attack:
    """One attack's settings, as recorded beside its accuracies."""

    method: str
    epsilon: float
    steps: int = 1
    step_size: float | None = None
    at: str | None = None  # None: the input; else the submodule whose output is perturbed
    bounds: tuple[float, float] | None = None

    @property
    def effective_step_size(self) -> float:
        if self.method == "fgsm":
            return self.epsilon
        return 2.5 * self.epsilon / self.steps if self.step_size is None else self.step_size

    def describe(self) -> dict:
        return {"attack": self.method, "epsilon": self.epsilon,
                "steps": self.steps if self.method == "pgd" else 1,
                "step_size": self.effective_step_size, "perturbed": self.at or "input"}


class _Perturbed:
    """The model with ``delta`` added to its input or to one submodule's output."""

    def __init__(self, model: nn.Module, at: str | None, bounds):
        self.model, self.at, self.bounds = model, at, bounds
        self.module = None if at is None else dict(model.named_modules()).get(at)
        if at is not None and self.module is None:
            raise ValueError(f"no submodule named {at!r} to perturb")

    def clean_target(self, x: torch.Tensor) -> torch.Tensor:
        """The tensor the perturbation is added to, for its shape and bounds."""
        if self.module is None:
            return x
        seen = {}
        handle = self.module.register_forward_hook(lambda m, a, out: seen.setdefault("o", out))
        try:
            with torch.no_grad():
                self.model(x)
        finally:
            handle.remove()
        return seen["o"].detach()

    def logits(self, x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        if self.module is None:
            return self.model(self._bounded(x + delta))
        handle = self.module.register_forward_hook(lambda m, a, out: out + delta)
        try:
            return self.model(x)
        finally:
            handle.remove()

    def _bounded(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.bounds is None else x.clamp(*self.bounds)

    def project(self, delta: torch.Tensor, x: torch.Tensor, epsilon: float) -> torch.Tensor:
        delta = delta.clamp(-epsilon, epsilon)
        if self.module is None and self.bounds is not None:
            delta = self._bounded(x + delta) - x
        return delta


def _gradient(target: _Perturbed, x, y, delta) -> torch.Tensor:
    delta = delta.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = nn.functional.cross_entropy(target.logits(x, delta), y)
        (grad,) = torch.autograd.grad(loss, delta)
    return grad


def fgsm(model: nn.Module, x, y, epsilon: float, *, at=None, bounds=None) -> torch.Tensor:
    """The FGSM perturbation (same shape as the input, or as the output of ``at``)."""
    target = _Perturbed(model, at, bounds)
    zero = torch.zeros_like(target.clean_target(x))
    return target.project(epsilon * _gradient(target, x, y, zero).sign(), x, epsilon)


def pgd(model: nn.Module, x, y, epsilon: float, *, steps: int = 10, step_size=None, at=None,
        bounds=None, seed: int = 0) -> torch.Tensor:
    """The PGD perturbation after ``steps`` steps of ``step_size`` (default 2.5 epsilon / steps,
    Madry et al.) from a uniform random start in the ball (seeded)."""
    steps = check_int(steps, "steps", 1)
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    target = _Perturbed(model, at, bounds)
    shape_of = target.clean_target(x)
    generator = torch.Generator(device=shape_of.device).manual_seed(seed)
    delta = (torch.rand(shape_of.shape, generator=generator, device=shape_of.device,
                        dtype=shape_of.dtype) * 2 - 1) * epsilon
    delta = target.project(delta, x, epsilon)
    for _ in range(steps):
        delta = target.project(delta + step_size * _gradient(target, x, y, delta).sign(), x,
                               epsilon)
    return delta


def adversarial_accuracy(model: nn.Module, x, y, attack: Attack, *, batch_size: int = 512,
                         seed: int = 0) -> float:
    """Accuracy of ``model`` on (x, y) under ``attack`` (the clean accuracy for epsilon 0)."""
    check_choice(attack.method, "attack", ATTACKS)
    was_training = model.training
    model.eval()
    correct = 0
    try:
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            target = _Perturbed(model, attack.at, attack.bounds)
            if attack.epsilon == 0:
                delta = torch.zeros_like(target.clean_target(xb))
            elif attack.method == "fgsm":
                delta = fgsm(model, xb, yb, attack.epsilon, at=attack.at, bounds=attack.bounds)
            else:
                delta = pgd(model, xb, yb, attack.epsilon, steps=attack.steps,
                            step_size=attack.step_size, at=attack.at, bounds=attack.bounds,
                            seed=seed + start)
            with torch.no_grad():
                correct += int((target.logits(xb, delta).argmax(1) == yb).sum())
    finally:
        model.train(was_training)
    return correct / len(x)
