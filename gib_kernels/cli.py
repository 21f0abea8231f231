"""The ``gib-kernels`` command line (also ``python -m gib_kernels``).

Exit codes: 0 success, 2 a usage error (bad option, an option the estimator used does not take,
unreadable file, unknown array name, inputs the estimators reject), always with a one-line
message and no traceback. The parser imports neither torch nor the kernels (``--help`` stays
quick); each command imports what it needs when it runs.
"""
from __future__ import annotations

import argparse
import ast
import inspect
import json
import os
import re
import sys
import warnings
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import __version__
from .estimators import ESTIMATORS as _ESTIMATORS
from .estimators import family as _family
from .estimators import names as _estimator_names

USAGE_ERROR = 2
DEMO_TASKS = ("tishby", "cnn", "transformer")
# The demos' (epochs, points) for the help text, which imports no torch: each task's default run
# and the tishby paper-length run. The task table of gib_kernels.demos defines them (a test
# checks that these match).
DEMO_SCHEDULES = {"tishby": (3000, 40), "cnn": (200, 30), "transformer": (150, 30)}
FULL_SCHEDULE = (10_000, 100)
# The study's tasks and base training lengths for the help text (gib_kernels.studies defines
# them; a test checks that these match).
STUDY_TASKS = ("cnn", "transformer", "tanh", "relu")
STUDY_EPOCHS = {"cnn": 100, "transformer": 60, "tanh": 500, "relu": 500}

DESCRIPTION = """\
Entropy, mutual information and synergy (the Generalized Information Bottleneck) of activation
matrices, on compiled kernels. Results are in bits; positive synergy means the features tell
more about the target together than apart.

Run 'gib-kernels COMMAND --help' for the options of a command."""

EXAMPLES = """\
examples:
  gib-kernels demo --out ./gib-demo
  gib-kernels demo --epochs 300 --seed 1
  gib-kernels demo --task cnn
  gib-kernels demo --task transformer --epochs 5
  gib-kernels study --task cnn
  gib-kernels study --task cnn --models 6 --epochs 20 --out ./quick-study
  gib-kernels estimate activations.npz --z hidden5/epoch100 --w labels
  gib-kernels estimate layer.npy --json
  gib-kernels estimate wide.npy --estimator gaussian --ridge 1e-6
  gib-kernels info"""


class UsageError(Exception):
    """A mistake in how the command was called: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors instead of the usage block."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _base(text: str) -> float | str:
    if text == "e":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 2, e or another positive number, got "
                                         f"{text!r}") from None
    return int(value) if value.is_integer() else value


def build_parser() -> argparse.ArgumentParser:
    epochs = {task: schedule[0] for task, schedule in DEMO_SCHEDULES.items()}
    points = {task: schedule[1] for task, schedule in DEMO_SCHEDULES.items()}
    parser = _Parser(prog="gib-kernels", description=DESCRIPTION, epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND",
                                     parser_class=_Parser)

    p = commands.add_parser(
        "demo", help="train a network and draw its IB and GIB information planes over "
                     "training: the classic 12-bit networks (default), a CNN on digits or a "
                     "Transformer on a token task (minutes on a CPU)",
        description="--task tishby (default): trains the 12-10-7-5-4-3-2 network of Shwartz-Ziv "
                    "& Tishby (2017) on the built-in 12-bit task, once with tanh and once with "
                    "ReLU (Adam 4e-4, batch 256, 80/20 split), tracks every hidden layer on all "
                    "4096 inputs at log-spaced epochs, and writes to --out: information.jsonl "
                    "(every estimate), ib_vs_gib_tanh.png and ib_vs_gib_relu.png (the IB and GIB "
                    "planes side by side, also as SVG), synergy_*.png/svg, and summary.txt (does "
                    "each plane show a compression phase?). --task cnn: a small CNN on "
                    "scikit-learn's bundled 8x8 digits; --task transformer: a two-block "
                    "Transformer on sequences labelled by whether the first and last tokens "
                    "match. Both track wide layers (PCA over the run, Gaussian copula), measure "
                    "accuracy under FGSM and PGD at every measured epoch, and also write "
                    "robustness.csv and robustness_<task>.png. Rerunning into the same --out "
                    "resumes.")
    p.add_argument("--task", choices=DEMO_TASKS, default="tishby",
                   help="tishby: the 12-bit networks (default); cnn; transformer")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: ./gib-demo/, ./gib-demo-cnn/ or "
                        "./gib-demo-transformer/)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=_positive_int, default=None,
                        help=f"training epochs per network (default: {epochs['tishby']} "
                             f"for tishby, {epochs['cnn']} for cnn, {epochs['transformer']} "
                             "for transformer)")
    length.add_argument("--full", action="store_true",
                        help=f"tishby only: the paper-length schedule, {FULL_SCHEDULE[0]} "
                             f"epochs, {FULL_SCHEDULE[1]} measurements (tens of minutes)")
    p.add_argument("--points", type=_positive_int, default=None,
                   help=f"log-spaced measurement epochs besides epoch 0 (default: "
                        f"{points['tishby']} for tishby, {points['cnn']} for cnn, "
                        f"{points['transformer']} for transformer)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, weights and batches")
    # every registered family but the mixed one, which takes class labels only (no I(X;T))
    p.add_argument("--estimator", choices=tuple(n for n in _estimator_names() if n != "mixed"),
                   default=None,
                   help="tishby: binning, 30 equal-width bins, the classic estimator (default); "
                        "knn: KSG on raw activations (much slower); kde: the Kolchinsky-Tracey "
                        "bound; gaussian: the Gaussian copula; predictive: held-out loss of "
                        "linear decoders. cnn and transformer: auto (default: binning up to 12 "
                        "columns, the Gaussian copula beyond)")
    p.add_argument("--device", default="cpu", help="torch device for training (default: cpu)")
    p.add_argument("--store", type=Path, default=None,
                   help="cnn and transformer: keep the recorded activations in this folder "
                        "instead of memory")
    p.add_argument("--save-activations", action="store_true",
                   help="tishby only: also write activations_<act>.npz (all layers, all "
                        "measured epochs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = commands.add_parser(
        "study", help="train a family of networks (seeds, widths, weight decay, label noise, "
                      "epochs, adversarial training) and correlate their IB and GIB "
                      "complexities with robust accuracy and the generalisation gap across "
                      "the models (minutes on a CPU)",
        description="Trains the models of a grid on a demo task (default: the CNN on the 8x8 "
                    "digits, 24 models), measures each once at the end of its training on the "
                    "held-out probe set (clean accuracy, accuracy under FGSM and PGD at epsilon "
                    "0.05, 0.1 and 0.2, the train-test gaps, and per tracked layer I(X;T), "
                    "I(T;Y), S(X->T), S(T->Y)), and writes to --out: models.jsonl (each model "
                    "as it finishes; a rerun reads finished models back and trains only the "
                    "others), study.csv (one row per model and layer), correlations.csv "
                    "(Spearman and Kendall with bootstrap intervals over models and permutation "
                    "p-values, partial Spearman given clean accuracy, the paired difference of "
                    "the two complexities' rhos), robustness_vs_complexity.png, "
                    "gap_vs_complexity.png and summary.txt (does S(X->T) order the models more "
                    "closely than I(X;T)? GIB, IB or undecided, per layer).")
    p.add_argument("--task", choices=STUDY_TASKS, default="cnn",
                   help="cnn (default); transformer; tanh or relu: the 12-bit network")
    p.add_argument("--grid", default="default", metavar="NAME_OR_JSON",
                   help="the models: 'default' (24 variants around the base network), or a JSON "
                        "file holding a list of objects with the fields name, seed, width, "
                        "weight_decay, label_noise, epochs, adversarial (default: default)")
    p.add_argument("--models", type=_positive_int, default=None, metavar="N",
                   help="train only the first N models of the grid")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="train every model this many epochs (default: the grid's; its base "
                        + ", ".join(f"{STUDY_EPOCHS[t]} for {t}" for t in STUDY_TASKS) + ")")
    p.add_argument("--estimator", choices=tuple(n for n in _estimator_names() if n != "mixed"),
                   default=None,
                   help="default: the task's (auto: the Gaussian copula on the wide layers; "
                        "binning for tanh and relu); predictive: held-out loss of decoders")
    p.add_argument("--probe-size", type=_positive_int, default=None, metavar="N",
                   help="measure on the first N held-out samples only (default: all)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the data, split, attacks and resamples (each model's own seed "
                        "is its variant's; default: 0)")
    p.add_argument("--resamples", type=_positive_int, default=2000,
                   help="bootstrap resamples and permutations (default: 2000)")
    p.add_argument("--device", default="cpu", help="torch device for training (default: cpu)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: ./gib-study-<task>/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = commands.add_parser(
        "estimate", help="entropy, mutual information and synergy of arrays saved in a "
                         ".npz, .npy or .pt file",
        description="Reads arrays from FILE and prints H(Z), and with a target W also "
                    "I(Z;W) and the synergy S(Z->W) (the mean of the feature-wise synergy "
                    "profile, printed with --profile), each where the estimator has it (mixed: "
                    "I(Z;W) and S only), with the estimator used and its parameters. Z is an "
                    "(n samples, d features) array; W holds n integer class labels or an (n, q) "
                    "array. Results in bits unless --base says otherwise.",
        epilog="Arrays are found by name: the keys of a .npz or of a dict saved with "
               "torch.save (.pt); a .npy or a single saved tensor is one array named after "
               "the file. Integer arrays are treated as already discrete (binning). An option "
               "of another estimator than the one used (the one auto chose) is an error.")
    p.add_argument("file", type=Path, metavar="FILE", help="a .npz, .npy or .pt file")
    p.add_argument("--z", metavar="NAME", help="the array holding Z (default: the only array)")
    p.add_argument("--w", metavar="NAME", help="the array holding the target W (optional)")
    p.add_argument("--estimator", choices=_estimator_names(),
                   default="auto", help="auto: binning for discrete Z, mixed (Ross) for float Z "
                                        "against labels, knn (KSG) otherwise; gaussian: the "
                                        "Gaussian copula, for wide Z")
    # Estimator options default to None: given or not, the library's defaults apply, and one
    # that the estimator used does not take is refused only when given.
    options = p.add_argument_group("estimator options (each for the estimators named)")
    options.add_argument("--bins", type=_positive_int,
                         help="binning: equal-width bins (default: 30)")
    options.add_argument("--bin-range", nargs=2, type=_number, metavar=("LOW", "HIGH"),
                         help="binning: one fixed range, e.g. -1 1 for tanh (default: the "
                              "data's range)")
    options.add_argument("--k", type=_positive_int,
                         help="knn, mixed: neighbours (default: 3)")
    options.add_argument("--metric", choices=("max", "euclidean"),
                         help="knn: norm of the Kozachenko-Leonenko entropy (default: max; KSG "
                              "mutual information is max-norm)")
    options.add_argument("--sigma2", type=_number,
                         help="kde: noise variance of the bound (default: 0.001)")
    options.add_argument("--noise", type=_number,
                         help="knn, mixed, kde: relative jitter that breaks distance ties, for "
                              "discrete-valued data, e.g. 1e-10 (default: 0)")
    options.add_argument("--random-state", type=_whole_number, metavar="SEED",
                         help="knn, mixed, kde: seed of --noise (default: none)")
    options.add_argument("--copula", action=argparse.BooleanOptionalAction,
                         help="gaussian: rank-normalise every column to standard normal "
                              "margins first (default: --copula)")
    options.add_argument("--bias-correction", action=argparse.BooleanOptionalAction,
                         help="gaussian: subtract the analytic bias of each Gaussian entropy "
                              "(default: --bias-correction)")
    options.add_argument("--ridge", type=_number,
                         help="gaussian: added to the diagonal of every covariance, for "
                              "singular ones (constant or duplicated units) (default: 0)")
    options.add_argument("--covariance-prior", type=_number, metavar="SAMPLES",
                         help="gaussian against labels: pseudo-samples of the pooled covariance "
                              "in each class covariance (default: chosen from the data; among "
                              "the columns of Z + 2 times 1, 4, 16, 64 or inf; 0: plain QDA; "
                              "inf: the pooled covariance for every class, LDA)")
    options.add_argument("-o", "--option", action="append", metavar="NAME=VALUE", default=[],
                         help="any option of the estimator named, as its class takes it (a "
                              "Python literal or a word), e.g. --estimator predictive -o "
                              "decoder=mlp -o folds=10; repeatable")
    p.add_argument("--base", type=_base, help="unit of the results: 2 (bits), e (nats) or "
                                               "another positive number (default: 2)")
    p.add_argument("--backend", choices=("auto", "cpu", "cuda", "triton", "reference"),
                   default="auto")
    p.add_argument("--profile", action="store_true", help="also print the synergy profile")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = commands.add_parser("info", help="what was built, which backends and devices can run",
                            description="What compiled and loaded, which backends can run "
                                        "here and which devices torch sees.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise UsageError("choose a command: demo, study, estimate or info (see "
                             "'gib-kernels --help')")
        return {"demo": _demo, "study": _study, "estimate": _estimate,
                "info": _info}[args.command](args)
    except UsageError as error:
        print(f"gib-kernels: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:
        # The reader went away (`| head`): silence the flush at exit, as the docs advise.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _device(name: str):
    """``--device`` as a torch device that this machine has."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise UsageError(f"--device: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: torch sees no CUDA device here")
    return device


def _out_folder(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    return out


# --- demo --------------------------------------------------------------------------------------


def _demo(args) -> int:
    from . import demos
    from .tracking import RunMismatchError, TrackingFileError

    device = _device(args.device)
    tishby = args.task == "tishby"
    for flag, given in (("--full", args.full), ("--save-activations", args.save_activations)):
        if given and not tishby:
            raise UsageError(f"{flag} is for --task tishby only")
    if args.store is not None and tishby:
        raise UsageError("--store is for --task cnn and transformer")
    out = _out_folder(args.out or Path("gib-demo" if tishby else f"gib-demo-{args.task}"))
    records = out / "information.jsonl"
    resumed = records.exists()
    try:
        if tishby:
            if args.estimator == "auto":
                raise UsageError("--estimator auto is for --task cnn and transformer; the "
                                 "12-bit layers are binned by default")
            epochs = demos.FULL_EPOCHS if args.full else args.epochs or demos.DEFAULT_EPOCHS
            points = args.points or (demos.FULL_POINTS if args.full else demos.DEFAULT_POINTS)
            result = demos.run_demo(out, epochs=epochs, points=points, seed=args.seed,
                                    estimator=args.estimator or "binning", device=device,
                                    save_activations=args.save_activations,
                                    progress=not args.quiet)
        else:
            result = demos.run_wide_demo(args.task, out, epochs=args.epochs,
                                         points=args.points, seed=args.seed,
                                         estimator=args.estimator or "auto", device=device,
                                         store=args.store, progress=not args.quiet)
    except (RunMismatchError, TrackingFileError) as error:
        raise UsageError(str(error)) from None
    if resumed:
        print(f"gib-kernels: resumed from {records}: its finished runs were read back, not "
              "trained again (delete the folder or pass another --out to start afresh)",
              file=sys.stderr)
    print(result.summary)
    print("wrote " + ", ".join(str(path) for path in result.files))
    return 0


# --- study -------------------------------------------------------------------------------------


def _study(args) -> int:
    import time

    from . import studies

    device = _device(args.device)
    out = _out_folder(args.out or Path(f"gib-study-{args.task}"))
    try:  # the grid is read before anything trains
        variants = studies.load_grid(args.grid, studies.STUDY_EPOCHS[args.task])
    except ValueError as error:
        raise UsageError(f"--grid: {error}") from None
    if args.models is not None and args.models > len(variants):
        raise UsageError(f"--models {args.models}: the grid has {len(variants)} models")
    started = time.perf_counter()
    result = studies.run_study(args.task, out, grid=args.grid, models=args.models,
                               epochs=args.epochs, estimator=args.estimator,
                               probe_size=args.probe_size, seed=args.seed,
                               resamples=args.resamples, device=device, progress=not args.quiet)
    print(result.summary)
    print(f"{result.trained} models trained, the others read back; "
          f"{time.perf_counter() - started:.0f} s in all")
    print("wrote " + ", ".join(str(path) for path in result.files))
    return 0


# --- estimate ----------------------------------------------------------------------------------


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a .npz, .npy or .pt file, by name; UsageError when it cannot be read."""
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        if suffix == ".npy":
            return {path.stem: np.load(path, allow_pickle=False)}
        if suffix in (".pt", ".pth"):
            return _torch_arrays(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, RuntimeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(f"cannot read {path}: {reason}") from None
    raise UsageError(f"{path}: unknown file type {suffix or '(none)'}; "
                     "expected .npz, .npy or .pt")


def _torch_arrays(path: Path) -> dict[str, np.ndarray]:
    import torch

    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged file fails anywhere in the unpickler, any type
        raise RuntimeError(str(error) or type(error).__name__) from None
    if isinstance(content, torch.Tensor):
        return {path.stem: content.numpy()}
    if isinstance(content, dict):
        arrays = {str(k): v.numpy() for k, v in content.items() if isinstance(v, torch.Tensor)}
        if arrays:
            return arrays
    raise RuntimeError("expected a tensor or a dict of tensors")


def _pick(arrays: dict[str, np.ndarray], name: str | None, option: str, path: Path) -> str:
    if name is None:
        if len(arrays) == 1:
            return next(iter(arrays))
        raise UsageError(f"{path} holds {len(arrays)} arrays ({_names(arrays)}); "
                         f"choose Z with {option} NAME")
    if name not in arrays:
        raise UsageError(f"{path} has no array {name!r} for {option}; it holds {_names(arrays)}")
    return name


def _names(arrays, limit: int = 8) -> str:
    names = list(arrays)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _describe(name: str, array: np.ndarray) -> dict:
    return {"name": name, "shape": list(array.shape), "dtype": str(array.dtype)}


class _Family(NamedTuple):
    options: tuple[str, ...]  # the options it takes, by the library's names
    entropy: str | None  # what its H(Z) is, formatted with its parameters; None: it has none


def _families() -> dict:
    """What each estimator family of the registry computes here, and from which options (its
    class says; the classes import torch, so only a command that runs asks). The mixed estimator
    is I(Z;W) against class labels only: it gives I(Z;W) and the synergy, and no H(Z)."""
    classes = {name: _family(name) for name in _ESTIMATORS}
    return {name: _Family(cls.parameter_names(),
                          cls.entropy_description if cls.supports_entropy else None)
            for name, cls in classes.items()}


# The options of the estimators, as this command's flags name them.
ESTIMATOR_OPTIONS = ("bins", "bin_range", "k", "metric", "noise", "random_state", "sigma2",
                     "copula", "bias_correction", "ridge", "covariance_prior")
COPULA_ENTROPY = ("entropy of the copula-normalised data (each column ranked and mapped to a "
                  "standard normal), not comparable with k-NN or binning H(Z)")
REPORTED_WHEN_GIVEN = ("noise", "random_state", "covariance_prior")  # listed only when given


def _estimate(args) -> int:
    from . import functional as F

    arrays = load_arrays(args.file)
    z_name = _pick(arrays, args.z, "--z", args.file)
    w_name = None if args.w is None else _pick(arrays, args.w, "--w", args.file)
    z = arrays[z_name]
    w = None if w_name is None else arrays[w_name]
    given = {name: getattr(args, name) for name in (*ESTIMATOR_OPTIONS, "base")
             if getattr(args, name) is not None}
    given.update(_named_options(args.option))
    options = {**_library_defaults(F), **given, "estimator": args.estimator,
               "backend": args.backend}
    result = {"file": str(args.file), "z": _describe(z_name, z)}
    if w is not None:
        result["w"] = _describe(w_name, w)
    with warnings.catch_warnings(record=True) as caught:
        try:
            chosen = _choose_estimator(options, given, z, w)
            result.update(estimator=chosen, backend=args.backend, unit=_unit(options["base"]))
            result.update(_quantities(F, options, chosen, z, w))
        except (ValueError, TypeError) as error:
            raise UsageError(_in_options(str(error))) from None
    for message in dict.fromkeys(str(warning.message) for warning in caught):
        print(f"gib-kernels: warning: {_in_options(message)}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    unit = result["unit"]
    rows = [("file", result["file"]), ("Z", _shape_text(result["z"]))]
    if w is not None:
        rows.append(("W", _shape_text(result["w"])))
    rows += [("estimator", _estimator_text(chosen)),
             ("parameters", _parameters_text(chosen["parameters"]))]
    if "entropy" in result:
        rows.append(("H(Z)", f"{result['entropy']:.6g} {unit}: {result['entropy_of']}"))
    else:
        rows.append(("H(Z)", f"not computed: {result['not_computed']['entropy']}"))
    if w is not None:
        rows += [("I(Z;W)", f"{result['mutual_information']:.6g} {unit}"),
                 ("S(Z->W)", f"{result['synergy']:.6g} {unit}")]
        if args.profile:
            rows.append(("profile s_j", " ".join(f"{v:.4g}" for v in result["synergy_profile"])))
    _print_table(rows)
    return 0


def _named_options(pairs: list) -> dict:
    """The ``-o NAME=VALUE`` options: each value a Python literal where it reads as one, else
    the word itself."""
    named = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name.isidentifier():
            raise UsageError(f"-o {pair!r}: write NAME=VALUE, e.g. -o decoder=mlp")
        try:
            named[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            named[name] = text
    return named


def _quantities(F, options: dict, chosen: dict, z, w) -> dict:
    """H(Z) where the estimator used has one (and what it is), and with a target W also I(Z;W)
    and the synergy profile and its mean."""
    own = _families()[chosen["used"]].options  # the options of the estimator used, and no other
    options = {name: value for name, value in options.items()
               if name in ("estimator", "base", "backend") or name in own}
    quantities = {}
    entropy_of = _entropy_of(chosen)
    if entropy_of is None:
        quantities["not_computed"] = {
            "entropy": f"the {chosen['used']} estimator has no entropy (--estimator knn gives "
                       "the Kozachenko-Leonenko H(Z))"}
    else:
        quantities["entropy"] = F.entropy(z, **options)
        quantities["entropy_of"] = entropy_of
    if w is not None:  # one call: the estimate of I(Z;W) the profile makes anyway
        terms = F.information_terms(z, w, **options)
        quantities["mutual_information"] = terms.mutual_information
        profile = np.asarray(terms.synergy_profile)
        quantities["synergy"] = float(np.mean(profile))
        quantities["synergy_profile"] = [float(v) for v in profile]
    return quantities


def _library_defaults(F) -> dict:
    """The unit of the functional API and the options of every estimator, with their defaults."""
    signature = inspect.signature(F.mutual_information)
    defaults = {"base": signature.parameters["base"].default}
    for name in _ESTIMATORS:
        defaults.update(_family(name).defaults())
    return defaults


def _choose_estimator(options: dict, given: dict, z, w) -> dict:
    """The estimator used ("auto" resolved by the library's rule), why, and the parameters it
    takes. UsageError where it cannot run on these arrays or an option given is not its own;
    ValueError or TypeError for an invalid option."""
    from ._validation import as_matrix, is_discrete_valued, is_integer
    from ._validation import log_base
    from .estimators.inputs import resolve_estimator

    log_base(options["base"])  # the library's checks of every option given
    for name in given:
        for family in _ESTIMATORS:
            if name in _family(family).parameter_names():
                _family(family)(**{name: options[name]})
    z = as_matrix(z, "z")[0]
    w = None if w is None else as_matrix(w, "w")[0]
    requested = options["estimator"]
    auto = requested == "auto"
    used = resolve_estimator(z, w) if auto else requested
    takes = _families()[used].options
    reason = None
    if auto:
        reason = {"binning": "discrete-valued Z: each distinct value its own bin",
                  "mixed": "continuous Z, integer class labels as the target",
                  "knn": "continuous Z, " + ("no target" if w is None
                                             else "a target other than class labels")}[used]
    if used == "binning":
        binned = [x for x in (z, w) if x is not None
                  and not (is_discrete_valued(x) if auto else is_integer(x))]
        if not binned:
            takes = ()
            reason = reason or "integer arrays as they are: nothing to bin"
        elif auto:
            reason += "; W in equal-width bins"
    if _families()[used].entropy is None and w is None:
        raise UsageError(f"the {used} estimator gives I(Z;W) and the synergy against class "
                         "labels, and no H(Z): name the labels with --w (or choose "
                         "--estimator knn for H(Z))")
    for name in given:
        if name != "base" and name not in takes:
            its = ", ".join(map(_flag, takes)) or "none here"
            if auto:
                raise UsageError(f"{_flag(name)} is not an option of the {used} estimator, which "
                                 f"auto chose ({reason}); it takes {its}; name another with "
                                 "--estimator")
            raise UsageError(f"{_flag(name)} is not an option of the {used} estimator; it "
                             f"takes {its}" + (f" ({reason})" if reason else ""))
    parameters = {name: options[name] for name in takes
                  if name not in REPORTED_WHEN_GIVEN or name in given}
    return {"requested": requested, "used": used, "reason": reason, "parameters": parameters}


def _entropy_of(chosen: dict) -> str | None:
    """What the H(Z) of the estimator used is, or None where it has none."""
    used, parameters = chosen["used"], chosen["parameters"]
    if used == "gaussian" and parameters["copula"]:
        return COPULA_ENTROPY
    text = _families()[used].entropy
    return None if text is None else text.format(**parameters)


def _in_options(message: str) -> str:
    """A library message with its parameters written as this command's options:
    "The 'noise' parameter" -> "--noise", "pass ridge=1e-6" -> "pass --ridge 1e-6"."""
    names = "|".join(("estimator", "base", *ESTIMATOR_OPTIONS))
    message = re.sub(rf"[Tt]he '({names})' parameter(?: of \w+)?", lambda m: _flag(m[1]), message)
    message = re.sub(rf"\b({names})='?([\w.+-]+)'?", lambda m: f"{_flag(m[1])} {m[2]}", message)
    return re.sub(r"\b(random_state|bin_range|bias_correction)\b", lambda m: _flag(m[1]), message)


def _flag(name: str) -> str:
    if name not in ESTIMATOR_OPTIONS and name not in ("estimator", "base"):
        return f"-o {name}=..."
    flag = name.replace("_", "-")
    return f"--{flag}/--no-{flag}" if name in ("copula", "bias_correction") else f"--{flag}"


def _unit(base) -> str:
    return {2: "bits", "e": "nats"}.get(base) or f"log-{base:g} units"


def _estimator_text(chosen: dict) -> str:
    text = chosen["requested"]
    if chosen["requested"] != chosen["used"]:
        text += f" -> {chosen['used']}"
    return text + (f" ({chosen['reason']})" if chosen["reason"] else "")


def _parameters_text(parameters: dict) -> str:
    def value_text(value):
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, (list, tuple)):
            return "(" + ", ".join(map(value_text, value)) + ")"
        return str(value)

    return ", ".join(f"{name}={value_text(value)}" for name, value in parameters.items()) \
        or "none"


def _shape_text(described: dict) -> str:
    return f"{described['name']} ({' x '.join(map(str, described['shape']))}, " \
           f"{described['dtype']})"


def _print_table(rows) -> None:
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


# --- info --------------------------------------------------------------------------------------


def _info(args) -> int:
    import torch

    from .backends import BACKENDS, build_info, unavailable_reason

    backends = {}
    for name in BACKENDS[1:]:  # every backend but "auto"
        reason = unavailable_reason(name, data_on_cuda=name in ("cuda", "triton"))
        backends[name] = "available" if reason is None else f"unavailable: {reason}"
    devices = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})"
                         for i in range(torch.cuda.device_count())]
    info = {"build": build_info(), "backends": backends, "devices": devices}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    rows = [(key, str(value)) for key, value in info["build"].items()]
    rows += [(f"backend {name}", status) for name, status in backends.items()]
    rows.append(("devices", ", ".join(devices)))
    _print_table(rows)
    return 0
