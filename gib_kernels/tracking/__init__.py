"""Information planes over training: a tracker of named layers, its JSON-lines file, plots.

>>> from gib_kernels.tracking import InformationTracker, log_spaced_epochs
>>> tracker = InformationTracker(model, ["hidden1", "hidden2"], X, y,
...                              every=log_spaced_epochs(1000, 30), path="run.jsonl")
>>> for epoch in range(1001):           # epoch 0: the initial network
...     if epoch:
...         train_one_epoch(model)
...     tracker.step(epoch)
>>> records = tracker.finish()

Plots (``gib_kernels.tracking.plots``) need matplotlib. The pieces the tracker coordinates
(``capture``, ``layers``, ``activations``, ``schedule``, ``estimates``, ``records``) and the
attacks of ``robustness`` are modules of their own; the demos built on them are in
``gib_kernels.demos``.
"""
from .layers import activation_bin_range
from .records import Run, RunMismatchError, TrackingFileError, read_runs
from .schedule import log_spaced_epochs
from .tracker import InformationTracker

__all__ = [
    "InformationTracker",
    "Run",
    "RunMismatchError",
    "TrackingFileError",
    "activation_bin_range",
    "log_spaced_epochs",
    "read_runs",
]
