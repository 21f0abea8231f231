"""Loads the compiled extensions, which are optional at build and import time.

``cpu`` and ``cuda`` are the modules ``gib_kernels._cpu`` and ``gib_kernels._cuda``, or None
where they did not build or load; ``load_error`` says why. Only the backends call into them.
"""
from __future__ import annotations

import importlib
import os
import warnings

_LOAD_ERRORS: dict[str, str] = {}
# the vector units of the k-NN scan and the fused leave-one-out passes, narrowest first
SIMD_PATHS = ("generic", "avx2", "avx512")


def _load(name: str):
    try:
        return importlib.import_module(f"gib_kernels.{name}")
    except ImportError as exc:
        _LOAD_ERRORS[name] = str(exc)
        return None


cpu = _load("_cpu")
cuda = _load("_cuda")


def simd_paths() -> list[str]:
    """The vector units this CPU can run the k-NN kernels on (the brute-force scan and the
    fused leave-one-out passes), narrowest first (["generic"] only off x86-64, and [] without
    the extension)."""
    return list(cpu.simd_paths_available()) if cpu is not None else []


def simd_path() -> str | None:
    """The vector unit the k-NN kernels run on now: the widest of ``simd_paths()``, or the one
    GIB_KERNELS_SIMD or ``set_simd_path`` chose. Every path gives the same bits."""
    return cpu.simd_path() if cpu is not None else None


def set_simd_path(name: str) -> None:
    """Runs the k-NN kernels on ``name`` (generic, avx2 or avx512) from now on: for tests and
    benchmarks. ValueError for another name or one this CPU lacks."""
    if name not in SIMD_PATHS:
        raise ValueError(f"unknown vector unit {name!r}: expected one of {', '.join(SIMD_PATHS)}")
    if cpu is None or not cpu.set_simd_path(name):
        raise ValueError(f"this CPU cannot run the {name} path (it has: "
                         f"{', '.join(simd_paths()) or 'no compiled extension'})")


def _simd_from_environment() -> None:
    """GIB_KERNELS_SIMD=generic|avx2|avx512 forces a path; a path the CPU lacks keeps the
    detected one, with a warning (an unknown name is an error: a typo)."""
    name = os.environ.get("GIB_KERNELS_SIMD", "").strip()
    if not name or cpu is None:
        return
    if name not in SIMD_PATHS:
        raise ValueError(f"GIB_KERNELS_SIMD={name!r}: expected one of {', '.join(SIMD_PATHS)}")
    if not cpu.set_simd_path(name):
        warnings.warn(f"GIB_KERNELS_SIMD={name}: this CPU has only {', '.join(simd_paths())}; "
                      f"the k-NN kernels run on {cpu.simd_path()}", RuntimeWarning,
                      stacklevel=2)


_simd_from_environment()


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
