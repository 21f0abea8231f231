"""Predictive ("loss comparison") information, nats: how much a trained decoder's held-out loss
drops when it sees a set of features. I(Z_S; W) = L(none) - L(S), L(S) the mean held-out loss
of a decoder of W that sees only the columns S of z: cross-entropy against class labels (L(none)
the training prior's), Gaussian negative log-likelihood against a continuous W with the residual
covariance of the training rows (L(none) a Gaussian fitted to W). This is the predictive
V-information of the decoder class (Xu et al. 2020): what that class of decoders can use.

The synergy of feature j is L({j}) + L(-j) - L(all) - L(none) = I(Z;W) - I(Z_j;W) - I(Z_-j;W):
the 2m + 2 masks (all columns, each column alone, all but each column, none) from one call,
every decoder of a fold trained at once (``decoders``). Formulas, bias, and the relation to the
Gaussian and mixed k-NN families: docs/science.md, "The predictive estimator".
"""
from __future__ import annotations

import numpy as np
import torch

from ..._config import progress_bar
from ..._validation import (
    as_labels,
    check_choice,
    check_int,
    check_non_negative,
    check_positive,
    check_seed,
    is_label_vector,
)
from ..base import Estimator
from . import decoders
from .decoders import Split, Training

KINDS = ("full", "single", "loo")


def _check_fraction(value):
    value = check_positive(value, "validation_fraction")
    if not value < 1:
        raise ValueError(f"The 'validation_fraction' parameter must be a float in (0, 1). Got "
                         f"{value!r} instead.")
    return value


def _no_entropy():
    return ValueError(
        "estimator='predictive' measures what decoders of a target learn from the features: it "
        "has no entropy (use estimator='gaussian', 'knn' or 'binning' for H(Z))")


class Predictive(Estimator):
    """Predictive information (loss comparison): I(Z_S; W) = L(none) - L(S), L(S) the held-out
    loss of a decoder of W trained on the columns S of Z, in nats inside, the caller's ``base``
    outside. Runs on torch on the data's device, whatever the backend.

    Parameters
    ----------
    decoder : {"linear", "mlp"}, default "linear". "linear": multinomial logistic regression
        against class labels, linear regression against a continuous target (both convex,
        solved to a tolerance, deterministic); "mlp": ReLU networks of ``hidden`` units and
        ``depth`` hidden layers, trained by Adam with early stopping.
    mode : {"batched", "loop", "surrogate"}, default "batched". "batched": every mask's decoder
        of a fold trained at once (one batched model); "loop": the same decoders trained one
        after the other (slow: for comparison); "surrogate" (mlp only): one decoder trained on
        rows under random masks of the evaluation set, with the mask as an extra input, then
        evaluated under each mask: the cost of about one training, an approximation of the
        separate decoders (docs/science.md gives how far).
    folds : int >= 2, default 5. Cross-fitting: every sample's loss comes from decoders that
        did not train on it.
    repeats : int >= 1, default 1. Repetitions with fresh folds and initial weights; the mean is
        returned and the standard deviation is in ``information_terms(...).spread``.
    hidden, depth : int, default 64 and 1. The MLP's width and number of hidden layers.
    epochs, patience : int, default 200 and 20. The MLP's epochs at most, and the epochs without
        improvement on the validation rows after which it stops (its best weights are kept).
    batch_size : int, default 256. The MLP's minibatch rows.
    learning_rate : float, default 3e-3. Adam's step size.
    weight_decay : float, default 1e-4. L2 penalty on the decoders' weights, per training row,
        on standardised columns (a ridge of weight_decay x rows for linear regression).
    validation_fraction : float in (0, 1), default 0.2. The part of each training fold held for
        the MLP's early stopping.
    target_type : {"auto", "classes", "continuous"}, default "auto". "auto": a 1-D integer target
        is class labels, anything else continuous (its constant columns, known without any
        feature, are left out); "classes" refuses a target that is not.
    ridge : float, default 0. Against a continuous target: added to the variance of every
        standardised target column in each Gaussian (the residual's and the target's own), the
        variance of a noise on W; a target the features determine (a layer of its own input)
        has no finite information without it, and each column's share is then at most
        0.5 log(1 + 1 / ridge) nats. 0 raises an error on a singular covariance.
    random_state : int, numpy Generator or None. Seeds the folds and the initial weights.

    Bias: held out, a decoder's loss is above the best its class could reach, more so for
    more features and fewer samples, so I(Z_S; W) is biased down (it is an estimate of the
    decoder class's usable information, itself at most the Shannon MI); the synergy s_j mixes
    the biases of the full and leave-one-out decoders (of similar size), which largely cancel.
    A linear decoder on jointly Gaussian data converges to the Gaussian MI; against classes, a
    linear decoder is Bayes-optimal for Gaussian classes with a shared covariance. Measured:
    docs/science.md, "The predictive estimator".
    """

    name = "predictive"
    _parameters = {
        "decoder": lambda v: check_choice(v, "decoder", ("linear", "mlp")),
        "mode": lambda v: check_choice(v, "mode", ("batched", "loop", "surrogate")),
        "folds": lambda v: check_int(v, "folds", 2),
        "repeats": lambda v: check_int(v, "repeats", 1),
        "hidden": lambda v: check_int(v, "hidden", 1),
        "depth": lambda v: check_int(v, "depth", 1),
        "epochs": lambda v: check_int(v, "epochs", 1),
        "patience": lambda v: check_int(v, "patience", 1),
        "batch_size": lambda v: check_int(v, "batch_size", 1),
        "learning_rate": lambda v: check_positive(v, "learning_rate"),
        "weight_decay": lambda v: check_non_negative(v, "weight_decay"),
        "validation_fraction": _check_fraction,
        "target_type": lambda v: check_choice(v, "target_type",
                                              ("auto", "classes", "continuous")),
        "ridge": lambda v: check_non_negative(v, "ridge"),
        "random_state": check_seed,
    }
    supports_entropy = False
    fused_leave_one_out = True
    runs_on = "torch"

    def __init__(self, decoder="linear", mode="batched", folds=5, repeats=1, hidden=64,
                 depth=1, epochs=200, patience=20, batch_size=256, learning_rate=3e-3,
                 weight_decay=1e-4, validation_fraction=0.2, target_type="auto", ridge=0.0,
                 random_state=None):
        self.decoder = decoder
        self.mode = mode
        self.folds = folds
        self.repeats = repeats
        self.hidden = hidden
        self.depth = depth
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.target_type = target_type
        self.ridge = ridge
        self.random_state = random_state
        self._validate()
        if mode == "surrogate" and decoder == "linear":
            raise ValueError("mode='surrogate' needs decoder='mlp': one linear decoder has the "
                             "same weights under every mask, so it cannot stand in for "
                             "decoders fitted to each")

    # --- inputs ---------------------------------------------------------------------------

    def setup(self, d, arrays) -> None:
        p = d.p
        target = arrays.get(d.target_name)
        if target is None:
            raise _no_entropy()
        classes = (p.target_type == "classes"
                   or (p.target_type == "auto" and is_label_vector(target)))
        if classes:
            d.labels = as_labels(target, d.target_name)
            counts = np.bincount(d.labels)
            if counts.size < 2:
                raise ValueError(f"'{d.target_name}' holds a single class: there is nothing to "
                                 "decode")
            if counts.min() < 2:
                c = int(np.argmin(counts))
                raise ValueError(
                    f"class {c} of '{d.target_name}' has a single sample: the fold that holds "
                    "it out trains its decoders without that class, which then gets probability "
                    "0 (an infinite loss); every class needs at least 2 samples")
        small = 2 * p.folds if p.decoder == "linear" else 4 * p.folds
        if d.n < small:
            raise ValueError(
                f"{d.n} samples are too few for {p.folds}-fold cross-fitting"
                + ("" if p.decoder == "linear" else " with a validation part")
                + f": the predictive estimator needs at least {small} (pass folds=2 or more "
                  "samples)")

    def prepare(self, d, x, name):
        if name == d.target_name and d.labels is not None:
            return None  # the target is d.labels
        t = x.detach() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
        dtype = torch.float64 if d.p.decoder == "linear" else torch.float32
        t = t.to(dtype)
        t = t[:, None] if t.ndim == 1 else t.contiguous()
        if name == d.target_name:
            # A constant column of the target (a dead unit) is known without any feature: it
            # adds nothing to I(Z_S; W) and would make every Gaussian of W degenerate.
            varies = t.amax(0) > t.amin(0)
            if not bool(varies.any()):
                raise ValueError(f"the target '{name}' is constant: there is nothing to decode")
            t = t[:, varies].contiguous()
        return t

    # --- the quantities ---------------------------------------------------------------------

    def entropy(self, d, z) -> float:
        raise _no_entropy()

    def entropy_loo(self, d) -> np.ndarray:
        raise _no_entropy()

    def mutual_information(self, d, z) -> float:
        return float(_information(d, z, ("full",))["full"][0])

    def conditional_mutual_information(self, d) -> float:
        # chain rule: I(Z; W | V) = I(Z, V; W) - I(V; W), on the same folds
        return self.mutual_information(d, torch.cat([d.z, d.v.to(d.z.dtype)], 1)) - \
            self.mutual_information(d, d.v.to(d.z.dtype))

    def per_feature_mutual_information(self, d) -> np.ndarray:
        return _information(d, d.z, ("single",))["single"]

    def mutual_information_loo(self, d) -> np.ndarray:
        return _information(d, d.z, ("loo",))["loo"]

    def information_terms(self, d):
        info = _information(d, d.z, KINDS)
        return float(info["full"][0]), info["single"], info["loo"]


# --- folds and splits ---------------------------------------------------------------------------


def _folds(n: int, labels, folds: int, rng: np.random.Generator) -> np.ndarray:
    """The fold of every row: shuffled, and stratified by class for labels (each class spread
    evenly over the folds)."""
    fold = np.empty(n, dtype=np.int64)
    if labels is None:
        fold[rng.permutation(n)] = np.arange(n) % folds
        return fold
    offset = 0
    for c in range(int(labels.max()) + 1):
        rows = rng.permutation(np.flatnonzero(labels == c))
        fold[rows] = (offset + np.arange(rows.size)) % folds
        offset += rows.size
    return fold


def _standardise(train: torch.Tensor, *others):
    """Columns centred and scaled on ``train`` (a constant column is only centred)."""
    mean, std = train.mean(0), train.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return [None if x is None else (x - mean) / std for x in (train, *others)]


def _split(d, z, target, fold, k: int, rng: np.random.Generator) -> Split:
    test = np.flatnonzero(fold == k)
    train = np.flatnonzero(fold != k)
    val = None
    if d.p.decoder == "mlp":
        train = rng.permutation(train)
        cut = max(1, int(round(d.p.validation_fraction * train.size)))
        val, train = np.sort(train[:cut]), np.sort(train[cut:])
    index = {key: None if rows is None else torch.from_numpy(rows).to(z.device)
             for key, rows in (("train", train), ("val", val), ("test", test))}
    x = _standardise(*(None if index[key] is None else z[index[key]]
                       for key in ("train", "val", "test")))
    if d.labels is not None:
        t = [None if index[key] is None else target[index[key]]
             for key in ("train", "val", "test")]
        classes = int(d.labels.max()) + 1
    else:
        t = _standardise(*(None if index[key] is None else target[index[key]]
                           for key in ("train", "val", "test")))
        classes = 0
    return Split(x[0], x[1], x[2], t[0], t[1], t[2], classes, d.p.ridge)


def _masks(kind: str, m: int, device) -> torch.Tensor:
    eye = torch.eye(m, dtype=torch.bool, device=device)
    if kind == "full":
        return torch.ones((1, m), dtype=torch.bool, device=device)
    return eye if kind == "single" else ~eye


def _mask_ids(kind: str, m: int) -> np.ndarray:
    """Each mask's number in the whole set (full 0, all but j 1 + j, j alone 1 + m + j): its
    decoder's seed does not depend on which masks one call asks for."""
    start = {"full": 0, "loo": 1, "single": 1 + m}[kind]
    return start + np.arange(1 if kind == "full" else m)


def _information(d, z: torch.Tensor, kinds: tuple) -> dict:
    """{kind: I(Z_S; W) for the masks of ``kind``, nats, mean over the repeats}; with every
    kind, the spread over the repeats goes to ``d.cache["spread"]``."""
    p = d.p
    n, m = z.shape
    target = (torch.from_numpy(d.labels).to(z.device) if d.labels is not None
              else d.w.to(z.device, z.dtype))
    if "seeds" not in d.cache:  # one draw per call: every quantity of the call on the same folds
        d.cache["seeds"] = [int(s) for s in d.rng.integers(0, 2 ** 31 - 1, size=p.repeats)]
    wanted = [kind for kind in kinds if not (kind == "loo" and m == 1)]
    per_repeat = {kind: np.zeros((p.repeats, 1 if kind == "full" else m)) for kind in kinds}
    steps = [(r, k) for r in range(p.repeats) for k in range(p.folds)]
    folds_of = {}
    for r, k in progress_bar(steps, desc="predictive decoders (folds)"):
        seed = d.cache["seeds"][r]
        rng = np.random.default_rng([seed, k])
        if r not in folds_of:
            folds_of[r] = _folds(n, d.labels, p.folds, np.random.default_rng([seed]))
        s = _split(d, z, target, folds_of[r], k, rng)
        none = decoders.none_losses(s)
        fold_seed = seed * 101 + k
        for kind, losses in _fold_losses(s, wanted, m, p, fold_seed).items():
            per_repeat[kind][r] += (none - losses).cpu().numpy() / n
    mean = {kind: values.mean(0) for kind, values in per_repeat.items()}
    if set(kinds) == set(KINDS):
        profile = per_repeat["full"] - per_repeat["single"] - per_repeat["loo"]
        d.cache["spread"] = tuple(values.std(0) for values in (
            per_repeat["full"][:, 0], per_repeat["single"], per_repeat["loo"], profile))
    return mean


def _fold_losses(s: Split, kinds: list, m: int, p, fold_seed: int) -> dict:
    """{kind: held-out loss sums of its masks} for one fold."""
    training = Training(hidden=p.hidden, depth=p.depth, epochs=p.epochs, patience=p.patience,
                        batch_size=p.batch_size, learning_rate=p.learning_rate,
                        weight_decay=p.weight_decay, seed=fold_seed, loop=p.mode == "loop")
    device = s.x_train.device
    masks = {kind: _masks(kind, m, device) for kind in kinds}
    if p.mode == "surrogate":
        every = torch.cat([_masks(kind, m, device) for kind in KINDS if m > 1 or kind != "loo"])
        losses = decoders.surrogate_losses(s, every, training, fold_seed)
        offsets = {"full": 0, "single": 1, "loo": 1 + m}
        return {kind: losses[offsets[kind]:offsets[kind] + len(masks[kind])] for kind in kinds}
    if p.decoder == "mlp":
        # the masks over all m columns (full, all but one) as one batch, the single columns
        # (gathered) as another
        out = {}
        for group in (("full", "loo"), ("single",)):
            group = [kind for kind in group if kind in kinds]
            if not group:
                continue
            seeds = [fold_seed * (2 * m + 2) + int(i) for kind in group
                     for i in _mask_ids(kind, m)]
            losses = decoders.mlp_losses(s, torch.cat([masks[kind] for kind in group]),
                                         training, seeds)
            for kind in group:
                out[kind], losses = losses[:len(masks[kind])], losses[len(masks[kind]):]
        return out
    if not s.classes:
        return {kind: decoders.least_squares_losses(s, masks[kind], training) for kind in kinds}
    out, start = {}, None
    if "loo" in kinds or "full" in kinds:  # the full weights start the leave-one-out fits
        full, weights = decoders.logistic_losses(s, masks.get("full", _masks("full", m, device)),
                                                 training)
        start = weights[0]
        if "full" in kinds:
            out["full"] = full
    for kind in kinds:
        if kind != "full":
            out[kind] = decoders.logistic_losses(
                s, masks[kind], training, start if kind == "loo" else None)[0]
    return out


__all__ = ["Predictive"]
