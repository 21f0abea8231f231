"""Low-dimensional k-NN estimates (KL entropy, KSG and mixed MI, their leave-one-out forms)
against scipy's cKDTree as a user calls it, on the same data in the same process.

    pytest benchmarks/bm_low_d.py --benchmark-only          # small sizes, (20000, 4)
    python -m benchmarks.bm_low_d [--before PATH] [--n 100000] [--repeats 5]

The second form writes ``benchmarks/results/cpu_low_d.md`` and ``cpu_low_d.csv`` beside it: per
task the gib_kernels time (median), the peer's, their ratio (peer / gib_kernels), the path that
ran (the k-d tree of csrc/include/gib/knn_tree.h, the separate searches of the leave-one-out,
or the direct kernels) and the largest relative difference between the two estimates. With
``--before PATH`` (a checkout of an earlier commit with its extension built in place) the same
gib_kernels calls are also timed on that build, in a subprocess, once each.

The peers, in nats with k = 4: KL entropy from ``cKDTree(z).query(z, k + 1, p)`` (the point
itself comes first); KSG from the k-th joint distance and ``query_ball_point(return_length=True)``
on each marginal with the radius just below it (the counts then exclude the points at the
radius, as KSG's strict counts do); Ross's mixed MI from the k-th distance within each class and
the same ball counts on all of z; the leave-one-out forms as the loop over j a user writes on
``np.delete(z, j, 1)``.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln

import gib_kernels as gk
from gib_kernels import _ext
from tests.inputs import continuous, labels_for

K = 4
RESULTS = Path(__file__).parent / "results"


# ----------------------------------------------------------------------------- data
def data(n: int, seed: int = 0):
    """z (n, 4) correlated Gaussians; w (n, 1) and labels (3 classes) that depend on z."""
    rng = np.random.default_rng(seed)
    z = continuous(rng, n, 4)
    w = z[:, :1] + z[:, 1:2] ** 2 + 0.5 * rng.standard_normal((n, 1))
    return z, w, labels_for(rng, z, n_classes=3)


# ----------------------------------------------------------------------------- the peers
def _kth(x, p, k=K):
    return cKDTree(x).query(x, k=k + 1, p=p, workers=-1)[0][:, -1]


def _below(x, r, p):
    """#{j != i : dist(x_i, x_j) < r_i} as a user gets it from scipy."""
    tree = cKDTree(x)
    return tree.query_ball_point(x, np.nextafter(r, 0), p=p, return_length=True, workers=-1) - 1


def _log_ball(d, p):
    return d * np.log(2.0) if p == np.inf else d / 2 * np.log(np.pi) - gammaln(d / 2 + 1)


def scipy_kl(z, p=np.inf):
    n, d = z.shape
    return digamma(n) - digamma(K) + _log_ball(d, p) + d * np.mean(np.log(_kth(z, p)))


def scipy_ksg(z, w):
    r = _kth(np.hstack([z, w]), np.inf)
    n_z, n_w = _below(z, r, np.inf), _below(w, r, np.inf)
    return digamma(K) + digamma(len(z)) - np.mean(digamma(n_z + 1) + digamma(n_w + 1))


def scipy_mixed(z, labels):
    n = len(z)
    r, size = np.empty(n), np.empty(n)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        r[rows] = _kth(z[rows], np.inf, min(K, len(rows) - 1))
        size[rows] = len(rows)
    k_eff = np.minimum(K, size - 1)
    m = _below(z, r, np.inf)
    return digamma(n) + np.mean(digamma(k_eff)) - np.mean(digamma(size)) - np.mean(digamma(m + 1))


def scipy_loop(estimate, z, *target):
    return np.array([estimate(np.delete(z, j, 1), *target) for j in range(z.shape[1])])


# ----------------------------------------------------------------------------- the tasks
def tasks(n: int):
    """(name, gib_kernels call, peer call, path that runs) per task."""
    z, w, labels = data(n)
    zw, ww = z[:, :2], z[:, 2:]
    cpu = _ext.cpu
    has_tree = hasattr(cpu, "knn_uses_tree")  # earlier builds have the direct kernels only
    tree = lambda x: "tree" if has_tree and cpu.knn_uses_tree(x) else "direct"  # noqa: E731
    loo = lambda q: "searches" if has_tree and cpu.knn_loo_by_searches(n, 4, [q]) else "fused"  # noqa: E731
    nats = dict(k=K, base="e", backend="cpu")
    return [
        ("KL entropy, max-norm", f"({n}, 4)",
         lambda: gk.entropy(z, estimator="knn", metric="max", **nats),
         lambda: scipy_kl(z), tree(z)),
        ("KL entropy, Euclidean", f"({n}, 4)",
         lambda: gk.entropy(z, estimator="knn", metric="euclidean", **nats),
         lambda: scipy_kl(z, 2), tree(z)),
        ("KSG MI, z 2 cols, w 2 cols", f"({n}, 2+2)",
         lambda: gk.mutual_information(zw, ww, estimator="knn", **nats),
         lambda: scipy_ksg(zw, ww), tree(z)),
        ("mixed (Ross) MI, 3 classes", f"({n}, 4)",
         lambda: gk.mutual_information(z, labels, estimator="mixed", **nats),
         lambda: scipy_mixed(z, labels), tree(z)),
        ("leave-one-out KL entropy, max-norm", f"({n}, 4)",
         lambda: gk.leave_one_out_entropy(z, estimator="knn", **nats),
         lambda: scipy_loop(scipy_kl, z), loo(0)),
        ("leave-one-out KL entropy, Euclidean", f"({n}, 4)",
         lambda: gk.leave_one_out_entropy(z, estimator="knn", metric="euclidean", **nats),
         lambda: scipy_loop(scipy_kl, z, 2), "searches" if has_tree and
         cpu.knn_loo_euclidean_by_searches(n, 4) else "fused"),
        ("leave-one-out KSG MI, w 1 col", f"({n}, 4+1)",
         lambda: gk.leave_one_out_mutual_information(z, w, estimator="knn", **nats),
         lambda: scipy_loop(scipy_ksg, z, w), loo(1)),
        ("leave-one-out mixed MI, 3 classes", f"({n}, 4)",
         lambda: gk.leave_one_out_mutual_information(z, labels, estimator="mixed", **nats),
         lambda: scipy_loop(scipy_mixed, z, labels), loo(0)),
    ]


def median_time(call, repeats):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = call()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), value


def max_rel_diff(a, b):
    a, b = np.atleast_1d(np.asarray(a, float)), np.atleast_1d(np.asarray(b, float))
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


# ----------------------------------------------------------------------------- pytest-benchmark
SMALL = 20000
NAMES = [t[0] for t in tasks(64)]


@pytest.mark.parametrize("who", ["gib_kernels", "scipy"])
@pytest.mark.parametrize("task", range(len(NAMES)), ids=NAMES)
def test_low_d(benchmark, task, who):
    name, shape, gib, peer, path = tasks(SMALL)[task]
    benchmark.group = name
    benchmark.extra_info.update(shape=shape, path=path if who == "gib_kernels" else "cKDTree")
    result = benchmark.pedantic(gib if who == "gib_kernels" else peer, rounds=3)
    other = (peer if who == "gib_kernels" else gib)()
    assert max_rel_diff(result, other) < 1e-9


# ----------------------------------------------------------------------------- the full table
def _time_gib_only(n, repeats):
    """Times of the gib_kernels calls alone (run in a subprocess on an earlier build)."""
    return [median_time(t[2], repeats)[0] for t in tasks(n)]


def _before(path, n):
    """This file's gib_kernels calls, timed on the package and tests of the checkout `path`."""
    env = dict(os.environ, PYTHONPATH=str(path))
    script = ("import importlib.util, json; "
              f"spec = importlib.util.spec_from_file_location('bm_low_d', {str(__file__)!r}); "
              "bm = importlib.util.module_from_spec(spec); spec.loader.exec_module(bm); "
              f"print(json.dumps(bm._time_gib_only({n}, 1)))")
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=path, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", type=Path, help="an earlier checkout, extension built in place")
    parser.add_argument("--out", type=Path, default=RESULTS / "cpu_low_d.md")
    args = parser.parse_args(argv)
    rows = []
    for name, shape, gib, peer, path in tasks(args.n):
        gib(), peer()  # warm: imports, page faults, thread pools
        # gib_kernels and the peer alternate, so that load on the machine hits both alike.
        t_gib, t_peer, v_gib, v_peer = [], [], None, None
        for _ in range(args.repeats):
            t, v_gib = median_time(gib, 1)
            t_gib.append(t)
            t, v_peer = median_time(peer, 1)
            t_peer.append(t)
        row = dict(task=name, shape=shape, path=path, gib_s=np.median(t_gib),
                   peer_s=np.median(t_peer), max_rel_diff=max_rel_diff(v_gib, v_peer))
        row["ratio"] = row["peer_s"] / row["gib_s"]
        rows.append(row)
        print(f"{name:40s} {shape:14s} {path:9s} gib {row['gib_s']:.3f} s  "
              f"peer {row['peer_s']:.3f} s  ratio {row['ratio']:.2f}  "
              f"diff {row['max_rel_diff']:.1e}", flush=True)
    if args.before:
        for row, t in zip(rows, _before(args.before.resolve(), args.n)):
            row["before_s"], row["before_ratio"] = t, row["peer_s"] / t
    write(rows, args)


def write(rows, args):
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fields = ["task", "shape", "path", "gib_s", "peer_s", "ratio", "max_rel_diff", "before_s",
              "before_ratio"]
    with open(args.out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    before = "before_s" in rows[0]
    lines = [
        "# Low-dimensional k-NN estimates on the CPU against scipy's cKDTree",
        "",
        f"`python -m benchmarks.bm_low_d{' --before ' + str(args.before) if before else ''}`, "
        f"{os.cpu_count()} cores, n = {args.n}, k = {K}, medians of {args.repeats} alternating "
        "runs (the earlier build: one run). ratio = peer time / gib_kernels time (above 1: "
        "gib_kernels is faster). Estimates in nats through the public API (`gk.entropy`, "
        "`gk.mutual_information`, `gk.leave_one_out_*`, backend='cpu'); the peers as "
        "`bm_low_d.py` describes them.",
        "",
        "| task | shape | path | gib_kernels | cKDTree | ratio |"
        + (" before | ratio before |" if before else "") + " max rel. diff |",
        "|---|---|---|---|---|---|" + ("---|---|" if before else "") + "---|",
    ]
    for r in rows:
        cells = [r["task"], r["shape"], r["path"], f"{r['gib_s']:.3f} s", f"{r['peer_s']:.3f} s",
                 f"{r['ratio']:.2f}"]
        if before:
            cells += [f"{r['before_s']:.3f} s", f"{r['before_ratio']:.2f}"]
        cells.append(f"{r['max_rel_diff']:.1e}")
        lines.append("| " + " | ".join(cells) + " |")
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
