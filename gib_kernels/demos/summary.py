"""The demos' summaries: whether each complexity compresses, and how robustness follows it.

A complexity "decreases after its peak" (compresses) when its last value is at least
``MIN_RELATIVE_DROP`` of |peak| below the peak and the peak is not the last measurement: a rule
stated in every summary, not tuned to any outcome. The 12-bit summary gives the verdict of the
last hidden layers per activation; the wide ones give it per layer, with the rank correlation of
the accuracy under attack with I(X;T) and S(X -> T) over the measured epochs, whichever way it
comes out.
"""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from ..tracking import Run
from .tasks import Task
from .train import TaskRun

__all__ = ["Compression", "LAST_LAYERS", "MIN_RELATIVE_DROP", "compression",
           "robustness_correlations", "saturation_lines", "summarize", "summarize_wide"]

LAST_LAYERS = 2  # the 12-bit verdict looks at the last hidden layers
MIN_RELATIVE_DROP = 0.05


@dataclass(frozen=True)
class Compression:
    """The course of one complexity measure of one layer: its peak and where it ended."""

    layer: str
    quantity: str
    peak: float
    peak_epoch: int
    final: float
    final_epoch: int

    @property
    def relative_drop(self) -> float:
        """(peak - final) / |peak|; 0 for a zero peak."""
        return (self.peak - self.final) / abs(self.peak) if self.peak else 0.0

    @property
    def compresses(self) -> bool:
        return self.peak_epoch < self.final_epoch and self.relative_drop >= MIN_RELATIVE_DROP


def compression(run: Run, layer: str, quantity: str) -> Compression:
    epochs, values = run.trajectory(layer, quantity)
    peak = int(np.argmax(values))
    return Compression(layer, quantity, float(values[peak]), int(epochs[peak]),
                       float(values[-1]), int(epochs[-1]))


_NAMES = {"I_XT": "IB  complexity I(X;T)", "S_XT": "GIB complexity S(X->T)"}


def _describe(c: Compression) -> str:
    verdict = "decreases after its peak (compression)" if c.compresses \
        else "does not decrease after its peak"
    return (f"{_NAMES[c.quantity]:<24} peak {c.peak:7.3f} bits at epoch {c.peak_epoch:>5}, "
            f"final {c.final:7.3f} at epoch {c.final_epoch:>5} "
            f"({-100 * c.relative_drop:+.1f}%): {verdict}")


def _plane_verdict(verdicts: list[Compression]) -> str:
    count = sum(c.compresses for c in verdicts)
    return "yes" if count == len(verdicts) else "no" if count == 0 else \
        f"partly ({count} of {len(verdicts)} layers)"


def saturation_lines(run: Run) -> list[str]:
    """One line naming the layers whose estimates counted the probe samples (the records'
    ``saturated`` flags), with how many of their measurements did; none where no record did."""
    counts: dict[str, int] = {}
    for r in run.records:
        if r.get("saturated"):
            counts[r["layer"]] = counts.get(r["layer"], 0) + 1
    if not counts:
        return []
    measured = {layer: sum(r["layer"] == layer for r in run.records) for layer in counts}
    return ["  saturated (nearly every binned row distinct: I(X;T) = log2(n) and I(T;Y) = H(Y) "
            "by construction) in " + ", ".join(f"{layer} {counts[layer]} of {measured[layer]}"
                                               for layer in counts) + " measurements"]


def summarize(runs: dict[str, Run]) -> str:
    """The summary text: configuration, then per activation whether the IB and the GIB
    complexity of the last hidden layers decrease after their peak, with the figures."""
    first = next(iter(runs.values())).config
    header = [
        "GIB demo: the 12-bit task (Shwartz-Ziv & Tishby 2017), network "
        f"{'-'.join(map(str, first['widths']))}, Adam {first['learning_rate']:g}, batch "
        f"{first['batch_size']}, {round(100 * first['train_fraction'])}/"
        f"{round(100 * (1 - first['train_fraction']))} split, seed {first['seed']}, "
        f"{first['epochs']} epochs, {len(first['schedule']['epochs'])} log-spaced measurements "
        f"on all {first['probe']['n']} inputs, estimator {first['estimator']}"
        + (f" ({first['bins']} equal-width bins; ranges follow the activation, tanh [-1, 1], "
           "ReLU [0, max over the run], fixed before binning so that all epochs share one "
           "grid)." if first["bins"] else "."),
        f"A complexity decreases after its peak (compression) when its last value is at least "
        f"{100 * MIN_RELATIVE_DROP:g}% of |peak| below the peak, and the peak is not the last "
        "measurement. Units: bits.",
    ]
    lines = [textwrap.fill(paragraph, width=100) for paragraph in header]
    for name, run in runs.items():
        last = run.records[-1]["metrics"]
        lines += ["", f"{name}: final train accuracy {last.get('train_accuracy', math.nan):.3f}, "
                      f"test accuracy {last.get('test_accuracy', math.nan):.3f}"]
        if first["bins"]:
            ranges = {r["layer"]: r["bin_range"] for r in run.records}
            lines.append("  binning ranges (fixed over the run): " + ", ".join(
                f"{layer} [{lo:.3g}, {hi:.3g}]" for layer, (lo, hi) in ranges.items()))
        lines += saturation_lines(run)
        planes = {"I_XT": [], "S_XT": []}
        for layer in run.layers[-LAST_LAYERS:]:
            units = next(r["units"] for r in run.records if r["layer"] == layer)
            lines.append(f"  {layer} ({units} units)")
            for quantity, verdicts in planes.items():
                verdicts.append(compression(run, layer, quantity))
                lines.append("    " + _describe(verdicts[-1]))
        lines.append(f"  compression in the last {LAST_LAYERS} hidden layers: IB plane "
                     f"{_plane_verdict(planes['I_XT'])}, GIB plane {_plane_verdict(planes['S_XT'])}")
    return "\n".join(lines) + "\n"


def robustness_correlations(run: Run, rows: list[dict]) -> dict[tuple[str, str, str], tuple]:
    """{(layer, quantity, attack): (Spearman rho, p-value, epochs)} between robust accuracy and
    each complexity (I_XT, S_XT) over the measured epochs."""
    out = {}
    for attack in sorted({r["attack"] for r in rows}):
        accuracy = {r["epoch"]: r["robust_accuracy"] for r in rows if r["attack"] == attack}
        for layer in run.layers:
            for quantity in ("I_XT", "S_XT"):
                epochs, values = run.trajectory(layer, quantity)
                keep = [i for i, e in enumerate(epochs) if e in accuracy]
                a = np.array([accuracy[epochs[i]] for i in keep])
                v = values[keep]
                if len(keep) < 3 or np.ptp(a) == 0 or np.ptp(v) == 0:
                    out[(layer, quantity, attack)] = (math.nan, math.nan, len(keep))
                    continue
                result = spearmanr(v, a)
                out[(layer, quantity, attack)] = (float(result.statistic), float(result.pvalue),
                                                  len(keep))
    return out


def summarize_wide(task: Task, task_run: TaskRun) -> str:
    run, rows = task_run.run, task_run.robustness
    config = run.config
    reductions = config["reductions"]
    header = (
        f"GIB demo '{task.name}': {task.title}. {config['epochs']} epochs, Adam "
        f"{config['learning_rate']:g}, batch {config['batch_size']}, seed {config['seed']}, "
        f"{len(config['schedule']['epochs'])} log-spaced measurements on the "
        f"{config['probe']['n']} held-out probe samples. X: {config['input_features']}. "
        f"Layers wider than {task.components} columns are reduced to their top "
        f"{task.components} principal directions fitted over the run. Estimators: "
        + ", ".join(f"{layer} {name}" for layer, name in config["estimators"].items())
        + f". A complexity compresses when its last value is at least "
        f"{100 * MIN_RELATIVE_DROP:g}% of |peak| below the peak and the peak is not the last "
        "measurement. Units: bits.")
    lines = [textwrap.fill(header, width=100)]
    last = run.records[-1]["metrics"]
    lines += ["", f"final train accuracy {last.get('train_accuracy', math.nan):.3f}, probe "
                  f"accuracy {last.get('test_accuracy', math.nan):.3f}, under FGSM "
                  f"{last.get('fgsm_accuracy', math.nan):.3f}, under PGD "
                  f"{last.get('pgd_accuracy', math.nan):.3f} (epsilon {task.epsilon:g}, "
                  f"perturbing the {task.attack_at or 'input'})"]
    planes = {"I_XT": [], "S_XT": []}
    for layer in run.layers:
        record = next(r for r in run.records if r["layer"] == layer)
        reduced = reductions.get(layer)
        explained = record.get("explained_variance")
        kept = f", PCA {record['features']} (variance kept {explained:.2f})" \
            if reduced and explained is not None and record["features"] < record["units"] \
            else ""
        lines.append(f"  {layer} ({record['units']} units{kept})")
        for quantity, verdicts in planes.items():
            verdicts.append(compression(run, layer, quantity))
            lines.append("    " + _describe(verdicts[-1]))
    for quantity, verdicts in planes.items():
        count = sum(c.compresses for c in verdicts)
        lines.append(f"  {'IB' if quantity == 'I_XT' else 'GIB'} plane: {count} of "
                     f"{len(verdicts)} layers compress")
    lines += saturation_lines(run)
    lines += ["", "Spearman rank correlation of robust accuracy with each complexity over the "
                  "measured epochs (rho, p-value):"]
    correlations = robustness_correlations(run, rows)
    for layer in run.layers:
        cells = []
        for quantity in ("I_XT", "S_XT"):
            for attack in ("fgsm", "pgd"):
                rho, p, _ = correlations.get((layer, quantity, attack), (math.nan,) * 3)
                cells.append(f"{quantity}~{attack} {rho:+.2f} ({p:.2g})" if math.isfinite(rho)
                             else f"{quantity}~{attack} undefined (constant over the epochs)")
        lines.append(f"  {layer:<10} " + "  ".join(cells))
    return "\n".join(lines) + "\n"
