"""gib_kernels against the peer libraries: speed, memory and accuracy, in one command.

    python -m benchmarks.compare            # the full sweep, about 1.5 hours on 2 cores
    python -m benchmarks.compare --quick    # (1000, 8) and (2000, 16) only, about 5 minutes
    python -m benchmarks.compare --tasks mixed_loo --providers cpu ennemi --sizes 5000x32

Every measurement runs in its own process, so that its peak memory is its own and a provider
that runs too long or too big can be stopped: the process loads the data, builds the adapter
(``peers.py``, untimed: imports, layout, GPU copies), times one cold call, then repeats warm
calls while they fit in the time limit. Reported: the median of the warm calls (the cold call
when none fit: JIT compilation, as in HOI, is excluded only when a warm call ran), min and max,
the peak resident memory of the process and its part above the memory after setup (what the
estimate itself needs). A provider that passes the time limit (60 s by default) or the memory
cap is stopped and not run at larger sizes.

Accuracy: the absolute error in nats on the closed-form cases of ``peers.closed_form_case``,
at sizes up to (5000, 32), for each provider where its speed run finished.

Writes to ``benchmarks/results/`` (``results/quick/`` with --quick): ``peers_speed.csv``,
``peers_accuracy.csv``, ``peers.md`` (the tables and the ratios of gib_kernels CPU to the
fastest peer) and one log-log plot of time against n per task, ``peers_<task>.png``.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import importlib.metadata
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import peers
from .machine import cpu_name

SIZES = [(1000, 8), (2000, 16), (5000, 32), (10000, 64), (20000, 128), (50000, 256),
         (100000, 512)]
QUICK_SIZES = SIZES[:2]
ACCURACY_SIZES = SIZES[:3]
QUICK_ACCURACY_SIZES = SIZES[:1]
# The sizes of the targets: gib_kernels CPU at least this many times faster than the fastest peer.
TARGETS = {("mixed_mi", 5000, 32): 10.0, ("mixed_loo", 5000, 32): 50.0}
SETUP_ALLOWANCE_S = 30.0  # imports and data loading, on top of the time limit of the estimate
POLL_S = 0.05
ACCURACY_TOLERANCE = 1e-6  # nats: an error this much above the best peer's is still "no worse"

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent

TASK_TITLES = {
    "mixed_mi": "I(Z;Y), multivariate Z vs class labels (KSG-mixed / Ross)",
    "mixed_loo": "all-m leave-one-out I(Z_-j;Y) (peers: the loop over j)",
    "per_feature_mi": "per-feature I(Z_j;Y) (scikit-learn's mutual_info_classif task)",
    "kl_entropy": "Kozachenko-Leonenko entropy H(Z)",
    "binning_entropy": "binning (plug-in) entropy H(Z) of 30-bin codes",
    "binning_loo": "binning leave-one-out H(Z_-j)",
}

# --- one measurement, in its own process --------------------------------------------------------


def _status_mb(field: str, pid="self") -> float:
    """A memory line of /proc/<pid>/status in MiB: VmRSS (resident now) or VmHWM (its peak).
    Read from /proc rather than getrusage: ru_maxrss survives exec, so a child would report
    the memory of the process that started it."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass  # the process has just exited
    return 0.0


def _measure_here(provider, task, data_path, result_path, repeats, timeout):
    """The body of a measurement process: writes its record as JSON to `result_path`."""
    with np.load(data_path) as data:
        z = data["z"]
        y = data["y"] if "y" in data else None
    run = peers.ADAPTERS[provider, task](z, y)
    setup_rss = _status_mb("VmRSS")
    # Restart the peak at the current size (proc(5), clear_refs), so that the peak below is
    # that of the estimate and not of the imports.
    Path("/proc/self/clear_refs").write_text("5")
    start = time.perf_counter()
    result = run()
    first = time.perf_counter() - start
    warm = []
    while len(warm) < repeats and time.perf_counter() - start + first <= timeout:
        t0 = time.perf_counter()
        run()
        warm.append(time.perf_counter() - t0)
    record = {"status": "ok" if first <= timeout else "timeout", "first_s": first,
              "times_s": warm or [first], "warm_repeats": len(warm),
              "setup_rss_mb": setup_rss, "peak_rss_mb": _status_mb("VmHWM"),
              "result": np.asarray(result, dtype=np.float64).tolist()}
    Path(result_path).write_text(json.dumps(record))


def measure(provider, task, data_path, *, repeats, timeout, max_rss_mb) -> dict:
    """Runs one measurement in a fresh process, stopping it past the time limit or memory cap."""
    with tempfile.TemporaryDirectory() as tmp:
        result_path, log_path = Path(tmp) / "result.json", Path(tmp) / "stderr.txt"
        command = [sys.executable, "-m", "benchmarks.compare", "--child", provider, task,
                   str(data_path), str(result_path), "--repeats", str(repeats),
                   "--timeout", str(timeout)]
        with open(log_path, "w") as log:
            # A session of its own, so that stopping it also stops any worker it started.
            child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log,
                                     start_new_session=True)
            started, stopped, peak = time.monotonic(), None, 0.0
            while child.poll() is None:
                peak = max(peak, _status_mb("VmRSS", child.pid))
                if time.monotonic() - started > timeout + SETUP_ALLOWANCE_S:
                    stopped = "timeout"
                elif peak > max_rss_mb:
                    stopped = "memory cap"
                if stopped:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
                    break
                time.sleep(POLL_S)
        if stopped:
            return {"status": stopped, "peak_rss_mb": peak}
        if child.returncode != 0 or not result_path.exists():
            lines = log_path.read_text().strip().splitlines() or [f"exit code {child.returncode}"]
            return {"status": "error", "note": lines[-1][:200]}
        return json.loads(result_path.read_text())


# --- the sweep ----------------------------------------------------------------------------------


class DataFiles:
    """Each (kind, task, size) data set written once, so that every provider reads the same."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.truth = {}

    def path(self, kind: str, task: str, n: int, m: int) -> Path:
        path = self.folder / f"{kind}-{task}-{n}x{m}.npz"
        if not path.exists():
            if kind == "speed":
                z, y = peers.workload(task, n, m)
            else:
                z, y, self.truth[task, n, m] = peers.closed_form_case(task, n, m)
            np.savez(path, z=z, **({} if y is None else {"y": y}))
        return path


def _rate(task, n, m, seconds):
    """Work per second: n^2 m pair-coordinates for the k-NN tasks, n m cells for binning."""
    if task in peers.BINNING_TASKS:
        return n * m / seconds, "cells/s"
    return n * n * m / seconds, "pair-coords/s"


def _log(message):
    print(message, flush=True)


def run_speed(tasks, providers, sizes, data, options) -> list[dict]:
    rows = []
    for task in tasks:
        runnable = []
        for provider in providers:
            if (provider, task) not in peers.ADAPTERS:
                continue
            reason = peers.unavailable_reason(provider)
            if reason:
                rows.append({"task": task, "provider": provider, "status": "unavailable",
                             "note": reason})
                _log(f"{task} {provider}: skipped, {reason}")
            else:
                runnable.append(provider)
        stopped = {}  # provider -> why it does not run at larger sizes
        for n, m in sizes:
            for provider in runnable:
                row = {"task": task, "provider": provider, "n": n, "m": m}
                if provider in stopped:
                    rows.append({**row, "status": "not run", "note": stopped[provider]})
                    continue
                record = measure(provider, task, data.path("speed", task, n, m), **options)
                row.update(_speed_row(task, n, m, record))
                rows.append(row)
                if row["status"] in ("timeout", "memory cap"):
                    stopped[provider] = f"{row['status']} at {n}x{m}"
                _log(f"{task} {n}x{m} {provider}: {_cell(row)}")
    return rows


def _speed_row(task, n, m, record) -> dict:
    row = {"status": record["status"], "note": record.get("note", ""),
           "peak_rss_mb": record.get("peak_rss_mb")}
    if record["status"] != "ok":
        return row
    times = record["times_s"]
    median = float(np.median(times))
    rate, unit = _rate(task, n, m, median)
    return {**row, "median_s": median, "min_s": min(times), "max_s": max(times),
            "warm_repeats": record["warm_repeats"], "first_s": record["first_s"],
            "rate": rate, "rate_unit": unit,
            "compute_rss_mb": max(record["peak_rss_mb"] - record["setup_rss_mb"], 0.0)}


def run_accuracy(speed, sizes, data, options) -> list[dict]:
    """The closed-form cases, for each provider at the sizes where its speed run finished."""
    rows = []
    for timed in _ok(speed):
        task, provider, n, m = timed["task"], timed["provider"], timed["n"], timed["m"]
        if (n, m) not in sizes:
            continue
        record = measure(provider, task, data.path("accuracy", task, n, m),
                         **{**options, "repeats": 0})
        row = {"task": task, "provider": provider, "n": n, "m": m,
               "status": record["status"], "note": record.get("note", "")}
        if record["status"] == "ok":
            truth = data.truth[task, n, m]
            row.update(truth=float(np.mean(truth)), estimate=float(np.mean(record["result"])),
                       abs_error=peers.abs_error(record["result"], truth))
        rows.append(row)
        _log(f"accuracy {task} {n}x{m} {provider}: {row.get('abs_error', row['status'])}")
    return rows


# --- reports --------------------------------------------------------------------------------------

SPEED_FIELDS = ["task", "provider", "n", "m", "status", "median_s", "min_s", "max_s",
                "warm_repeats", "first_s", "rate", "rate_unit", "peak_rss_mb", "compute_rss_mb",
                "note"]
ACCURACY_FIELDS = ["task", "provider", "n", "m", "status", "truth", "estimate", "abs_error",
                   "note"]


def write_csv(path, rows, fields):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in fields})


def _seconds(s):
    return f"{s:.3g} s" if s >= 0.01 else f"{s * 1e3:.3g} ms"


def _cell(row):
    if row["status"] != "ok":
        return row["status"]
    return (f"{_seconds(row['median_s'])}, {row['peak_rss_mb']:.0f} MB "
            f"({row['compute_rss_mb']:.0f} own)")


def _ok(rows, **match):
    return [r for r in rows
            if r.get("status") == "ok" and all(r.get(k) == v for k, v in match.items())]


def summary(speed, accuracy, tasks) -> list[dict]:
    """Per task: gib_kernels CPU against the fastest peer at the largest size both finish."""
    out = []
    for task in tasks:
        cpu = {(r["n"], r["m"]): r for r in _ok(speed, task=task, provider="cpu")}
        peer_rows = [r for r in _ok(speed, task=task) if r["provider"] in peers.PEERS
                     and (r["n"], r["m"]) in cpu]
        if not peer_rows:
            continue
        size = max((r["n"], r["m"]) for r in peer_rows)
        at_size = [r for r in peer_rows if (r["n"], r["m"]) == size]
        fastest = min(at_size, key=lambda r: r["median_s"])
        least_memory = min(at_size, key=lambda r: r["compute_rss_mb"])
        ours = cpu[size]
        out.append({"task": task, "n": size[0], "m": size[1], "cpu_s": ours["median_s"],
                    "peer": fastest["provider"], "peer_s": fastest["median_s"],
                    "speedup": fastest["median_s"] / ours["median_s"],
                    "cpu_mb": ours["compute_rss_mb"], "least_peer": least_memory["provider"],
                    "peer_mb": least_memory["compute_rss_mb"],
                    **_accuracy_summary(accuracy, task)})
    return out


def _accuracy_summary(accuracy, task) -> dict:
    cpu = {(r["n"], r["m"]): r["abs_error"] for r in _ok(accuracy, task=task, provider="cpu")}
    peer = [r for r in _ok(accuracy, task=task) if r["provider"] in peers.PEERS
            and (r["n"], r["m"]) in cpu]
    if not peer:
        return {}
    size = max((r["n"], r["m"]) for r in peer)
    best = min((r for r in peer if (r["n"], r["m"]) == size), key=lambda r: r["abs_error"])
    return {"accuracy_size": size, "cpu_error": cpu[size], "best_peer": best["provider"],
            "peer_error": best["abs_error"]}


def _target_lines(speed, accuracy, timeout):
    """One line per target: the speed-up, and whether memory and accuracy hold against every
    peer measured at that size (a peer stopped at the time limit bounds the speed-up below)."""
    lines = []
    for (task, n, m), factor in TARGETS.items():
        ours = _ok(speed, task=task, provider="cpu", n=n, m=m)
        others = [r for r in speed if r["task"] == task and r.get("n") == n and r.get("m") == m
                  and r["provider"] in peers.PEERS]
        if not ours or not others:
            lines.append(f"- {task} at {n}x{m}, >= {factor:g}x: not measured")
            continue
        ours = ours[0]
        done = [r for r in others if r["status"] == "ok"]
        if done:
            fastest = min(done, key=lambda r: r["median_s"])
            speedup = fastest["median_s"] / ours["median_s"]
            speed_text = (f"{speedup:.1f}x faster than {fastest['provider']} "
                          f"({_seconds(ours['median_s'])} vs {_seconds(fastest['median_s'])})")
        else:
            stopped = ", ".join(f"{r['provider']} {r['note'] or r['status']}" for r in others)
            # Stopped at the time limit, here or at a smaller size: slower than the limit.
            timed_out = all("timeout" in (r["status"], r["note"].split(" ")[0]) for r in others)
            speedup = timeout / ours["median_s"] if timed_out else None
            speed_text = (f"at least {speedup:.0f}x" if timed_out else "no bound") + \
                f" ({_seconds(ours['median_s'])}; no peer finished: {stopped})"
        memory = all(ours["compute_rss_mb"] < r["compute_rss_mb"] for r in done)
        errors = {r["provider"]: r["abs_error"] for r in _ok(accuracy, task=task, n=n, m=m)}
        peer_errors = [e for p, e in errors.items() if p in peers.PEERS]
        if "cpu" in errors and peer_errors:
            no_worse = "yes" if errors["cpu"] <= min(peer_errors) + ACCURACY_TOLERANCE else "no"
        else:
            no_worse = "not measured"
        if speedup and speedup >= factor:
            met = "met"
        else:
            met = "NOT met" if done else "not shown (a longer --timeout would bound it)"
        lines.append(f"- {task} at {n}x{m}, >= {factor:g}x: {speed_text}: {met}; the estimate's "
                     f"memory under every peer that finished: {'yes' if memory else 'no'}; "
                     f"accuracy no worse than the best peer: {no_worse}")
    return lines


def machine_line() -> str:
    cpu = cpu_name()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.platform()}"


def versions_line() -> str:
    names = ["gib_kernels", "numpy", "torch", "hoi", "jax", "scikit-learn", "infomeasure",
             "ennemi"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return f"Python {platform.python_version()}, " + ", ".join(found)


def markdown(speed, accuracy, tasks, sizes, accuracy_sizes, options, quick) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# gib_kernels against peer libraries",
        "",
        f"Measured {now} on {machine_line()}.",
        f"{versions_line()}.",
        f"{'Quick run' if quick else 'Full run'}: time limit {options['timeout']:g} s per "
        f"estimate, memory cap {options['max_rss_mb'] / 1024:g} GiB, median of up to "
        f"{options['repeats']} warm calls. All results in nats, k = {peers.K}.",
        "",
        "## gib_kernels CPU against the fastest peer",
        "",
        "At the largest size where both finish. Memory: the estimate's own (peak resident "
        "memory above that after imports and data). Error: absolute error on the closed-form "
        "case, at the largest accuracy size both finish.",
        "",
        "| task | n x m | cpu | fastest peer | speed-up | memory cpu / least peer | "
        "error cpu / best peer |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summary(speed, accuracy, tasks):
        error = (f"{s['cpu_error']:.3g} / {s['peer_error']:.3g} ({s['best_peer']})"
                 if "cpu_error" in s else "-")
        lines.append(f"| {s['task']} | {s['n']}x{s['m']} | {_seconds(s['cpu_s'])} | "
                     f"{s['peer']} {_seconds(s['peer_s'])} | {s['speedup']:.1f}x | "
                     f"{s['cpu_mb']:.0f} / {s['peer_mb']:.0f} MB ({s['least_peer']}) | {error} |")
    lines += ["", "Targets (2 CPU cores):", ""] + _target_lines(speed, accuracy, options["timeout"])
    for task in tasks:
        lines += ["", f"## {task}: {TASK_TITLES[task]}", "",
                  "Median time, peak memory of the process (the estimate's own):", ""]
        lines += _grid(speed, task, sizes, _cell)
        if accuracy_sizes:
            lines += ["", "Absolute error (nats) on the closed-form case:", ""]
            lines += _grid(accuracy, task, accuracy_sizes, lambda r: f"{r['abs_error']:.3g}"
                           if r["status"] == "ok" else r["status"])
    notes = sorted({(r["provider"], r["note"]) for r in speed if r["status"] == "unavailable"})
    if notes:
        lines += ["", "Not measured here: " + "; ".join(f"{p} ({why})" for p, why in notes) + "."]
    return "\n".join(lines) + "\n"


def _grid(rows, task, sizes, cell) -> list[str]:
    providers = [p for p in peers.PROVIDERS
                 if any(r["task"] == task and r["provider"] == p and "n" in r for r in rows)]
    lines = ["| provider | " + " | ".join(f"{n}x{m}" for n, m in sizes) + " |",
             "|---" * (len(sizes) + 1) + "|"]
    for provider in providers:
        by_size = {(r["n"], r["m"]): r for r in rows
                   if r["task"] == task and r["provider"] == provider and "n" in r}
        cells = [cell(by_size[s]) if s in by_size else "-" for s in sizes]
        lines.append(f"| {provider} | " + " | ".join(cells) + " |")
    return lines


def plot(speed, task, sizes, timeout, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for provider in peers.PROVIDERS:
        done = sorted((r["n"], r["median_s"]) for r in _ok(speed, task=task, provider=provider))
        stopped = [r["n"] for r in speed if r["task"] == task and r["provider"] == provider
                   and r["status"] in ("timeout", "memory cap")]
        if not done and not stopped:
            continue
        style = "-" if provider in peers.GIB_PROVIDERS else "--"
        (line,) = ax.plot(*zip(*done), style, marker="o", label=provider) if done \
            else ax.plot([], [], style, label=provider)
        if stopped:
            ax.plot(stopped, [timeout] * len(stopped), "x", color=line.get_color(), ms=9)
    ax.axhline(timeout, color="grey", lw=0.8, ls=":")
    ax.text(sizes[0][0], timeout, "time limit (x: stopped)", fontsize=7, va="bottom")
    ax.set(xscale="log", yscale="log", xlabel="n x m", ylabel="seconds", title=TASK_TITLES[task])
    ax.set_xticks([n for n, _ in sizes], [f"{n}\nx{m}" for n, m in sizes], fontsize=7)
    ax.minorticks_off()
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- command line ---------------------------------------------------------------------------------


def _size(text: str) -> tuple[int, int]:
    n, m = text.lower().split("x")
    return int(n), int(m)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes (1000, 8) and (2000, 16) only")
    parser.add_argument("--tasks", nargs="+", choices=peers.TASKS, default=list(peers.TASKS))
    parser.add_argument("--providers", nargs="+", choices=peers.PROVIDERS,
                        default=list(peers.PROVIDERS))
    parser.add_argument("--sizes", nargs="+", type=_size, metavar="NxM",
                        help="sizes to run instead of the sweep, e.g. 5000x32")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per estimate")
    parser.add_argument("--repeats", type=int, default=3, help="warm calls per measurement")
    parser.add_argument("--max-memory-gb", type=float, default=8.0,
                        help="stop a measurement whose process grows past this")
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/results)")
    parser.add_argument("--child", nargs=4, metavar=("PROVIDER", "TASK", "DATA", "RESULT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _measure_here(*args.child, repeats=args.repeats, timeout=args.timeout)
        return

    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    accuracy_sizes = [s for s in sizes
                      if s in (QUICK_ACCURACY_SIZES if args.quick else ACCURACY_SIZES)]
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    options = {"repeats": args.repeats, "timeout": args.timeout,
               "max_rss_mb": args.max_memory_gb * 1024}
    with tempfile.TemporaryDirectory(prefix="gib-compare-") as tmp:
        data = DataFiles(Path(tmp))
        speed = run_speed(args.tasks, args.providers, sizes, data, options)
        accuracy = run_accuracy(speed, accuracy_sizes, data, options)
    write_csv(out / "peers_speed.csv", speed, SPEED_FIELDS)
    write_csv(out / "peers_accuracy.csv", accuracy, ACCURACY_FIELDS)
    (out / "peers.md").write_text(markdown(speed, accuracy, args.tasks, sizes, accuracy_sizes,
                                           options, args.quick))
    for task in args.tasks:
        plot(speed, task, sizes, args.timeout, out / f"peers_{task}.png")
    _log(f"wrote {out}/peers.md, peers_speed.csv, peers_accuracy.csv and the plots")


if __name__ == "__main__":
    main()
