"""The predictive family's synergy profile against class labels: every mask's decoder trained
at once (batched) against loops of one decoder at a time, and the surrogate (one decoder under
random masks).

    python -m benchmarks.bm_predictive [--sizes 4000x64 10000x256] [--mlp-sizes 2000x16]

Three loops, each over the same folds and the same 2m + 1 masks:

- ``loop``: ``mode="loop"``, this library's solvers one mask at a time, the leave-one-out
  decoders started from the full decoder's weights under its Hessian's metric (what batching
  alone buys; it equals the batched values to 1e-5, as the tests check);
- ``separate``: every decoder on its own from the class prior, nothing shared between masks
  (the single columns and the full decoder by Newton, the leave-one-out decoders by L-BFGS:
  what the fused design buys);
- ``scikit-learn``: ``LogisticRegression`` (lbfgs, the same L2 penalty on the weights) or
  ``MLPClassifier`` (the same width, Adam step, minibatch and early stopping) per mask and fold,
  the loop a user writes.

Every timing runs after a small warm-up call of each decoder (the first call of a process pays
for torch's kernel set-up, about a second).

Goals on 2 CPU cores: batched >= 10x the loop, the surrogate >= 5x the batched MLP, the
(10000, 256) profile under 60 s with the linear decoder. A loop that would take more than
``--loop-limit`` seconds is timed on its first ``LOOP_MASKS`` masks of each kind in every fold
and scaled kind by kind to the m + m + 1 masks (marked "extrapolated"). Writes
``benchmarks/results/predictive.md``.
"""
from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import gib_kernels as gk
from gib_kernels.estimators.predictive import decoders
from gib_kernels.estimators.predictive import _folds, _split, _masks  # noqa: PLC2701

LOOP_MASKS = 4
LOOPS = ("loop", "separate", "scikit-learn")


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


def _sklearn_losses(s, masks, t, decoder):
    """Held-out cross-entropy sums of one scikit-learn model per mask: LogisticRegression
    (the same L2 penalty: C = 1 / (weight_decay x rows)), or MLPClassifier (the same width,
    Adam step, minibatch, epochs and early stopping on a validation fifth)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    x, y = decoders._train_rows(s).numpy(), decoders._train_target(s).numpy()
    x_test, y_test = s.x_test.numpy(), s.t_test.numpy()
    out = []
    for keep in masks.numpy():
        if decoder == "linear":
            model = LogisticRegression(C=1.0 / (t.weight_decay * len(y)), tol=1e-6,
                                       max_iter=5000)
        else:
            model = MLPClassifier((t.hidden,) * t.depth, alpha=t.weight_decay,
                                  batch_size=t.batch_size, learning_rate_init=t.learning_rate,
                                  max_iter=t.epochs, early_stopping=True,
                                  validation_fraction=0.2, n_iter_no_change=t.patience,
                                  random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x[:, keep], y)
        log_p = model.predict_log_proba(x_test[:, keep])
        out.append(-log_p[np.arange(len(y_test)), y_test].sum())
    return out


def _loop_seconds(z, y, decoder, style, limit_masks=None, seed=0):
    """Seconds of the ``style`` loop over every fold's masks; with ``limit_masks``, only the
    first that many of each kind, scaled kind by kind to all of them."""
    est = gk.estimators.Predictive(decoder=decoder, mode="loop", random_state=seed)

    class _D:  # the few attributes of the call's inputs that _split reads
        p = est.checked
        labels = y

    zt = torch.from_numpy(z).to(torch.float64 if decoder == "linear" else torch.float32)
    target = torch.from_numpy(y)
    m = z.shape[1]
    fold = _folds(len(y), y, est.folds, np.random.default_rng(seed))
    seconds = dict.fromkeys(("full", "loo", "single"), 0.0)
    for k in range(est.folds):
        s = _split(_D, zt, target, fold, k, np.random.default_rng([seed, k]))
        t = decoders.Training(loop=True, seed=k)
        start = None
        for kind in ("full", "loo", "single"):
            masks = _masks(kind, m, zt.device)[:limit_masks]
            t0 = time.perf_counter()
            if style == "scikit-learn":
                _sklearn_losses(s, masks, t, decoder)
            elif decoder == "linear":
                shared = style == "loop" and kind == "loo"  # the full weights start the rest
                weights = decoders.logistic_losses(s, masks, t, start if shared else None)[1]
                start = weights[0] if kind == "full" else start
            else:
                decoders.mlp_losses(s, masks, t, list(range(len(masks))))
            seconds[kind] += time.perf_counter() - t0
    timed = min(limit_masks or m, m)
    return seconds["full"] + (seconds["loo"] + seconds["single"]) * m / timed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=["4000x64", "10000x256"])
    parser.add_argument("--mlp-sizes", nargs="*", default=["2000x16"],
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
            gk.synergy_profile(z[:200, :4], y[:200], **common)  # warm-up, untimed
            batched = _best(lambda: gk.synergy_profile(z, y, **common), args.repeats)
            row = dict(size=size, decoder=decoder, batched=batched[0])
            # an MLP is trained from its own initial weights in any case: its loop is separate
            for style in LOOPS if decoder == "linear" else ("loop", "scikit-learn"):
                estimate = _loop_seconds(z, y, decoder, style, LOOP_MASKS)
                if estimate >= args.loop_limit:
                    row[style] = (estimate, " (extrapolated)")
                elif style == "loop":
                    row[style] = (_best(lambda: gk.synergy_profile(z, y, mode="loop", **common),
                                        1)[0], "")
                else:
                    row[style] = (_loop_seconds(z, y, decoder, style), "")
            if decoder == "mlp":
                surrogate = _best(lambda: gk.synergy_profile(z, y, mode="surrogate",
                                                             **common), args.repeats)
                row["surrogate"] = surrogate[0]
                row["surrogate_gap"] = float(np.abs(surrogate[2] - batched[2]).max())
            rows.append(row)
            print(row, flush=True)
    lines = [
        "# Predictive synergy profile: batched, loops, surrogate",
        "",
        f"`python -m benchmarks.bm_predictive --sizes {' '.join(args.sizes)} --mlp-sizes "
        f"{' '.join(args.mlp_sizes)}` on "
        f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        "no GPU; a tanh layer against 4 classes (`_layer`), 5 folds, random_state=0, seconds "
        f"(min of {args.repeats}); each loop's ratio is loop / batched. The loops are in the "
        "module's docstring.",
        "",
        "| size | decoder | batched | loop | separate | scikit-learn | surrogate | "
        "batched / surrogate | max abs gap surrogate - batched (bits) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = []
        for style in LOOPS:
            if style in r:
                seconds, note = r[style]
                cells.append(f"{seconds:.1f}{note}, {seconds / r['batched']:.1f}x")
            else:
                cells.append("")
        surrogate = ratio = gap = ""
        if "surrogate" in r:
            surrogate, ratio = f"{r['surrogate']:.2f}", f"{r['batched'] / r['surrogate']:.1f}x"
            gap = f"{r['surrogate_gap']:.3f}"
        lines.append(f"| {r['size']} | {r['decoder']} | {r['batched']:.2f} | "
                     f"{' | '.join(cells)} | {surrogate} | {ratio} | {gap} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
