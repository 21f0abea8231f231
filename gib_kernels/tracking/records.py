"""The tracking file: JSON lines, a header per run holding its configuration, then one record
per (layer, epoch), appended and flushed as each estimate is done, so a crash loses nothing
already computed.

Opening the file again with the same run name and configuration resumes (finished records are
kept); a different configuration is refused with the keys that differ. A last line cut short
by a crash is dropped. Several runs (names) can share one file. PCA bases fitted over a run
are kept beside the file (``<stem>.<run>.pca.npz``), so a resumed run projects as before.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["FORMAT", "RecordFile", "Run", "RunMismatchError", "TrackingFileError",
           "layer_record", "read_runs", "sort_records"]

FORMAT = "gib_kernels.tracking/1"


class TrackingFileError(ValueError):
    """The file is not a tracking file this version can read."""


class RunMismatchError(ValueError):
    """The file already holds this run, with a different configuration."""


@dataclass
class Run:
    """One run of a tracking file: its configuration and records (sorted by layer, epoch)."""

    name: str
    config: dict
    records: list[dict] = field(default_factory=list)

    @property
    def layers(self) -> list[str]:
        return list(self.config["layers"])

    def trajectory(self, layer: str, quantity: str) -> tuple[np.ndarray, np.ndarray]:
        """(epochs, values) of one quantity ("I_XT", "S_TY", ...) of one layer, by epoch."""
        rows = [r for r in self.records if r["layer"] == layer]
        return (np.array([r["epoch"] for r in rows], dtype=np.int64),
                np.array([r[quantity] for r in rows], dtype=np.float64))


def read_runs(path) -> dict[str, Run]:
    """Every run of a tracking file, by name. A last line cut short by a crash is ignored."""
    runs: dict[str, Run] = {}
    for number, line in _complete_lines(Path(path)):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise TrackingFileError(f"{path} is not a tracking file: line {number} is not "
                                    "JSON") from None
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind == "header":
            if entry.get("format") != FORMAT:
                raise TrackingFileError(f"{path}: line {number} has format "
                                        f"{entry.get('format')!r}; this version reads {FORMAT!r}")
            runs[entry["run"]] = Run(entry["run"], entry["config"])
        elif kind == "record" and entry.get("run") in runs:
            runs[entry["run"]].records.append(entry)
        else:
            raise TrackingFileError(f"{path} is not a tracking file: line {number} is neither "
                                    "a run header nor a record of a run announced before it")
    for run in runs.values():
        sort_records(run.records, run.layers)
    return runs


def sort_records(records: list[dict], layers: list[str]) -> None:
    """In place: by layer in the network's order, then by epoch."""
    order = {name: i for i, name in enumerate(layers)}
    records.sort(key=lambda r: (order[r["layer"]], r["epoch"]))


def layer_record(run: str, epoch: int, layer: str, estimates: dict, *, units: int,
                 features: int, estimator: str, bin_range, explained: float | None,
                 saturated: list[str], metrics: dict) -> dict:
    """The record line of one layer at one epoch, from the estimates of ``layer_estimates``:
    ``units`` the layer's width before any view or reduction, ``features`` the columns the
    estimates saw, ``bin_range`` the binning range (None for other estimators),
    ``explained`` the variance a PCA kept, ``saturated`` the quantities that counted the
    probe samples. An estimate repeated over seeds adds ``spread``: the standard deviation of
    I_XT, I_TY and of every profile entry over the repeats."""
    profile_xt, profile_ty = estimates["profile_XT"], estimates["profile_TY"]
    spread = {"spread": estimates["spread"]} if "spread" in estimates else {}
    return {
        "kind": "record", "run": run, "epoch": int(epoch), "layer": layer,
        "units": units, "features": features, "estimator": estimator,
        "bin_range": None if bin_range is None else list(bin_range),
        "explained_variance": explained,
        "I_XT": estimates["I_XT"],
        "I_TY": estimates["I_TY"],
        # S is the plain mean of the profile, as gib_kernels.synergy computes it.
        "S_XT": float(np.mean(profile_xt)),
        "S_TY": float(np.mean(profile_ty)),
        "profile_XT": [float(v) for v in profile_xt],
        "profile_TY": [float(v) for v in profile_ty],
        "saturated": saturated,
        **spread,
        "metrics": metrics,
    }


class RecordFile:
    """One run's lines in a tracking file, or nowhere when ``path`` is None."""

    def __init__(self, path, run: str):
        self.path = None if path is None else Path(path)
        self.run = run

    def open(self, config: dict) -> list[dict]:
        """The run's records already in the file (a resume), or none after writing its header.
        Raises RunMismatchError when the file holds the run with another configuration."""
        if self.path is None:
            return []
        if self.path.exists():
            _drop_torn_line(self.path)
            existing = read_runs(self.path).get(self.run)
            if existing is not None:
                differences = _config_differences(config, existing.config)
                if differences:
                    raise RunMismatchError(
                        f"{self.path} already holds run {self.run!r} with another configuration "
                        f"({'; '.join(differences)}); use another file or run name, or delete "
                        "the file to start over")
                return existing.records
        self.append({"kind": "header", "format": FORMAT, "run": self.run, "config": config})
        return []

    def append(self, entry: dict) -> None:
        """One line, flushed to the disk before returning."""
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    # --- PCA bases fitted over the run ----------------------------------------------------------

    def _bases_path(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.{self.run}.pca.npz")

    def load_bases(self, reductions: dict) -> None:
        """Restores the saved PCA bases into ``reductions`` ({layer: Reduction or None})."""
        if self.path is None or not self._bases_path().exists():
            return
        with np.load(self._bases_path()) as saved:
            for name, reduction in reductions.items():
                if reduction is not None and f"{name}/basis" in saved.files:
                    reduction.mean = saved[f"{name}/mean"]
                    reduction.basis = saved[f"{name}/basis"]
                    reduction.explained = float(saved[f"{name}/explained"])

    def save_bases(self, reductions: dict) -> None:
        fitted = {name: r for name, r in reductions.items()
                  if r is not None and r.method == "pca" and r.basis is not None}
        if self.path is None or not fitted:
            return
        arrays = {}
        for name, r in fitted.items():
            arrays.update({f"{name}/mean": r.mean, f"{name}/basis": r.basis,
                           f"{name}/explained": np.float64(r.explained)})
        np.savez(self._bases_path(), **arrays)


def _complete_lines(path: Path):
    """(line number, text) of the non-empty lines that end in a newline."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.endswith("\n") and line.strip():
                yield number, line


def _drop_torn_line(path: Path) -> None:
    """Cuts a last line left without its newline by a crash, so appends start on a fresh line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        warnings.warn(f"{path}: dropping an incomplete last line ({len(data) - keep} bytes) "
                      "left by an interrupted run", RuntimeWarning, stacklevel=4)
        with open(path, "r+b") as f:
            f.truncate(keep)


def _config_differences(ours: dict, theirs: dict) -> list[str]:
    keys = sorted(set(ours) | set(theirs))
    return [f"{key}: {_short(ours.get(key))} here, {_short(theirs.get(key))} in the file"
            for key in keys if ours.get(key) != theirs.get(key)]


def _short(value, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
