"""The study across models (``gib-kernels study``): trains a grid of variants of one task's
network, measures each once at the end of its training, and relates the IB and GIB complexities
to robustness and generalisation across the models, where the demos can only follow one run's
epochs (along which every quantity moves with training).

Writes to the output folder: ``models.jsonl`` (each model's measurements, appended as it
finishes, keyed by everything that determines them: a rerun reads back the models it finds and
trains only the others), ``study.csv`` (one row per model and layer), ``correlations.csv``, the
scatter plots ``robustness_vs_complexity.png`` and ``gap_vs_complexity.png``, and
``summary.txt``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from tqdm.auto import tqdm

from ..demos.tasks import TASKS, Task
from ..demos.train import input_features, split_indices
from ..tracking.plots import save_figure
from ..tracking.robustness import Attack
from . import report
from .grid import Variant, check_names, load_grid, with_epochs
from .measure import ADVERSARIAL_STEPS, StudyData, attack_name, train_and_measure
from .statistics import RESAMPLES

__all__ = ["EPSILONS", "HEADLINE", "STUDY_EPOCHS", "STUDY_TASKS", "StudyResult", "run_study"]

STUDY_TASKS = ("cnn", "transformer", "tanh", "relu")
# The base training length per task: the CNN's default grid (24 models) then fits in about five
# minutes on 2 CPU cores. Shorter than the demos' runs, which measure along the epochs.
STUDY_EPOCHS = {"cnn": 100, "transformer": 60, "tanh": 500, "relu": 500}
EPSILONS = (0.05, 0.1, 0.2)
HEADLINE = "pgd_0.1"  # the robust accuracy the summary's verdict is about
# Part of every model's key in the resume file: raised when what a model's measurements mean
# changes, so that a rerun measures again instead of reading back the old ones.
MEASUREMENTS = "gib_kernels.studies/1"
RESUME_NAME, TABLE_NAME, CORRELATIONS_NAME, SUMMARY_NAME = (
    "models.jsonl", "study.csv", "correlations.csv", "summary.txt")


@dataclass
class StudyResult:
    rows: list[dict]  # study.csv: one per model and layer
    correlations: list[report.LayerOutcome]
    summary: str
    files: list[Path]
    trained: int  # models trained in this call (the others were read back)


def _attacks(task: Task) -> tuple[tuple[Attack, ...], str]:
    """FGSM and PGD at each radius of ``EPSILONS``, where the task's demo attacks (pixels, or
    the token embeddings); the 12-bit inputs, which its demo does not attack, as values in
    [0, 1]. With what is perturbed, in words."""
    if task.epsilon is None:
        bounds, perturbed = (0.0, 1.0), "input bits (as values in [0, 1])"
    elif task.attack_at is None:
        bounds, perturbed = task.bounds, "input pixels (in [0, 1])"
    else:
        bounds, perturbed = task.bounds, f"output of {task.attack_at} (epsilon in its units)"
    attacks = tuple(Attack(method, epsilon, steps=task.pgd_steps if method == "pgd" else 1,
                           at=task.attack_at, bounds=bounds)
                    for method in ("fgsm", "pgd") for epsilon in EPSILONS)
    return attacks, perturbed


def _study_data(task: Task, seed: int, probe_size: int | None,
                device) -> tuple[StudyData, str, str]:
    """The task's data and split (the demos', from ``seed``) on ``device``; the probe set is
    the test part, or its first ``probe_size`` samples; with X and the attacked part in words."""
    inputs, labels = task.load(seed)
    train, test, _ = split_indices(task, len(labels), seed)
    probe = test if probe_size is None else test[:probe_size]
    features, described = input_features(task, inputs[probe.numpy()])
    attacks, perturbed = _attacks(task)
    data = StudyData(torch.from_numpy(inputs).to(device), torch.from_numpy(labels).to(device),
                     train.to(device), test.to(device), probe.to(device), features, attacks,
                     seed)
    return data, described, perturbed


def _read_stored(path: Path) -> dict[str, dict]:
    """{key: measurements} of the models in the resume file; a line cut short by an interrupted
    run is skipped (that model is trained again)."""
    stored = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                stored[entry["key"]] = entry["results"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return stored


def _rows(variants: list[Variant], measured: dict[str, dict], layers: Sequence[str],
          attacks: Sequence[Attack], lengths: dict[str, int],
          groups: dict[str, str]) -> list[dict]:
    rows = []
    for variant in variants:
        m = measured[variant.name]
        for layer in layers:
            info = m["layers"][layer]
            rows.append({
                "model": variant.name, "group": groups[variant.name],
                **{**variant.settings(), "epochs": lengths[variant.name]},
                "parameters": m["parameters"],
                **{key: m[key] for key in ("train_accuracy", "clean_train_accuracy",
                                           "test_accuracy", "accuracy_gap",
                                           "train_loss", "test_loss", "loss_gap",
                                           "probe_accuracy")},
                **{attack_name(a): m["robust"][attack_name(a)] for a in attacks},
                "layer": layer, "units": info["units"], "features": info["features"],
                "estimator": info["estimator"],
                **{q: info[q] for q in ("I_XT", "I_TY", "S_XT", "S_TY")},
                "saturated": " ".join(info["saturated"]), "seconds": m["seconds"]})
    return rows


def run_study(task: str = "cnn", out=None, *, grid: str | Sequence[Variant] = "default",
              models: int | None = None, epochs: int | None = None, estimator: str | None = None,
              probe_size: int | None = None, seed: int = 0, resamples: int = RESAMPLES,
              device="cpu", progress: bool = True) -> StudyResult:
    """Trains the models of ``grid`` (a named grid, a JSON file of variants or a list of
    ``Variant``; its first ``models``, each trained ``epochs`` epochs where given) on ``task``,
    measures each once at the end of its training, and writes the table, the correlations, the
    plots and the summary to ``out`` (default ``./gib-study-<task>/``).

    ``seed`` fixes the data, the split, the attacks' random starts and the statistics' resamples
    (each model's own seed is its variant's); ``estimator`` defaults to the task's (the
    Gaussian copula through "auto" for the wide tasks, binning for the 12-bit ones). Models
    already in ``out/models.jsonl`` with the same settings are read back, not trained."""
    if task not in STUDY_TASKS:
        raise ValueError(f"task {task!r}: a study trains one of {', '.join(STUDY_TASKS)}")
    spec = TASKS[task]
    base_epochs = STUDY_EPOCHS[task]
    variants = load_grid(grid, base_epochs) if isinstance(grid, str) \
        else check_names(list(grid))
    if models is not None:
        if not 1 <= models <= len(variants):
            raise ValueError(f"models {models}: the grid has {len(variants)}")
        variants = variants[:models]
    # The factor each model varies, as the grid declares it (before any --epochs).
    groups = {variant.name: variant.group() for variant in variants}
    variants = with_epochs(variants, epochs)
    estimator = estimator or spec.estimator
    out = Path(out if out is not None else f"gib-study-{task}")
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(device)
    data, described, perturbed = _study_data(spec, seed, probe_size, device)

    common = {"measurements": MEASUREMENTS, "task": task, "estimator": estimator, "seed": seed,
              "probe": len(data.probe),
              "attacks": [a.describe() for a in data.attacks],
              "adversarial_steps": ADVERSARIAL_STEPS, "learning_rate": spec.learning_rate,
              "batch_size": spec.batch_size, "components": spec.components}
    resume = out / RESUME_NAME
    stored = _read_stored(resume)
    measured, lengths, trained = {}, {}, 0
    bar = tqdm(variants, desc=f"{task} study", unit="model", disable=not progress)
    for variant in bar:
        lengths[variant.name] = length = variant.epochs or base_epochs
        key = json.dumps({**common, "variant": {**variant.settings(), "epochs": length}},
                         sort_keys=True)
        if key in stored:
            measured[variant.name] = stored[key]
            continue
        bar.set_postfix_str(f"training {variant.name}")
        result = train_and_measure(spec, variant, data, epochs=length, estimator=estimator,
                                   device=device)
        with open(resume, "a", encoding="utf-8") as f:
            f.write(json.dumps({"key": key, "model": variant.name, "results": result}) + "\n")
        measured[variant.name] = result
        trained += 1
        bar.set_postfix_str(f"{variant.name} took {result['seconds']:.1f} s")
    bar.close()

    layers = list(spec.layers)
    rows = _rows(variants, measured, layers, data.attacks, lengths, groups)
    outcomes = [attack_name(a) for a in data.attacks] + list(report.GAP_OUTCOMES)
    correlations = report.analyse(rows, layers, outcomes, resamples=resamples, seed=seed)
    files = [resume, report.write_table(rows, out / TABLE_NAME),
             report.write_correlations(correlations, out / CORRELATIONS_NAME)]
    for outcome, stem in ((HEADLINE, "robustness_vs_complexity"),
                          ("accuracy_gap", "gap_vs_complexity")):
        figure = report.plot_outcome(rows, layers, outcome, correlations,
                                     f"{spec.title}: {report.outcome_label(outcome)} across "
                                     f"{len(variants)} models")
        files += save_figure(figure, out / stem, formats=("png",))
    first = measured[variants[0].name]
    about = {"task": task, "title": spec.title, "grid": grid if isinstance(grid, str)
             else "given", "probe": len(data.probe), "seed": seed,
             "learning_rate": spec.learning_rate, "batch_size": spec.batch_size,
             "epochs": epochs or base_epochs, "adversarial_steps": ADVERSARIAL_STEPS,
             "input_features": described, "components": spec.components,
             "estimators": {layer: first["layers"][layer]["estimator"] for layer in layers},
             "pgd_steps": spec.pgd_steps, "epsilons": EPSILONS, "perturbed": perturbed,
             "resamples": resamples, "trained": trained, "resume_file": RESUME_NAME}
    summary = report.summary_text(about, rows, layers, correlations, HEADLINE)
    (out / SUMMARY_NAME).write_text(summary, encoding="utf-8")
    files.append(out / SUMMARY_NAME)
    return StudyResult(rows, correlations, summary, files, trained)
