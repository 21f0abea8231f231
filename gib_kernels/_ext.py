"""Loads the compiled extensions, which are optional at build and import time.

``cpu`` and ``cuda`` are the modules ``gib_kernels._cpu`` and ``gib_kernels._cuda``, or None
where they did not build or load; ``load_error`` says why. Only the backends call into them.
"""
from __future__ import annotations

import importlib

_LOAD_ERRORS: dict[str, str] = {}


def _load(name: str):
    try:
        return importlib.import_module(f"gib_kernels.{name}")
    except ImportError as exc:
        _LOAD_ERRORS[name] = str(exc)
        return None


cpu = _load("_cpu")
cuda = _load("_cuda")


def load_error(name: str) -> str | None:
    """Why extension `name` ("_cpu" or "_cuda") did not load; None if it did."""
    return _LOAD_ERRORS.get(name)


def max_threads() -> int:
    """The OpenMP threads of the CPU kernels (0 without them)."""
    return cpu.max_threads() if cpu is not None else 0


def cuda_status() -> str:
    """Why the CUDA backend can or cannot run, in one line."""
    if cuda is None:
        why = _LOAD_ERRORS.get("_cuda", "")
        if "No module named" in why:
            return "not built (install with nvcc on PATH, or GIB_KERNELS_CUDA=1 to force)"
        return f"failed to load: {why}"
    count = cuda.device_count()
    return f"available ({count} device{'s' if count != 1 else ''})" if count > 0 \
        else "built, but no CUDA device is visible"
