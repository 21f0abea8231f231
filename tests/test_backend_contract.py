"""The contract of backends.protocol: every backend implements it explicitly, and the estimator
formulas over the reference backend's primitives equal the whole-estimate reference functions
of gib_kernels.reference, written independently (so a formula is not tested only against
itself)."""
import inspect

import numpy as np
import pytest

import gib_kernels as gk
from gib_kernels import reference as ref
from gib_kernels.backends.cpu import CpuBackend
from gib_kernels.backends.cuda import CudaBackend
from gib_kernels.backends.protocol import Backend
from gib_kernels.backends.reference import ReferenceBackend
from gib_kernels.backends.sharded import ShardedBackend
from gib_kernels.estimators.binning import discretize
from inputs import continuous, labels_for

PRIMITIVES = [name for name, member in inspect.getmembers(Backend, inspect.isfunction)
              if not name.startswith("_")]
FLAGS = ["name", "radius_bound_above", "fuses_targets", "shardable"]


def _backend_classes():
    classes = [CpuBackend, CudaBackend, ReferenceBackend, ShardedBackend]
    try:
        from gib_kernels.backends.triton.backend import TritonBackend
    except ImportError:
        return classes
    return classes + [TritonBackend]


@pytest.mark.parametrize("cls", _backend_classes(), ids=lambda c: c.__name__)
def test_every_backend_defines_every_primitive_itself(cls):
    assert "__getattr__" not in vars(cls), "primitives are explicit methods, never forwarded"
    for name in PRIMITIVES:
        method = getattr(cls, name, None)
        assert callable(method), f"{cls.__name__} lacks {name}"
        expected = list(inspect.signature(getattr(Backend, name)).parameters)
        got = list(inspect.signature(method).parameters)
        if got and got[0] != "self":  # staticmethods
            expected = expected[1:]
        assert got == expected, f"{cls.__name__}.{name}{tuple(got)} is not the protocol's"


@pytest.mark.parametrize("make", [CpuBackend, ReferenceBackend, CudaBackend],
                         ids=["cpu", "reference", "cuda"])
def test_backends_state_their_capabilities(make):
    backend = make()
    assert isinstance(backend, Backend)
    for flag in FLAGS:
        assert hasattr(backend, flag)
    assert backend.shardable == (backend.name != "reference")


_rng = np.random.default_rng(11)
Z = continuous(_rng, 180, 4)
Y = labels_for(_rng, Z, 3)
W = Z[:, :1] ** 2 + 0.4 * _rng.standard_normal((180, 2))
V = Z[:, 2:3] + _rng.standard_normal((180, 1))
CODES = discretize(Z, 5, None).numpy()

# (name, the API over the reference backend's primitives, the whole-estimate reference)
WHOLE = [
    ("kl-max", lambda: gk.entropy(Z, estimator="knn", backend="reference", base="e"),
     lambda: ref.kl_entropy(Z, 3, "max")),
    ("kl-euclidean", lambda: gk.entropy(Z, estimator="knn", metric="euclidean",
                                        backend="reference", base="e"),
     lambda: ref.kl_entropy(Z, 3, "euclidean")),
    ("ksg", lambda: gk.mutual_information(Z, W, estimator="knn", backend="reference", base="e"),
     lambda: ref.ksg_mutual_information(Z, W, 3)),
    ("mixed", lambda: gk.mutual_information(Z, Y, backend="reference", base="e"),
     lambda: ref.mixed_mutual_information(Z, Y, 3)),
    ("frenzel-pompe", lambda: gk.conditional_mutual_information(
        Z[:, :2], W, V, estimator="knn", backend="reference", base="e"),
     lambda: ref.frenzel_pompe_cmi(Z[:, :2], W, V, 3)),
    ("kde", lambda: gk.mutual_information(Z, Y, estimator="kde", sigma2=0.1, backend="reference",
                                          base="e"),
     lambda: ref.kde_mutual_information(Z, Y, 0.1)),
    ("binning", lambda: gk.mutual_information(CODES, Y, backend="reference", base="e"),
     lambda: ref.discrete_mutual_information(CODES, Y)),
    ("mixed-leave-one-out", lambda: gk.leave_one_out_mutual_information(
        Z, Y, backend="reference", base="e"),
     lambda: ref.leave_one_out(lambda zj, y: ref.mixed_mutual_information(zj, y, 3), Z, Y)),
    ("ksg-synergy", lambda: gk.synergy_profile(Z, W, estimator="knn", backend="reference",
                                               base="e"),
     lambda: ref.synergy_profile(lambda z, w: ref.ksg_mutual_information(z, w, 3), Z, W)),
    ("kde-synergy", lambda: gk.synergy_profile(Z, Y, estimator="kde", sigma2=0.1,
                                               backend="reference", base="e"),
     lambda: ref.synergy_profile(lambda z, y: ref.kde_mutual_information(z, y, 0.1), Z, Y)),
    ("binning-entropy-leave-one-out", lambda: gk.leave_one_out_entropy(
        CODES, backend="reference", base="e"),
     lambda: ref.leave_one_out(lambda c, _: ref.discrete_entropy(c), CODES, None)),
]


@pytest.mark.parametrize("name,api,whole", WHOLE, ids=[c[0] for c in WHOLE])
def test_formulas_over_reference_primitives_equal_the_whole_reference(name, api, whole):
    np.testing.assert_allclose(api(), whole(), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("bins,bin_range", [(5, None), (7, "column"), (30, (-1.0, 1.0))])
def test_discretize_equals_the_reference_discretisation(bins, bin_range):
    z = continuous(np.random.default_rng(bins), 301, 3)
    np.testing.assert_array_equal(discretize(z, bins, bin_range).numpy(),
                                  ref.discretize(z, bins, bin_range))
