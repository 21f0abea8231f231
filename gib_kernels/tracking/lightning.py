"""The information tracker as a PyTorch Lightning callback (``pip install gib_kernels[lightning]``).

>>> from gib_kernels.tracking.lightning import InformationCallback
>>> callback = InformationCallback(["encoder.relu1", "encoder.relu2"], X_probe, y_probe,
...                                every=log_spaced_epochs(100, 20), path="run.jsonl")
>>> lightning.Trainer(max_epochs=100, callbacks=[callback]).fit(module, data)
>>> callback.records                    # or read_runs("run.jsonl")

Epoch 0 is the network before training (recorded when fitting starts); epoch e >= 1 is recorded
at the end of the e-th training epoch with the trainer's logged metrics. Only the global rank 0
process tracks. The keyword arguments are those of ``InformationTracker``.
"""
from __future__ import annotations

import math

try:
    from lightning.pytorch import Callback
except ImportError:  # the standalone package of older releases
    try:
        from pytorch_lightning import Callback
    except ImportError:
        raise ImportError("gib_kernels.tracking.lightning needs PyTorch Lightning: "
                          "pip install lightning (or gib_kernels[lightning])") from None

from .tracker import InformationTracker

__all__ = ["InformationCallback"]


class InformationCallback(Callback):
    """Tracks ``layers`` of the LightningModule on the probe set (``inputs``, ``labels``)."""

    def __init__(self, layers, inputs, labels, **tracker_options):
        super().__init__()
        self.layers, self.inputs, self.labels = list(layers), inputs, labels
        self.tracker_options = tracker_options
        self.tracker: InformationTracker | None = None
        self.records: list[dict] = []

    def on_fit_start(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        self.tracker = InformationTracker(pl_module, self.layers, self.inputs, self.labels,
                                          **self.tracker_options)
        self.tracker.step(0)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.tracker is not None:
            self.tracker.step(trainer.current_epoch + 1, **_metrics(trainer))

    def on_fit_end(self, trainer, pl_module) -> None:
        if self.tracker is not None:
            self.records = self.tracker.finish()

    def on_exception(self, trainer, pl_module, exception) -> None:
        if self.tracker is not None:
            self.tracker.close()


def _metrics(trainer) -> dict:
    """The trainer's logged scalars as floats (NaN for what is not a number)."""
    out = {}
    for name, value in trainer.callback_metrics.items():
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            out[name] = math.nan
    return out
