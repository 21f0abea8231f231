"""Which backend runs an estimate: the names, the eligibility rule, and "auto".

An explicit name is honoured when it can run, otherwise it warns and falls back (to the CPU
kernels, or to the reference when they did not load); ``"auto"`` (or the ``GIB_KERNELS_BACKEND``
environment variable) picks CUDA, then Triton, for CUDA data, and the C++ CPU kernels for
everything else. Inside a ``gib_kernels.distributed.sharded`` block the chosen backend is split
over the ranks (``backends.sharded``).
"""
from __future__ import annotations

import os
import warnings

import numpy
import torch

from .. import _ext
from .._validation import check_choice
from . import sharded, triton
from .protocol import Backend

BACKENDS = ("auto", "reference", "cpu", "cuda", "triton")


def unavailable_reason(name: str, data_on_cuda: bool) -> str | None:
    """Why backend `name` cannot run on this input, or None when it can (the eligibility rule)."""
    if name == "reference":
        return None
    if name == "cpu":
        return None if _ext.cpu is not None else "the C++ extension gib_kernels._cpu did not load"
    if name == "cuda":
        if _ext.cuda is None:
            return "the CUDA extension is " + _ext.cuda_status()
        if not torch.cuda.is_available():
            return "no CUDA device is visible"
        return None if data_on_cuda else "the data is not on a CUDA device"
    if name == "triton":
        if not triton.is_usable():
            return "Triton is " + triton.status()
        if not (data_on_cuda or triton.interpreting()):
            return "the data is not on a CUDA device"
        return None
    raise ValueError(name)


def _construct(name: str) -> Backend:
    if name == "reference":
        from .reference import ReferenceBackend

        return ReferenceBackend()
    if name == "cpu":
        from .cpu import CpuBackend

        return CpuBackend()
    if name == "cuda":
        from .cuda import CudaBackend

        return CudaBackend()
    from .triton.backend import TritonBackend

    return TritonBackend()


def _checked_name(name: str) -> str:
    check_choice(name, "backend", BACKENDS)
    if name == "auto":
        name = os.environ.get("GIB_KERNELS_BACKEND", "auto")
        if name not in BACKENDS:
            raise ValueError(f"GIB_KERNELS_BACKEND must be one of {', '.join(BACKENDS)}. "
                             f"Got {name!r} instead.")
    return name


def select(name: str, data_on_cuda: bool) -> Backend:
    """The backend for `name`, split over the ranks of the active sharded block if there is one."""
    name = _checked_name(name)
    if name == "auto":
        candidates = ["cuda", "triton", "cpu"] if data_on_cuda else ["cpu"]
        chosen = next((c for c in candidates if unavailable_reason(c, data_on_cuda) is None), None)
        if chosen is None:
            warnings.warn("the C++ extension did not load; falling back to the slow reference "
                          f"({_ext.load_error('_cpu')})", RuntimeWarning, stacklevel=3)
            chosen = "reference"
    else:
        reason = unavailable_reason(name, data_on_cuda)
        chosen = name
        if reason is not None:
            chosen = "cpu" if unavailable_reason("cpu", data_on_cuda) is None else "reference"
            warnings.warn(f"backend={name!r} cannot run here ({reason}); using {chosen!r} "
                          "instead", RuntimeWarning, stacklevel=3)
    return sharded.wrap(_construct(chosen))


def build_info() -> dict:
    """What compiled and loaded: extensions, OpenMP threads, the vector unit of the k-NN
    kernels and the ones this CPU has, CUDA and Triton status."""
    from .._version import __version__

    cpu = _ext.cpu
    return {
        "version": __version__,
        "cpu": "loaded" if cpu is not None else f"failed to load: {_ext.load_error('_cpu')}",
        "openmp": bool(cpu is not None and cpu.openmp),
        "simd": _ext.simd_path(),  # the vector unit of the k-NN kernels (GIB_KERNELS_SIMD)
        "simd_available": _ext.simd_paths(),
        "threads": _ext.max_threads(),
        "cuda": _ext.cuda_status(),
        "triton": triton.status(),
        "torch": torch.__version__,
        "torch_cuda": torch.cuda.is_available(),
        "numpy": numpy.__version__,
        "default_backend": os.environ.get("GIB_KERNELS_BACKEND", "auto"),
    }
