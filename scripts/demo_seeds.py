"""The demos' verdicts over several seeds, as the README reports them: per layer, the change of
each complexity from its peak to its last value (negative = compression, the 12-bit rule: at
least 5% below the peak), and for the wide tasks the Spearman rho of PGD accuracy with each
complexity over the epochs; then how many seeds agree.

    python scripts/demo_seeds.py --task cnn --seeds 0 1 2 --out gib-demo-seeds
    python scripts/demo_seeds.py --task tishby --estimator predictive

Each seed runs the demo with its defaults into OUT/<task>-seed<s>/ (the 12-bit task:
OUT/tishby-<estimator>-seed<s>/; a rerun resumes), so the numbers are those of
`gib-kernels demo --task TASK --seed S [--estimator E]`. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np

from gib_kernels import demos
from gib_kernels.demos import compression


def _wide(task: str, seed: int, out: Path):
    result = demos.run_wide_demo(task, out / f"{task}-seed{seed}", seed=seed,
                                 progress=False)
    rho = demos.robustness_correlations(result.run, result.robustness)
    return {task: result.run}, {k: v[0] for k, v in rho.items() if k[2] == "pgd"}


def _tishby(seed: int, out: Path, estimator: str):
    result = demos.run_demo(out / f"tishby-{estimator}-seed{seed}", seed=seed,
                            estimator=estimator, progress=False)
    return result.runs, {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("tishby", "cnn", "transformer"), required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("gib-demo-seeds"))
    parser.add_argument("--estimator", default="binning",
                        help="the 12-bit task's estimator (the wide tasks use their default)")
    args = parser.parse_args()
    rows: dict[tuple[str, str, str], list[float]] = {}
    for seed in args.seeds:
        runs, rho = _tishby(seed, args.out, args.estimator) if args.task == "tishby" else \
            _wide(args.task, seed, args.out)
        for name, run in runs.items():
            for layer in run.layers:
                for quantity in ("I_XT", "S_XT"):
                    drop = -100 * compression(run, layer, quantity).relative_drop
                    rows.setdefault((name, layer, f"{quantity} change %"), []).append(drop)
                    if (layer, quantity, "pgd") in rho:
                        rows.setdefault((name, layer, f"{quantity} ~ PGD rho"), []).append(
                            rho[(layer, quantity, "pgd")])
    what = f"{args.task} ({args.estimator})" if args.task == "tishby" else args.task
    print(f"{what}, seeds {' '.join(map(str, args.seeds))}, {platform.machine()} "
          f"{platform.processor() or ''} ({platform.python_version()})".rstrip())
    print(f"| network | layer | quantity | {' | '.join(f'seed {s}' for s in args.seeds)} | "
          "mean (sd) | seeds compressing |")
    print("|---|---|---|" + "---|" * len(args.seeds) + "---|---|")
    for (name, layer, what), values in rows.items():
        v = np.array(values)
        agree = f"{int((v <= -100 * demos.MIN_RELATIVE_DROP).sum())} of {len(v)}" \
            if what.endswith("%") else ""
        cells = " | ".join(f"{x:+.1f}" if what.endswith("%") else f"{x:+.2f}" for x in v)
        spread = f"{v.mean():+.1f} ({v.std(ddof=1) if len(v) > 1 else 0:.1f})" \
            if what.endswith("%") else f"{v.mean():+.2f} ({v.std(ddof=1) if len(v) > 1 else 0:.2f})"
        print(f"| {name} | {layer} | {what} | {cells} | {spread} | {agree} |")


if __name__ == "__main__":
    main()
