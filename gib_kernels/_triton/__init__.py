"""Triton kernels (optional). Usable on a CUDA device, or on the CPU under TRITON_INTERPRET=1."""
from __future__ import annotations

import os


def is_usable() -> bool:
    try:
        import torch
        import triton  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"
