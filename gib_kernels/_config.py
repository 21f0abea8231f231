"""Settings that hold for a block of code rather than one call (scikit-learn's
``config_context``): today, whether long library loops show a progress bar."""
from __future__ import annotations

import contextlib
import contextvars

from tqdm.auto import tqdm

__all__ = ["config_context", "get_config", "progress_bar"]

_PROGRESS = contextvars.ContextVar("gib_kernels_progress", default=True)
PROGRESS_DELAY = 1.0  # seconds of work before a bar appears: quick calls stay silent


def get_config() -> dict:
    """The settings in force: ``{"progress": bool}``."""
    return {"progress": _PROGRESS.get()}


@contextlib.contextmanager
def config_context(*, progress: bool | None = None):
    """Settings for the calls made inside the ``with`` block (and only there).

    Parameters
    ----------
    progress : bool, optional. Whether loops of the library that run longer than about a
        second (per-feature estimates without a fused form) show a progress bar on stderr.
        Default: True.
    """
    token = None if progress is None else _PROGRESS.set(bool(progress))
    try:
        yield
    finally:
        if token is not None:
            _PROGRESS.reset(token)


def progress_bar(iterable, **options):
    """``tqdm`` over ``iterable`` that appears only after PROGRESS_DELAY seconds, and never
    where ``config_context(progress=False)`` is in force."""
    return tqdm(iterable, delay=PROGRESS_DELAY, leave=False,
                disable=not _PROGRESS.get(), **options)
