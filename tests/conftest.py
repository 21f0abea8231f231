"""Shared test fixtures: devices, the `backend` fixture, the seeded generator, and the comparison
helper."""
import os
import zlib
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Callable, Optional

import numpy as np
import pytest
import torch

if not torch.cuda.is_available():
    # Triton kernels run on the CPU through the interpreter when there is no GPU.
    os.environ.setdefault("TRITON_INTERPRET", "1")

from gib_kernels import _ext, backends  # noqa: E402
from gib_kernels.backends import sharded  # noqa: E402
from gib_kernels.backends.cpu import CpuBackend  # noqa: E402
from gib_kernels.backends.cuda import CudaBackend  # noqa: E402

HAS_CUDA = torch.cuda.is_available()
CPU_BACKENDS = ["cpu"]  # test_no_silent_errors.py's backend names (the public API's)


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not HAS_CUDA:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def emulated_cuda():
    """The project's CUDA kernels built for the CPU (tests/cuda_emulation), as a CudaBackend
    whose data stays on the host: the backend's Python code and the kernels' code both run."""
    from cuda_emulation import build

    from gib_kernels.backends.cuda import CudaBackend

    return CudaBackend(kernels=build.load(build.build()), device=torch.device("cpu"))


@pytest.fixture
def rng(request):
    """A generator seeded from the test's id, so each parametrisation draws fresh inputs."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


def assert_close(actual, expected, rtol, atol=0.0, name="value"):
    """Compare arrays and print the name, the worst relative error and the first mismatches."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    same_inf = (np.isinf(actual) & np.isinf(expected) & (np.sign(actual) == np.sign(expected)))
    with np.errstate(invalid="ignore"):
        diff = np.where(same_inf, 0.0, np.abs(actual - expected))
    tol = atol + rtol * np.where(same_inf, 0.0, np.abs(expected))
    bad = ~(diff <= tol)
    if bad.any():
        idx = np.argwhere(bad)[:5]
        rel = diff / np.maximum(np.abs(expected), 1e-300)
        rows = ", ".join(f"{tuple(i)}: {actual[tuple(i)]!r} vs {expected[tuple(i)]!r}" for i in idx)
        raise AssertionError(f"{name}: {bad.sum()} of {bad.size} differ, worst relative error "
                             f"{np.nanmax(np.where(bad, rel, 0)):.3g}; first: {rows}")


# --- the fast backends, one axis of the tests ----------------------------------------------------


@dataclass(frozen=True)
class Precision:
    """(rtol, atol) of a backend's values against the float64 reference, by the arithmetic of
    its distances."""
    distances: tuple  # per-point values: k-th distances, log mean kernels
    sums: tuple  # sums over anchors (atol per summed term)
    estimates: tuple  # estimates of the public API


# The same float64 terms, in another order or with fused multiply-adds (nvcc).
FLOAT64 = Precision(distances=(1e-10, 1e-12), sums=(1e-10, 1e-12), estimates=(1e-9, 1e-12))
# Distances in fp32 (Triton) of float32-representable inputs: about 1e-7 relative.
FLOAT32 = Precision(distances=(1e-6, 1e-7), sums=(1e-5, 1e-7), estimates=(1e-4, 1e-6))


@dataclass(frozen=True)
class BackendCase:
    """One parametrisation of the `backend` fixture."""
    id: str
    make: Callable  # the backend (the cuda-emulated one comes from its fixture)
    api_name: str  # the public API's backend= for it
    precision: Precision
    marks: tuple = ()
    max_n: Optional[int] = None  # larger inputs are skipped here (the Triton interpreter)
    on_cuda: bool = False  # the public API gets CUDA tensors (the backend runs only on those)


def _triton():
    from gib_kernels.backends.triton.backend import TritonBackend

    return TritonBackend()


BACKEND_CASES = [
    BackendCase("cpu", CpuBackend, "cpu", FLOAT64),
    # On a GPU Triton runs there; without one in the interpreter, where every operation costs a
    # Python call: inputs up to 70 rows still make several programs and candidate tiles.
    BackendCase("triton", _triton, "triton", FLOAT32, on_cuda=HAS_CUDA,
                max_n=None if HAS_CUDA else 70,
                marks=(pytest.mark.triton, *((pytest.mark.gpu,) if HAS_CUDA else ()),
                       pytest.mark.skipif(find_spec("triton") is None, reason="no Triton"))),
    BackendCase("cuda", CudaBackend, "cuda", FLOAT64, on_cuda=True, marks=(
        pytest.mark.gpu, pytest.mark.skipif(_ext.cuda is None, reason="no CUDA extension"))),
    # The CUDA kernels built for the CPU (tests/cuda_emulation) under the CUDA backend's code.
    BackendCase("cuda-emulated", None, "cuda", FLOAT64, marks=(pytest.mark.cuda_emulation,)),
]


class UnderTest:
    """The value of the `backend` fixture: the backend ``be``, its case, and helpers that put
    inputs where it runs and compare its values with the reference's at its precision."""

    def __init__(self, case: BackendCase, be):
        self.case, self.be, self.id = case, be, case.id

    def fits(self, n: int) -> None:
        if self.case.max_n is not None and n > self.case.max_n:
            pytest.skip(f"n = {n} is too slow for {self.id} here (up to {self.case.max_n})")

    def floats(self, x):
        return None if x is None else self.be.floats(x)

    def ints(self, x):
        return None if x is None else self.be.ints(x)

    def tensor(self, x: np.ndarray) -> torch.Tensor:
        """x as a torch tensor on the device this backend runs on."""
        t = torch.from_numpy(np.asarray(x))
        return t.cuda() if self.case.on_cuda else t

    def api(self, x):
        """x as the public API must get it to run on this backend."""
        return self.tensor(x) if self.case.on_cuda else x

    def check(self, got, want, name, kind="sums", integers=False, exact=False, terms=1):
        """got against the reference's want: equal where ``exact`` and the backend computes in
        float64 or the inputs are integers (exact distances), else within the tolerance of
        ``kind`` ("distances", "sums" of ``terms`` terms, "estimates"): float64's for integers."""
        got = got.cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
        name = f"{name} on {self.id}"
        precision = FLOAT64 if integers else self.case.precision
        if exact and (integers or self.case.precision is FLOAT64):
            np.testing.assert_array_equal(got, want, err_msg=name)
        else:
            rtol, atol = getattr(precision, kind)
            assert_close(got, want, rtol, atol=atol * terms, name=name)


def backend_params(*ids):
    """The `backend` fixture's parametrisations (those of ``ids``, or all), for a test that
    takes fewer: ``@pytest.mark.parametrize("backend", backend_params(...), indirect=True)``."""
    return [pytest.param(c, id=c.id, marks=c.marks) for c in BACKEND_CASES
            if not ids or c.id in ids]


@pytest.fixture(params=backend_params())
def backend(request, monkeypatch) -> UnderTest:
    """Each fast backend in turn (cpu, triton, cuda, cuda-emulated), with its tolerances."""
    case = request.param
    if case.make is not None:
        return UnderTest(case, case.make())
    be = request.getfixturevalue("emulated_cuda")
    select = backends.select  # backend="cuda" of the public API gets the emulation
    monkeypatch.setattr(backends, "select", lambda name, on_cuda: sharded.wrap(be)
                        if name == "cuda" else select(name, on_cuda))
    return UnderTest(case, be)
