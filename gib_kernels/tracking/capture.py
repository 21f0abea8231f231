"""What the tracker feeds the network and what it takes from it.

- The **probe set**: the inputs fed to the model, their labels Y, and X as the estimators see it
  (the input features without constant or duplicated columns; for binning and the KDE bound,
  discrete codes: integral inputs as they are, continuous ones in per-column bins).
- The **capture**: forward hooks on named submodules; a probe forward pass runs the model in
  eval mode, in batches and without gradients, and returns each hooked output whole (the first
  element of a tuple output, e.g. attention's values).

Views and reductions of the captured outputs are in ``activations.py``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._validation import as_labels
from ..reference import discretize

__all__ = ["Capture", "Probe", "named_submodules", "probe_set"]


def named_submodules(model: nn.Module, layers: list[str]) -> dict[str, nn.Module]:
    """{name: submodule} of the named layers; ValueError naming those the model lacks."""
    if not layers:
        raise ValueError("'layers' is empty: name at least one submodule to track")
    modules = dict(model.named_modules())
    unknown = [name for name in layers if name not in modules]
    if unknown:
        available = ", ".join(repr(n) for n in modules if n)
        raise ValueError(f"no submodule named {', '.join(map(repr, unknown))} in the model; "
                         f"its submodules are {available}")
    return {name: modules[name] for name in layers}


class Capture:
    """Forward hooks on ``layers`` of ``model``; ``run(x)`` returns their outputs on ``x``."""

    def __init__(self, model: nn.Module, layers: list[str], batch_size: int | None = None):
        self.model, self.layers, self.batch_size = model, list(layers), batch_size
        modules = named_submodules(model, self.layers)
        self._capturing = False
        self._captured: dict[str, list[torch.Tensor]] = {}
        self._handles = [modules[name].register_forward_hook(self._hook(name))
                         for name in self.layers]

    def _hook(self, name: str):
        def hook(module, args, output):
            if self._capturing:
                if isinstance(output, (tuple, list)):  # e.g. attention: (values, weights)
                    output = output[0]
                self._captured.setdefault(name, []).append(output.detach())
        return hook

    def run(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Runs the model in eval mode (no dropout, batch-norm in its running statistics: the
        deterministic network) over ``x`` in batches; returns each tracked output, whole."""
        parameter = next(self.model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        batch = self.batch_size or max(len(x), 1)
        was_training = self.model.training
        self.model.eval()
        self._capturing, self._captured = True, {}
        try:
            with torch.no_grad():
                for rows in x.split(batch):
                    if rows.is_floating_point() and parameter is not None:
                        rows = rows.to(device, parameter.dtype)
                    self.model(rows.to(device))
        finally:
            self._capturing = False
            self.model.train(was_training)
        captured, self._captured = self._captured, {}
        missing = [name for name in self.layers if name not in captured]
        if missing:
            raise RuntimeError(f"the forward pass did not reach {', '.join(map(repr, missing))}")
        return {name: torch.cat([part.cpu() for part in parts]) if len(parts) > 1
                else parts[0] for name, parts in captured.items()}

    def shapes(self, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
        """Each tracked output's shape, from one forward pass over the first row of ``x``."""
        captured = self.run(x[:1])
        return {name: tuple(captured[name].shape) for name in self.layers}

    def close(self) -> None:
        """Removes the hooks (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


@dataclass
class Probe:
    """The fixed probe set: model inputs, labels, and X in the forms the estimators take."""

    inputs: torch.Tensor  # as fed to the model (float32, or integers such as token ids)
    labels: np.ndarray
    features: np.ndarray  # (n, d) float32, the informative input columns
    input_columns: dict  # given, used and dropped input columns (the header's input_columns)
    digest: str  # of the inputs, features and labels as given: a resume checks it
    x_discrete: np.ndarray  # X for binning and the KDE bound
    x_continuous: np.ndarray  # X for k-NN and the Gaussian copula


def probe_set(inputs, labels, input_features=None, *, bins: int) -> Probe:
    inputs = inputs.detach().cpu() if isinstance(inputs, torch.Tensor) else \
        torch.as_tensor(np.asarray(inputs))
    inputs = inputs if not inputs.is_floating_point() else inputs.float()
    labels = as_labels(labels, "labels")
    features = inputs.reshape(len(inputs), -1).numpy() \
        if input_features is None else np.asarray(torch.as_tensor(input_features).cpu())
    if inputs.ndim < 1 or features.ndim != 2 or not len(labels) == len(features) == len(inputs):
        raise ValueError(f"'inputs' must be (n, ...), 'input_features' (n, d) and 'labels' "
                         f"(n,); got shapes {tuple(inputs.shape)}, {features.shape} "
                         f"and {labels.shape}")
    digest = _digest(inputs.numpy(), features.astype(np.float32), labels)
    kept, columns = _informative_columns(features)
    features = features[:, kept].astype(np.float32)
    return Probe(inputs, labels, features, columns, digest,
                 x_discrete=_input_codes(features, bins),
                 x_continuous=features.astype(np.float64))


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def _informative_columns(features: np.ndarray) -> tuple[np.ndarray, dict]:
    """The columns of X that are neither constant nor a copy of an earlier column, and what
    was dropped (column indices of the given features)."""
    constant = [j for j in range(features.shape[1]) if np.all(features[:, j] == features[0, j])]
    varying = [j for j in range(features.shape[1]) if j not in set(constant)]
    _, first = np.unique(features[:, varying].T, axis=0, return_index=True)
    kept = sorted(varying[i] for i in first)
    duplicate = sorted(set(varying) - set(kept))
    return np.array(kept, dtype=np.int64), {
        "given": int(features.shape[1]), "used": len(kept),
        "dropped_constant": constant, "dropped_duplicate": duplicate}


def _input_codes(inputs: np.ndarray, bins: int) -> np.ndarray:
    """Discrete inputs as they are (the 12-bit task); continuous ones in per-column bins."""
    if np.array_equal(inputs, np.round(inputs)):
        return inputs.astype(np.int64)
    return discretize(inputs, bins, "column")
