"""When the tracker measures: every ``k`` epochs, or at a given list of epochs such as the
classic log-spaced grid (``log_spaced_epochs``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_int

__all__ = ["Schedule", "log_spaced_epochs"]


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


@dataclass(frozen=True)
class Schedule:
    """Every ``every`` epochs, or exactly at ``epochs`` (one of the two is None)."""

    every: int | None
    epochs: tuple[int, ...] | None

    @classmethod
    def of(cls, every) -> "Schedule":
        """From the tracker's ``every``: an int >= 1, or an iterable of epochs >= 0."""
        if isinstance(every, (int, np.integer)) and not isinstance(every, bool):
            return cls(check_int(int(every), "every", 1), None)
        epochs = tuple(sorted({check_int(e, "every", 0) for e in every}))
        if not epochs:
            raise ValueError("The 'every' parameter must be an int >= 1 or a non-empty list of "
                             "epochs. Got an empty list instead.")
        return cls(None, epochs)

    def contains(self, epoch: int) -> bool:
        return epoch % self.every == 0 if self.every is not None else epoch in self.epochs

    def describe(self) -> dict:
        """The schedule as the file's header stores it."""
        return {"every": self.every} if self.every is not None else {"epochs": list(self.epochs)}
