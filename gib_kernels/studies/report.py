"""A study's outputs from its models' measurements: the table (one row per model and layer),
the correlations across models with their intervals, the scatter plots and the summary.

The question the summary answers, per layer: does the GIB complexity S(X -> T) order the models
by robust accuracy (and by their generalisation gap) more closely than the IB complexity
I(X;T)? "More closely" is a larger |rho|, whichever the sign; the verdict comes from the paired
bootstrap interval of |rho_S| - |rho_I| and is "undecided" where that interval contains 0.
"""
from __future__ import annotations

import csv
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import statistics as stats

__all__ = ["COMPLEXITIES", "GAP_OUTCOMES", "LayerOutcome", "analyse", "outcome_label",
           "plot_outcome", "summary_text", "write_correlations", "write_table"]

COMPLEXITIES = {"I_XT": "I(X;T)", "S_XT": "S(X->T)"}
# The outcomes besides the attacks' accuracies: generalisation, as a gap and as test accuracy.
GAP_OUTCOMES = {"accuracy_gap": "generalisation gap (train - test accuracy)",
                "loss_gap": "generalisation gap (test - train loss)",
                "test_accuracy": "test accuracy"}
CONTROL = "probe_accuracy"  # the clean accuracy on the samples the attacks perturb


def outcome_label(outcome: str) -> str:
    if outcome in GAP_OUTCOMES:
        return GAP_OUTCOMES[outcome]
    method, epsilon = outcome.split("_")
    return f"accuracy under {method.upper()} (epsilon {epsilon})"


def write_table(rows: list[dict], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass(frozen=True)
class LayerOutcome:
    """How one layer's two complexities follow one outcome across the models."""

    layer: str
    outcome: str
    spearman: dict  # {"I_XT": Correlation, "S_XT": Correlation}
    kendall: dict
    partial: dict  # given the clean probe accuracy; None for test accuracy itself
    difference: stats.Difference  # S_XT against I_XT


def _column(rows: list[dict], layer: str, key: str) -> np.ndarray:
    return np.array([r[key] for r in rows if r["layer"] == layer], dtype=np.float64)


def analyse(rows: list[dict], layers: list[str], outcomes: list[str], *, resamples: int,
            seed: int) -> list[LayerOutcome]:
    """Every layer against every outcome: Spearman and Kendall with bootstrap intervals and
    permutation p-values, the partial Spearman given clean accuracy, and the difference of the
    complexities' rhos; one seed for all, so every interval resamples the same models."""
    results = []
    for layer in layers:
        control = _column(rows, layer, CONTROL)
        for outcome in outcomes:
            y = _column(rows, layer, outcome)
            values = {q: _column(rows, layer, q) for q in COMPLEXITIES}
            spearman = {q: stats.correlate(v, y, "spearman", resamples=resamples, seed=seed)
                        for q, v in values.items()}
            kendall = {q: stats.correlate(v, y, "kendall", resamples=resamples, seed=seed)
                       for q, v in values.items()}
            partial = None if outcome == "test_accuracy" else {
                q: stats.partial(v, y, control, resamples=resamples, seed=seed)
                for q, v in values.items()}
            difference = stats.compare(values["S_XT"], values["I_XT"], y, resamples=resamples,
                                       seed=seed)
            results.append(LayerOutcome(layer, outcome, spearman, kendall, partial, difference))
    return results


def write_correlations(results: list[LayerOutcome], path: Path) -> Path:
    """Every statistic of ``analyse`` with its interval, one row each."""
    rows = []
    for r in results:
        for quantity in COMPLEXITIES:
            for c in (r.spearman[quantity], r.kendall[quantity],
                      *(() if r.partial is None else (r.partial[quantity],))):
                rows.append({"layer": r.layer, "outcome": r.outcome, "quantity": quantity,
                             "statistic": c.method, "estimate": c.estimate,
                             "low": c.interval.low, "high": c.interval.high,
                             "p_value": c.p_value, "models": c.n})
        d = r.difference
        n = r.spearman["I_XT"].n
        rows += [{"layer": r.layer, "outcome": r.outcome, "quantity": "S_XT - I_XT",
                  "statistic": "spearman difference", "estimate": d.signed,
                  "low": d.signed_interval.low, "high": d.signed_interval.high,
                  "p_value": math.nan, "models": n},
                 {"layer": r.layer, "outcome": r.outcome, "quantity": "|S_XT| - |I_XT|",
                  "statistic": "spearman difference", "estimate": d.absolute,
                  "low": d.absolute_interval.low, "high": d.absolute_interval.high,
                  "p_value": math.nan, "models": n}]
    return write_table(rows, path)


# --- plots --------------------------------------------------------------------------------------

def plot_outcome(rows: list[dict], layers: list[str], outcome: str,
                 results: list[LayerOutcome], title: str) -> Figure:
    """``outcome`` against I(X;T) (top row) and S(X -> T) (bottom row), one panel per layer,
    one point per model coloured by the factor its variant changes; each title gives Spearman's
    rho with its bootstrap interval."""
    found = {(r.layer, r.outcome): r for r in results}
    groups = sorted({r["group"] for r in rows})
    colours = colormaps["tab10"]
    fig = Figure(figsize=(3.2 * len(layers) + 1.6, 6.4), layout="constrained")
    axes = fig.subplots(2, len(layers), squeeze=False)
    for row, (quantity, name) in enumerate(COMPLEXITIES.items()):
        for column, layer in enumerate(layers):
            ax = axes[row][column]
            mine = [r for r in rows if r["layer"] == layer]
            for g, group in enumerate(groups):
                points = [r for r in mine if r["group"] == group]
                ax.scatter([r[quantity] for r in points], [r[outcome] for r in points], s=22,
                           color=colours(g % 10), edgecolors="0.2", linewidths=0.3,
                           label=group)
            rho = found[(layer, outcome)].spearman[quantity]
            ax.set_title(f"{layer}: rho {rho.estimate:+.2f} {rho.interval.text()}"
                         if math.isfinite(rho.estimate) else f"{layer}: rho undefined",
                         fontsize="small")
            ax.set_xlabel(f"{name} [bits]", fontsize="small")
            if column == 0:
                ax.set_ylabel(outcome_label(outcome), fontsize="small")
            ax.tick_params(labelsize="x-small")
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            ax.grid(True, linewidth=0.3, alpha=0.5)
    axes[0][-1].legend(fontsize="x-small", title="variant", title_fontsize="x-small",
                       loc="best")
    fig.suptitle(title)
    return fig


# --- summary ------------------------------------------------------------------------------------

def _estimate_text(c: stats.Correlation, with_p: bool = True) -> str:
    """"+0.42 [+0.10, +0.70]" and the p-value in a column of its own."""
    if not math.isfinite(c.estimate):
        text = "undefined"
    else:
        text = f"{c.estimate:+.2f} {c.interval.text()}"
    if not with_p:
        return text
    p = f"{c.p_value:.2g}" if math.isfinite(c.p_value) else "-"
    return f"{text:<23}{p:<8}"


def _number(value: float) -> str:
    return f"{value:+.2f}" if math.isfinite(value) else "n/a"


_VERDICTS = {"a": "GIB's S(X->T) orders the models more closely",
             "b": "IB's I(X;T) orders the models more closely",
             "undecided": "undecided (the interval contains 0)"}


def _block(results: list[LayerOutcome], outcome: str) -> list[str]:
    mine = [r for r in results if r.outcome == outcome]
    width = max(len("layer"), *(len(r.layer) for r in mine))
    lines = [f"{outcome_label(outcome)} across the models:",
             f"  {'layer':<{width}}  {'':<8} {'Spearman rho [95%]':<23}{'p':<8}"
             f"{'Kendall tau [95%]':<23}{'p':<8}partial rho given clean [95%]"]
    for r in mine:
        for i, (quantity, name) in enumerate(COMPLEXITIES.items()):
            partial = "-" if r.partial is None else _estimate_text(r.partial[quantity], False)
            lines.append(f"  {r.layer if i == 0 else '':<{width}}  {name:<8} "
                         f"{_estimate_text(r.spearman[quantity])}"
                         f"{_estimate_text(r.kendall[quantity])}{partial}")
        d = r.difference
        verdict = "undecided (a correlation is undefined)" if not math.isfinite(d.absolute) \
            else _VERDICTS[d.verdict]
        lines.append(f"  {'':<{width}}  S - I:   |rho| {_number(d.absolute)} "
                     f"{d.absolute_interval.text()}, rho {_number(d.signed)} "
                     f"{d.signed_interval.text()}: {verdict}")
    return lines


def summary_text(about: dict, rows: list[dict], layers: list[str], results: list[LayerOutcome],
                 headline: str) -> str:
    """The summary: what was trained and measured, the correlation tables of the headline
    attack and of the generalisation outcomes, and the verdicts in plain words."""
    first = [r for r in rows if r["layer"] == layers[0]]
    header = textwrap.fill(
        f"GIB study '{about['task']}': {len(first)} models of the {about['title']} (grid "
        f"'{about['grid']}'), each measured once at the end of its training on the "
        f"{about['probe']} held-out probe samples (test part of the split of seed "
        f"{about['seed']}). Training: AdamW, learning rate {about['learning_rate']:g}, batch "
        f"{about['batch_size']}, {about['epochs']} epoch{'s' if about['epochs'] != 1 else ''} "
        "unless the variant says otherwise; the "
        "grid varies the seed, width, weight decay, label noise (on the training labels, against "
        "which train accuracy and loss are measured), training "
        f"length and adversarial training (PGD, {about['adversarial_steps']} steps, on every "
        f"batch). X: {about['input_features']}. "
        + (f"Layers wider than {about['components']} columns are reduced to their top "
           f"{about['components']} principal directions. " if about["components"] else "")
        + "Estimators: " + ", ".join(f"{layer} {name}" for layer, name
                                     in about["estimators"].items())
        + f". Robust accuracy: FGSM and PGD ({about['pgd_steps']} steps) at epsilon "
        + ", ".join(f"{e:g}" for e in about["epsilons"]) + f" on the {about['perturbed']}. "
        "Across the models: Spearman's rho and Kendall's tau-b, 95% percentile bootstrap "
        f"intervals resampling the models ({about['resamples']} resamples, seed "
        f"{about['seed']}), two-sided permutation p-values ({about['resamples']} permutations), "
        "and the partial rho given the clean probe accuracy (ranks residualised on its ranks). "
        "Units: bits.", width=100)
    lines = [header, ""]

    def span(key):
        values = [r[key] for r in first]
        return f"{min(values):.3f} to {max(values):.3f}"

    lines.append(textwrap.fill(
        f"Models: clean probe accuracy {span(CONTROL)}, {outcome_label(headline)} "
        f"{span(headline)}, train - test accuracy {span('accuracy_gap')}, test - train loss "
        f"{span('loss_gap')}.", width=100))
    seconds = [r["seconds"] for r in first]
    lines.append(textwrap.fill(
        f"Time per model (training and measurement, one thread): mean {np.mean(seconds):.1f} s, "
        f"{min(seconds):.1f} to {max(seconds):.1f} s, {sum(seconds):.0f} s in all; "
        f"{about['trained']} trained in this run, {len(first) - about['trained']} read back "
        f"from {about['resume_file']}.", width=100))
    saturated = {}
    for r in rows:
        if r["saturated"]:
            saturated[r["layer"]] = saturated.get(r["layer"], 0) + 1
    if saturated:
        lines.append("Saturated estimates (the estimate counts the probe samples) in "
                     + ", ".join(f"{layer} ({count} models)" for layer, count in saturated.items())
                     + ".")
    if len(first) < 4:
        lines.append(f"With {len(first)} models, the correlations and their intervals say "
                     "nothing: a study needs a family of models.")
    for outcome in (headline, "accuracy_gap"):
        lines += [""] + _block(results, outcome)
    lines += ["", textwrap.fill(
        "Verdict: does GIB's complexity S(X->T) order the models more closely than the IB's "
        "I(X;T)? Per layer: GIB, IB, or undecided where the 95% interval of |rho_S| - |rho_I| "
        "(in brackets, after the difference) contains 0.", width=100)]
    words = {"a": "GIB", "b": "IB", "undecided": "undecided"}
    for outcome in (headline, "accuracy_gap", "loss_gap", "test_accuracy"):
        verdicts = [r for r in results if r.outcome == outcome]
        lines.append(textwrap.fill(
            f"{outcome_label(outcome)}: " + "; ".join(
                f"{r.layer} {words[r.difference.verdict]} {_number(r.difference.absolute)} "
                f"{r.difference.absolute_interval.text()}" for r in verdicts),
            width=100, initial_indent="  ", subsequent_indent="    "))
    lines += ["", textwrap.fill(
        "correlations.csv holds every outcome (each attack and radius, both gaps, test "
        "accuracy) with each statistic and interval; study.csv one row per model and layer. "
        "Many intervals are reported: read the headline rows, and expect about one in twenty of "
        "the others to exclude 0 by chance.", width=100)]
    return "\n".join(lines) + "\n"
