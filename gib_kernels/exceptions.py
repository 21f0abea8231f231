"""Warnings of gib_kernels, to filter or to catch (``warnings.simplefilter("error",
SaturationWarning)``), and where they point: at the first frame outside the package, so that
Python's default filter shows each once per line of the caller's code."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

__all__ = ["SaturationWarning", "warn"]

_PACKAGE = str(Path(__file__).resolve().parent)


class SaturationWarning(UserWarning):
    """An estimate that counts the samples rather than measures the data: binning whose binned
    rows are (nearly) all distinct gives H = log n and I = the entropy of the other side by
    construction; the KDE bound whose noise kernels hardly overlap does the same. The value is
    returned as computed; the warning says why it is not information about the data."""


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside this package (1 = the warn call's caller)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def warn(message: str, category: type[Warning] = SaturationWarning) -> None:
    """``warnings.warn`` attributed to the caller's code outside gib_kernels. Keep ``message``
    free of data-dependent numbers: the default filter then shows it once per call site."""
    warnings.warn(message, category, stacklevel=_caller_stacklevel())
