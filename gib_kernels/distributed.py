"""Estimation sharded over the ranks of a ``torch.distributed`` process group.

The k-NN, KDE and binning estimators are sums over anchors (or columns), so the work splits by
anchors: every rank holds the same data, computes its share of the anchors against all
candidates, and the per-anchor results or partial sums are all-reduced (gloo on CPUs, NCCL on
GPUs). Every rank returns the same estimate as one process would: identical for the full
estimates and for binning (pattern counts merge exactly by row hash, leave-one-out sums by
column), equal to float rounding for the k-NN and KDE leave-one-out loops, whose partial sums
add in another order.

Two ways in, for the same result::

    # torchrun --nproc_per_node=4 my_script.py
    import torch.distributed as dist
    import gib_kernels as gk
    from gib_kernels import distributed as gkd

    dist.init_process_group("gloo")           # "nccl" with CUDA data, one GPU per rank
    profile = gkd.synergy_profile(T, y)        # every rank gets the whole profile
    with gkd.sharded():                        # or: any estimate inside the block
        h = gk.entropy(T, estimator="binning")

Each function below takes the arguments of the ``gib_kernels`` function of the same name plus
``process_group`` (default: the whole world). Pass every rank the same data; a check compares
a checksum of the inputs across ranks and raises if they differ. With ``noise > 0`` and no
``random_state``, the functions here draw one seed on rank 0 for all ranks (inside a bare
``sharded()`` block, pass ``random_state`` yourself).
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch
import torch.distributed as dist

from . import functional
from .backends import sharded as _sharding

__all__ = ["sharded", *functional.__all__]


@contextlib.contextmanager
def sharded(process_group=None):
    """Splits every estimate inside the block over the ranks of `process_group`.

    Needs ``torch.distributed.init_process_group`` first. Blocks nest; the innermost group wins.
    """
    token = _sharding._ACTIVE.set(_sharding._Group(process_group))
    try:
        yield
    finally:
        _sharding._ACTIVE.reset(token)


def _shared_seed(process_group) -> int:
    """A random seed drawn on the group's first rank and sent to every rank."""
    group = _sharding._Group(process_group)
    seed = torch.tensor([int(np.random.SeedSequence().generate_state(1)[0])], dtype=torch.int64,
                        device=group.device)
    dist.broadcast(seed, src=dist.get_global_rank(process_group, 0) if process_group else 0,
                   group=process_group)
    return int(seed.item())


def _sharded_version(fn):
    @functools.wraps(fn)
    def sharded_fn(*args, process_group=None, **kwargs):
        if kwargs.get("noise", 0) and kwargs.get("random_state") is None:
            kwargs["random_state"] = _shared_seed(process_group)
        with sharded(process_group):
            return fn(*args, **kwargs)

    sharded_fn.__doc__ = (f"``gib_kernels.{fn.__name__}`` sharded over the ranks of "
                          f"``process_group`` (keyword; default: the whole world).\n\n"
                          + (fn.__doc__ or ""))
    return sharded_fn


for _name in functional.__all__:
    globals()[_name] = _sharded_version(getattr(functional, _name))
del _name
