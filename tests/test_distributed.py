"""Sharded estimation (gib_kernels.distributed) against one process: under torchrun with two
gloo ranks, and in-process for the errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist

import gib_kernels as gk
from gib_kernels import distributed as gkd
from conftest import assert_close

HERE = Path(__file__).parent

# Sharded results equal the single-process ones exactly, except the k-NN and KDE leave-one-out
# sums, whose per-rank partial sums add in another order.
ROUNDED = {"kl loo max", "kl loo euclidean", "ksg loo", "mixed loo", "kde loo",
           "mixed synergy profile", "tensor mixed loo", "wide kl loo", "wide ksg loo",
           "wide mixed loo", "wide two targets loo"}


@pytest.fixture(scope="module")
def torchrun_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("distributed") / "results.json"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(HERE / "distributed_worker.py"), str(out)],
        capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


def test_two_ranks_ran(torchrun_results):
    assert torchrun_results["world"] == 2
    assert torchrun_results["ranks agree"]


def test_different_data_on_the_ranks_is_refused(torchrun_results):
    assert torchrun_results["mismatch refused"]


def test_shared_seed_gives_a_finite_estimate(torchrun_results):
    (value,) = torchrun_results["shared seed"]["sharded"]
    assert np.isfinite(value)


def _case_names():
    sys.path.insert(0, str(HERE))
    from distributed_worker import CASES

    return [name for name, *_ in CASES] + ["tensor mixed loo"]


@pytest.mark.parametrize("name", _case_names())
def test_sharded_equals_one_process(torchrun_results, name):
    result = torchrun_results[name]
    sharded, single = np.array(result["sharded"]), np.array(result["single"])
    assert np.all(np.isfinite(single)), name
    if name in ROUNDED:
        assert_close(sharded, single, rtol=1e-12, atol=1e-12, name=name)
    else:
        np.testing.assert_array_equal(sharded, single, err_msg=name)


def test_needs_an_initialised_process_group():
    if dist.is_initialized():
        pytest.skip("a process group is already initialised")
    with pytest.raises(RuntimeError, match="init_process_group"):
        gkd.entropy(np.zeros((10, 2)), estimator="knn")


@pytest.fixture
def one_rank_group(tmp_path):
    if dist.is_initialized():
        pytest.skip("a process group is already initialised")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0,
                            world_size=1)
    yield
    dist.destroy_process_group()


def test_one_rank_equals_one_process(one_rank_group, rng):
    z = rng.standard_normal((80, 4))
    labels = rng.integers(0, 3, 80)
    assert gkd.mutual_information(z, labels, estimator="mixed") == \
        gk.mutual_information(z, labels, estimator="mixed")
    np.testing.assert_array_equal(
        gkd.leave_one_out_entropy(z, estimator="binning", bins=3),
        gk.leave_one_out_entropy(z, estimator="binning", bins=3))


def test_reference_backend_is_not_sharded(one_rank_group):
    with pytest.raises(ValueError, match="cannot be sharded"):
        gkd.entropy(np.random.default_rng(0).standard_normal((20, 2)), backend="reference")


def test_sharded_block_ends_with_its_with_statement(one_rank_group, rng):
    z = rng.standard_normal((50, 3))
    with gkd.sharded():
        inside = gk.entropy(z, estimator="knn")
    from gib_kernels.backends import sharded

    assert sharded.active() is None
    assert inside == gk.entropy(z, estimator="knn")


def test_one_rank_triton_targets(one_rank_group, rng):
    """A backend without the multi-target kernel (Triton) takes the targets one at a time."""
    z = rng.standard_normal((60, 5))
    targets = [rng.integers(0, 3, 60), rng.integers(0, 2, 60)]
    sharded = gkd.leave_one_out_mutual_information(z, targets, estimator="mixed", backend="triton")
    single = gk.leave_one_out_mutual_information(z, targets, estimator="mixed", backend="triton")
    for got, expected in zip(sharded, single):
        assert_close(got, expected, rtol=1e-6, atol=1e-9, name="triton leave-one-out")
