"""Information-plane figures from tracking records (matplotlib).

- ``plot_information_plane``: one plane on an axes: x = complexity, y = prediction, one line
  per layer through its epochs, each point coloured by its epoch (the classic figures of
  Shwartz-Ziv & Tishby 2017 and Saxe et al. 2018).
- ``plot_ib_vs_gib``: the IB plane (I(X;T), I(T;Y)) and the GIB plane (S(X -> T), S(T -> Y))
  side by side.
- ``plot_synergy_over_epochs``: S(X -> T) and S(T -> Y) of each layer against the epoch.
- ``plot_robustness``: accuracy under attack against the IB and the GIB complexity, a panel
  per layer, and the accuracies over epochs.
- ``save_figure``: PNG and SVG.

Figures are built on ``matplotlib.figure.Figure`` without pyplot: nothing depends on a GUI
backend or on pyplot's global figure list, so plotting works headless (rendering goes through
Agg) and figures are freed like any object.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import SymLogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .records import Run

__all__ = ["plot_information_plane", "plot_ib_vs_gib", "plot_robustness",
           "plot_synergy_over_epochs", "save_figure"]

PLANES = {
    "IB": ("I_XT", "I_TY", "I(X;T) [bits]", "I(T;Y) [bits]"),
    "GIB": ("S_XT", "S_TY", "S(X→T) [bits]", "S(T→Y) [bits]"),
}
_MARKERS = "osD^v<>ph*"


def _epoch_norm(run: Run) -> SymLogNorm:
    """Log-like colours over the epochs (measurements are log-spaced) that still admit epoch 0."""
    last = max((r["epoch"] for r in run.records), default=1)
    return SymLogNorm(linthresh=1.0, vmin=0, vmax=max(last, 1), base=10)


def _layer_label(run: Run, layer: str) -> str:
    units = next((r["units"] for r in run.records if r["layer"] == layer), None)
    return layer if units is None else f"{layer} ({units} units)"


def plot_information_plane(ax: Axes, run: Run, plane: str = "IB", cmap: str = "viridis"):
    """Draws one plane ("IB" or "GIB") of a run on ``ax``; returns the colour mapping of the
    epochs (for a colour bar)."""
    x_key, y_key, x_label, y_label = PLANES[plane]
    norm, colours = _epoch_norm(run), colormaps[cmap]
    for i, layer in enumerate(run.layers):
        epochs, x = run.trajectory(layer, x_key)
        _, y = run.trajectory(layer, y_key)
        if len(epochs) == 0:
            continue
        ax.plot(x, y, color="0.6", linewidth=0.8, zorder=1)
        ax.scatter(x, y, c=colours(norm(epochs)), marker=_MARKERS[i % len(_MARKERS)], s=22,
                   edgecolors="0.2", linewidths=0.3, zorder=2, label=_layer_label(run, layer))
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(f"{plane} plane")
    ax.grid(True, linewidth=0.3, alpha=0.5)
    legend = ax.legend(fontsize="x-small", loc="best", title="layer", title_fontsize="x-small")
    for handle in legend.legend_handles:
        handle.set_facecolor("0.85")
    return ScalarMappable(norm=norm, cmap=colours)


def plot_ib_vs_gib(run: Run, title: str | None = None) -> Figure:
    """The IB and GIB planes of a run side by side, with one epoch colour bar."""
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    mappable = None
    for ax, plane in zip(axes, PLANES):
        mappable = plot_information_plane(ax, run, plane)
    fig.colorbar(mappable, ax=list(axes), label="epoch", shrink=0.9)
    fig.suptitle(title or f"{run.name}: information planes")
    return fig


def plot_synergy_over_epochs(run: Run, title: str | None = None) -> Figure:
    """S(X -> T) and S(T -> Y) of every layer against the epoch (symmetric-log epoch axis)."""
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, (key, label) in zip(axes, (("S_XT", "S(X→T)"), ("S_TY", "S(T→Y)"))):
        for i, layer in enumerate(run.layers):
            epochs, values = run.trajectory(layer, key)
            ax.plot(epochs, values, marker=_MARKERS[i % len(_MARKERS)], markersize=3,
                    linewidth=1, label=_layer_label(run, layer))
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{label} [bits]")
        ax.axhline(0, color="0.5", linewidth=0.5)
        ax.grid(True, linewidth=0.3, alpha=0.5)
    axes[0].legend(fontsize="x-small", title="layer", title_fontsize="x-small")
    fig.suptitle(title or f"{run.name}: synergy over training")
    return fig


def plot_robustness(run: Run, rows: list[dict], title: str | None = None,
                    attack: str = "pgd") -> Figure:
    """Robust accuracy under ``attack`` against I(X;T) (top row) and S(X -> T) (bottom row),
    one panel per layer with one point per measured epoch coloured by its epoch, and the clean
    and robust accuracies over the epochs (right). ``rows``: the robustness records (epoch,
    attack, epsilon, robust_accuracy, clean_accuracy)."""
    layers = run.layers
    mosaic = [[f"{key}/{layer}" for layer in layers] + ["accuracy"] for key in ("I_XT", "S_XT")]
    fig = Figure(figsize=(3.1 * len(layers) + 4.2, 6.4), layout="constrained")
    axes = fig.subplot_mosaic(mosaic, width_ratios=[1] * len(layers) + [1.4])
    norm, colours = _epoch_norm(run), colormaps["viridis"]
    robust = {r["epoch"]: r["robust_accuracy"] for r in rows if r["attack"] == attack}
    epsilon = next((r["epsilon"] for r in rows if r["attack"] == attack), None)
    for key, label in (("I_XT", PLANES["IB"][2]), ("S_XT", PLANES["GIB"][2])):
        for i, layer in enumerate(layers):
            ax = axes[f"{key}/{layer}"]
            epochs, values = run.trajectory(layer, key)
            keep = [j for j, e in enumerate(epochs) if e in robust]
            if keep:
                y = [robust[epochs[j]] for j in keep]
                ax.plot(values[keep], y, color="0.7", linewidth=0.7, zorder=1)
                ax.scatter(values[keep], y, c=colours(norm(epochs[keep])), s=18,
                           marker=_MARKERS[i % len(_MARKERS)], edgecolors="0.2",
                           linewidths=0.3, zorder=2)
            ax.set_xlabel(label, fontsize="small")
            if i == 0:
                ax.set_ylabel(f"{attack.upper()} accuracy (eps {epsilon:g})", fontsize="small")
            if key == "I_XT":
                ax.set_title(_layer_label(run, layer), fontsize="small")
            ax.tick_params(labelsize="x-small")
            # Few, short ticks: a narrow range far from 0 otherwise gives labels that collide.
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            ax.ticklabel_format(axis="x", useOffset=True, style="sci", scilimits=(-3, 4))
            ax.grid(True, linewidth=0.3, alpha=0.5)
    ax = axes["accuracy"]
    clean = sorted({(r["epoch"], r["clean_accuracy"]) for r in rows})
    ax.plot([e for e, _ in clean], [a for _, a in clean], marker="o", markersize=3, label="clean")
    for name in sorted({r["attack"] for r in rows}):
        points = sorted((r["epoch"], r["robust_accuracy"]) for r in rows if r["attack"] == name)
        ax.plot([e for e, _ in points], [a for _, a in points], marker="s", markersize=3,
                label=name.upper())
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("probe accuracy")
    ax.grid(True, linewidth=0.3, alpha=0.5)
    ax.legend(fontsize="x-small")
    fig.colorbar(ScalarMappable(norm=norm, cmap=colours),
                 ax=[axes[f"S_XT/{layer}"] for layer in layers], label="epoch",
                 orientation="horizontal", shrink=0.6, aspect=40)
    fig.suptitle(title or f"{run.name}: robustness and complexity")
    return fig


def save_figure(fig: Figure, stem, formats: Sequence[str] = ("png", "svg"),
                dpi: int = 150) -> list[Path]:
    """Saves ``fig`` as ``<stem>.png`` and ``<stem>.svg`` (or the given formats)."""
    stem = Path(stem)
    paths = [stem.with_name(f"{stem.name}.{fmt}") for fmt in formats]
    for path in paths:
        fig.savefig(path, dpi=dpi)
    return paths
