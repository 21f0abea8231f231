"""Shared test fixtures: devices, backends, input builders and the comparison helper."""
import os
import zlib

import numpy as np
import pytest
import torch

if not torch.cuda.is_available():
    # Triton kernels run on the CPU through the interpreter when there is no GPU.
    os.environ.setdefault("TRITON_INTERPRET", "1")

HAS_CUDA = torch.cuda.is_available()

CPU_BACKENDS = ["cpu"]
GPU_BACKENDS = ["cuda", "triton"]


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
