"""Information planes over training: forward hooks on named layers, a fixed probe set, a
JSON-lines record per layer and measurement epoch.

Per layer T, with X the probe inputs and Y their labels (docs/science.md, "The quantities"; bits by default):

- ``I_XT`` = I(X;T) and ``I_TY`` = I(T;Y): the IB plane (complexity, prediction);
- ``S_XT`` = S(X -> T) (input features as sources, the layer as target) and ``S_TY`` =
  S(T -> Y) (layer units as sources, labels as target): the GIB plane, each the plain mean of
  its synergy profile, stored beside it (``profile_XT``, one value per input feature;
  ``profile_TY``, one per unit).

Estimators: ``estimator="auto"`` (default) bins a layer only where binning measures something:
where the grid of ``bins`` per column has no more cells than the probe set has samples
(``bins ** columns <= n``, e.g. 2 columns of 30 bins for 4096 samples); every other layer gets
the Gaussian copula, with a ridge of ``GAUSSIAN_RIDGE`` (1e-3 of each copula-normalised column,
read as the variance of a noise that gives a deterministic layer a finite I(X;T); see
``docs/science.md``) unless ``estimator_options`` names one. Binning elsewhere (the classic
12-bit figures ask for it by name) counts the probe samples once nearly every binned row is
distinct: each record lists such estimates in ``saturated``, and the tracker warns once per
layer. Input columns that are constant, or copies of an earlier column, carry nothing of their
own; they are dropped from X once, before any estimate, and the header lists them
(``input_columns``).

Binning needs one range per layer that stays fixed
over the run, or the planes of different epochs are not comparable. The range follows the
activation: tanh [-1, 1], sigmoid [0, 1], ReLU [0, max over the run], anything else
[min, max] over the run. An end taken "over the run" is unknown until training ends, so such
layers are estimated in ``finish()``, from the activations of every measurement epoch kept in
memory; layers with a known range are estimated as soon as their epoch is recorded.

Wide and structured layers (conv maps, token sequences) go through a view and, optionally, a
reduction (``activations.py``): ``view="channel"`` pools a conv map per channel,
``reduction=("pca", 64)`` keeps 64 principal directions fitted over the run. The header names
the estimator, view and reduction of every layer. Each record
carries ``units``, the layer's width before any view or reduction, and ``features``, the columns
the estimates saw.

The file: a header line per run holding its configuration, then one line per (layer, epoch),
appended and flushed as each estimate is done, so a crash loses nothing already computed.
Opening the file again with the same run name and configuration resumes (finished records
are kept and skipped); a different configuration is refused with the keys that differ.
Several runs (names) can share one file.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import re

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .. import functional as F
from .._config import config_context
from ..estimators.binning import discretize
from ..exceptions import SaturationWarning
from .._validation import as_labels, check_choice, check_int, log_base
from .activations import VIEWS, ActivationStore, Reduction, as_units, parse_reduction

__all__ = [
    "InformationTracker",
    "Run",
    "RunMismatchError",
    "TrackingFileError",
    "activation_bin_range",
    "log_spaced_epochs",
    "read_runs",
]

FORMAT = "gib_kernels.tracking/1"
ESTIMATORS = ("binning", "knn", "kde", "gaussian")
# The Gaussian ridge where estimator_options gives none, read as the variance of a noise added
# to every copula-normalised (unit variance) column. A deterministic layer is a function of X,
# so without noise I(X;T) has no finite value; this caps each column's share at
# 0.5 log2(1 + 1/variance) = 5 bits, and keeps constant (dead) and duplicated units regular.
GAUSSIAN_RIDGE = 1e-3
QUANTITIES = ("I_XT", "I_TY", "S_XT", "S_TY")
# Modules whose output range is known in advance; None ends are taken over the run.
_KNOWN_RANGES = ((nn.Tanh, (-1.0, 1.0)), (nn.Sigmoid, (0.0, 1.0)), (nn.ReLU, (0.0, None)))


class TrackingFileError(ValueError):
    """The file is not a tracking file this version can read."""


class RunMismatchError(ValueError):
    """The file already holds this run, with a different configuration."""


def log_spaced_epochs(last_epoch: int, count: int) -> list[int]:
    """Epoch 0 (the initial network) and ``count`` distinct epochs in [1, last_epoch], spaced
    evenly in log scale and ending at ``last_epoch`` (fewer when ``last_epoch < count``).

    Early epochs fall closer than one apart in log scale; each then moves to the next free
    integer, which keeps the count without breaking the order.
    """
    last_epoch = check_int(last_epoch, "last_epoch", 1)
    count = min(check_int(count, "count", 1), last_epoch)
    epochs, previous = [0], 0
    for target in np.geomspace(1, last_epoch, count):
        previous = max(previous + 1, int(round(target)))
        epochs.append(previous)
    return epochs


def activation_bin_range(module: nn.Module) -> tuple[float | None, float | None]:
    """The binning range of a layer's output, with None for an end taken over the run."""
    for kind, bin_range in _KNOWN_RANGES:
        if isinstance(module, kind):
            return bin_range
    return (None, None)


@dataclass
class Run:
    """One run of a tracking file: its configuration and records (sorted by layer, epoch)."""

    name: str
    config: dict
    records: list[dict] = field(default_factory=list)

    @property
    def layers(self) -> list[str]:
        return list(self.config["layers"])

    def trajectory(self, layer: str, quantity: str) -> tuple[np.ndarray, np.ndarray]:
        """(epochs, values) of one quantity ("I_XT", "S_TY", ...) of one layer, by epoch."""
        rows = [r for r in self.records if r["layer"] == layer]
        return (np.array([r["epoch"] for r in rows], dtype=np.int64),
                np.array([r[quantity] for r in rows], dtype=np.float64))


def read_runs(path) -> dict[str, Run]:
    """Every run of a tracking file, by name. A last line cut short by a crash is ignored."""
    runs: dict[str, Run] = {}
    for number, line in _complete_lines(Path(path)):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise TrackingFileError(f"{path} is not a tracking file: line {number} is not "
                                    "JSON") from None
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind == "header":
            if entry.get("format") != FORMAT:
                raise TrackingFileError(f"{path}: line {number} has format "
                                        f"{entry.get('format')!r}; this version reads {FORMAT!r}")
            runs[entry["run"]] = Run(entry["run"], entry["config"])
        elif kind == "record" and entry.get("run") in runs:
            runs[entry["run"]].records.append(entry)
        else:
            raise TrackingFileError(f"{path} is not a tracking file: line {number} is neither "
                                    "a run header nor a record of a run announced before it")
    for run in runs.values():
        _sort_records(run.records, run.layers)
    return runs


def _sort_records(records: list[dict], layers: list[str]) -> None:
    """In place: by layer in the network's order, then by epoch."""
    order = {name: i for i, name in enumerate(layers)}
    records.sort(key=lambda r: (order[r["layer"]], r["epoch"]))


def _complete_lines(path: Path):
    """(line number, text) of the non-empty lines that end in a newline."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.endswith("\n") and line.strip():
                yield number, line


def _drop_torn_line(path: Path) -> None:
    """Cuts a last line left without its newline by a crash, so appends start on a fresh line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        warnings.warn(f"{path}: dropping an incomplete last line ({len(data) - keep} bytes) "
                      "left by an interrupted run", RuntimeWarning, stacklevel=4)
        with open(path, "r+b") as f:
            f.truncate(keep)


def _config_differences(ours: dict, theirs: dict) -> list[str]:
    keys = sorted(set(ours) | set(theirs))
    return [f"{key}: {_short(ours.get(key))} here, {_short(theirs.get(key))} in the file"
            for key in keys if ours.get(key) != theirs.get(key)]


def _short(value, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


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


_OPTION_HINT = re.compile(r"\b[Pp]ass (ridge|noise)=([0-9.e+-]+)")


def _tracker_hint(message: str) -> str:
    """An estimator's advice in the tracker's terms: its options go in estimator_options."""
    return _OPTION_HINT.sub(lambda m: f"pass estimator_options={{'{m[1]}': {m[2]}}} to the "
                                      "tracker", message)


def _input_codes(inputs: np.ndarray, bins: int) -> np.ndarray:
    """Discrete inputs as they are (the 12-bit task); continuous ones in per-column bins."""
    if np.array_equal(inputs, np.round(inputs)):
        return inputs.astype(np.int64)
    return discretize(inputs, bins, "column").numpy()


class InformationTracker:
    """Records the activations of named layers on a fixed probe set during training and
    estimates I(X;T), I(T;Y), S(X -> T), S(T -> Y) and both synergy profiles per layer and
    measurement epoch (see the module docstring for the quantities, ranges and file).

    Parameters
    ----------
    model : torch.nn.Module
    layers : list of str, names of submodules (``model.named_modules()``, e.g.
        ``"encoder.layers.0"``) whose outputs are T
    inputs : array or tensor (n, ...), the probe inputs fed to the model as they are (floats in
        the model's dtype, integers, e.g. token ids, as int64)
    labels : array (n,) of integer class labels Y
    input_features : array (n, d), optional. X as the estimators see it (default: ``inputs``
        flattened to (n, d)); e.g. one-hot tokens for a sequence model.
    estimator : {"auto", "binning", "knn", "kde", "gaussian"} or dict {layer: name}, default
        "auto". Binning estimates each layer in ``bins`` equal-width bins over its fixed range;
        the others take the raw float activations and ``estimator_options`` (e.g.
        ``{"noise": 1e-10, "random_state": 0}`` for k-NN on discrete inputs). The KDE bound
        holds each layer against discrete inputs: integral inputs as they are, continuous ones
        in ``bins`` bins per column, their distinct rows the classes of I(X;T). The Gaussian
        copula takes the raw activations and inputs, with ``ridge=GAUSSIAN_RIDGE`` unless
        ``estimator_options`` gives one. "auto": binning where ``bins ** columns`` (after the
        view and reduction) is at most the probe size, or for layers of at most
        ``binning_max_units`` columns when that is given; "gaussian" elsewhere.
    every : int or iterable of int, default 1. Measure every ``every`` epochs, or at exactly
        these epochs (``log_spaced_epochs(last, count)`` gives the classic log-spaced grid).
    path : str or Path, optional. The JSON-lines file; None keeps records in memory only.
    run : str, default "run". The run's name in the file.
    bins : int, default 30
    bin_ranges : dict, optional. ``{layer: (low, high)}`` overriding the activation's range;
        None for an end taken over the run, e.g. ``(0, None)``.
    view : {"flatten", "channel", "token"} or dict {layer: view}, default "flatten"; see
        ``gib_kernels.tracking.activations``.
    reduction : None, ("pca", k), ("random", k), or dict {layer: one of those}, default None.
        Applied to layers wider than k; a PCA basis is fitted over the whole run, so those
        layers are estimated in ``finish()``.
    store : str or Path, optional. A folder for the recorded activations (``.npy`` files) when
        they do not fit in memory; default: memory.
    probe_batch_size : int, optional. Rows per forward pass over the probe set (default: all).
    binning_max_units : int, optional. The widest layer "auto" bins; default: the widest whose
        grid has no more cells than the probe set has samples.
    seed : int, default 0. Seed of the random projections and of the PCA fit.
    config : dict, optional. Extra configuration (seed, learning rate, ...) stored in the
        header and compared on resume.
    base : 2 or "e", default 2 (bits).
    progress : bool, default False. A progress bar over the estimates done in ``finish()``;
        with False, the library calls the tracker makes show none either.

    Use ``step(epoch, **metrics)`` after each epoch (epoch 0: before training), then
    ``finish()``; or the tracker as a context manager, which removes the hooks on exit.
    """

    def __init__(self, model: nn.Module, layers: Iterable[str], inputs, labels, *,
                 input_features=None, estimator="auto", every=1, path=None,
                 run: str = "run", bins: int = 30, bin_ranges: dict | None = None,
                 view="flatten", reduction=None, store=None, probe_batch_size: int | None = None,
                 binning_max_units: int | None = None, seed: int = 0,
                 estimator_options: dict | None = None, config: dict | None = None,
                 base=2, progress: bool = False):
        self.model = model
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("'layers' is empty: name at least one submodule to track")
        modules = dict(model.named_modules())
        unknown = [name for name in self.layers if name not in modules]
        if unknown:
            available = ", ".join(repr(n) for n in modules if n)
            raise ValueError(f"no submodule named {', '.join(map(repr, unknown))} in the model; "
                             f"its submodules are {available}")
        self.bins = check_int(bins, "bins", 1)
        self.binning_max_units = None if binning_max_units is None else \
            check_int(binning_max_units, "binning_max_units", 1)
        log_base(base)  # checked now rather than at the first estimate, after training began
        self.base = base
        self.estimator_options = dict(estimator_options or {})
        self.progress = progress
        self.run = run
        self.seed = int(seed)
        self.probe_batch_size = None if probe_batch_size is None else \
            check_int(probe_batch_size, "probe_batch_size", 1)
        self._schedule = _schedule(every)
        self._requested = self._per_layer(estimator, "estimator",
                                          lambda e: check_choice(e, "estimator",
                                                                 ESTIMATORS + ("auto",)))
        self.views = self._per_layer(view, "view", lambda v: check_choice(v, "view", VIEWS))
        self.reductions = {name: None if spec is None else Reduction(*spec, seed=self.seed)
                           for name, spec in self._per_layer(reduction, "reduction",
                                                             parse_reduction).items()}

        inputs = inputs.detach().cpu() if isinstance(inputs, torch.Tensor) else \
            torch.as_tensor(np.asarray(inputs))
        self._inputs = inputs if not inputs.is_floating_point() else inputs.float()
        self._labels = as_labels(labels, "labels")
        features = self._inputs.reshape(len(self._inputs), -1).numpy() \
            if input_features is None else np.asarray(torch.as_tensor(input_features).cpu())
        if self._inputs.ndim < 1 or features.ndim != 2 or \
                not len(self._labels) == len(features) == len(self._inputs):
            raise ValueError(f"'inputs' must be (n, ...), 'input_features' (n, d) and 'labels' "
                             f"(n,); got shapes {tuple(self._inputs.shape)}, {features.shape} "
                             f"and {self._labels.shape}")
        digest = _digest(self._inputs.numpy(), features.astype(np.float32), self._labels)
        kept, self.input_columns = _informative_columns(features)
        self._features = features[:, kept].astype(np.float32)
        # Binning and the KDE bound take a discrete X: the input features as codes.
        self._x = {"discrete": _input_codes(self._features, self.bins),
                   "continuous": self._features.astype(np.float64)}

        overrides = dict(bin_ranges or {})
        self.bin_ranges = {name: tuple(overrides.get(name, activation_bin_range(modules[name])))
                           for name in self.layers}
        self._capturing = False
        self._captured: dict[str, list[torch.Tensor]] = {}
        self._handles = [modules[name].register_forward_hook(self._hook(name))
                         for name in self.layers]
        self._shapes = self._output_shapes()
        self.units = self._layer_widths()
        self.estimators = {name: self._resolve_estimator(name) for name in self.layers}
        if "gaussian" in self.estimators.values():
            self.estimator_options.setdefault("ridge", GAUSSIAN_RIDGE)
        self._check_gaussian_samples()
        binned = [name for name in self.layers if self.estimators[name] == "binning"]
        for name in binned:
            if self.views[name] != "flatten" or self.reductions[name] is not None:
                self.bin_ranges[name] = tuple(overrides.get(name, (None, None)))
        self.config = json.loads(json.dumps({
            "layers": self.layers,
            "model": repr(model),
            "probe": {"n": len(self._labels), "input_shape": list(self._inputs.shape[1:]),
                      "d": self._features.shape[1],
                      "digest": digest},
            "input_columns": self.input_columns,
            "estimator": estimator if isinstance(estimator, str) else "per layer",
            "estimators": self.estimators,
            "estimator_options": self.estimator_options,
            "bins": self.bins if binned else None,
            "bin_ranges": {name: self.bin_ranges[name] for name in binned} or None,
            "views": self.views,
            "reductions": {name: None if r is None else r.describe()
                           for name, r in self.reductions.items()},
            "units": self.units,
            "schedule": self._schedule.describe(),
            "unit": "bits" if base == 2 else f"log base {base}",
            **(config or {}),
        }))

        self.path = None if path is None else Path(path)
        self.records: list[dict] = []
        if self.path is not None:
            self._open_file()
            self._load_bases()
        self._done = {(r["epoch"], r["layer"]) for r in self.records}
        self._activations = ActivationStore(store)
        self._metrics: dict[int, dict] = {}
        self._finished = False
        self._warned_saturated: set[str] = set()

    def _per_layer(self, value, what: str, check) -> dict:
        """{layer: checked value} from one value for all layers or a dict naming some."""
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(self.layers))
            if unknown:
                raise ValueError(f"'{what}' names {', '.join(map(repr, unknown))}, which "
                                 "are not tracked layers")
            default = "flatten" if what == "view" else None if what == "reduction" else \
                "auto"
            return {name: check(value.get(name, default)) for name in self.layers}
        checked = check(value)
        return {name: checked for name in self.layers}

    def _output_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each tracked output's shape, from one forward pass over the first probe row."""
        captured = self._forward(self._inputs[:1])
        return {name: tuple(captured[name].shape) for name in self.layers}

    def _layer_widths(self) -> dict[str, int]:
        """Each layer's width before any view or reduction."""
        return {name: int(np.prod(shape[1:], dtype=np.int64))
                for name, shape in self._shapes.items()}

    def _columns(self, name: str) -> int:
        """The number of columns the estimates of a layer see: after its view and reduction."""
        columns = as_units(torch.zeros(self._shapes[name]), self.views[name]).shape[1]
        reduction = self.reductions[name]
        return reduction.components if reduction is not None and reduction.applies_to(columns) \
            else columns

    def _check_gaussian_samples(self) -> None:
        """Refuses, before any training, a Gaussian layer whose covariances the probe set
        cannot estimate: (X, T) needs more samples than columns, the class model of T more
        samples than classes plus columns (its pooled covariance), and 3 samples per class."""
        if not self.estimator_options.get("bias_correction", True):
            return
        n, d = self._features.shape
        sizes = np.unique(self._labels, return_counts=True)[1]
        for name in self.layers:
            if self.estimators[name] != "gaussian":
                continue
            columns = self._columns(name)
            if n <= columns + d or n - len(sizes) <= columns or sizes.min() < 3:
                raise ValueError(
                    f"layer {name!r}: the Gaussian estimates need more probe samples than "
                    f"columns, for (X, T) together ({n} samples, {d} + {columns} columns) and "
                    f"for T's class model ({n} samples in {len(sizes)} classes, the smallest "
                    f"of {int(sizes.min())}: at least 3 each and n - classes > {columns}); "
                    "reduce the layer (e.g. reduction=('pca', k)), the input features, or use a "
                    "larger probe set")

    def _resolve_estimator(self, name: str) -> str:
        requested = self._requested[name]
        if requested != "auto":
            return requested
        columns = self._columns(name)
        if self.binning_max_units is not None:
            return "binning" if columns <= self.binning_max_units else "gaussian"
        return "binning" if self.bins ** columns <= len(self._labels) else "gaussian"

    # --- the file -----------------------------------------------------------------------------

    def _open_file(self) -> None:
        if self.path.exists():
            _drop_torn_line(self.path)
            existing = read_runs(self.path).get(self.run)
            if existing is not None:
                differences = _config_differences(self.config, existing.config)
                if differences:
                    self.close()
                    raise RunMismatchError(
                        f"{self.path} already holds run {self.run!r} with another configuration "
                        f"({'; '.join(differences)}); use another file or run name, or delete "
                        "the file to start over")
                self.records = existing.records
                return
        self._append({"kind": "header", "format": FORMAT, "run": self.run,
                      "config": self.config})

    def _append(self, entry: dict) -> None:
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _bases_path(self) -> Path:
        """Where the PCA bases fitted over the run are kept beside the file, for a resume."""
        return self.path.with_name(f"{self.path.stem}.{self.run}.pca.npz")

    def _load_bases(self) -> None:
        bases = self._bases_path()
        if not bases.exists():
            return
        with np.load(bases) as saved:
            for name, reduction in self.reductions.items():
                if reduction is not None and f"{name}/basis" in saved.files:
                    reduction.mean = saved[f"{name}/mean"]
                    reduction.basis = saved[f"{name}/basis"]
                    reduction.explained = float(saved[f"{name}/explained"])

    def _save_bases(self) -> None:
        fitted = {name: r for name, r in self.reductions.items()
                  if r is not None and r.method == "pca" and r.basis is not None}
        if self.path is None or not fitted:
            return
        arrays = {}
        for name, r in fitted.items():
            arrays.update({f"{name}/mean": r.mean, f"{name}/basis": r.basis,
                           f"{name}/explained": np.float64(r.explained)})
        np.savez(self._bases_path(), **arrays)

    # --- recording ----------------------------------------------------------------------------

    def _hook(self, name: str):
        def hook(module, args, output):
            if self._capturing:
                if isinstance(output, (tuple, list)):  # e.g. attention: (values, weights)
                    output = output[0]
                self._captured.setdefault(name, []).append(output.detach())
        return hook

    def _forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Runs the model in eval mode (no dropout, batch-norm in its running statistics: the
        deterministic network) over ``x`` in batches; returns each tracked output, whole."""
        parameter = next(self.model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        batch = self.probe_batch_size or max(len(x), 1)
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

    def is_scheduled(self, epoch: int) -> bool:
        return self._schedule.contains(epoch)

    def is_complete(self) -> bool:
        """True when a finite schedule has every (epoch, layer) in the file already."""
        epochs = self._schedule.epochs
        return epochs is not None and all((e, name) in self._done for e in epochs
                                          for name in self.layers)

    def step(self, epoch: int, **metrics) -> bool:
        """Records the probe activations if ``epoch`` is on the schedule, and estimates the
        layers whose range and reduction are known. ``metrics`` (loss, accuracy, ...) go into
        its records. Returns whether the epoch was recorded."""
        if self._finished:
            raise RuntimeError("the tracker is finished: step() after finish() records nothing; "
                               "create a new InformationTracker (the same path and run resume "
                               "the file)")
        if not self.is_scheduled(epoch) or self._activations.has_epoch(epoch):
            return False
        for name, output in self._forward(self._inputs).items():
            if not bool(torch.isfinite(output).all()):
                bad = int((~torch.isfinite(output)).sum())
                raise FloatingPointError(
                    f"layer {name!r} at epoch {epoch}: {bad} of {output.numel()} activations on "
                    "the probe set are NaN or infinite (the training diverged?); nothing was "
                    "recorded for this epoch")
            t = as_units(output, self.views[name]).numpy()
            reduction = self.reductions[name]
            if reduction is not None and reduction.method == "random":
                t = reduction.apply(t)  # on the fly: only the projection is kept
            self._activations.put(epoch, name, t)
        # JSON has no NaN: a metric that is not a number yet (the loss at epoch 0) is null.
        self._metrics[epoch] = {k: float(v) if math.isfinite(v) else None
                                for k, v in metrics.items()}
        for name in self.layers:
            if not self._waits_for_run(name):
                self._estimate(epoch, name)
        return True

    def _waits_for_run(self, name: str) -> bool:
        """Whether the layer's binning range or PCA basis is fixed only by the whole run."""
        if any(r["layer"] == name for r in self.records):
            return False  # resumed: the range and basis of the earlier part hold
        reduction = self.reductions[name]
        open_range = self.estimators[name] == "binning" and None in self.bin_ranges[name]
        return open_range or (reduction is not None and reduction.needs_run)

    def finish(self) -> list[dict]:
        """Fixes the ranges and bases taken over the run, estimates what is left, removes the
        hooks and returns all records of the run (sorted by layer, then epoch)."""
        self.close()
        self._finished = True
        for name, reduction in self.reductions.items():
            if reduction is not None and reduction.needs_run:
                recorded = self._activations.of_layer(name)
                if recorded and reduction.applies_to(recorded[0].shape[1]):
                    reduction.fit(recorded)
        self._save_bases()
        todo = [(e, name) for name in self.layers for e in self._activations.epochs()
                if (e, name) not in self._done]
        for epoch, name in tqdm(todo, desc=f"{self.run}: information", leave=False,
                                disable=not self.progress or not todo):
            self._estimate(epoch, name)
        _sort_records(self.records, self.layers)
        return self.records

    def _reduced(self, epoch: int, name: str) -> np.ndarray:
        t = np.array(self._activations.get(epoch, name))  # a copy: memory-mapped files are read-only
        reduction = self.reductions[name]
        return t if reduction is None or reduction.method == "random" else reduction.apply(t)

    def run_range(self, name: str) -> tuple[float, float]:
        """The binning range of a layer with its open ends fixed: from the run's records in
        the file when it has some (a resumed run keeps its range), else over the activations
        of every recorded epoch."""
        stored = next((r["bin_range"] for r in self.records if r["layer"] == name), None)
        if stored is not None:
            return tuple(stored)
        low, high = self.bin_ranges[name]
        if low is None or high is None:
            seen = [self._reduced(e, name) for e in self._activations.epochs()]
            if not seen:
                raise RuntimeError(f"the range of {name!r} is taken over the run, and no epoch "
                                   "was recorded yet")
            low = float(min(a.min() for a in seen)) if low is None else low
            high = float(max(a.max() for a in seen)) if high is None else high
        # A layer constant over the run (e.g. dead ReLUs) falls in one bin whatever the width.
        return (float(low), float(high) if high > low else float(low) + 1.0)

    def _estimate(self, epoch: int, name: str) -> None:
        if (epoch, name) in self._done:
            return
        t = self._reduced(epoch, name)
        estimator = self.estimators[name]
        options = {"estimator": estimator, "base": self.base, **self.estimator_options}
        bin_range = None
        if estimator == "binning":  # the library bins t, and says when that saturates
            bin_range = self.run_range(name)
            options.update(bins=self.bins, bin_range=bin_range)
        x = self._x["discrete" if estimator in ("binning", "kde") else "continuous"]
        estimates, saturated = {}, []
        calls = {  # T first in I_XT: the KDE bound treats its first argument as the layer.
            "I_XT": lambda: F.mutual_information(t, x, **options),
            "I_TY": lambda: F.mutual_information(t, self._labels, **options),
            "profile_XT": lambda: F.synergy_profile(x, t, **options),
            "profile_TY": lambda: F.synergy_profile(t, self._labels, **options),
        }
        try:
            with config_context(progress=self.progress):
                for quantity, call in calls.items():
                    estimates[quantity], flagged = _with_saturation_flag(call)
                    if flagged:
                        saturated.append(quantity.replace("profile_", "S_"))
        except ValueError as error:
            raise ValueError(f"layer {name!r} at epoch {epoch} ({estimator}): "
                             f"{_tracker_hint(str(error))}") from error
        if saturated and name not in self._warned_saturated:
            self._warned_saturated.add(name)
            warnings.warn(f"layer {name!r}: {estimator} saturates ({', '.join(saturated)} at "
                          f"epoch {epoch}, and the records say where else in 'saturated'): "
                          "the estimate counts the probe samples; use estimator='auto' or "
                          "'gaussian' for this layer", SaturationWarning, stacklevel=3)
        reduction = self.reductions[name]
        profile_xt, profile_ty = estimates["profile_XT"], estimates["profile_TY"]
        record = {
            "kind": "record", "run": self.run, "epoch": int(epoch), "layer": name,
            "units": self.units[name], "features": int(t.shape[1]), "estimator": estimator,
            "bin_range": None if bin_range is None else list(bin_range),
            "explained_variance": None if reduction is None else reduction.explained,
            "I_XT": estimates["I_XT"],
            "I_TY": estimates["I_TY"],
            # S is the plain mean of the profile, as gib_kernels.synergy computes it.
            "S_XT": float(np.mean(profile_xt)),
            "S_TY": float(np.mean(profile_ty)),
            "profile_XT": [float(v) for v in profile_xt],
            "profile_TY": [float(v) for v in profile_ty],
            "saturated": saturated,
            "metrics": self._metrics.get(epoch, {}),
        }
        if not all(math.isfinite(record[q]) for q in QUANTITIES):
            raise FloatingPointError(f"non-finite estimate for layer {name!r} at epoch {epoch}: "
                                     f"{ {q: record[q] for q in QUANTITIES} }")
        self._append(record)
        self.records.append(record)
        self._done.add((epoch, name))

    def save_activations(self, path) -> Path:
        """Writes the recorded probe activations to a compressed ``.npz``: ``inputs``,
        ``input_features``, ``labels``, ``epochs`` and one (n, columns) array per layer and
        epoch after its view and reduction, named ``"<layer>/epoch<e>"`` (e.g. ``gib-kernels
        estimate FILE --z hidden5/epoch100 --w labels``)."""
        path = Path(path)
        epochs = self._activations.epochs()
        arrays = {"inputs": self._inputs.numpy(), "input_features": self._features,
                  "labels": self._labels, "epochs": np.array(epochs, dtype=np.int64)}
        for epoch in epochs:
            for name in self.layers:
                arrays[f"{name}/epoch{epoch}"] = self._reduced(epoch, name)
        np.savez_compressed(path, **arrays)
        return path

    def close(self) -> None:
        """Removes the forward hooks (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _with_saturation_flag(call):
    """(call(), whether it raised a SaturationWarning); other warnings pass through."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SaturationWarning)
        value = call()
    flagged = False
    for w in caught:
        if issubclass(w.category, SaturationWarning):
            flagged = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return value, flagged


@dataclass(frozen=True)
class _Schedule:
    every: int | None
    epochs: tuple[int, ...] | None

    def contains(self, epoch: int) -> bool:
        return epoch % self.every == 0 if self.every is not None else epoch in self.epochs

    def describe(self):
        return {"every": self.every} if self.every is not None else {"epochs": list(self.epochs)}


def _schedule(every) -> _Schedule:
    if isinstance(every, (int, np.integer)) and not isinstance(every, bool):
        return _Schedule(check_int(int(every), "every", 1), None)
    epochs = tuple(sorted({check_int(e, "every", 0) for e in every}))
    if not epochs:
        raise ValueError("The 'every' parameter must be an int >= 1 or a non-empty list of "
                         "epochs. Got an empty list instead.")
    return _Schedule(None, epochs)
