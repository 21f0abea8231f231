"""A fixed set of estimates over every family and the backends that run here, hashed.

Prints one sha256 over the raw float64 bytes of every result and a digest per case, so that a
change meant to keep the results can be checked to keep them bit for bit:

    python scripts/result_digest.py            # cpu and reference (and triton where it runs)
    python scripts/result_digest.py --verbose  # the values too

Seeded inputs, small sizes: it runs in well under a minute on two cores. Triton runs through
its interpreter on the CPU (TRITON_INTERPRET=1) on tiny inputs; the sharded backend runs in
one process over a one-rank gloo group.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import warnings

import numpy as np

os.environ.setdefault("TRITON_INTERPRET", "1")

import torch  # noqa: E402

import gib_kernels as gk  # noqa: E402


def _data(n: int, m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, m))
    z[:, 1] += 0.6 * z[:, 0]
    labels = (z[:, 0] + z[:, 1] > 0).astype(np.int64) + 2 * (z[:, 2] > 0.3)
    w = np.column_stack([z[:, 0] * z[:, 1], z[:, 2]]) + 0.3 * rng.standard_normal((n, 2))
    bits = rng.integers(0, 2, (n, m))
    xor = (bits[:, 0] ^ bits[:, 1]).astype(np.int64)
    v = z[:, 3:4] + 0.5 * rng.standard_normal((n, 1))
    return z, labels, w, bits, xor, v


def _cases(backend: str, n: int, m: int):
    """(name, thunk) pairs: every family, quantity and target kind."""
    z, y, w, bits, xor, v = _data(n, m)
    b = dict(backend=backend)
    cases = [
        # binning
        ("binning/H", lambda: gk.entropy(z, estimator="binning", bins=5, **b)),
        ("binning/MI-labels", lambda: gk.mutual_information(z, y, estimator="binning", bins=4, **b)),
        ("binning/CMI", lambda: gk.conditional_mutual_information(z[:, :2], y, v, estimator="binning", bins=3, **b)),
        ("binning/per-feature", lambda: gk.per_feature_mutual_information(z, y, estimator="binning", bins=6, **b)),
        ("binning/loo-H", lambda: gk.leave_one_out_entropy(z, estimator="binning", bins=3, bin_range="column", **b)),
        ("binning/loo-MI", lambda: gk.leave_one_out_mutual_information(z, y, estimator="binning", bins=3, bin_range=(-2, 2), **b)),
        ("binning/profile", lambda: gk.synergy_profile(z, w, estimator="binning", bins=3, **b)),
        ("auto-binning/profile-xor", lambda: gk.synergy_profile(bits, xor, **b)),
        ("auto-binning/H-bits", lambda: gk.entropy(bits, base="e", **b)),
        # knn
        ("knn-max/H", lambda: gk.entropy(z, estimator="knn", k=3, **b)),
        ("knn-euclid/H", lambda: gk.entropy(z, estimator="knn", k=4, metric="euclidean", **b)),
        ("knn-max/loo-H", lambda: gk.leave_one_out_entropy(z, estimator="knn", **b)),
        ("knn-euclid/loo-H", lambda: gk.leave_one_out_entropy(z, estimator="knn", metric="euclidean", **b)),
        ("knn/MI", lambda: gk.mutual_information(z, w, estimator="knn", k=5, **b)),
        ("knn/CMI", lambda: gk.conditional_mutual_information(z[:, :2], w, v, estimator="knn", **b)),
        ("knn/per-feature", lambda: gk.per_feature_mutual_information(z, w, estimator="knn", **b)),
        ("knn/loo-MI", lambda: gk.leave_one_out_mutual_information(z, w, estimator="knn", **b)),
        ("knn/profile", lambda: gk.synergy_profile(z, w, estimator="knn", **b)),
        ("knn/synergy-noise", lambda: gk.synergy(bits.astype(float), w, estimator="knn", noise=1e-6, random_state=3, **b)),
        ("auto-knn/II", lambda: gk.interaction_information(z[:, :2], z[:, 2:], w, **b)),
        ("auto-knn/coI", lambda: gk.co_information(z[:, :2], z[:, 2:], w, **b)),
        # mixed
        ("mixed/MI", lambda: gk.mutual_information(z, y, estimator="mixed", **b)),
        ("mixed/CMI", lambda: gk.conditional_mutual_information(z[:, :2], y, v, estimator="mixed", **b)),
        ("mixed/per-feature", lambda: gk.per_feature_mutual_information(z, y, estimator="mixed", **b)),
        ("mixed/loo-MI", lambda: gk.leave_one_out_mutual_information(z, y, estimator="mixed", k=4, **b)),
        ("auto-mixed/profile", lambda: gk.synergy_profile(z, y, **b)),
        ("auto-mixed/synergy", lambda: gk.synergy(z, y, base=10, **b)),
        ("loo-MI-two-targets", lambda: gk.leave_one_out_mutual_information(z, [y, w], **b)),
        ("loo-MI-two-targets-knn", lambda: gk.leave_one_out_mutual_information(z, [w, w[:, :1]], estimator="knn", **b)),
        # kde
        ("kde/H", lambda: gk.entropy(z, estimator="kde", sigma2=0.1, **b)),
        ("kde/MI-labels", lambda: gk.mutual_information(z, y, estimator="kde", sigma2=0.1, **b)),
        ("kde/MI-layer-target", lambda: gk.mutual_information(bits, z, estimator="kde", sigma2=0.5, **b)),
        ("kde/CMI", lambda: gk.conditional_mutual_information(z[:, :2], y, v, estimator="kde", sigma2=0.1, **b)),
        ("kde/loo-H", lambda: gk.leave_one_out_entropy(z, estimator="kde", sigma2=0.1, **b)),
        ("kde/profile", lambda: gk.synergy_profile(z, y, estimator="kde", sigma2=0.1, **b)),
        ("kde/profile-layer-target", lambda: gk.synergy_profile(bits, z, estimator="kde", sigma2=0.5, **b)),
    ]
    if backend in ("cpu", "reference"):  # torch only: the backend does not change it
        cases += [
            ("gaussian/H", lambda: gk.entropy(z, estimator="gaussian", **b)),
            ("gaussian/H-plain", lambda: gk.entropy(z, estimator="gaussian", copula=False, bias_correction=False, **b)),
            ("gaussian/MI", lambda: gk.mutual_information(z, w, estimator="gaussian", **b)),
            ("gaussian/CMI", lambda: gk.conditional_mutual_information(z[:, :2], w, v, estimator="gaussian", **b)),
            ("gaussian/CMI-labels", lambda: gk.conditional_mutual_information(z[:, :2], y, v, estimator="gaussian", **b)),
            ("gaussian/per-feature", lambda: gk.per_feature_mutual_information(z, w, estimator="gaussian", **b)),
            ("gaussian/loo-H", lambda: gk.leave_one_out_entropy(z, estimator="gaussian", ridge=1e-3, **b)),
            ("gaussian/loo-MI", lambda: gk.leave_one_out_mutual_information(z, w, estimator="gaussian", **b)),
            ("gaussian/profile", lambda: gk.synergy_profile(z, w, estimator="gaussian", **b)),
            ("gaussian/MI-labels", lambda: gk.mutual_information(z, y, estimator="gaussian", **b)),
            ("gaussian/per-feature-labels", lambda: gk.per_feature_mutual_information(z, y, estimator="gaussian", **b)),
            ("gaussian/loo-MI-labels", lambda: gk.leave_one_out_mutual_information(z, y, estimator="gaussian", covariance_prior=3.0, **b)),
            ("gaussian/profile-labels", lambda: gk.synergy_profile(z, y, estimator="gaussian", **b)),
            ("gaussian/synergy-labels-plain", lambda: gk.synergy(z, y, estimator="gaussian", bias_correction=False, ridge=1e-4, **b)),
            ("gaussian/torch", lambda: gk.synergy_profile(torch.from_numpy(z), torch.from_numpy(y), estimator="gaussian", **b)),
        ]
    return cases


def _bytes(value) -> bytes:
    if isinstance(value, str):  # a refusal: its message
        return value.encode()
    if isinstance(value, list):
        return b"".join(_bytes(v) for v in value)
    if isinstance(value, torch.Tensor):
        value = value.cpu().numpy()
    return np.ascontiguousarray(np.asarray(value, dtype=np.float64)).tobytes()


def _triton_runs() -> bool:
    try:
        gk.entropy(np.random.default_rng(0).standard_normal((12, 2)), estimator="knn",
                   backend="triton")
        return True
    except Exception:  # noqa: BLE001 - not installed, or no interpreter
        return False


def _sharded_cases(n, m):
    """A few estimates through the sharded backend over a one-rank gloo group."""
    import torch.distributed as dist

    import gib_kernels.distributed as gkd

    if not dist.is_available() or dist.is_initialized():
        return []
    z, y, w, bits, _, _ = _data(n, m)
    folder = tempfile.mkdtemp()
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=0,
                            world_size=1)
    try:
        cases = [
            ("sharded/mixed-profile", gkd.synergy_profile(z, y, estimator="mixed")),
            ("sharded/knn-loo-MI", gkd.leave_one_out_mutual_information(z, w, estimator="knn")),
            ("sharded/binning-loo-H", gkd.leave_one_out_entropy(z, estimator="binning", bins=3)),
            ("sharded/kde-MI", gkd.mutual_information(z, y, estimator="kde", sigma2=0.1)),
            ("sharded/two-targets", gkd.leave_one_out_mutual_information(z, [y, w])),
        ]
    finally:
        dist.destroy_process_group()
    return cases


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    results = []
    plans = [("cpu", 160, 5), ("reference", 60, 4)]
    if _triton_runs():
        plans.append(("triton", 40, 4))
    for backend, n, m in plans:
        for name, thunk in _cases(backend, n, m):
            try:
                value = thunk()
            except ValueError as error:  # a refusal is a result too
                value = f"ValueError: {error}"
            results.append((f"{backend}:{name}", value))
    results += [(name, value) for name, value in _sharded_cases(120, 4)]
    total = hashlib.sha256()
    for name, value in results:
        raw = _bytes(value)
        total.update(name.encode() + b"\0" + raw)
        line = f"{hashlib.sha256(raw).hexdigest()[:16]}  {name}"
        if args.verbose:
            line += "  " + (value if isinstance(value, str) else
                            np.array2string(np.frombuffer(raw), precision=6, max_line_width=200))
        print(line)
    print(f"{len(results)} results, backends {', '.join(p[0] for p in plans)} + sharded")
    print(f"sha256 {total.hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
