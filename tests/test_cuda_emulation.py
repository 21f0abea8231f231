"""The CUDA emulation catches what it claims to (tests/cuda_emulation/cuda_runtime_api.h): each
test builds the kernels with one deliberate bug and checks that the emulated backend shows it
(the unbroken build runs every primitive against the reference in test_primitives.py). A broken
build runs in its own interpreter: an extension module loads once per process."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gib_kernels.backends.protocol import MAX
from gib_kernels.backends.reference import ReferenceBackend

pytestmark = pytest.mark.cuda_emulation
TESTS = Path(__file__).resolve().parent
REFERENCE = ReferenceBackend()

SCRIPT = """
import json, sys
import numpy as np, torch
sys.path.insert(0, {tests!r})
from cuda_emulation import build
from gib_kernels.backends.cuda import CudaBackend
be = CudaBackend(kernels=build.load(build.build({broken!r})), device=torch.device("cpu"))
rng = np.random.default_rng(0)
z, labels = rng.standard_normal((130, 3)), rng.integers(0, 3, 130)  # two blocks of 128 anchors
radius = rng.uniform(0.2, 1.5, 130)
try:
    out = {{"value": np.asarray(be.{call}).tolist()}}
except RuntimeError as exc:
    out = {{"error": str(exc)}}
print(json.dumps(out))
"""


def _data():
    rng = np.random.default_rng(0)
    z, labels = rng.standard_normal((130, 3)), rng.integers(0, 3, 130)
    return z, labels, rng.uniform(0.2, 1.5, 130)


def _run(broken: dict, call: str) -> dict:
    script = SCRIPT.format(tests=str(TESTS), broken=broken, call=call)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_unbroken_kernels_agree(emulated_cuda):
    z, labels, radius = _data()
    be = emulated_cuda
    np.testing.assert_array_equal(be.count_within(be.floats(z), radius, MAX),
                                  REFERENCE.count_within(z, radius, MAX))


def test_a_wrong_index_gives_wrong_counts():
    out = _run({"knn_cuda.cu": ("reduced_bound(radius[a], M)", "reduced_bound(radius[a ^ 1], M)")},
               "count_within(be.floats(z), radius, 0)")
    z, _, radius = _data()
    assert not np.array_equal(out["value"], REFERENCE.count_within(z, radius, MAX))


def test_a_barrier_that_not_every_thread_reaches_is_an_error():
    out = _run({"kde_cuda.cu": (
        "  if (!active) return;\n  const double log_size",
        "  if (threadIdx.x == 3) __syncthreads();\n  if (!active) return;\n  const double log_size")},
        "kde_log_mean_kernel(be.floats(z), be.ints(labels), 0.1)")
    assert "barrier divergence: thread 3 of block 0" in out["error"]


def test_shared_memory_that_no_thread_wrote_reads_as_nan():
    out = _run({"cuda_utils.cuh": (
        "for (int e = threadIdx.x; e < Rows * kTileD; e += kBlock) {",
        "for (int e = threadIdx.x; e < Rows * kTileD - kTileD; e += kBlock) {")},
        "kde_log_mean_kernel(be.floats(z), be.ints(labels), 0.1)")
    z, labels, _ = _data()
    got = np.asarray(out["value"], dtype=float)
    assert np.isnan(got).any() or not np.allclose(got, REFERENCE.kde_log_mean_kernel(z, labels, 0.1))
