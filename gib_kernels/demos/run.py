"""The whole demos: train and track, then write the records, the figures and the summary.

- ``run_demo``: the 12-bit task, the tanh and the ReLU network. The question it answers, per
  activation: do the IB complexity I(X;T) and the GIB complexity S(X -> T) of the last hidden
  layers fall after their peak (a compression phase)? The GIB paper reports that the IB plane
  of ReLU networks does not compress while the GIB plane does, for both activations. The
  summary states what this run measured, whichever way it goes.
- ``run_wide_demo``: the CNN or the Transformer, its planes and its robustness: at each
  measured epoch the probe accuracy under FGSM and PGD (L-infinity; pixels in [0, 1], or the
  embedding for the Transformer) goes to ``robustness.csv``.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..tracking import Run
from ..tracking.plots import plot_ib_vs_gib, plot_robustness, plot_synergy_over_epochs, save_figure
from .summary import summarize, summarize_wide
from .tasks import TASKS, TWELVE_BIT
from .train import train_and_track, train_and_track_task

__all__ = ["DEFAULT_EPOCHS", "DEFAULT_POINTS", "DemoResult", "FULL_EPOCHS", "FULL_POINTS",
           "WideDemoResult", "run_demo", "run_wide_demo"]

# Defaults sized to finish well within 10 minutes on 2 CPU cores, both activations included.
DEFAULT_EPOCHS, DEFAULT_POINTS = TASKS["tanh"].epochs, TASKS["tanh"].points
# The paper-length schedule (Shwartz-Ziv & Tishby 2017 train for 10^4 epochs).
FULL_EPOCHS, FULL_POINTS = 10_000, 100
FILE_NAME, SUMMARY_NAME, ROBUSTNESS_NAME = "information.jsonl", "summary.txt", "robustness.csv"


@dataclass
class DemoResult:
    runs: dict[str, Run]
    summary: str
    files: list[Path]


def run_demo(out="gib-demo", *, epochs: int = DEFAULT_EPOCHS, points: int = DEFAULT_POINTS,
             seed: int = 0, estimator: str = "binning", device="cpu",
             save_activations: bool = False, progress: bool = True) -> DemoResult:
    """Trains and tracks the tanh and the ReLU network, then writes to ``out``: the records
    (``information.jsonl``), per activation ``ib_vs_gib_<act>.png/.svg`` and
    ``synergy_<act>.png/.svg``, optionally ``activations_<act>.npz``, and ``summary.txt``.

    Rerunning into the same ``out`` resumes: finished runs are read back, an unfinished one is
    trained again from its seed and only its missing records are estimated."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs, files = {}, [out / FILE_NAME]
    for activation in TWELVE_BIT:
        activations_path = out / f"activations_{activation}.npz" if save_activations else None
        run = train_and_track(activation, epochs=epochs, points=points, seed=seed,
                              estimator=estimator, device=device, path=out / FILE_NAME,
                              activations_path=activations_path, progress=progress)
        runs[activation] = run
        files += save_figure(plot_ib_vs_gib(run, f"{activation} network: IB and GIB planes"),
                             out / f"ib_vs_gib_{activation}")
        files += save_figure(plot_synergy_over_epochs(run, f"{activation} network: synergy"),
                             out / f"synergy_{activation}")
        if activations_path is not None:
            files.append(activations_path)
    summary = summarize(runs)
    (out / SUMMARY_NAME).write_text(summary, encoding="utf-8")
    files.append(out / SUMMARY_NAME)
    return DemoResult(runs, summary, files)


@dataclass
class WideDemoResult:
    run: Run
    robustness: list[dict]
    summary: str
    files: list[Path]


def run_wide_demo(task_name: str, out, *, epochs: int | None = None, points: int | None = None,
                  seed: int = 0, estimator: str = "auto", device="cpu", store=None,
                  progress: bool = True) -> WideDemoResult:
    """Trains and tracks one task, then writes to ``out``: ``information.jsonl``, the planes
    ``ib_vs_gib_<task>.png/.svg``, ``synergy_<task>.png/.svg``, ``robustness.csv``,
    ``robustness_<task>.png/.svg`` and ``summary.txt``."""
    task = TASKS[task_name]
    if not task.attacks():
        raise ValueError(f"the {task_name!r} network is one of the 12-bit demo's, without "
                         "attacks: run_demo runs it")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task_run = train_and_track_task(task, epochs=epochs, points=points, seed=seed,
                                    estimator=estimator, device=device, path=out / FILE_NAME,
                                    store=store, progress=progress)
    run, rows = task_run.run, task_run.robustness
    files = [out / FILE_NAME]
    files += save_figure(plot_ib_vs_gib(run, f"{task.title}: IB and GIB planes"),
                         out / f"ib_vs_gib_{task.name}")
    files += save_figure(plot_synergy_over_epochs(run, f"{task.title}: synergy"),
                         out / f"synergy_{task.name}")
    files += save_figure(plot_robustness(run, rows, f"{task.title}: robustness and complexity"),
                         out / f"robustness_{task.name}")
    with open(out / ROBUSTNESS_NAME, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = summarize_wide(task, task_run)
    (out / SUMMARY_NAME).write_text(summary, encoding="utf-8")
    files += [out / ROBUSTNESS_NAME, out / SUMMARY_NAME]
    return WideDemoResult(run, rows, summary, files)
