"""How a tracked layer's output becomes the (n, features) matrix the estimators see, and where
the recorded matrices wait for their estimates.

- **Views** turn an output of any shape (n, ...) into (n, units): ``"flatten"`` keeps every
  unit (a conv map (n, C, H, W) gives C*H*W units); ``"channel"`` averages each channel over its
  positions ((n, C, ...) -> (n, C)); ``"token"`` averages over the token positions of a sequence
  output ((n, L, D) -> (n, D)).
- **Reductions** lower the number of columns once more, with one map per layer for the whole run
  so that the planes of different epochs stay comparable: ``("random", k)``, a fixed Gaussian
  random projection drawn from a seed (applied as the layer is recorded, so only k columns are
  kept), or ``("pca", k)``, the top-k principal directions of the layer's activations over all
  recorded epochs (``torch.pca_lowrank``, seeded), which are known only when the run ends;
  directions without variance (a layer of rank below k) are dropped.
- **Stores** keep the matrices until they are estimated: in memory, or as ``.npy`` files in a
  folder when they do not fit.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._validation import check_choice, check_int

__all__ = ["VIEWS", "REDUCTIONS", "Reduction", "ActivationStore", "as_units", "parse_reduction"]

VIEWS = ("flatten", "channel", "token")
REDUCTIONS = ("pca", "random")
# Rows of the run used to fit a PCA basis: enough for the top directions, bounded in memory.
PCA_FIT_ROWS = 50_000
# A principal direction whose singular value is below this fraction of the first is rounding.
RANK_TOLERANCE = 1e-5


def as_units(output: torch.Tensor, view: str) -> torch.Tensor:
    """(n, units) float32 on the CPU from a layer output (n, ...) under ``view``."""
    if output.ndim < 2 and view != "flatten":
        raise ValueError(f"the {view!r} view needs an output of shape (n, channels or tokens, "
                         f"...); got shape {tuple(output.shape)}")
    if view == "channel":
        output = output.flatten(2).mean(2) if output.ndim > 2 else output
    elif view == "token":
        if output.ndim != 3:
            raise ValueError("the 'token' view needs a sequence output of shape (n, tokens, "
                             f"features); got shape {tuple(output.shape)}")
        output = output.mean(1)
    return output.reshape(output.shape[0], -1).float().cpu()


def parse_reduction(spec) -> tuple[str, int] | None:
    """None, or (method, components) from ``("pca", 64)`` / ``("random", 64)``."""
    if spec is None:
        return None
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        method = check_choice(spec[0], "reduction", REDUCTIONS)
        return method, check_int(spec[1], "reduction components", 1)
    raise ValueError("The 'reduction' parameter must be None, ('pca', k) or ('random', k). "
                     f"Got {spec!r} instead.")


@dataclass
class Reduction:
    """One layer's map to ``components`` columns; a layer no wider than that is kept whole."""

    method: str
    components: int
    seed: int
    mean: np.ndarray | None = None
    basis: np.ndarray | None = None  # (units, components)
    explained: float | None = None  # PCA: fraction of the run's variance kept

    @property
    def needs_run(self) -> bool:
        """PCA is fitted over the whole run: estimates of the layer wait for its end."""
        return self.method == "pca" and self.basis is None

    def applies_to(self, units: int) -> bool:
        return units > self.components

    def random_basis(self, units: int) -> np.ndarray:
        if self.basis is None or self.basis.shape[0] != units:
            generator = torch.Generator().manual_seed(self.seed)
            # Entries N(0, 1/k): squared lengths are kept in expectation (Johnson-Lindenstrauss).
            self.basis = (torch.randn(units, self.components, generator=generator,
                                      dtype=torch.float64) / self.components ** 0.5).numpy()
        return self.basis

    def fit(self, epochs_of_layer: list[np.ndarray]) -> None:
        """The PCA basis over the activations of every recorded epoch (rows subsampled to
        PCA_FIT_ROWS, deterministically from the seed)."""
        rows = np.concatenate(epochs_of_layer, axis=0).astype(np.float64)
        rng = np.random.default_rng(self.seed)
        if len(rows) > PCA_FIT_ROWS:
            rows = rows[np.sort(rng.choice(len(rows), PCA_FIT_ROWS, replace=False))]
        mean = rows.mean(0)
        centred = torch.from_numpy(rows - mean)
        # Oversampled randomized SVD: the top k of 2k + 10 directions are accurate even where
        # the spectrum is flat around the k-th value.
        q = min(2 * self.components + 10, *centred.shape)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            _, s, v = torch.pca_lowrank(centred, q=q, center=False, niter=8)
        # Directions of no variance (a layer of lower rank than k, e.g. an embedding, affine in
        # one-hot tokens) would hold only rounding noise, which a rank transform would blow up
        # into unit-variance columns: they are dropped.
        ranked = int((s > RANK_TOLERANCE * s[0]).sum()) if len(s) and s[0] > 0 else 0
        keep = min(self.components, max(ranked, 1))
        s, v = s[:keep], v[:, :keep]
        total = float((centred ** 2).sum())
        self.mean, self.basis = mean, v.numpy()
        self.explained = float((s ** 2).sum()) / total if total > 0 else 1.0

    def apply(self, t: np.ndarray) -> np.ndarray:
        if not self.applies_to(t.shape[1]):
            return t
        if self.method == "random":
            return (t.astype(np.float64) @ self.random_basis(t.shape[1])).astype(np.float32)
        if self.basis is None:
            raise RuntimeError("the PCA basis is fitted over the run: call finish() first")
        return ((t.astype(np.float64) - self.mean) @ self.basis).astype(np.float32)

    def describe(self) -> dict:
        return {"method": self.method, "components": self.components, "seed": self.seed}


class ActivationStore:
    """(epoch, layer) -> (n, units) float32 matrices, in memory or as ``.npy`` files in
    ``folder`` (memory-mapped on reading, so only the matrix being estimated is resident)."""

    def __init__(self, folder=None):
        self.folder = None if folder is None else Path(folder)
        self._arrays: dict[tuple[int, str], np.ndarray] = {}
        self._keys: list[tuple[int, str]] = []
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)

    def _file(self, epoch: int, layer: str) -> Path:
        safe = layer.replace("/", "_").replace(".", "_")
        return self.folder / f"{safe}.epoch{epoch}.npy"

    def put(self, epoch: int, layer: str, array: np.ndarray) -> None:
        key = (int(epoch), layer)
        if key not in self._keys:
            self._keys.append(key)
        if self.folder is None:
            self._arrays[key] = array
        else:
            np.save(self._file(*key), np.ascontiguousarray(array, dtype=np.float32))

    def get(self, epoch: int, layer: str) -> np.ndarray:
        if self.folder is None:
            return self._arrays[(int(epoch), layer)]
        return np.load(self._file(int(epoch), layer), mmap_mode="r")

    def epochs(self) -> list[int]:
        return sorted({epoch for epoch, _ in self._keys})

    def has_epoch(self, epoch: int) -> bool:
        return any(e == epoch for e, _ in self._keys)

    def of_layer(self, layer: str) -> list[np.ndarray]:
        return [self.get(e, name) for e, name in sorted(self._keys) if name == layer]

    def clear(self) -> None:
        """Frees the memory, or removes the folder's files."""
        if self.folder is not None:
            for key in self._keys:
                self._file(*key).unlink(missing_ok=True)
            if self.folder.exists() and not any(self.folder.iterdir()):
                shutil.rmtree(self.folder, ignore_errors=True)
        self._arrays.clear()
        self._keys.clear()
