"""Memory is bounded by design: large n never builds an n x n matrix. One harness: the estimate
runs in a fresh interpreter, which reports the growth of its resident size above the loaded
data (the kernels' own allocations) and its whole peak."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import json, time
import numpy as np
import gib_kernels as gk

def resident_bytes(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field))

n, d, dtype, estimate = {n}, {d}, {dtype!r}, {estimate!r}
rng = np.random.default_rng(0)
z = rng.standard_normal((n, d)).astype(dtype)
labels = (z[:, 0] + rng.standard_normal(n) > 0).astype(np.int64)
gk.entropy(z[:100])  # everything imported and loaded before the baseline
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak resident size starts again from here
before = resident_bytes("VmRSS:")
start = time.perf_counter()
value = gk.entropy(z) if estimate == "kl" else gk.mutual_information(z, labels)
seconds = time.perf_counter() - start
print(json.dumps(dict(value=value, seconds=seconds, before=before, peak=resident_bytes("VmHWM:"))))
"""


def run_measured(n, d, estimate, dtype="float64") -> dict:
    """value, seconds, and the resident bytes before the estimate and at its peak."""
    script = SCRIPT.format(n=n, d=d, dtype=dtype, estimate=estimate)
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True, timeout=3000).stdout
    return json.loads(out.strip().splitlines()[-1])


CASES = [  # (n, d, dtype, estimate, the estimate's range)
    (50000, 16, "float32", "kl", (16 * 1.0, 16 * 2.5)),  # ~ 16 * 2.05 bits for N(0, I)
    (200000, 8, "float64", "kl", (8 * 2.0471 * 0.95, 8 * 2.0471 * 1.05)),  # d H(N(0, 1)) bits
    (50000, 64, "float64", "mixed", (0.0, 1.0)),  # binary labels: at most one bit
]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("n,d,dtype,estimate,bounds", CASES,
                         ids=[f"{c[3]}-n{c[0]}-d{c[1]}-{c[2]}" for c in CASES])
def test_memory_is_linear_in_n(n, d, dtype, estimate, bounds):
    result = run_measured(n, d, estimate, dtype)
    k = 3
    linear = n * (d + k) * 8  # one float64 copy of the data and k values per sample
    grown = result["peak"] - result["before"]
    print(f"\n{estimate} n={n} d={d}: {result['seconds']:.1f} s, peak RSS "
          f"{result['peak'] / 2**20:.0f} MiB, {grown / 2**20:.1f} MiB above the loaded data "
          f"(n (d + k) float64: {linear / 2**20:.1f} MiB)")
    # an n x n float64 matrix alone would take 20 GB (n = 50000) or 320 GB (n = 200000)
    assert result["peak"] < 1 << 30, result
    assert grown < 3 * linear + (32 << 20), result
    assert bounds[0] < result["value"] < bounds[1]
