"""Scaling of sharded estimation (gib_kernels.distributed) with the number of ranks.

    python -m benchmarks.distributed_scaling [--ranks 1 2] [--size 20000x64] [--threads 1]

For each rank count the script launches ``torchrun --standalone --nproc_per_node=R`` on itself
(gloo, ``OMP_NUM_THREADS=--threads`` per rank) and times each task on the same data: the median
of three calls after one warm call, as seen by rank 0 (the slowest rank sets it: every call ends
with an all-reduce). On a machine with GPUs, ``--nccl`` gives every rank its own GPU and CUDA
copies of the data. Prints a markdown table with the speed-up over one rank.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

TASKS = {
    "mixed MI": ("mutual_information", dict(estimator="mixed")),
    "mixed leave-one-out": ("leave_one_out_mutual_information", dict(estimator="mixed")),
    "KL entropy": ("entropy", dict(estimator="knn")),
    "binning entropy": ("entropy", dict(estimator="binning")),
    "binning leave-one-out": ("leave_one_out_mutual_information", dict(estimator="binning")),
}


def _data(n: int, m: int):
    from tests.inputs import labels_for, layer_like

    rng = np.random.default_rng(0)
    z = layer_like(rng, n, m)
    return z, labels_for(rng, z, n_classes=10)


def worker(n: int, m: int, out: str, nccl: bool) -> None:
    import torch
    import torch.distributed as dist

    from gib_kernels import distributed as gkd

    if nccl:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if nccl else "gloo")
    z, labels = _data(n, m)
    if nccl:
        z = torch.from_numpy(z).cuda()
    times = {}
    for task, (function, options) in TASKS.items():
        estimate = getattr(gkd, function)
        runs = []
        for repeat in range(4):
            dist.barrier()
            start = time.perf_counter()
            estimate(z, labels, **options) if function != "entropy" else estimate(z, **options)
            if nccl:
                torch.cuda.synchronize()
            runs.append(time.perf_counter() - start)
        times[task] = statistics.median(runs[1:])
    if dist.get_rank() == 0:
        Path(out).write_text(json.dumps(times))
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--size", default="20000x64", help="n x m of the layer")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads per rank")
    parser.add_argument("--nccl", action="store_true", help="one GPU per rank, NCCL")
    parser.add_argument("--worker", nargs=3, metavar=("N", "M", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        n, m, out = args.worker
        worker(int(n), int(m), out, args.nccl)
        return
    n, m = (int(v) for v in args.size.split("x"))
    results = {}
    for ranks in args.ranks:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "times.json"
            env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                       f"--nproc_per_node={ranks}", "-m", "benchmarks.distributed_scaling",
                       "--worker", str(n), str(m), str(out)] + (["--nccl"] if args.nccl else [])
            subprocess.run(command, cwd=REPO, env=env, check=True)
            results[ranks] = json.loads(out.read_text())
    header = " | ".join(f"{r} rank{'s' if r > 1 else ''}" for r in args.ranks)
    print(f"\n{n} x {m}, {args.threads} thread(s) per rank, "
          f"{'NCCL, one GPU per rank' if args.nccl else 'gloo'}\n")
    print(f"| task | {header} | speed-up |")
    print("|---|" + "---|" * len(args.ranks) + "---|")
    for task in TASKS:
        times = [results[r][task] for r in args.ranks]
        cells = " | ".join(f"{t:.3g} s" for t in times)
        print(f"| {task} | {cells} | {times[0] / times[-1]:.2f}x |")


if __name__ == "__main__":
    main()
