"""GPU benchmark: every GPU path on every backend, one CSV.

    python -m benchmarks.gpu_bench [--sizes 10000x256 100000x256 100000x4096] [--out FILE]

Tasks: KSG-mixed I(Z;Y), its all-m leave-one-out loop, KL entropy, the KDE bound, the binning
leave-one-out loop, the Gaussian-copula synergy profile and the predictive (linear decoder)
profile up to (10000, 256), the predictive MLP profile batched and as a loop of one decoder at
a time on (2000, 16) of the first size (30 epochs), on cuda, triton and the C++ CPU
path (the CPU only where its estimated time, from the smallest size, is within --cpu-limit
seconds). Writes backend, task, n, m, seconds, pairs per second (the n^2 anchor-candidate pairs
of one pass, for the pair-based tasks) and the value.
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

MLP = {"estimator": "predictive", "decoder": "mlp", "epochs": 30, "random_state": 0}
# name: (function, options, whether it takes the labels, whether its cost is n^2 pairs)
TASKS = {
    "mixed MI": (gk.mutual_information, {"estimator": "mixed"}, True, True),
    "mixed leave-one-out": (gk.leave_one_out_mutual_information, {"estimator": "mixed"}, True,
                            True),
    "KL entropy": (gk.entropy, {"estimator": "knn"}, False, True),
    "KDE entropy": (gk.entropy, {"estimator": "kde", "sigma2": 0.1}, False, True),
    "binning leave-one-out": (gk.leave_one_out_mutual_information, {"estimator": "binning"},
                              True, False),
    "gaussian profile": (gk.synergy_profile, {"estimator": "gaussian"}, True, False),
    "predictive profile": (gk.synergy_profile, {"estimator": "predictive", "random_state": 0},
                           True, False),
    # every mask's MLP trained at once, and one after the other (30 epochs, to fit the budget)
    "predictive MLP profile": (gk.synergy_profile, dict(MLP, mode="batched"), True, False),
    "predictive MLP loop": (gk.synergy_profile, dict(MLP, mode="loop"), True, False),
}
# Tasks measured once, on the first (rows, columns) of the data of the first size.
SLICES = {"predictive MLP profile": (2000, 16), "predictive MLP loop": (2000, 16)}
# Tasks measured only up to n x m cells (the predictive profile trains 2m + 1 decoders per fold).
MAX_CELLS = {"predictive profile": 10000 * 256}
# Tasks that run on torch on the data's device whatever the backend: measured once per device.
TORCH_TASKS = ("predictive profile", "predictive MLP profile", "predictive MLP loop")


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
    rows, cpu_seconds = [], {}  # per task: seconds per n^2 on the CPU, from the smallest size
    for size in args.sizes:
        n, m = (int(v) for v in size.split("x"))
        rng = np.random.default_rng(0)
        z = layer_like(rng, n, m, "tanh").astype(np.float32)
        y = labels_for(rng, z, 10)
        for backend in args.backends:
            reason = backends.unavailable_reason(backend, device == "cuda")
            if reason is not None:
                print(f"skip {backend}: {reason}")
                continue
            data = (torch.from_numpy(z).to(device), torch.from_numpy(y).to(device)) \
                if backend != "cpu" else (z, y)
            for task, (fn, options, labelled, pairs) in TASKS.items():
                if n * m > MAX_CELLS.get(task, n * m) or (
                        task in TORCH_TASKS and backend not in ("cuda", "cpu")) or (
                        task in SLICES and size != args.sizes[0]):
                    continue
                per_pair = cpu_seconds.get(task)
                if backend == "cpu" and per_pair is not None and n * n * per_pair > args.cpu_limit:
                    print(f"skip cpu {task} {size}: estimated {n * n * per_pair:.0f} s")
                    continue
                args_of_task = data if labelled else data[:1]
                rows_, columns = SLICES.get(task, (n, m))
                args_of_task = (args_of_task[0][:rows_, :columns], *args_of_task[1:])
                if task in SLICES:
                    args_of_task = (args_of_task[0], args_of_task[1][:rows_])
                seconds, value = _time(fn, *args_of_task, backend=backend, **options)
                if backend == "cpu" and per_pair is None:
                    cpu_seconds[task] = seconds / (n * n)
                value = float(np.mean(np.asarray(value.cpu() if torch.is_tensor(value) else value)))
                rows.append(dict(gpu=gpu_name, backend=backend, task=task,
                                 n=min(n, rows_), m=min(m, columns),
                                 seconds=round(seconds, 4),
                                 pairs_per_second=f"{n * n / seconds:.4g}" if pairs else "",
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
