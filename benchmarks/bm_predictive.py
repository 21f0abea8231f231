"""The predictive family's synergy profile against class labels: every mask's decoder trained
at once (batched), one after the other (the loop a user writes: one decoder per mask), and the
surrogate (one decoder under random masks).

    python -m benchmarks.bm_predictive [--sizes 4000x64 10000x256] [--repeats 3]

Goals on 2 CPU cores: batched >= 10x the loop, the surrogate >= 5x the batched MLP, the
(10000, 256) profile under 60 s with the linear decoder. The MLP runs at ``--mlp-sizes``. The loop at a size where it would take
more than ``--loop-limit`` seconds is timed on its first ``LOOP_MASKS`` masks of each kind in
every fold and scaled to all 2m + 1 (marked "extrapolated"). Writes
``benchmarks/results/predictive.md``.
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

import gib_kernels as gk
from gib_kernels.estimators.predictive import decoders
from gib_kernels.estimators.predictive import _folds, _split, _masks  # noqa: PLC2701

LOOP_MASKS = 4


def _layer(n, m):
    """A tanh layer of m units driven by 16 inputs; 4 classes from 3 of the inputs (as in
    bm_gaussian)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 16))
    z = np.tanh(x @ rng.standard_normal((16, m)) / 2 + 0.3 * rng.standard_normal((n, m)))
    return z, (x[:, :2].sum(1) > 0).astype(int) + 2 * (x[:, 2] > 0)


def _best(fn, repeats):
    times, value = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times)), value


def _loop_extrapolated(z, y, decoder, seed=0):
    """The loop's time: every fold, the full mask and the first LOOP_MASKS masks of each of
    the two other kinds, one decoder at a time, scaled to the 2m + 1 masks."""
    est = gk.estimators.Predictive(decoder=decoder, mode="loop", random_state=seed)

    class _D:  # the few attributes of the call's inputs that _split reads
        p = est.checked
        labels = y

    zt = torch.from_numpy(z).to(torch.float64 if decoder == "linear" else torch.float32)
    target = torch.from_numpy(y)
    m = z.shape[1]
    fold = _folds(len(y), y, est.folds, np.random.default_rng(seed))
    t0 = time.perf_counter()
    for k in range(est.folds):
        s = _split(_D, zt, target, fold, k, np.random.default_rng([seed, k]))
        t = decoders.Training(loop=True, seed=k)
        start = None
        for kind in ("full", "loo", "single"):
            masks = _masks(kind, m, zt.device)[:LOOP_MASKS]
            if decoder == "linear":  # as the family runs them: the full weights start the rest
                weights = decoders.logistic_losses(s, masks, t,
                                                   start if kind == "loo" else None)[1]
                start = weights[0] if kind == "full" else start
            else:
                decoders.mlp_losses(s, masks, t, list(range(len(masks))))
    seconds = time.perf_counter() - t0
    timed = 1 + 2 * min(LOOP_MASKS, m)
    return seconds * (2 * m + 1) / timed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["4000x64", "10000x256"])
    parser.add_argument("--mlp-sizes", nargs="+", default=["2000x16"],
                        help="sizes for the MLP decoder, batched against loop and surrogate")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--loop-limit", type=float, default=120.0)
    parser.add_argument("--out", default="benchmarks/results/predictive.md")
    args = parser.parse_args(argv)
    rows = []
    with gk.config_context(progress=False):
        runs = [(size, "linear") for size in args.sizes] + \
            [(size, "mlp") for size in args.mlp_sizes]
        for size, decoder in runs:
            n, m = (int(v) for v in size.split("x"))
            z, y = _layer(n, m)
            common = dict(estimator="predictive", decoder=decoder, random_state=0)
            batched = _best(lambda: gk.synergy_profile(z, y, **common), args.repeats)
            row = dict(size=size, decoder=decoder, batched=batched[0])
            loop_estimate = _loop_extrapolated(z, y, decoder)
            if loop_estimate < args.loop_limit:
                row["loop"] = _best(lambda: gk.synergy_profile(z, y, mode="loop", **common),
                                    1)[0]
                row["loop_note"] = "measured"
            else:
                row["loop"], row["loop_note"] = loop_estimate, "extrapolated"
            if decoder == "mlp":
                surrogate = _best(lambda: gk.synergy_profile(z, y, mode="surrogate",
                                                             **common), args.repeats)
                row["surrogate"] = surrogate[0]
                row["surrogate_gap"] = float(np.abs(surrogate[2] - batched[2]).max())
            row["profile_mean"] = float(np.mean(batched[2]))
            rows.append(row)
            print(row, flush=True)
    lines = [
        "# Predictive synergy profile: batched, loop, surrogate",
        "",
        f"`python -m benchmarks.bm_predictive --sizes {' '.join(args.sizes)} --mlp-sizes "
        f"{' '.join(args.mlp_sizes)}` on "
        f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        "no GPU; a tanh layer against 4 classes (`_layer`), 5 folds, random_state=0, seconds "
        f"(min of {args.repeats}).",
        "",
        "| size | decoder | batched | loop | loop / batched | surrogate | batched / surrogate "
        "| max abs gap surrogate - batched (bits) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sur = r.get("surrogate")
        loop = f"{r['loop']:.1f}" + (" (extrapolated)" if r["loop_note"] == "extrapolated" else "")
        surrogate = ratio = gap = ""
        if sur is not None:
            surrogate, ratio = f"{sur:.2f}", f"{r['batched'] / sur:.1f}x"
            gap = f"{r['surrogate_gap']:.3f}"
        lines.append(f"| {r['size']} | {r['decoder']} | {r['batched']:.2f} | {loop} | "
                     f"{r['loop'] / r['batched']:.1f}x | {surrogate} | {ratio} | {gap} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
