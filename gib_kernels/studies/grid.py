"""The family of models a study trains: one ``Variant`` per model, each a change of the
settings that move robustness and generalisation (seed, width, weight decay, label noise,
training length, adversarial training), and the named grids.

A grid is declarative: a list of variants, or a JSON file holding a list of objects with the
same fields (any left out keep their defaults), read and checked before anything trains.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

__all__ = ["BASE", "GRIDS", "Variant", "check_names", "default_grid", "load_grid", "with_epochs"]


@dataclass(frozen=True)
class Variant:
    """One model of a study: how it differs from the task's network and training.

    ``width`` scales the hidden units (CNN channels and dense units, the Transformer's width,
    the 12-bit hidden layers); ``weight_decay`` is AdamW's decoupled decay; ``label_noise`` the
    fraction of training labels replaced by another class (drawn from ``seed``; the probe set
    keeps its labels); ``epochs`` None trains the study's length for the task, a number that
    many epochs; ``adversarial`` > 0 trains on PGD perturbations of that L-infinity radius of
    every batch (the task's attack: pixels, bits or token embeddings), 0 on clean batches."""

    name: str
    seed: int = 0
    width: float = 1.0
    weight_decay: float = 0.0
    label_noise: float = 0.0
    epochs: int | None = None
    adversarial: float = 0.0

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"a variant needs a name, got {self.name!r}")
        for key, low, high in (("width", 0.0, math.inf), ("weight_decay", 0.0, math.inf),
                               ("label_noise", 0.0, 1.0), ("adversarial", 0.0, math.inf)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not low <= value < high or (key == "width" and value == 0):
                raise ValueError(f"variant {self.name!r}: {key} {value!r} is not a number in "
                                 f"{'(' if key == 'width' else '['}{low:g}, {high:g})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"variant {self.name!r}: seed {self.seed!r} is not a whole number")
        if self.epochs is not None and (isinstance(self.epochs, bool)
                                        or not isinstance(self.epochs, int) or self.epochs < 1):
            raise ValueError(f"variant {self.name!r}: epochs {self.epochs!r} is not a whole "
                             "number >= 1")

    def settings(self) -> dict:
        """The fields besides the name, as stored beside the model's results."""
        settings = asdict(self)
        del settings["name"]
        return settings

    def group(self) -> str:
        """Which factor the variant changes from the base network (the plots' colours):
        "base" (the seed alone may differ), the factor's name, or "combined"."""
        changed = [f.name for f in fields(self) if f.name not in ("name", "seed")
                   and getattr(self, f.name) != getattr(BASE, f.name)]
        if not changed:
            return "base"
        return changed[0].replace("_", " ") if len(changed) == 1 else "combined"


BASE = Variant("base")


def default_grid(epochs: int) -> list[Variant]:
    """24 models around the base network trained ``epochs`` epochs. The order mixes the factors,
    so that the first N models of the grid (``--models N``) already differ in several."""
    def length(fraction: float) -> int:
        return max(1, round(fraction * epochs))

    return [
        Variant("base-seed0", seed=0),
        Variant("noise0.4", label_noise=0.4),
        Variant("adversarial0.1", adversarial=0.1),
        Variant("width0.5", width=0.5),
        Variant(f"epochs{length(0.05)}", epochs=length(0.05)),
        Variant("decay1", weight_decay=1.0),
        Variant("base-seed1", seed=1),
        Variant("noise0.2", label_noise=0.2),
        Variant("adversarial0.05", adversarial=0.05),
        Variant("width2", width=2.0),
        Variant(f"epochs{length(0.15)}", epochs=length(0.15)),
        Variant("decay0.1", weight_decay=0.1),
        Variant("base-seed2", seed=2),
        Variant("noise0.1", label_noise=0.1),
        Variant("adversarial0.2", adversarial=0.2),
        Variant("width0.25", width=0.25),
        Variant(f"epochs{length(0.4)}", epochs=length(0.4)),
        Variant(f"epochs{length(3.0)}", epochs=length(3.0)),
        Variant("width0.5-noise0.2", width=0.5, label_noise=0.2),
        Variant("width2-noise0.2", width=2.0, label_noise=0.2),
        Variant("adversarial0.1-noise0.2", adversarial=0.1, label_noise=0.2),
        Variant("adversarial0.1-width2", adversarial=0.1, width=2.0),
        Variant("decay1-noise0.2", weight_decay=1.0, label_noise=0.2),
        Variant("noise0.2-seed1", label_noise=0.2, seed=1),
    ]


GRIDS = {"default": default_grid}


def load_grid(spec: str, epochs: int) -> list[Variant]:
    """A named grid (``GRIDS``, built around ``epochs``) or the path of a JSON file holding a
    list of variants (objects with the fields of ``Variant``); ValueError for a grid that does
    not read, an unknown field or a name used twice."""
    if spec in GRIDS:
        return GRIDS[spec](epochs)
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"grid {spec!r}: neither a named grid ({', '.join(GRIDS)}) nor a file")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"grid {spec}: cannot read it as JSON ({error})") from None
    if not isinstance(entries, list) or not entries \
            or not all(isinstance(entry, dict) for entry in entries):
        raise ValueError(f"grid {spec}: expected a non-empty JSON list of objects, one per model")
    known = {f.name for f in fields(Variant)}
    variants = []
    for i, entry in enumerate(entries):
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ValueError(f"grid {spec}, entry {i}: unknown field "
                             f"{', '.join(map(repr, unknown))}; a variant has "
                             f"{', '.join(sorted(known))}")
        variants.append(Variant(**{"name": f"model{i}", **entry}))
    return check_names(variants)


def check_names(variants: list[Variant]) -> list[Variant]:
    seen = set()
    for variant in variants:
        if variant.name in seen:
            raise ValueError(f"the grid names two models {variant.name!r}")
        seen.add(variant.name)
    return variants


def with_epochs(variants: list[Variant], epochs: int | None) -> list[Variant]:
    """The variants with every training length set to ``epochs`` (None: unchanged)."""
    return variants if epochs is None else [replace(v, epochs=epochs) for v in variants]
