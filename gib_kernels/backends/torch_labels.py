"""The rows of a labelled array in label order, for the GPU backends (cuda and triton): sorted
stably by label, each label's rows are one contiguous range, so that kernels walk a range of
candidates instead of testing labels. The CPU kernels group by label themselves (C++)."""
from __future__ import annotations

import torch


class LabelGroups:
    """``order`` (the sort, or None without labels), ``sorted_labels``, and per sorted row the
    range ``[begin, end)`` of the rows that share its label (one group of every row without
    labels); ``takes_part``: the row's label is not unique (None without labels)."""

    def __init__(self, labels, n: int, device):
        self.has_labels = labels is not None
        if labels is None:
            self.order = None
            self.takes_part = None
            self.sorted_labels = torch.zeros(n, dtype=torch.int64, device=device)
            self.begin = torch.zeros(n, dtype=torch.int64, device=device)
            self.end = torch.full((n,), n, dtype=torch.int64, device=device)
            return
        labels = torch.as_tensor(labels, dtype=torch.int64, device=device).reshape(-1)
        if labels.shape[0] != n:
            raise ValueError(f"labels must have one entry per row of the data ({n}); "
                             f"got {labels.shape[0]}")
        self.order = torch.argsort(labels, stable=True)
        self.sorted_labels = labels[self.order]
        _, group, size = torch.unique_consecutive(self.sorted_labels, return_inverse=True,
                                                  return_counts=True)
        last = torch.cumsum(size, 0)
        self.begin = (last - size)[group]
        self.end = last[group]
        self.takes_part = self.end - self.begin > 1

    def sort(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows of x in label order (contiguous)."""
        return rows if self.order is None else rows[self.order].contiguous()

    def unsort(self, values: torch.Tensor) -> torch.Tensor:
        """Per-row values (last axis) from label order back to the caller's order."""
        if self.order is None:
            return values
        out = torch.empty_like(values)
        out[..., self.order] = values
        return out
