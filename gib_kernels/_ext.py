"""Loads the compiled backends and reports what is available (``build_info()``)."""
from __future__ import annotations

import importlib
import os

_LOAD_ERRORS: dict[str, str] = {}


def _load(name: str):
    try:
        return importlib.import_module(f"gib_kernels.{name}")
    except ImportError as exc:  # optional at build and import time
        _LOAD_ERRORS[name] = str(exc)
        return None


cpu = _load("_cpu")
cuda = _load("_cuda")


def _triton_status() -> str:
    try:
        import triton  # noqa: F401
    except ImportError:
        return "not installed (pip install gib_kernels[triton])"
    from . import _triton

    return "available" if _triton.is_usable() else "installed, but no CUDA device " \
        "(set TRITON_INTERPRET=1 to run its kernels on the CPU)"


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


def build_info() -> dict:
    """What compiled and loaded: extensions, OpenMP threads, CUDA and Triton status."""
    import numpy
    import torch

    from . import __version__

    info = {
        "version": __version__,
        "cpu": "loaded" if cpu is not None else f"failed to load: {_LOAD_ERRORS.get('_cpu')}",
        "openmp": bool(cpu is not None and cpu.openmp),
        "threads": cpu.max_threads() if cpu is not None else 0,
        "cuda": cuda_status(),
        "triton": _triton_status(),
        "torch": torch.__version__,
        "torch_cuda": torch.cuda.is_available(),
        "numpy": numpy.__version__,
        "default_backend": os.environ.get("GIB_KERNELS_BACKEND", "auto"),
    }
    return info
