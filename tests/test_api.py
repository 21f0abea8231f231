"""Conventions of the public API: units, signs, array types, estimator and backend choice."""
import math
import warnings

import numpy as np
import pytest
import torch

import gib_kernels as gk
from gib_kernels import backends
from gib_kernels.estimators.inputs import resolve_estimator
from inputs import continuous, labels_for


def _xor():
    bits = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 50, dtype=np.int64)
    return bits, bits[:, 0] ^ bits[:, 1]


def test_xor_synergy_is_one_bit():
    z, w = _xor()
    exact = dict(rel=0, abs=1e-12)  # exact up to the rounding of log(n) - sum c log c / n
    np.testing.assert_allclose(gk.synergy_profile(z, w), [1.0, 1.0], **{"rtol": 0, "atol": 1e-12})
    assert gk.synergy(z, w) == pytest.approx(1.0, **exact)
    assert gk.mutual_information(z, w) == pytest.approx(1.0, **exact)
    assert gk.interaction_information(z[:, :1], z[:, 1:], w) == pytest.approx(1.0, **exact)
    assert gk.co_information(z[:, :1], z[:, 1:], w) == pytest.approx(-1.0, **exact)


def test_duplicated_bit_redundancy_is_minus_one_bit():
    bit = np.array([0, 1] * 100, dtype=np.int64)
    z = np.stack([bit, bit], axis=1)
    np.testing.assert_allclose(gk.synergy_profile(z, bit), [-1.0, -1.0], rtol=0, atol=1e-12)
    assert gk.synergy(z, bit) == pytest.approx(-1.0, rel=0, abs=1e-12)


@pytest.mark.parametrize("base,factor", [(2, 1 / math.log(2)), ("e", 1.0), (math.e, 1.0),
                                         (10, 1 / math.log(10))], ids=["bits", "e", "math.e", "dits"])
def test_base_converts_nats(rng, base, factor):
    z = continuous(rng, 200, 2)
    nats = gk.entropy(z, base="e")
    assert gk.entropy(z, base=base) == pytest.approx(nats * factor, rel=1e-12)


def test_results_come_back_in_the_callers_array_type(rng):
    z = continuous(rng, 120, 4)
    y = labels_for(rng, z)
    assert isinstance(gk.mutual_information(z, y), float)
    as_numpy = gk.leave_one_out_mutual_information(z, y)
    assert isinstance(as_numpy, np.ndarray) and as_numpy.shape == (4,)
    as_torch = gk.leave_one_out_mutual_information(torch.from_numpy(z), torch.from_numpy(y))
    assert isinstance(as_torch, torch.Tensor)
    np.testing.assert_allclose(as_torch.numpy(), as_numpy, rtol=1e-12)
    # float32 and non-contiguous torch input give the same estimate as float64 numpy
    zt = torch.from_numpy(np.asfortranarray(z)).float()
    assert gk.mutual_information(zt.T.contiguous().T, y) == pytest.approx(
        gk.mutual_information(zt.numpy().astype(np.float64), y), rel=1e-12)


class _DLPackOnly:
    """An array known only through the DLPack protocol (as a JAX or CuPy array is)."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_dlpack_input(rng):
    z = continuous(rng, 100, 3)
    assert gk.entropy(_DLPackOnly(z)) == gk.entropy(z)


def test_several_targets_at_once(rng):
    z = continuous(rng, 150, 5)
    y = labels_for(rng, z)
    x = rng.standard_normal((150, 2))
    both = gk.leave_one_out_mutual_information(z, [y, x])
    np.testing.assert_array_equal(both[0], gk.leave_one_out_mutual_information(z, y))
    np.testing.assert_array_equal(both[1], gk.leave_one_out_mutual_information(z, x))


def test_never_clipped_at_zero(rng):
    z = rng.standard_normal((300, 1))
    y = rng.integers(0, 2, 300)
    values = [gk.mutual_information(z, y, random_state=s) for s in range(1)]
    values += list(gk.per_feature_mutual_information(rng.standard_normal((300, 12)), y))
    assert min(values) < 0  # independent data: some raw estimates fall below zero


@pytest.mark.parametrize("z_kind,w_kind,expected", [
    ("float", "labels", "mixed"),
    ("float", "float", "knn"),
    ("float", None, "knn"),
    ("int", "labels", "binning"),
    ("int", "float", "binning"),
    ("float", "int-matrix", "knn"),
    ("bits-as-float", "labels", "binning"),
    ("few-values-float", "float", "binning"),
    ("one-continuous-column", "labels", "mixed"),
])
def test_auto_estimator_rule(z_kind, w_kind, expected):
    rng = np.random.default_rng(0)
    z = {"float": rng.standard_normal((40, 2)), "int": rng.integers(0, 3, (40, 2)),
         "bits-as-float": rng.integers(0, 2, (40, 2)).astype(np.float32),
         "few-values-float": rng.choice([-0.5, 0.25, 3.0], (40, 2)),
         "one-continuous-column": np.column_stack([rng.integers(0, 2, 40),
                                                   rng.standard_normal(40)])}[z_kind]
    w = {"labels": np.zeros(40, np.int64), "float": np.zeros(40),
         "int-matrix": np.zeros((40, 3), np.int64), None: None}[w_kind]
    assert resolve_estimator(z, w) == expected


def test_backend_eligibility_rule():
    assert backends.unavailable_reason("cpu", False) is None
    assert backends.unavailable_reason("reference", True) is None
    if not torch.cuda.is_available():
        assert "device" in backends.unavailable_reason("cuda", False) or \
            "not built" in backends.unavailable_reason("cuda", False)
        with pytest.warns(RuntimeWarning, match="cannot run here"):
            chosen = backends.select("cuda", data_on_cuda=False)
        assert chosen.name == "cpu"
    assert backends.select("auto", data_on_cuda=False).name == "cpu"


def test_environment_variable_picks_the_backend(monkeypatch, rng):
    z = continuous(rng, 60, 2)
    monkeypatch.setenv("GIB_KERNELS_BACKEND", "reference")
    assert backends.select("auto", False).name == "reference"
    assert gk.entropy(z) == pytest.approx(gk.entropy(z, backend="cpu"), rel=1e-9)
    monkeypatch.setenv("GIB_KERNELS_BACKEND", "gpu")
    with pytest.raises(ValueError, match="GIB_KERNELS_BACKEND"):
        gk.entropy(z)


def test_noise_is_reproducible_and_breaks_ties():
    z = np.repeat(np.arange(20.0), 5)[:, None]
    with pytest.raises(ValueError, match="discrete-valued"):
        gk.entropy(z, estimator="knn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = gk.entropy(z, estimator="knn", noise=1e-10, random_state=0)
        b = gk.entropy(z, estimator="knn", noise=1e-10, random_state=0)
    assert a == b and math.isfinite(a)


def test_duplicate_rows_in_continuous_data_warn():
    z = np.random.default_rng(0).standard_normal((100, 2))
    z[50:55] = z[0]
    with pytest.warns(UserWarning, match="5 duplicate rows"):
        gk.entropy(z)


def test_build_info_reports_what_loaded():
    info = gk.build_info()
    assert info["cpu"] == "loaded" and info["version"] == gk.__version__
    assert isinstance(info["cuda"], str) and isinstance(info["triton"], str)
