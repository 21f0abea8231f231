"""The ``gib-kernels`` command line (also ``python -m gib_kernels``).

Exit codes: 0 success, 2 a usage error (bad option, unreadable file, unknown array name,
inputs the estimators reject), always with a one-line message and no traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from . import __version__

USAGE_ERROR = 2
DEMO_TASKS = ("tishby", "cnn", "transformer")
# The demos' (epochs, points) for the help text, which imports no torch: each task's default run
# and the tishby paper-length run. tracking.demo and tracking.wide_demos define them (a test
# checks that these match).
DEMO_SCHEDULES = {"tishby": (3000, 40), "cnn": (200, 30), "transformer": (150, 30)}
FULL_SCHEDULE = (10_000, 100)

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
  gib-kernels estimate activations.npz --z hidden5/epoch100 --w labels
  gib-kernels estimate layer.npy --json
  gib-kernels info"""


class UsageError(Exception):
    """A mistake in how the command was called: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors instead of the usage block."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


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
    p.add_argument("--estimator", choices=("auto", "binning", "knn", "kde", "gaussian"),
                   default=None,
                   help="tishby: binning, 30 equal-width bins, the classic estimator (default); "
                        "knn: KSG on raw activations (much slower); kde: the Kolchinsky-Tracey "
                        "bound; gaussian: the Gaussian copula. cnn and transformer: auto "
                        "(default: binning up to 12 columns, the Gaussian copula beyond)")
    p.add_argument("--device", default="cpu", help="torch device for training (default: cpu)")
    p.add_argument("--store", type=Path, default=None,
                   help="cnn and transformer: keep the recorded activations in this folder "
                        "instead of memory")
    p.add_argument("--save-activations", action="store_true",
                   help="tishby only: also write activations_<act>.npz (all layers, all "
                        "measured epochs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = commands.add_parser(
        "estimate", help="entropy, mutual information and synergy of arrays saved in a "
                         ".npz, .npy or .pt file",
        description="Reads arrays from FILE and prints H(Z), and with a target W also "
                    "I(Z;W) and the synergy S(Z->W) (the mean of the feature-wise synergy "
                    "profile, printed with --profile). Z is an (n samples, d features) array; "
                    "W holds n integer class labels or an (n, q) array. Results in bits.",
        epilog="Arrays are found by name: the keys of a .npz or of a dict saved with "
               "torch.save (.pt); a .npy or a single saved tensor is one array named after "
               "the file. Integer arrays are treated as already discrete (binning).")
    p.add_argument("file", type=Path, metavar="FILE", help="a .npz, .npy or .pt file")
    p.add_argument("--z", metavar="NAME", help="the array holding Z (default: the only array)")
    p.add_argument("--w", metavar="NAME", help="the array holding the target W (optional)")
    p.add_argument("--estimator", choices=("auto", "binning", "knn", "mixed", "kde", "gaussian"),
                   default="auto", help="auto: binning for discrete Z, mixed (Ross) for float Z "
                                        "against labels, knn (KSG) otherwise; gaussian: the "
                                        "Gaussian copula, for wide Z")
    p.add_argument("--bins", type=_positive_int, default=30, help="bins of the binning estimator")
    p.add_argument("--bin-range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                   help="one fixed binning range, e.g. -1 1 for tanh (default: the data's range)")
    p.add_argument("--k", type=_positive_int, default=3, help="neighbours of the k-NN estimators")
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
            raise UsageError("choose a command: demo, estimate or info (see 'gib-kernels --help')")
        return {"demo": _demo, "estimate": _estimate, "info": _info}[args.command](args)
    except UsageError as error:
        print(f"gib-kernels: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:
        # The reader went away (`| head`): silence the flush at exit, as the docs advise.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


# --- demo --------------------------------------------------------------------------------------


def _demo(args) -> int:
    import torch

    from .tracking import RunMismatchError, TrackingFileError, demo, wide_demos

    try:
        device = torch.device(args.device)
    except RuntimeError as error:
        raise UsageError(f"--device: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: torch sees no CUDA device here")
    tishby = args.task == "tishby"
    for flag, given in (("--full", args.full), ("--save-activations", args.save_activations)):
        if given and not tishby:
            raise UsageError(f"{flag} is for --task tishby only")
    if args.store is not None and tishby:
        raise UsageError("--store is for --task cnn and transformer")
    out = args.out or Path("gib-demo" if tishby else f"gib-demo-{args.task}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    try:
        if tishby:
            if args.estimator == "auto":
                raise UsageError("--estimator auto is for --task cnn and transformer; the "
                                 "12-bit layers are binned by default")
            epochs = demo.FULL_EPOCHS if args.full else args.epochs or demo.DEFAULT_EPOCHS
            points = args.points or (demo.FULL_POINTS if args.full else demo.DEFAULT_POINTS)
            result = demo.run_demo(out, epochs=epochs, points=points, seed=args.seed,
                                   estimator=args.estimator or "binning", device=device,
                                   save_activations=args.save_activations,
                                   progress=not args.quiet)
        else:
            result = wide_demos.run_wide_demo(args.task, out, epochs=args.epochs,
                                              points=args.points, seed=args.seed,
                                              estimator=args.estimator or "auto", device=device,
                                              store=args.store, progress=not args.quiet)
    except (RunMismatchError, TrackingFileError) as error:
        raise UsageError(str(error)) from None
    print(result.summary)
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


def _estimate(args) -> int:
    from . import functional as F

    arrays = load_arrays(args.file)
    z_name = _pick(arrays, args.z, "--z", args.file)
    w_name = None if args.w is None else _pick(arrays, args.w, "--w", args.file)
    z = arrays[z_name]
    options = {"estimator": args.estimator, "bins": args.bins, "k": args.k,
               "bin_range": args.bin_range, "backend": args.backend}
    result = {"file": str(args.file), "z": _describe(z_name, z), "unit": "bits", **options}
    try:
        result["entropy"] = F.entropy(z, **options)
        if w_name is not None:
            w = arrays[w_name]
            result["w"] = _describe(w_name, w)
            result["mutual_information"] = F.mutual_information(z, w, **options)
            profile = F.synergy_profile(z, w, **options)
            result["synergy"] = float(np.mean(profile))
            result["synergy_profile"] = [float(v) for v in profile]
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    rows = [("file", result["file"]), ("Z", _shape_text(result["z"]))]
    if w_name is not None:
        rows.append(("W", _shape_text(result["w"])))
    rows += [("estimator", _estimator_text(args)), ("H(Z)", f"{result['entropy']:.6g} bits")]
    if w_name is not None:
        rows += [("I(Z;W)", f"{result['mutual_information']:.6g} bits"),
                 ("S(Z->W)", f"{result['synergy']:.6g} bits")]
        if args.profile:
            rows.append(("profile s_j", " ".join(f"{v:.4g}" for v in result["synergy_profile"])))
    _print_table(rows)
    return 0


def _estimator_text(args) -> str:
    settings = {"auto": f"bins={args.bins}, k={args.k}", "binning": f"bins={args.bins}",
                "knn": f"k={args.k}", "mixed": f"k={args.k}", "kde": "sigma2=1e-3",
                "gaussian": "copula, bias-corrected"}
    return f"{args.estimator} ({settings[args.estimator]})"


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
