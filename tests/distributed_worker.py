"""Run by tests/test_distributed.py under torchrun: every estimator, sharded over the ranks of
a gloo group and in one process, on the same data. Rank 0 writes both to the JSON file named on
the command line; every rank checks that the others returned the same sharded values."""
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))
import gib_kernels as gk  # noqa: E402
from gib_kernels import distributed as gkd  # noqa: E402
from inputs import continuous, labels_of_three, layer_like  # noqa: E402

# (name, function name, positional argument names, options); the arrays come from `data`.
CASES = [
    ("binning entropy", "entropy", ["layer"], dict(estimator="binning", bins=4)),
    ("binning mi", "mutual_information", ["layer", "labels"], dict(estimator="binning", bins=4)),
    ("binning cmi", "conditional_mutual_information", ["layer2", "labels", "x1"],
     dict(estimator="binning", bins=3)),
    ("binning loo entropy", "leave_one_out_entropy", ["layer"], dict(estimator="binning", bins=4)),
    ("binning loo mi", "leave_one_out_mutual_information", ["layer", "labels"],
     dict(estimator="binning", bins=3)),
    ("binning synergy", "synergy", ["bits", "xor"], dict(estimator="binning")),
    ("kl entropy max", "entropy", ["z"], dict(estimator="knn")),
    ("kl entropy euclidean", "entropy", ["z"], dict(estimator="knn", metric="euclidean")),
    ("ksg mi", "mutual_information", ["z", "w"], dict(estimator="knn")),
    ("mixed mi", "mutual_information", ["z", "lonely"], dict(estimator="mixed")),
    ("per-feature mixed mi", "per_feature_mutual_information", ["z", "labels"],
     dict(estimator="mixed")),
    ("frenzel-pompe cmi", "conditional_mutual_information", ["z", "w", "x1"],
     dict(estimator="knn")),
    ("interaction information", "interaction_information", ["x1", "x2", "w"],
     dict(estimator="knn")),
    ("kde entropy", "entropy", ["z"], dict(estimator="kde", sigma2=0.1)),
    ("kde mi labels", "mutual_information", ["z", "labels"], dict(estimator="kde", sigma2=0.1)),
    ("kl loo max", "leave_one_out_entropy", ["z"], dict(estimator="knn")),
    ("kl loo euclidean", "leave_one_out_entropy", ["z"], dict(estimator="knn", metric="euclidean")),
    ("ksg loo", "leave_one_out_mutual_information", ["z", "w"], dict(estimator="knn")),
    ("mixed loo", "leave_one_out_mutual_information", ["z", "lonely"], dict(estimator="mixed")),
    ("kde loo", "leave_one_out_mutual_information", ["z", "labels"],
     dict(estimator="kde", sigma2=0.1)),
    ("mixed synergy profile", "synergy_profile", ["z", "labels"], dict(estimator="mixed")),
    # wider than 32 columns: the fused pass is pruned by radius bounds from sharded k-NN passes
    ("wide kl loo", "leave_one_out_entropy", ["wide"], dict(estimator="knn")),
    ("wide ksg loo", "leave_one_out_mutual_information", ["wide", "w"], dict(estimator="knn")),
    ("wide mixed loo", "leave_one_out_mutual_information", ["wide", "lonely"],
     dict(estimator="mixed")),
    ("wide two targets loo", "leave_one_out_mutual_information", ["wide", "targets"],
     dict(estimator="mixed")),
    ("jittered mixed mi", "mutual_information", ["ties", "labels"],
     dict(estimator="mixed", noise=1e-10, random_state=7)),
]


def data(n=157):
    rng = np.random.default_rng(2024)
    z = continuous(rng, n, 6)
    bits = rng.integers(0, 2, size=(n, 3))
    return {
        "z": z,
        "w": z[:, :2] + 0.5 * rng.standard_normal((n, 2)),
        "x1": z[:, 2:3],
        "x2": z[:, 3:4],
        "labels": labels_of_three(rng, z),
        "lonely": labels_of_three(rng, z, lonely=True),
        "layer": layer_like(rng, n, 7),
        "layer2": layer_like(rng, n, 3),
        "bits": bits,
        "xor": bits[:, 0] ^ bits[:, 1],
        "ties": continuous(rng, n, 4, ties=True),
        "wide": continuous(rng, n, 40),
    }


def as_list(value):
    return np.atleast_1d(np.asarray(value, dtype=np.float64)).tolist()


def main(out_path: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    arrays = data()
    arrays["targets"] = [arrays["labels"], arrays["lonely"]]
    results = {}
    for name, function, argument_names, options in CASES:
        args = [arrays[a] for a in argument_names]
        sharded = getattr(gkd, function)(*args, backend="cpu", **options)
        single = getattr(gk, function)(*args, backend="cpu", **options)
        results[name] = {"sharded": as_list(sharded), "single": as_list(single)}
    # Tensors and the context manager take the same route.
    with gkd.sharded():
        results["tensor mixed loo"] = {
            "sharded": as_list(gk.leave_one_out_mutual_information(
                torch.from_numpy(arrays["z"]), arrays["labels"], estimator="mixed")),
            "single": as_list(gk.leave_one_out_mutual_information(
                arrays["z"], arrays["labels"], estimator="mixed", backend="cpu")),
        }
    # A draw of the jitter seed on rank 0 for every rank (no random_state given).
    results["shared seed"] = {"sharded": as_list(gkd.mutual_information(
        arrays["ties"], arrays["labels"], estimator="mixed", noise=1e-10)), "single": None}

    # Every rank must hold the same answers.
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, {k: v["sharded"] for k, v in results.items()})
    results["ranks agree"] = all(other == everyone[0] for other in everyone)

    # Different data on the ranks is refused on every rank, not summed into a wrong answer.
    try:
        gkd.entropy(arrays["z"] + rank, estimator="knn", backend="cpu")
        results["mismatch refused"] = False
    except RuntimeError as error:
        results["mismatch refused"] = "different data" in str(error)
    refused = torch.tensor([int(results["mismatch refused"])])
    dist.all_reduce(refused, op=dist.ReduceOp.MIN)
    results["mismatch refused"] = bool(refused.item())

    if rank == 0:
        results["world"] = dist.get_world_size()
        Path(out_path).write_text(json.dumps(results))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
