"""The Gaussian-copula synergy profile on wide layers, against the mixed k-NN estimator and
against the loop a user of a gcmi-style library writes (one estimate per left-out column).

    pytest benchmarks/bm_gaussian.py --benchmark-only [-k "n10000"]
    python -m benchmarks.bm_gaussian [--repeats 5] [--data layer,normal,unequal]
        [--dtype float64,float32] [--covariance-prior NU] [--before CHECKOUT]

The second form times the profile against 4 classes at (10000, 1024) alone, min and median of
its repeats, and each part of it (the minimum over the repeats): rank transform, class moments,
choice of the prior, final factorisations, the fused leave-one-out pass, the per-feature pass.
With --before, the code of another checkout in turn with this one, each in its own warm
process: on a machine shared with other jobs the minima of the two still compare. The "by
part" table of results/gaussian.md.

Goals on 2 CPU cores: the profile at (10000, 1024) in under 2 s, the leave-one-out within 3x
of one estimate, at least 20x the loop. The loop and the k-NN profile at the wide sizes are
timed on their first columns and scaled to m (``extrapolated_from_columns`` in extra_info).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import ndtri, psi

import gib_kernels as gk

SIZES = [(10000, 1024), (20000, 512)]
LOOP_COLUMNS = 8  # columns of the loops timed at the wide sizes


def _layer(n, m, target):
    """A tanh layer of m units driven by 16 inputs, and a target that depends on 3 of them:
    4 classes, or the 3 inputs themselves."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 16))
    z = np.tanh(x @ rng.standard_normal((16, m)) / 2 + 0.3 * rng.standard_normal((n, m)))
    if target == "labels":
        return z, (x[:, :2].sum(1) > 0).astype(int) + 2 * (x[:, 2] > 0)
    return z, x[:, :3]


def _copnorm(x):
    ranks = np.argsort(np.argsort(x, axis=0), axis=0) + 1
    return ndtri(ranks / (x.shape[0] + 1))


def _ent_g(x):
    n, d = x.shape
    x = x - x.mean(0)
    h = np.sum(np.log(np.diagonal(np.linalg.cholesky(x.T @ x / (n - 1))))) \
        + 0.5 * d * (np.log(2 * np.pi) + 1)
    return h - d * (np.log(2) - np.log(n - 1)) / 2 - psi((n - np.arange(1, d + 1)) / 2).sum() / 2


def _gcmi_mi(x, target):
    """The estimate a gcmi user computes for one subset of columns (copula included)."""
    cx = _copnorm(x)
    if target.ndim == 1:
        weights = np.bincount(target) / target.size
        return _ent_g(cx) - sum(w * _ent_g(cx[target == c]) for c, w in enumerate(weights))
    cw = _copnorm(target)
    return _ent_g(cx) + _ent_g(cw) - _ent_g(np.hstack([cx, cw]))


def _user_loop(z, target, columns):
    for j in columns:
        _gcmi_mi(np.delete(z, j, axis=1), target)


@pytest.mark.parametrize("target", ["labels", "continuous"])
@pytest.mark.parametrize("n,m", SIZES, ids=[f"n{n}-m{m}" for n, m in SIZES])
@pytest.mark.parametrize("what", ["profile", "one_estimate", "leave_one_out",
                                  "user_loop_over_j", "mixed_knn_profile"])
def test_gaussian(benchmark, what, n, m, target):
    z, w = _layer(n, m, target)
    benchmark.group = f"gaussian-{target}-n{n}-m{m}"
    benchmark.extra_info.update(n=n, m=m, target=target)
    gauss = {"estimator": "gaussian"}
    if what == "profile":
        benchmark.pedantic(gk.synergy_profile, (z, w), gauss, rounds=3)
    elif what == "one_estimate":
        benchmark.pedantic(gk.mutual_information, (z, w), gauss, rounds=3)
    elif what == "leave_one_out":
        benchmark.pedantic(gk.leave_one_out_mutual_information, (z, w), gauss, rounds=3)
    elif what == "user_loop_over_j":
        benchmark.extra_info["extrapolated_from_columns"] = LOOP_COLUMNS
        benchmark.pedantic(_user_loop, (z, w, range(LOOP_COLUMNS)), rounds=1)
        benchmark.extra_info["seconds_for_all_m"] = \
            benchmark.stats.stats.median * m / LOOP_COLUMNS
    else:
        if target != "labels":
            pytest.skip("the mixed estimator takes class labels")
        # the k-NN profile: one full and one fused leave-one-out estimate, and m per-feature
        # ones, timed on LOOP_COLUMNS of them
        benchmark.extra_info["per_feature_extrapolated_from_columns"] = LOOP_COLUMNS
        benchmark.pedantic(gk.synergy_profile, (z[:, :LOOP_COLUMNS * 4], w),
                           {"estimator": "mixed"}, rounds=1)


# ------------------------------------------------------- python -m benchmarks.bm_gaussian
def _label_data(kind, n, m, dtype):
    """The tanh layer of the pytest rows, standard normal columns with 4 classes from 3 of them
    ("normal"), or those columns scaled by 0.5, 1, 1.5 or 2 by class ("unequal": classes of
    unequal covariances; at 2500 samples per class against 1024 columns the pooled covariance
    still wins the choice of the prior, and ``--covariance-prior`` times the class model that
    keeps each class's own)."""
    if kind == "layer":
        z, y = _layer(n, m, "labels")
    else:
        rng = np.random.default_rng(0)
        z = rng.standard_normal((n, m))
        y = (z[:, :2].sum(1) > 0).astype(int) + 2 * (z[:, 2] > 0)
        if kind == "unequal":
            z *= np.array([0.5, 1.0, 1.5, 2.0])[y][:, None]
    return z.astype(dtype), y


PARTS = ("rank transform", "class moments", "choice of the prior", "final factors",
         "leave-one-out pass", "per-feature pass")


def _profile_parts(z, y, options):
    """One synergy profile against labels, computed as gk.synergy_profile computes it, with
    the seconds of each of PARTS: ({part: seconds}, the profile in bits)."""
    from gib_kernels.estimators import gaussian as g
    from gib_kernels.estimators.inputs import Inputs
    from gib_kernels.functional import Request

    seconds, start = [], time.perf_counter()

    def lap():
        seconds.append(time.perf_counter() - start - sum(seconds))

    d = Inputs(Request("gaussian", options, 2, "auto"), z, y)
    lap()
    mo = g._Moments.of(d.z, d)
    lap()
    model = g._ClassModel.of(mo, d, d.z)
    lap()
    model.factors, model.precisions  # noqa: B018 (cached properties)
    lap()
    full, without = model.with_and_without_each_column(d.z)
    lap()
    single = model.each_column(d.z)
    lap()
    prior = model.prior_samples / (mo.m + 2)
    return {**dict(zip(PARTS, seconds)), "prior": prior}, \
        (full - single - without).cpu().numpy() / np.log(2)


def _worker():
    """Answers each line "data dtype n m prior" of stdin with one JSON line: the seconds of one
    whole gk.synergy_profile and of the parts of another (prior: a covariance_prior, or "chosen"
    for the default)."""
    data = {}
    for line in sys.stdin:
        kind, dtype, n, m, prior = line.split()
        options = {} if prior == "chosen" else {"covariance_prior": float(prior)}
        key = (kind, dtype, int(n), int(m))
        if key not in data:
            data = {key: _label_data(kind, int(n), int(m), dtype)}
            z, y = data[key]
            gk.synergy_profile(z[:2000, :64], y[:2000], estimator="gaussian")  # warm up
        z, y = data[key]
        t = time.perf_counter()
        expected = gk.synergy_profile(z, y, estimator="gaussian", **options)
        whole = time.perf_counter() - t
        parts, profile = _profile_parts(z, y, options)
        assert np.allclose(profile, expected, rtol=1e-12, atol=1e-15)
        print(json.dumps({"whole call": whole, **parts}), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description="the label profile at (10000, 1024), timed")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--m", type=int, default=1024)
    parser.add_argument("--data", default="layer,normal,unequal",
                        help="layer, normal and/or unequal")
    parser.add_argument("--dtype", default="float64,float32")
    parser.add_argument("--covariance-prior", default="chosen",
                        help="a covariance_prior for every call, in pseudo-samples (m + 2 for "
                        "the class model with each class's own covariance); default: chosen "
                        "from the data")
    parser.add_argument("--before", help="a checkout of other code (its repository root), timed "
                        "in turn with this one, each in its own process")
    args = parser.parse_args(argv)
    # here, not at the top: the --worker processes import this file against another checkout
    from benchmarks.machine import cpu_name

    print(f"{platform.machine()}, {os.cpu_count()} cores, {cpu_name()}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, numpy {np.__version__}")
    here = Path(__file__).resolve().parents[1]
    trees = {"after": here, "before": Path(args.before).resolve()} if args.before \
        else {"this": here}
    workers = {name: subprocess.Popen(  # gib_kernels from `root`, this script from here
        [sys.executable, str(Path(__file__).resolve()), "--worker"], cwd=root, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(root))) for name, root in trees.items()}
    print("| n x m, data, dtype | code | prior chosen, x (m + 2) | whole call, min | median | "
          + " | ".join(PARTS) + " |")
    print("|---" * (5 + len(PARTS)) + "|")
    for kind in args.data.split(","):
        for dtype in args.dtype.split(","):
            runs = {name: [] for name in trees}
            for _ in range(args.repeats):  # the trees in turn, so that both see the same load
                for name, worker in workers.items():
                    worker.stdin.write(f"{kind} {dtype} {args.n} {args.m} "
                                       f"{args.covariance_prior}\n")
                    worker.stdin.flush()
                    runs[name].append(json.loads(worker.stdout.readline()))
            for name, done in runs.items():
                whole = sorted(r["whole call"] for r in done)
                print(f"| {args.n} x {args.m}, {kind}, {dtype} | {name} | {done[0]['prior']:g} | "
                      f"{whole[0]:.2f} s | "
                      f"{whole[len(whole) // 2]:.2f} s | "
                      + " | ".join(f"{min(r[p] for r in done):.2f} s" for p in PARTS) + " |",
                      flush=True)
    for worker in workers.values():
        worker.stdin.close()
        worker.wait()


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        sys.exit(_worker())
    sys.exit(main())
