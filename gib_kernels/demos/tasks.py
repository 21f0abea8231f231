"""The demos' task table: each entry its data, network, tracked layers, training and attacks.

- ``tanh``, ``relu``: the 12-bit task (Shwartz-Ziv & Tishby 2017; Saxe et al. 2018;
  docs/science.md, "The 12-bit task"): its 4096 inputs, a 12-10-7-5-4-3-2 network with the
  given hidden activation and a softmax output, Adam (learning rate 4e-4), batches of 256, a
  random 80/20 train/test split. Every hidden layer is tracked on all 4096 inputs, binned
  (``estimator="binning"``, the classic figures). Weights start from PyTorch's default
  initialisation.
- ``cnn``: scikit-learn's 1797 digits (8x8, 10 classes), 50/50 split; conv 16 - pool - conv 32 -
  pool - dense 64, ReLU. Tracked: the three ReLU outputs (1024, 512 and 64 units).
- ``transformer``: ``datasets.matching_tokens`` (sequences of 8 tokens over 8 symbols, label:
  first token == last token, pure synergy of the pair), 75/25 split; token + position embedding
  (width 32), two encoder blocks (4 heads), mean pooling, linear head. Tracked: the embedding
  and both blocks (8 x 32 = 256 units each) and the pooled vector (32).

The wide tasks are tracked on their held-out probe set, reduced to the top principal
directions fitted over the run where wider than ``components``, estimated with ``"auto"`` (the
Gaussian copula: the layers are far too wide for binning), and attacked with FGSM and PGD at
every measured epoch. All data ship with the installed packages (no download).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from .. import datasets
from ..tracking.robustness import Attack

__all__ = ["ACTIVATIONS", "TASKS", "TWELVE_BIT", "Task", "TokenTransformer", "WIDTHS",
           "build_cnn", "build_network", "build_transformer", "hidden_layers"]

# --- the networks -------------------------------------------------------------------------------

WIDTHS = (12, 10, 7, 5, 4, 3, 2)
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def build_network(activation: str, width: float = 1.0) -> nn.Sequential:
    """12-10-7-5-4-3-2 with the given hidden activation, modules named ``linear1..linear6``
    and ``hidden1..hidden5`` (the activation outputs, the layers T that are tracked); the
    softmax of the output is in the loss. ``width`` scales the hidden layers (at least one unit
    each); the 12 inputs and 2 outputs stay."""
    widths = (WIDTHS[0], *(_scaled(w, width) for w in WIDTHS[1:-1]), WIDTHS[-1])
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        modules[f"linear{i}"] = nn.Linear(fan_in, fan_out)
        if i < len(widths) - 1:
            modules[f"hidden{i}"] = ACTIVATIONS[activation]()
    return nn.Sequential(modules)


def hidden_layers() -> list[str]:
    return [f"hidden{i}" for i in range(1, len(WIDTHS) - 1)]


def _scaled(units: int, width: float, multiple: int = 1) -> int:
    """``units`` times ``width``, rounded to a multiple of ``multiple`` (at least one)."""
    return max(multiple, multiple * round(units * width / multiple))


def build_cnn(width: float = 1.0) -> nn.Sequential:
    """conv(1->16, 3x3) ReLU, max-pool 2, conv(16->32, 3x3) ReLU, max-pool 2, dense 128->64
    ReLU, dense 64->10; the tracked blocks are ``relu1``, ``relu2`` and ``relu3``. ``width``
    scales the channels and the dense units."""
    first, second, dense = (_scaled(units, width) for units in (16, 32, 64))
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, first, 3, padding=1), relu1=nn.ReLU(), pool1=nn.MaxPool2d(2),
        conv2=nn.Conv2d(first, second, 3, padding=1), relu2=nn.ReLU(), pool2=nn.MaxPool2d(2),
        flatten=nn.Flatten(), dense=nn.Linear(4 * second, dense), relu3=nn.ReLU(),
        out=nn.Linear(dense, 10)))


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


def build_transformer(width: float = 1.0) -> TokenTransformer:
    """The task's Transformer; ``width`` scales the model width (32), kept a multiple of the
    4 heads."""
    return TokenTransformer(width=_scaled(32, width, multiple=4))


# --- the tasks ----------------------------------------------------------------------------------

def _twelve_bit_options(estimator: str, seed: int) -> dict:
    # The 12 inputs are bits: k-NN estimators need jitter to break the ties. Dead ReLU units are
    # constant: the Gaussian covariances need a ridge.
    if estimator == "knn":
        return {"noise": 1e-10, "random_state": seed}
    if estimator == "predictive":  # its folds and initial weights
        return {"random_state": seed}
    return {"ridge": 1e-6} if estimator == "gaussian" else {}


def _wide_options(estimator: str, seed: int) -> dict:
    # The layers are wide: "auto" gives them the Gaussian copula, whose ridge the tracker sets
    # (tracking.estimates.GAUSSIAN_RIDGE); k-NN and KDE need jitter to break the ties of the
    # discrete inputs.
    if estimator == "predictive":  # its folds and initial weights
        return {"random_state": seed}
    return {"noise": 1e-10, "random_state": seed} if estimator in ("knn", "kde") else {}


@dataclass(frozen=True)
class Task:
    """One demo: its data, network, tracked layers, training and attack settings."""

    name: str
    title: str
    load: Callable[[int], tuple[np.ndarray, np.ndarray]]
    build: Callable[..., nn.Module]  # build() the demo's network, build(width) a scaled one
    layers: tuple[str, ...]
    train_fraction: float
    epochs: int
    points: int
    learning_rate: float
    batch_size: int
    # The task's part of the run's configuration (the file's header), before the training
    # settings the loop adds. A setting of the loop named here with None (epochs, seed) keeps
    # this place in the header, the order the files of earlier versions have.
    config: dict = field(default_factory=dict)
    estimator: str = "auto"
    estimator_options: Callable[[str, int], dict] = _wide_options
    # "all": the probe set is every input (train and test accuracy from one pass over it);
    # "held-out": the test inputs, also attacked.
    probe: str = "held-out"
    fused_adam: bool = False
    epsilon: float | None = None  # None: no attack
    attack_at: str | None = None
    bounds: tuple[float, float] | None = None
    pgd_steps: int = 10
    one_hot: int | None = None  # the vocabulary, when X is the one-hot tokens
    # Wider layers keep this many principal directions: the class-conditional Gaussians of
    # I(T;Y) need several times more probe samples per class than columns. None: no reduction.
    components: int | None = 64

    def attacks(self) -> list[Attack]:
        if self.epsilon is None:
            return []
        return [Attack("fgsm", self.epsilon, at=self.attack_at, bounds=self.bounds),
                Attack("pgd", self.epsilon, steps=self.pgd_steps, at=self.attack_at,
                       bounds=self.bounds)]


def _twelve_bit(activation: str) -> Task:
    return Task(activation, f"{activation} network", lambda seed: datasets.tishby_12bit(),
                lambda width=1.0: build_network(activation, width), tuple(hidden_layers()),
                train_fraction=0.8, epochs=3000, points=40, learning_rate=4e-4, batch_size=256,
                config={"task": "tishby_12bit", "activation": activation,
                        "widths": list(WIDTHS)},
                estimator="binning", estimator_options=_twelve_bit_options, probe="all",
                fused_adam=True, components=None)


def _wide_config(name: str) -> dict:
    return {"task": name, "epochs": None, "seed": None}


TWELVE_BIT = tuple(ACTIVATIONS)  # the entries of the 12-bit demo, one per activation
TASKS = {
    **{activation: _twelve_bit(activation) for activation in TWELVE_BIT},
    "cnn": Task("cnn", "CNN on the 8x8 digits", lambda seed: datasets.digits(), build_cnn,
                ("relu1", "relu2", "relu3"), train_fraction=0.5, epochs=200, points=30,
                learning_rate=1e-3, batch_size=64, config=_wide_config("cnn"), epsilon=0.1,
                bounds=(0.0, 1.0), components=32),
    "transformer": Task("transformer", "Transformer on matching tokens",
                        lambda seed: datasets.matching_tokens(3000, 8, 8, seed=seed),
                        build_transformer, ("embedding", "blocks.0", "blocks.1", "pool"),
                        train_fraction=0.75, epochs=150, points=30, learning_rate=2e-3,
                        batch_size=64, config=_wide_config("transformer"), epsilon=0.1,
                        attack_at="embedding", one_hot=8),
}
