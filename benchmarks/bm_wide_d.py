"""Wide-d k-NN and KDE primitives on the CPU against the torch code a user would write.

    pytest benchmarks/bm_wide_d.py --benchmark-only          # small sizes
    python -m benchmarks.bm_wide_d [--quick] [--before CSV]   # the table: results/cpu_wide_d.md
    python -m benchmarks.bm_wide_d --simd [--rounds 3]        # vector units: results/cpu_simd.md

Rows: the KL k-th neighbour distance (Euclidean: `torch.cdist` in blocks of 1024 rows + `topk`;
max-norm: `torch.cdist(p=inf)` + `topk`), the KDE log mean kernel (`torch.cdist` + `logsumexp`),
and the fused leave-one-feature-out primitives (`knn_loo_euclidean`, `knn_loo_maxnorm`,
`kde_loo`) against a loop over j of the same torch code on the other columns, timed on its
first columns and scaled to m where m is large ("extrapolated" in the table). Each row: the
median gib_kernels and peer times of the rounds (run back to back in one process), the ratio
peer / gib, which path ran, the largest relative difference to the peer, and the peak memory
above the resident size before the call (VmHWM, Linux). `--before CSV` adds the times of
another build (the same script with `--gib-only`, run with that build first on PYTHONPATH).
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from gib_kernels import _ext
from gib_kernels.backends.cpu import CpuBackend
from benchmarks.machine import clock_hz, cpu_name
from tests.inputs import continuous

K = 3
BLOCK = 1024  # rows per torch.cdist call: what keeps a user's loop off an n x n matrix
EUCLIDEAN, MAX = 1, 0
RESULTS = Path(__file__).parent / "results"


# ----------------------------------------------------------------------------- data
def _points(n, d):
    return continuous(np.random.default_rng(0), n, d)


def _layer(n, d):
    return np.tanh(continuous(np.random.default_rng(1), n, d))


# ----------------------------------------------------------------------------- the peers
def torch_kth(z, k=K, p=2.0):
    t = torch.from_numpy(z)
    out = [torch.cdist(t[i:i + BLOCK], t, p=p).topk(k + 1, largest=False).values[:, k]
           for i in range(0, t.shape[0], BLOCK)]
    return torch.cat(out).numpy()


def torch_kde(t, sigma2):
    x = torch.from_numpy(t)
    out = [torch.logsumexp(-torch.cdist(x[i:i + BLOCK], x) ** 2 / (2 * sigma2), dim=1)
           for i in range(0, x.shape[0], BLOCK)]
    return torch.cat(out).numpy() - math.log(t.shape[0])


def _without(z, j):
    return np.ascontiguousarray(np.delete(z, j, axis=1))


def torch_loo_sum_log_kth(z, columns, p):
    return np.array([np.log(torch_kth(_without(z, j), p=p)).sum() for j in columns])


def torch_kde_loo(t, sigma2, columns):
    return np.array([torch_kde(_without(t, j), sigma2).sum() for j in columns])


# ----------------------------------------------------------------------------- gib_kernels
def _backend():
    return CpuBackend()


def euclidean_path(n, d):
    eligible = getattr(_ext.cpu, "euclidean_gram_eligible", None)
    return "gram" if eligible is not None and eligible(n, d) else "direct"


def kde_path(t, sigma2):
    eligible = getattr(_ext.cpu, "kde_gram_eligible", None)
    return "gram" if eligible is not None and eligible(t, sigma2) else "direct"


@dataclass
class Row:
    name: str
    n: int
    d: int
    peer_name: str
    data: object          # (n, d) -> array
    gib: object           # (be, x) -> result
    peer: object          # (x, columns) -> result for those columns (None: all of it)
    path: object          # (x) -> str
    loo: bool = False     # gib returns m + 1 columns; the peer times `peer_columns` of them
    peer_columns: int = 2


def _rows(quick):
    big = [(1000, 256)] if quick else None
    kl_sizes = big or [(5000, 512), (10000, 1024)]
    n1, d1 = (1000, 256) if quick else (10000, 1024)
    rows = []
    for n, d in kl_sizes:
        rows.append(Row("KL k-th distance, Euclidean", n, d, "torch.cdist blocks + topk",
                        _points, lambda be, z: be.kth_neighbor_distance(z, None, K, EUCLIDEAN),
                        lambda z, c: torch_kth(z), lambda z: euclidean_path(*z.shape)))
    rows.append(Row("KL k-th distance, max-norm", n1, d1, "torch.cdist(p=inf) + topk", _points,
                    lambda be, z: be.kth_neighbor_distance(z, None, K, MAX),
                    lambda z, c: torch_kth(z, p=math.inf), lambda z: "direct"))
    for sigma2 in (0.1, 100.0):
        rows.append(Row(f"KDE log mean kernel, sigma2 = {sigma2:g}", n1, d1,
                        "torch.cdist + logsumexp", _layer,
                        lambda be, t, s=sigma2: be.kde_log_mean_kernel(t, None, s),
                        lambda t, c, s=sigma2: torch_kde(t, s),
                        lambda t, s=sigma2: kde_path(t, s)))
    rows.append(Row("fused LOO KL, Euclidean (knn_loo_euclidean)", n1, d1,
                    "loop over j: cdist blocks + topk", _points,
                    lambda be, z: be.knn_loo_euclidean(z, K),
                    lambda z, c: torch_loo_sum_log_kth(z, c, 2.0), lambda z: "fused", loo=True))
    rows.append(Row("fused LOO KL, max-norm (knn_loo_maxnorm)", n1, d1,
                    "loop over j: cdist(p=inf) + topk", _points,
                    lambda be, z: be.knn_loo_maxnorm(z, None, None, K)[0],
                    lambda z, c: torch_loo_sum_log_kth(z, c, math.inf), lambda z: "fused",
                    loo=True, peer_columns=1))
    # kde_loo evaluates an exponential per pair and column where sigma2 keeps the pairs: at
    # sigma2 = 100 and 10000 x 1024 that is 10^11 of them (a quarter of an hour on 2 cores),
    # so that row is at n = 2000.
    for n, sigma2 in [(n1, 0.1), (n1 if quick else 2000, 100.0)]:
        rows.append(Row(f"fused LOO KDE, sigma2 = {sigma2:g} (kde_loo)", n, d1,
                        "loop over j: cdist + logsumexp", _layer,
                        lambda be, t, s=sigma2: be.kde_loo(t, None, 1, s)[0],
                        lambda t, c, s=sigma2: torch_kde_loo(t, s, c), lambda t: "fused",
                        loo=True))
    return rows


# ----------------------------------------------------------------------------- measuring
def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _measured(call):
    """(seconds, result, peak MiB above the resident size before the call)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident size
        before = _status_kib("VmRSS")
    except OSError:
        before = None
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    peak = (_status_kib("VmHWM") - before) / 1024 if before is not None else float("nan")
    return seconds, result, peak


def _relative_difference(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def measure(row, rounds, gib_only=False):
    x = row.data(row.n, row.d)
    be = _backend()
    columns = list(range(min(row.peer_columns, row.d))) if row.loo else None
    gib_times, peer_times, peaks = [], [], []
    gib_out = peer_out = None
    for r in range(rounds):
        seconds, gib_out, peak = _measured(lambda: row.gib(be, x))
        gib_times.append(seconds)
        peaks.append(peak)
        if not gib_only and (r == 0 or peer_times[-1] < 60):
            seconds, peer_out, _ = _measured(lambda: row.peer(x, columns))
            peer_times.append(seconds)
    out = dict(task=row.name, n=row.n, d=row.d, path=row.path(x),
               gib_s=statistics.median(gib_times), gib_rounds=len(gib_times),
               gib_peak_mib=max(peaks))
    if not gib_only:
        peer_s = statistics.median(peer_times)
        scale = row.d / len(columns) if row.loo else 1.0
        compared = np.asarray(gib_out)[columns] if row.loo else gib_out
        out.update(peer=row.peer_name, peer_s=peer_s * scale, peer_rounds=len(peer_times),
                   peer_extrapolated_from=len(columns) if row.loo and scale > 1 else "",
                   ratio=peer_s * scale / out["gib_s"],
                   max_rel_diff=_relative_difference(compared, peer_out))
    return out


def _write(results, before, path_md, path_csv, quick):
    keys = list(results[0].keys())
    with open(path_csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys + ["before_s"])
        writer.writeheader()
        for r in results:
            writer.writerow({**r, "before_s": before.get((r["task"], r["n"], r["d"]), "")})
    lines = [
        "# Wide-d k-NN and KDE on the CPU against torch",
        "",
        f"`python -m benchmarks.bm_wide_d{' --quick' if quick else ''} --before "
        "results/cpu_wide_d_before.csv`, 2 cores (shared machine, timings noisy), k = 3, "
        "float64; medians of the rounds, gib_kernels and the peer back to back in one process. "
        "ratio = peer / gib (above 1: gib_kernels is faster). before: the same gib_kernels call "
        "on the build before the Gram-form paths. Leave-one-out peers: a loop over j of the same "
        "torch code on the other columns, timed on the first columns and scaled to m. peak: "
        "resident memory above that before the call. pair-coords/s: n (n - 1) d over the gib "
        "time (pruning skips part of that work; the fused rows do more per pair). before '-': "
        "that row's code did not change.",
        "",
        "| task | n x d | path | before | gib_kernels | pair-coords/s | peer | peer time | ratio | "
        "max rel diff | peak extra |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        b = before.get((r["task"], r["n"], r["d"]))
        extrap = f" (extrapolated from {r['peer_extrapolated_from']} columns)" \
            if r.get("peer_extrapolated_from") else ""
        lines.append(
            f"| {r['task']} | {r['n']} x {r['d']} | {r['path']} | "
            f"{f'{b:.2f} s' if b is not None else '-'} | {r['gib_s']:.2f} s | "
            f"{r['n'] * (r['n'] - 1) * r['d'] / r['gib_s']:.2g} | {r['peer']} | "
            f"{r['peer_s']:.2f} s{extrap} | {r['ratio']:.2f} | {r['max_rel_diff']:.1e} | "
            f"{r['gib_peak_mib']:.0f} MiB |")
    Path(path_md).write_text("\n".join(lines) + "\n")


def _read_rows(path):
    numbers = {"n": int, "d": int, "gib_rounds": int, "peer_rounds": int, "gib_s": float,
               "gib_peak_mib": float, "peer_s": float, "ratio": float, "max_rel_diff": float}
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r.pop("before_s", None)
        for key, cast in numbers.items():
            r[key] = cast(r[key])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="",
                        help="comma-separated: run the rows whose task contains one of these")
    parser.add_argument("--gib-only", action="store_true",
                        help="time gib_kernels only and write the CSV (for --before)")
    parser.add_argument("--before", help="CSV of --gib-only on another build")
    parser.add_argument("--csv", default=None)
    parser.add_argument("--update", action="store_true",
                        help="replace the rows run in the existing CSV and table, keep the rest")
    parser.add_argument("--simd", action="store_true",
                        help="the max-norm scan on every vector unit at SIMD_SHAPES instead "
                             "(results/cpu_simd.md)")
    parser.add_argument("--fp-pipes", type=int, default=2,
                        help="vector FP operations a core issues per cycle, for --simd's bound")
    args = parser.parse_args(argv)
    if args.simd:
        torch.set_num_threads(_ext.max_threads())
        lines, notes = simd_table(args.rounds, args.fp_pipes)
        info = (f"`python -m benchmarks.bm_wide_d --simd --rounds {args.rounds}`: "
                f"{cpu_name()}, {_ext.max_threads()} threads, k = {K}, float64; min of the "
                "rounds (1 at 10000 x 1024), the paths in turn.")
        text = "\n".join(["# The k-NN max-norm scan on every vector unit", "", info, "",
                          *lines, "", *(f"- {note}" for note in notes)]) + "\n"
        (RESULTS / "cpu_simd.md").write_text(text)
        print(text)
        return
    if argv is None and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        # A fixed threshold keeps large buffers in mappings returned on free, so that the peak
        # resident size of each call is its own (glibc otherwise raises it and reuses the heap).
        os.environ["MALLOC_MMAP_THRESHOLD_"] = str(1 << 17)
        os.execv(sys.executable, [sys.executable, "-m", "benchmarks.bm_wide_d", *sys.argv[1:]]
                 if __package__ else [sys.executable, *sys.argv])
    torch.set_num_threads(_ext.max_threads())
    if hasattr(_ext.cpu, "euclidean_gram_eligible"):
        _ext.cpu.euclidean_gram_eligible(1, 1)  # loads scipy's BLAS outside the timings
    results = []
    for row in _rows(args.quick):
        if args.only and not any(part in row.name for part in args.only.split(",")):
            continue
        rounds = 1 if row.loo else args.rounds
        results.append(measure(row, rounds, gib_only=args.gib_only))
        print(results[-1], flush=True)
    suffix = "_quick" if args.quick else ""
    if args.gib_only:
        path = args.csv or RESULTS / f"cpu_wide_d_before{suffix}.csv"
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(results[0].keys()))
            writer.writeheader()
            writer.writerows(results)
        return
    before = {}
    if args.before:
        with open(args.before) as f:
            for r in csv.DictReader(f):
                before[(r["task"], int(r["n"]), int(r["d"]))] = float(r["gib_s"])
    csv_path = Path(args.csv) if args.csv else RESULTS / f"cpu_wide_d{suffix}.csv"
    if args.update and csv_path.exists():
        fresh = {(r["task"], r["n"], r["d"]): r for r in results}
        results = [fresh.pop((r["task"], r["n"], r["d"]), r) for r in _read_rows(csv_path)]
        results += list(fresh.values())
    _write(results, before, args.csv and Path(args.csv).with_suffix(".md")
           or RESULTS / f"cpu_wide_d{suffix}.md", args.csv or RESULTS / f"cpu_wide_d{suffix}.csv",
           args.quick)


# ----------------------------------------------------------------------------- vector units
SIMD_SHAPES = [(20000, 16), (5000, 512), (10000, 256), (10000, 1024)]
LANES = {"generic": 2, "avx2": 4, "avx512": 8}  # float64 lanes of SSE2, AVX2, AVX-512
OPS_PER_PAIR_COORD = 3  # max-norm: subtract, absolute value, running maximum


def simd_table(rounds, fp_pipes, shapes=SIMD_SHAPES, peer_shape=(5000, 512)):
    """The max-norm k-th neighbour distance (the direct scan: ``path="direct"``) on every
    vector unit this CPU has, pair-coordinates per second n (n - 1) d / time, and the
    arithmetic bound of each, cores x clock x fp_pipes x lanes / OPS_PER_PAIR_COORD, for the
    pair-coordinates the scan evaluates (its pruning skips about half of the n (n - 1) d on
    these data, so the nominal rate can pass the bound); and torch's cdist(p=inf) + topk at
    ``peer_shape``. Markdown lines and notes."""
    cpu, paths = _ext.cpu, _ext.simd_paths()
    before = _ext.simd_path()
    cores, clock = _ext.max_threads(), clock_hz()
    lines = ["| n x d | " + " | ".join(f"{p}: time, pair-coords/s" for p in paths)
             + " | best / generic |", "|---" * (len(paths) + 2) + "|"]
    best_rate = {}
    try:
        for n, d in shapes:
            z = _points(n, d)
            seconds = {}
            for _ in range(rounds if n * n * d < 2e10 else 1):
                for path in paths:  # in turn, so that every path sees the same load
                    _ext.set_simd_path(path)
                    cpu.kth_neighbor_distance(z[:256], None, K, MAX, path="direct")
                    t0 = time.perf_counter()
                    cpu.kth_neighbor_distance(z, None, K, MAX, path="direct")
                    seconds.setdefault(path, []).append(time.perf_counter() - t0)
            cells = []
            for path in paths:
                t = min(seconds[path])
                cells.append(f"{t:.2f} s, {n * (n - 1) * d / t:.2e}")
            best = min(min(v) for v in seconds.values())
            best_rate[(n, d)] = n * (n - 1) * d / best
            lines.append(f"| {n} x {d} | " + " | ".join(cells)
                         + f" | {min(seconds['generic']) / best:.2f}x |")
            print(lines[-1], flush=True)
    finally:
        _ext.set_simd_path(before)
    lines.append("| arithmetic bound | " + " | ".join(
        f"{cores * clock * fp_pipes * LANES[p] / OPS_PER_PAIR_COORD:.2e}" for p in paths) + " | |")
    notes = []
    if (10000, 256) in best_rate and (10000, 1024) in best_rate:
        notes.append(f"(10000, 256) / (10000, 1024) best throughput: "
                     f"{best_rate[(10000, 256)] / best_rate[(10000, 1024)]:.2f}")
    z = _points(*peer_shape)
    t0 = time.perf_counter()
    cpu.kth_neighbor_distance(z, None, K, MAX)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    torch_kth(z, p=math.inf)
    peer = time.perf_counter() - t0
    notes.append(f"max-norm KL at {peer_shape}: {ours:.2f} s ({_ext.simd_path()}), "
                 f"torch.cdist(p=inf) + topk in blocks of {BLOCK} rows {peer:.2f} s: "
                 f"{peer / ours:.1f}x")
    notes.append(f"bound: {cores} cores x {clock / 1e9:.2f} GHz x {fp_pipes} vector FP pipes x "
                 f"lanes / {OPS_PER_PAIR_COORD} ops per pair-coordinate")
    return lines, notes


# ----------------------------------------------------------------------------- pytest-benchmark
SMALL = _rows(quick=True)


@pytest.mark.parametrize("provider", ["gib_kernels", "peer"])
@pytest.mark.parametrize("row", SMALL, ids=[r.name for r in SMALL])
def test_wide_d(benchmark, row, provider):
    x = row.data(row.n, row.d)
    benchmark.group = f"wide-d-{row.name}-n{row.n}-d{row.d}"
    benchmark.extra_info.update(n=row.n, d=row.d, path=row.path(x))
    if provider == "gib_kernels":
        be = _backend()
        benchmark.pedantic(row.gib, (be, x), rounds=3 if not row.loo else 1)
    else:
        columns = list(range(row.peer_columns)) if row.loo else None
        benchmark.extra_info["peer"] = row.peer_name
        if row.loo:
            benchmark.extra_info["extrapolated_from_columns"] = len(columns)
        benchmark.pedantic(row.peer, (x, columns), rounds=1 if row.loo else 3)


if __name__ == "__main__":
    sys.exit(main())
