"""The gib-kernels command line: every sub-command runs, and user mistakes exit with code 2
and a one-line message, never a traceback."""
import csv
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import gib_kernels as gk
from gib_kernels.cli import DEMO_SCHEDULES, FULL_SCHEDULE, build_parser, main
from gib_kernels import demos
from gib_kernels.demos import TASKS
from gib_kernels.tracking import log_spaced_epochs, read_runs

ROOT = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def arrays():
    """Odd shapes: a float layer, its integer codes, labels, and a matrix target."""
    rng = np.random.default_rng(11)
    z = rng.normal(size=(301, 5))
    return {"layer": z, "codes": np.floor(np.clip(z, -2, 1.999) * 2).astype(np.int64),
            "labels": (z[:, 0] + z[:, 1] > 0).astype(np.int64), "other": rng.normal(size=(301, 3))}


# ----------------------------------------------------------------------------- help, info
def test_help_names_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for command in ("demo", "study", "estimate", "info", "examples:"):
        assert command in out


@pytest.mark.parametrize("command", ["demo", "study", "estimate", "info"])
def test_each_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"gib-kernels {command}" in capsys.readouterr().out


NO_TORCH_SCRIPT = """
import contextlib, io, sys
from gib_kernels.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main(sys.argv[1:])
    except SystemExit as done:
        assert done.code == 0, done.code
assert "usage: gib-kernels" in out.getvalue()
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "torch" or m.endswith("._cpu"))
assert not loaded, loaded[:5]
"""


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"], ["study", "--help"],
                                  ["estimate", "--help"], ["info", "--help"]],
                         ids=["main", "demo", "study", "estimate", "info"])
def test_help_imports_no_torch(argv):
    done = subprocess.run([sys.executable, "-c", NO_TORCH_SCRIPT, *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_demo_schedules_in_the_help_match_the_demos():
    assert DEMO_SCHEDULES == {"tishby": (demos.DEFAULT_EPOCHS, demos.DEFAULT_POINTS),
                              **{task: (TASKS[task].epochs, TASKS[task].points)
                                 for task in ("cnn", "transformer")}}
    assert FULL_SCHEDULE == (demos.FULL_EPOCHS, demos.FULL_POINTS)


def test_info_table(capsys):
    code, out, _ = run_cli(capsys, "info")
    assert code == 0
    assert "backend cpu" in out and "backend reference  available" in out
    assert f"version            {gk.__version__}" in out


def test_info_json(capsys):
    code, out, _ = run_cli(capsys, "info", "--json")
    info = json.loads(out)
    assert code == 0
    assert info["build"] == json.loads(json.dumps(gk.build_info()))
    assert set(info["backends"]) == {"reference", "cpu", "cuda", "triton"}
    assert info["devices"][0] == "cpu"


# ----------------------------------------------------------------------------- estimate
def _save(path, arrays, names):
    chosen = {name: arrays[name] for name in names}
    if path.suffix == ".npz":
        np.savez(path, **chosen)
    elif path.suffix == ".npy":
        np.save(path, next(iter(chosen.values())))
    elif len(chosen) == 1:
        torch.save(torch.from_numpy(next(iter(chosen.values()))), path)
    else:
        torch.save({k: torch.from_numpy(v) for k, v in chosen.items()}, path)
    return path


@pytest.mark.parametrize("file_name, names, z, w, used", [
    ("acts.npz", ["layer", "labels"], "layer", "labels", "mixed"),
    ("acts.npz", ["codes", "labels", "other"], "codes", "labels", "binning"),
    ("acts.npz", ["layer", "other"], "layer", "other", "knn"),
    ("acts.pt", ["codes", "labels"], "codes", "labels", "binning"),
    ("codes.npy", ["codes"], None, None, "binning"),
    ("codes.pt", ["codes"], None, None, "binning"),
], ids=["npz-float-labels", "npz-codes-labels", "npz-float-matrix", "pt-dict", "npy-alone",
        "pt-tensor"])
def test_estimate_json_matches_the_library(tmp_path, capsys, arrays, file_name, names, z, w,
                                           used):
    """The default estimator ("auto") resolves as in the library: mixed, binning, k-NN; the
    mixed estimator gives no H(Z)."""
    path = _save(tmp_path / file_name, arrays, names)
    argv = ["estimate", path, "--json"] + (["--z", z] if z else []) + (["--w", w] if w else [])
    code, out, _ = run_cli(capsys, *argv)
    result = json.loads(out)
    z_array = arrays[z or names[0]]
    assert code == 0
    assert result["z"] == {"name": z or path.stem, "shape": list(z_array.shape),
                           "dtype": str(z_array.dtype)}
    assert result["estimator"]["requested"] == "auto" and result["estimator"]["used"] == used
    assert result["unit"] == "bits"
    if used == "mixed":
        assert "entropy" not in result and "mixed" in result["not_computed"]["entropy"]
    else:
        assert result["entropy"] == pytest.approx(gk.entropy(z_array), abs=1e-9)
    if w is not None:
        w_array = arrays[w]
        assert result["mutual_information"] == pytest.approx(
            gk.mutual_information(z_array, w_array), abs=1e-9)
        profile = gk.synergy_profile(z_array, w_array)
        np.testing.assert_allclose(result["synergy_profile"], profile, atol=1e-9)
        assert result["synergy"] == pytest.approx(np.mean(profile), abs=1e-9)


def test_estimate_table(tmp_path, capsys, arrays):
    path = _save(tmp_path / "acts.npz", arrays, ["layer", "labels"])
    code, out, _ = run_cli(capsys, "estimate", path, "--z", "layer", "--w", "labels",
                           "--estimator", "binning", "--bin-range", "-2", "2", "--profile")
    rows = dict(line.split(None, 1) for line in out.splitlines())
    assert code == 0
    assert rows["Z"] == "layer (301 x 5, float64)" and rows["W"] == "labels (301, int64)"
    options = {"estimator": "binning", "bin_range": (-2, 2)}
    assert float(rows["I(Z;W)"].split()[0]) == pytest.approx(
        gk.mutual_information(arrays["layer"], arrays["labels"], **options), rel=1e-5)
    assert len(rows["profile"].split()) == 1 + 5  # "s_j" and one value per feature


def _table(out: str) -> dict:
    return dict(line.split(None, 1) for line in out.splitlines())


def _estimate_json(capsys, path, *argv):
    code, out, err = run_cli(capsys, "estimate", path, "--json", *argv)
    assert code == 0, err
    return json.loads(out)


def test_estimate_mixed_on_integer_labels(tmp_path, capsys, arrays):
    """The mixed estimator on int64 labels gives I(Z;W) and the synergy, and says it has no
    H(Z) instead of failing on it."""
    path = _save(tmp_path / "acts.npz", arrays, ["layer", "labels"])
    code, out, err = run_cli(capsys, "estimate", path, "--z", "layer", "--w", "labels",
                             "--estimator", "mixed")
    rows = _table(out)
    assert code == 0, err
    assert rows["estimator"] == "mixed" and rows["parameters"] == "k=3"
    assert rows["H(Z)"].startswith("not computed: the mixed estimator has no entropy")
    z, w = arrays["layer"], arrays["labels"]
    assert float(rows["I(Z;W)"].split()[0]) == pytest.approx(
        gk.mutual_information(z, w, estimator="mixed"), rel=1e-5)
    assert float(rows["S(Z->W)"].split()[0]) == pytest.approx(
        gk.synergy(z, w, estimator="mixed"), rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("z, w, used, reason", [
    ("layer", "labels", "mixed", "continuous Z, integer class labels as the target"),
    ("codes", "labels", "binning", "discrete-valued Z: each distinct value its own bin"),
    ("layer", "other", "knn", "continuous Z, a target other than class labels"),
    ("layer", None, "knn", "continuous Z, no target"),
], ids=["mixed", "binning", "knn-matrix-target", "knn-alone"])
def test_estimate_says_what_auto_chose_and_why(tmp_path, capsys, arrays, z, w, used, reason):
    path = _save(tmp_path / "acts.npz", arrays, ["layer", "codes", "labels", "other"])
    argv = ["--z", z] + (["--w", w] if w else [])
    code, out, _ = run_cli(capsys, "estimate", path, *argv)
    assert code == 0
    assert _table(out)["estimator"] == f"auto -> {used} ({reason})"
    chosen = _estimate_json(capsys, path, *argv)["estimator"]
    assert (chosen["requested"], chosen["used"], chosen["reason"]) == ("auto", used, reason)


@pytest.mark.parametrize("argv, parameters, entropy_of", [
    (["--estimator", "binning"], {"bins": 30, "bin_range": None},
     "discrete plug-in entropy of the (binned) rows"),
    (["--estimator", "knn"], {"k": 3, "metric": "max"},
     "differential entropy, Kozachenko-Leonenko"),
    (["--estimator", "kde"], {"sigma2": 1e-3},
     "upper bound (KDE) on the differential entropy of Z + N(0, 0.001 I)"),
    (["--estimator", "gaussian"], {"copula": True, "bias_correction": True, "ridge": 0.0},
     "entropy of the copula-normalised data (each column ranked and mapped to a standard "
     "normal), not comparable with k-NN or binning H(Z)"),
    (["--estimator", "gaussian", "--no-copula"],
     {"copula": False, "bias_correction": True, "ridge": 0.0},
     "differential entropy of a Gaussian with the covariance of Z"),
], ids=["binning", "knn", "kde", "gaussian-copula", "gaussian-plain"])
def test_estimate_names_the_parameters_and_what_its_entropy_is(tmp_path, capsys, arrays, argv,
                                                               parameters, entropy_of):
    path = _save(tmp_path / "layer.npy", arrays, ["layer"])
    result = _estimate_json(capsys, path, *argv)
    assert result["estimator"]["parameters"] == parameters
    assert result["entropy_of"] == entropy_of
    code, out, _ = run_cli(capsys, "estimate", path, *argv)
    rows = _table(out)
    assert code == 0
    assert rows["H(Z)"] == f"{result['entropy']:.6g} bits: {entropy_of}"
    assert rows["parameters"] == ", ".join(
        f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in parameters.items())


def _duplicated(arrays):
    return np.concatenate([arrays["layer"], arrays["layer"][:, :1]], axis=1)


@pytest.mark.parametrize("z, w, argv, options", [
    ("duplicated", None, ["--estimator", "gaussian", "--ridge", "1e-6"],
     {"estimator": "gaussian", "ridge": 1e-6}),
    ("codes", "labels", ["--estimator", "knn", "--noise", "1e-10", "--random-state", "0"],
     {"estimator": "knn", "noise": 1e-10, "random_state": 0}),
    ("layer", None, ["--estimator", "knn", "--metric", "euclidean", "--k", "5"],
     {"estimator": "knn", "metric": "euclidean", "k": 5}),
    ("layer", "labels", ["--estimator", "kde", "--sigma2", "0.05"],
     {"estimator": "kde", "sigma2": 0.05}),
    ("layer", "other", ["--estimator", "gaussian", "--no-copula", "--no-bias-correction"],
     {"estimator": "gaussian", "copula": False, "bias_correction": False}),
    ("layer", "labels", ["--noise", "1e-10", "--random-state", "3"],
     {"noise": 1e-10, "random_state": 3}),
    ("layer", "labels", ["--estimator", "binning", "--bins", "7", "--base", "e"],
     {"estimator": "binning", "bins": 7, "base": "e"}),
], ids=["ridge", "noise-on-discrete", "metric-k", "sigma2", "no-copula", "mixed-noise",
        "bins-nats"])
def test_estimate_passes_the_options_to_the_library(tmp_path, capsys, arrays, z, w, argv,
                                                    options):
    data = {**arrays, "duplicated": _duplicated(arrays)}
    path = _save(tmp_path / "acts.npz", data, [z] + ([w] if w else []))
    result = _estimate_json(capsys, path, "--z", z, *(["--w", w] if w else []), *argv)
    assert result["unit"] == ("nats" if options.get("base") == "e" else "bits")
    for name, value in options.items():
        if name not in ("estimator", "base"):
            assert result["estimator"]["parameters"][name] == value
    if "entropy" in result:
        assert result["entropy"] == pytest.approx(gk.entropy(data[z], **options), rel=1e-9)
    if w is not None:
        assert result["mutual_information"] == pytest.approx(
            gk.mutual_information(data[z], data[w], **options), rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(result["synergy_profile"],
                                   gk.synergy_profile(data[z], data[w], **options),
                                   rtol=1e-9, atol=1e-12)


def test_estimate_without_the_options_that_make_it_run(tmp_path, capsys, arrays):
    """What --ridge and --noise are for: a duplicated unit and discrete data are refused
    without them, with the option to pass named."""
    path = _save(tmp_path / "acts.npz", {**arrays, "duplicated": _duplicated(arrays)},
                 ["duplicated", "codes", "labels"])
    code, _, err = run_cli(capsys, "estimate", path, "--z", "duplicated", "--estimator",
                           "gaussian")
    assert code == 2 and "pass --ridge 1e-6 or larger" in err
    code, _, err = run_cli(capsys, "estimate", path, "--z", "codes", "--w", "labels",
                           "--estimator", "knn")
    assert code == 2 and "pass --noise 1e-10 (with --random-state)" in err


def test_estimate_warnings_are_one_line_each_in_options(tmp_path, capsys, arrays):
    """A library warning (here duplicate rows for k-NN, raised by H(Z), I(Z;W) and the profile
    alike) is printed once, as one line that names this command's options."""
    layer = arrays["layer"].copy()
    layer[1] = layer[0]
    path = _save(tmp_path / "acts.npz", {"layer": layer, "other": arrays["other"]},
                 ["layer", "other"])
    code, out, err = run_cli(capsys, "estimate", path, "--z", "layer", "--w", "other")
    assert code == 0 and "S(Z->W)" in out
    assert err.splitlines() == [
        "gib-kernels: warning: 'z' has 1 duplicate rows: k-NN estimators assume distinct points "
        "(zero distances bias them). Pass --noise 1e-10 (with --random-state) to break ties, or "
        "use --estimator binning for discrete data."]


def test_estimate_help_states_the_library_defaults():
    """The help of each estimator option with a flag of its own says the default of the
    functional API (the others are given as -o NAME=VALUE, documented by their class)."""
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    helps = {action.dest: action.help for action in commands.choices["estimate"]._actions}
    defaults = {"base": inspect.signature(gk.mutual_information).parameters["base"].default}
    for name in gk.estimators.ESTIMATORS:
        defaults.update(gk.estimators.family(name).defaults())
    from gib_kernels.cli import ESTIMATOR_OPTIONS

    assert set(ESTIMATOR_OPTIONS) <= set(helps) and "option" in helps
    for name, value in defaults.items():
        if name not in ESTIMATOR_OPTIONS and name != "base":
            continue
        shown = re.search(r"\(default: ([^;)]+)", helps[name])[1]
        if isinstance(value, bool):
            assert shown == "--" + ("" if value else "no-") + name.replace("_", "-"), name
        elif value is None:
            assert shown in ("none", "the data's range", "chosen from the data"), name
        elif isinstance(value, str):
            assert shown == value, name
        else:
            assert float(shown) == value, name


def _broken_files(tmp_path, arrays):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "notes.txt").write_text("z")
    (tmp_path / "junk.pt").write_bytes(b"\x80\x02junk")
    torch.save({"weights": [1, 2, 3]}, tmp_path / "nothing.pt")
    np.savez(tmp_path / "acts.npz", layer=arrays["layer"], labels=arrays["labels"],
             short=np.zeros(10, dtype=np.int64), text=np.array(["a", "b"]))


@pytest.mark.parametrize("argv, message", [
    (["estimate", "missing.npz"], "no such file"),
    (["estimate", "notes.txt"], "unknown file type .txt"),
    (["estimate", "corrupt.npz"], "cannot read"),
    (["estimate", "objects.npy"], "cannot read"),
    (["estimate", "junk.pt"], "cannot read"),
    (["estimate", "nothing.pt"], "expected a tensor or a dict of tensors"),
    (["estimate", "acts.npz"], "holds 4 arrays .*choose Z with --z"),
    (["estimate", "acts.npz", "--z", "nope"], "no array 'nope' for --z; it holds layer, labels"),
    (["estimate", "acts.npz", "--z", "layer", "--w", "nope"], "no array 'nope' for --w"),
    (["estimate", "acts.npz", "--z", "layer", "--w", "short"], "same number of samples"),
    (["estimate", "acts.npz", "--z", "text"], "real numbers"),
    (["estimate", "acts.npz", "--z", "layer", "--bins", "0"], "expected a number >= 1"),
    (["estimate", "acts.npz", "--z", "layer", "--estimator", "magic"], "invalid choice"),
    (["estimate", "acts.npz", "--z", "layer", "--estimator", "mixed"],
     r"the mixed estimator gives I\(Z;W\) and the synergy .* name the labels with --w"),
    (["estimate", "acts.npz", "--z", "layer", "--estimator", "knn", "--bins", "10"],
     "--bins is not an option of the knn estimator; it takes --k, --metric, --noise, "
     "--random-state$"),
    (["estimate", "acts.npz", "--z", "layer", "--estimator", "gaussian", "--noise", "1e-10"],
     "--noise is not an option of the gaussian estimator; it takes --copula/--no-copula"),
    (["estimate", "acts.npz", "--z", "layer", "--estimator", "binning", "--no-copula"],
     "--copula/--no-copula is not an option of the binning estimator; it takes --bins, "
     "--bin-range"),
    (["estimate", "acts.npz", "--z", "layer", "--w", "labels", "--sigma2", "0.1"],
     r"--sigma2 is not an option of the mixed estimator, which auto chose \(continuous Z, "
     r"integer class labels as the target\); it takes --k, --noise, --random-state; name "
     "another with --estimator"),
    (["estimate", "acts.npz", "--z", "layer", "--noise", "-1"],
     r"--noise must be a finite number >= 0\. Got -1\.0 instead\."),
    (["estimate", "acts.npz", "--z", "layer", "--estimator", "gaussian", "--ridge", "-1"],
     "--ridge must be a finite number >= 0"),
    (["estimate", "acts.npz", "--z", "layer", "--estimator", "kde", "--sigma2", "0"],
     "--sigma2 must be a positive finite number"),
    (["estimate", "acts.npz", "--z", "layer", "--ridge", "abc"], "expected a number, got 'abc'"),
    (["estimate", "acts.npz", "--z", "layer", "--random-state", "1.5"],
     "expected a whole number, got '1.5'"),
    (["estimate", "acts.npz", "--z", "layer", "--base", "1"], "--base must be 2, 'e'"),
    (["estimate", "acts.npz", "--z", "layer", "--base", "two"],
     "expected 2, e or another positive number"),
    (["estimate", "acts.npz", "--z", "layer", "--metric", "manhattan"], "invalid choice"),
    (["estimate"], "required: FILE"),
    (["frobnicate"], "invalid choice"),
    ([], "choose a command"),
    (["demo", "--epochs", "0"], "expected a number >= 1"),
    (["demo", "--epochs", "5", "--full"], "not allowed with argument"),
    (["demo", "--device", "nonsense"], "--device"),
    (["demo", "--task", "mlp"], "invalid choice"),
    (["demo", "--task", "cnn", "--full"], "--full is for --task tishby only"),
    (["demo", "--task", "transformer", "--save-activations"], "for --task tishby only"),
    (["demo", "--store", "acts"], "--store is for --task cnn and transformer"),
    (["demo", "--estimator", "auto"], "--estimator auto is for --task cnn and transformer"),
    (["study", "--task", "tishby"], "invalid choice"),
    (["study", "--grid", "nowhere.json"], "--grid: grid 'nowhere.json': neither a named grid"),
    (["study", "--grid", "acts.npz"], "--grid: grid acts.npz: cannot read it as JSON"),
    (["study", "--models", "99"], "--models 99: the grid has 24 models"),
    (["study", "--device", "nonsense"], "--device"),
], ids=["missing", "suffix", "corrupt-npz", "pickled-npy", "junk-pt", "pt-without-tensors",
        "ambiguous-z", "unknown-z", "unknown-w", "row-mismatch", "string-array", "bins-zero",
        "estimator", "mixed-without-w", "bins-for-knn", "noise-for-gaussian",
        "copula-for-binning", "sigma2-for-auto-mixed", "noise-negative", "ridge-negative",
        "sigma2-zero", "ridge-text", "random-state-fraction", "base-one", "base-text",
        "metric", "no-file", "unknown-command", "no-command", "demo-epochs-zero",
        "demo-full-and-epochs", "demo-device", "demo-task", "demo-wide-full",
        "demo-wide-save", "demo-tishby-store", "demo-tishby-auto", "study-task",
        "study-no-grid", "study-grid-not-json", "study-models", "study-device"])
def test_user_mistakes_exit_2_with_one_line(tmp_path, capsys, monkeypatch, arrays, argv,
                                            message):
    _broken_files(tmp_path, arrays)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("gib-kernels: error: ")
    assert "Traceback" not in err
    assert re.search(message, err), err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_demo_on_cuda_without_a_device(capsys):
    code, _, err = run_cli(capsys, "demo", "--device", "cuda", "--epochs", "1")
    assert code == 2 and err == "gib-kernels: error: --device cuda: torch sees no CUDA device here\n"


@pytest.mark.parametrize("argv, code, stream, text", [
    (["--help"], 0, "stdout", "commands:"),
    (["estimate", "missing.npz"], 2, "stderr", "gib-kernels: error: no such file: missing.npz"),
], ids=["help", "missing-file"])
def test_python_dash_m(tmp_path, argv, code, stream, text):
    done = subprocess.run([sys.executable, "-m", "gib_kernels", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == code
    assert text in getattr(done, stream)
    assert "Traceback" not in done.stderr


# ----------------------------------------------------------------------------- demo
@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    return out


def test_demo_writes_the_planes_and_the_summary(demo_out):
    for name in ("information.jsonl", "summary.txt", "ib_vs_gib_tanh.png", "ib_vs_gib_relu.png",
                 "ib_vs_gib_tanh.svg", "synergy_relu.png"):
        assert (demo_out / name).stat().st_size > 0, name
    summary = (demo_out / "summary.txt").read_text()
    for text in ("tanh:", "relu:", "3 epochs", "hidden4 (4 units)", "hidden5 (3 units)",
                 "IB  complexity I(X;T)", "GIB complexity S(X->T)"):
        assert text in summary
    assert summary.count("compression in the last 2 hidden layers: IB plane") == 2
    runs = read_runs(demo_out / "information.jsonl")
    assert sorted(runs) == ["relu", "tanh"]
    # epochs 0..3, five hidden layers
    assert all(len(run.records) == 4 * 5 for run in runs.values())


def test_demo_rerun_resumes_without_new_records(demo_out, capsys):
    before = (demo_out / "information.jsonl").read_text()
    code, out, err = run_cli(capsys, "demo", "--epochs", "3", "--out", demo_out, "--quiet")
    assert code == 0
    assert "resumed from" in err and "start afresh" in err
    assert (demo_out / "information.jsonl").read_text() == before
    assert out.startswith((demo_out / "summary.txt").read_text())


def test_demo_refuses_another_schedule_in_the_same_folder(demo_out, capsys):
    code, _, err = run_cli(capsys, "demo", "--epochs", "4", "--out", demo_out, "--quiet")
    assert code == 2
    assert err.count("\n") == 1 and "another configuration" in err and "epochs" in err


# ----------------------------------------------------------------------------- wide demos
@pytest.fixture(scope="module", params=["cnn", "transformer"])
def wide_demo(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"demo-{request.param}")
    assert main(["demo", "--task", request.param, "--epochs", "5", "--out", str(out),
                 "--quiet"]) == 0
    return request.param, out


def test_wide_demo_writes_planes_robustness_and_summary(wide_demo):
    task, out = wide_demo
    for name in ("information.jsonl", "summary.txt", "robustness.csv", f"ib_vs_gib_{task}.png",
                 f"ib_vs_gib_{task}.svg", f"synergy_{task}.png", f"robustness_{task}.png"):
        assert (out / name).stat().st_size > 0, name
    run = read_runs(out / "information.jsonl")[task]
    assert run.layers == list(TASKS[task].layers)
    epochs = log_spaced_epochs(5, TASKS[task].points)
    assert sorted({r["epoch"] for r in run.records}) == epochs
    assert len(run.records) == len(epochs) * len(run.layers)
    assert max(r["units"] for r in run.records) >= 256
    assert all(r["estimator"] == "gaussian" for r in run.records)
    with open(out / "robustness.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * len(epochs) and {r["attack"] for r in rows} == {"fgsm", "pgd"}
    for row in rows:
        assert 0 <= float(row["robust_accuracy"]) <= 1 and float(row["epsilon"]) > 0
    summary = (out / "summary.txt").read_text()
    for layer in run.layers:
        assert f"  {layer} (" in summary
    assert summary.count("IB  complexity I(X;T)") == len(run.layers)
    assert "Spearman rank correlation" in summary and "S_XT~pgd" in summary
