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

The tracker coordinates the pieces: ``capture.py`` (the probe set and the forward hooks),
``layers.py`` (each layer's estimator, view, reduction and range), ``activations.py`` (views,
reductions, the store of recorded matrices), ``schedule.py`` (when to measure),
``estimates.py`` (the quantities through ``gib_kernels.functional``) and ``records.py`` (the
file, its resume and the PCA bases kept beside it).
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..exceptions import SaturationWarning
from .._validation import check_choice, check_int, log_base
from .activations import VIEWS, ActivationStore, Reduction, as_units, parse_reduction
from .capture import Capture, named_submodules, probe_set
from .estimates import (GAUSSIAN_RIDGE, QUANTITIES, check_options, layer_estimates, own_options,
                        tracker_estimators, tracker_hint)
from .layers import (activation_bin_range, check_gaussian_samples, columns, per_layer,
                     resolve_estimator)
from .records import RecordFile, RunMismatchError, layer_record, sort_records
from .schedule import Schedule

__all__ = ["GAUSSIAN_RIDGE", "InformationTracker", "activation_bin_range"]

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
        modules = named_submodules(model, self.layers)
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
        self._schedule = Schedule.of(every)
        requested = per_layer(estimator, "estimator",
                              lambda e: check_choice(e, "estimator",
                                                     tracker_estimators() + ("auto",)),
                              self.layers)
        self.views = per_layer(view, "view", lambda v: check_choice(v, "view", VIEWS),
                               self.layers)
        self.reductions = {name: None if spec is None else Reduction(*spec, seed=self.seed)
                           for name, spec in per_layer(reduction, "reduction", parse_reduction,
                                                       self.layers).items()}
        self.probe = probe_set(inputs, labels, input_features, bins=self.bins)
        self.input_columns = self.probe.input_columns

        overrides = dict(bin_ranges or {})
        self.bin_ranges = {name: tuple(overrides.get(name, activation_bin_range(modules[name])))
                           for name in self.layers}
        self._capture = Capture(model, self.layers, self.probe_batch_size)
        self._shapes = self._capture.shapes(self.probe.inputs)
        # Each layer's width before any view or reduction.
        self.units = {name: int(np.prod(shape[1:], dtype=np.int64))
                      for name, shape in self._shapes.items()}
        self.estimators = {name: resolve_estimator(
            requested[name], lambda name=name: self._columns(name), bins=self.bins,
            n=len(self.probe.labels), binning_max_units=self.binning_max_units)
            for name in self.layers}
        check_options(self.estimators.values(), self.estimator_options)
        if {"gaussian", "predictive"} & set(self.estimators.values()):
            # a layer is a function of X: I(X;T) is finite only with a noise on T
            self.estimator_options.setdefault("ridge", GAUSSIAN_RIDGE)
        if self.estimator_options.get("bias_correction", True):
            check_gaussian_samples({name: self._columns(name) for name in self.layers
                                    if self.estimators[name] == "gaussian"},
                                   self.probe.features, self.probe.labels)
        binned = [name for name in self.layers if self.estimators[name] == "binning"]
        for name in binned:
            if self.views[name] != "flatten" or self.reductions[name] is not None:
                self.bin_ranges[name] = tuple(overrides.get(name, (None, None)))
        self.config = json.loads(json.dumps({
            "layers": self.layers,
            "model": repr(model),
            "probe": {"n": len(self.probe.labels), "input_shape": list(self.probe.inputs.shape[1:]),
                      "d": self.probe.features.shape[1],
                      "digest": self.probe.digest},
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
        self._file = RecordFile(self.path, run)
        try:
            self.records: list[dict] = self._file.open(self.config)
        except RunMismatchError:
            self.close()
            raise
        self._file.load_bases(self.reductions)
        self._done = {(r["epoch"], r["layer"]) for r in self.records}
        self._activations = ActivationStore(store)
        self._metrics: dict[int, dict] = {}
        self._finished = False
        self._warned_saturated: set[str] = set()

    def _columns(self, name: str) -> int:
        return columns(self._shapes[name], self.views[name], self.reductions[name])

    # --- recording ----------------------------------------------------------------------------

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
        for name, output in self._capture.run(self.probe.inputs).items():
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
        self._file.save_bases(self.reductions)
        todo = [(e, name) for name in self.layers for e in self._activations.epochs()
                if (e, name) not in self._done]
        for epoch, name in tqdm(todo, desc=f"{self.run}: information", leave=False,
                                disable=not self.progress or not todo):
            self._estimate(epoch, name)
        sort_records(self.records, self.layers)
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

    # --- estimating ---------------------------------------------------------------------------

    def _estimate(self, epoch: int, name: str) -> None:
        if (epoch, name) in self._done:
            return
        t = self._reduced(epoch, name)
        estimator = self.estimators[name]
        options = {"estimator": estimator, "base": self.base,
                   **own_options(estimator, self.estimator_options)}
        bin_range = None
        if estimator == "binning":  # the library bins t, and says when that saturates
            bin_range = self.run_range(name)
            options.update(bins=self.bins, bin_range=bin_range)
        # Binning and the KDE bound take a discrete X: the input features as codes.
        x = self.probe.x_discrete if estimator in ("binning", "kde") else self.probe.x_continuous
        try:
            estimates, saturated = layer_estimates(t, x, self.probe.labels, options,
                                                   progress=self.progress)
        except ValueError as error:
            raise ValueError(f"layer {name!r} at epoch {epoch} ({estimator}): "
                             f"{tracker_hint(str(error))}") from error
        if saturated and name not in self._warned_saturated:
            self._warned_saturated.add(name)
            warnings.warn(f"layer {name!r}: {estimator} saturates ({', '.join(saturated)} at "
                          f"epoch {epoch}, and the records say where else in 'saturated'): "
                          "the estimate counts the probe samples; use estimator='auto' or "
                          "'gaussian' for this layer", SaturationWarning, stacklevel=3)
        reduction = self.reductions[name]
        record = layer_record(self.run, epoch, name, estimates, units=self.units[name],
                              features=int(t.shape[1]), estimator=estimator,
                              bin_range=bin_range,
                              explained=None if reduction is None else reduction.explained,
                              saturated=saturated, metrics=self._metrics.get(epoch, {}))
        if not all(math.isfinite(record[q]) for q in QUANTITIES):
            raise FloatingPointError(f"non-finite estimate for layer {name!r} at epoch {epoch}: "
                                     f"{ {q: record[q] for q in QUANTITIES} }")
        self._file.append(record)
        self.records.append(record)
        self._done.add((epoch, name))

    def save_activations(self, path) -> Path:
        """Writes the recorded probe activations to a compressed ``.npz``: ``inputs``,
        ``input_features``, ``labels``, ``epochs`` and one (n, columns) array per layer and
        epoch after its view and reduction, named ``"<layer>/epoch<e>"`` (e.g. ``gib-kernels
        estimate FILE --z hidden5/epoch100 --w labels``)."""
        path = Path(path)
        epochs = self._activations.epochs()
        arrays = {"inputs": self.probe.inputs.numpy(), "input_features": self.probe.features,
                  "labels": self.probe.labels, "epochs": np.array(epochs, dtype=np.int64)}
        for epoch in epochs:
            for name in self.layers:
                arrays[f"{name}/epoch{epoch}"] = self._reduced(epoch, name)
        np.savez_compressed(path, **arrays)
        return path

    def close(self) -> None:
        """Removes the forward hooks (idempotent)."""
        self._capture.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
