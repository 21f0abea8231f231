"""The backends: every kernel primitive behind one contract (``protocol.Backend``).

- ``cpu``: the C++/OpenMP kernels (``csrc/cpu``), deterministic.
- ``cuda``: the CUDA kernels (``csrc/cuda``) on torch CUDA tensors.
- ``triton``: Triton kernels on torch tensors (a GPU, or the CPU interpreter).
- ``reference``: plain numpy, slow, obviously correct; every fast backend is tested against it.
- ``sharded``: any shardable backend split over the ranks of a ``torch.distributed`` group.

``registry.select`` picks one ("auto", an explicit name, the ``GIB_KERNELS_BACKEND`` variable).
How to add a backend: ``README.md`` beside this file.
"""
from .protocol import EUCLIDEAN, MAX, Backend, Shard, shard_of
from .registry import BACKENDS, build_info, select, unavailable_reason

__all__ = ["BACKENDS", "EUCLIDEAN", "MAX", "Backend", "Shard", "build_info", "select",
           "shard_of", "unavailable_reason"]
