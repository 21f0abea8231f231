"""GPU benchmark: KSG-mixed I(Z;Y) and the all-m leave-one-out loop on every backend.

    python -m benchmarks.gpu_bench [--sizes 10000x256 100000x256 100000x4096] [--out FILE]

Writes a CSV (backend, task, n, m, seconds, pairs per second, value) for triton, cuda and the
C++ CPU path (the CPU only at sizes it finishes within --cpu-limit seconds, estimated from the
smallest size). Pairs per second counts the n^2 anchor-candidate pairs of one pass.
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch

import gib_kernels as gk
from gib_kernels import backends
from tests.inputs import labels_for, layer_like

TASKS = {
    "mutual_information": gk.mutual_information,
    "leave_one_out_mutual_information": gk.leave_one_out_mutual_information,
}


def _time(fn, *args, **kwargs):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["10000x256", "100000x256", "100000x4096"])
    parser.add_argument("--backends", nargs="+", default=["cuda", "triton", "cpu"])
    parser.add_argument("--cpu-limit", type=float, default=600.0)
    parser.add_argument("--out", default="benchmarks/results/gpu_bench.csv")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gpu_name = torch.cuda.get_device_name() if device == "cuda" else "none"
    rows, cpu_rate = [], None
    for size in args.sizes:
        n, m = (int(v) for v in size.split("x"))
        rng = np.random.default_rng(0)
        z = layer_like(rng, n, m, "tanh").astype(np.float32)
        y = labels_for(rng, z, 10)
        for backend in args.backends:
            if backends.unavailable_reason(backend, device == "cuda") is not None:
                print(f"skip {backend}: {backends.unavailable_reason(backend, device == 'cuda')}")
                continue
            data = (torch.from_numpy(z).to(device), torch.from_numpy(y).to(device)) \
                if backend != "cpu" else (z, y)
            for task, fn in TASKS.items():
                if backend == "cpu" and cpu_rate is not None and n * n / cpu_rate > args.cpu_limit:
                    print(f"skip cpu {task} {size}: estimated {n * n / cpu_rate:.0f} s")
                    continue
                seconds, value = _time(fn, *data, estimator="mixed", backend=backend)
                rate = n * n / seconds
                if backend == "cpu":
                    cpu_rate = rate if cpu_rate is None else min(cpu_rate, rate)
                value = float(np.mean(np.asarray(value.cpu() if torch.is_tensor(value) else value)))
                rows.append(dict(gpu=gpu_name, backend=backend, task=task, n=n, m=m,
                                 seconds=round(seconds, 4), pairs_per_second=f"{rate:.4g}",
                                 value=round(value, 6)))
                print(rows[-1], flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["gpu"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
