"""Backend registry and "auto" selection.

A backend supplies the kernel primitives of ``csrc/include/gib/*.h`` (k-th neighbour distances,
radius counts, the fused leave-one-out passes, KDE sums, pattern counts) on its own arrays;
the estimator formulas in ``_knn``, ``_binning`` and ``_kde`` are written once over them.
``"reference"`` is not a backend of primitives: it routes whole estimates to
``gib_kernels.reference``.

Selection: an explicit name is honoured when it can run, otherwise it warns and falls back;
``"auto"`` (or the ``GIB_KERNELS_BACKEND`` environment variable) picks CUDA, then Triton, for
CUDA data, and the C++ CPU kernels for everything else. Inside a
``gib_kernels.distributed.sharded`` block the chosen backend is split over the ranks
(``_sharding``).
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch

from . import _ext, _sharding
from ._validation import BACKENDS, check_choice


class CpuBackend:
    """The C++/OpenMP kernels over float64/int64 numpy buffers (CUDA inputs are copied over)."""

    name = "cpu"

    @staticmethod
    def floats(x) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        return np.ascontiguousarray(x, dtype=np.float64)

    @staticmethod
    def ints(x) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        return np.ascontiguousarray(x, dtype=np.int64)

    def __getattr__(self, op):
        return getattr(_ext.cpu, op)


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
        from . import _triton

        if not _triton.is_usable():
            return "Triton is " + _ext._triton_status()
        if not (data_on_cuda or os.environ.get("TRITON_INTERPRET") == "1"):
            return "the data is not on a CUDA device"
        return None
    raise ValueError(name)


def _gpu_backend(name: str):
    if name == "triton":
        from ._triton import backend

        return backend.TritonBackend()
    from . import _cuda_backend

    return _cuda_backend.CudaBackend()


def select(name: str, data_on_cuda: bool):
    """The backend object for `name` ("reference" is returned as the string itself)."""
    name = check_choice(name, "backend", BACKENDS)
    if name == "auto":
        name = os.environ.get("GIB_KERNELS_BACKEND", "auto")
        if name not in BACKENDS:
            raise ValueError(f"GIB_KERNELS_BACKEND must be one of {', '.join(BACKENDS)}. "
                             f"Got {name!r} instead.")
    if name == "auto":
        candidates = ["cuda", "triton", "cpu"] if data_on_cuda else ["cpu"]
        for candidate in candidates:
            if unavailable_reason(candidate, data_on_cuda) is None:
                return _make(candidate)
        warnings.warn("the C++ extension did not load; falling back to the slow reference "
                      f"({_ext._LOAD_ERRORS.get('_cpu')})", RuntimeWarning, stacklevel=3)
        return _make("reference")
    reason = unavailable_reason(name, data_on_cuda)
    if reason is None:
        return _make(name)
    fallback = "cpu" if unavailable_reason("cpu", data_on_cuda) is None else "reference"
    warnings.warn(f"backend={name!r} cannot run here ({reason}); using {fallback!r} instead",
                  RuntimeWarning, stacklevel=3)
    return _make(fallback)


def _make(name: str):
    """The backend `name`, split over the ranks of the active sharded block if there is one."""
    if name == "reference":
        backend = "reference"
    elif name == "cpu":
        backend = CpuBackend()
    else:
        backend = _gpu_backend(name)
    return _sharding.wrap(backend)
