"""Triton kernels (optional): on a CUDA device, or on the CPU under ``TRITON_INTERPRET=1``.

This module is the one place that tells whether Triton can run; the kernel modules beside it
import ``triton`` and are loaded only when the backend is asked for.
"""
from __future__ import annotations

import os


def interpreting() -> bool:
    """Whether Triton runs its kernels in the CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET") == "1"


def is_installed() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def is_usable() -> bool:
    """Installed, with a CUDA device or the interpreter to run on."""
    if not is_installed():
        return False
    import torch

    return torch.cuda.is_available() or interpreting()


def status() -> str:
    """Whether the backend can run, in one line (``build_info()``)."""
    if not is_installed():
        return "not installed (pip install gib_kernels[triton])"
    if is_usable():
        return "available"
    return "installed, but no CUDA device (set TRITON_INTERPRET=1 to run its kernels on the CPU)"
