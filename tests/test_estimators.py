"""The estimator objects (options, validation, repr), how the functions take them, the family
protocol every registered family keeps, one pass per synergy, and a family added through the
documented steps only."""
import collections
import inspect
import warnings

import numpy as np
import pytest
import torch

import gib_kernels as gk
from gib_kernels import backends
from gib_kernels.backends.cpu import CpuBackend
from gib_kernels.backends.protocol import Backend
from gib_kernels.estimators import ESTIMATORS, family
from gib_kernels.estimators.base import Estimator
from gib_kernels.estimators.protocol import FLAGS, RUNS_ON, Family
from gib_kernels.estimators.shared import cat, value_codes
from inputs import continuous, labels_for

from conftest import assert_close

_rng = np.random.default_rng(5)
Z = continuous(_rng, 150, 4)
Y = labels_for(_rng, Z, 3)
W = Z[:, :2] ** 2 + 0.3 * _rng.standard_normal((150, 2))
BITS = _rng.integers(0, 2, (400, 2))
XOR = BITS[:, 0] ^ BITS[:, 1]


# --- the objects -------------------------------------------------------------------------------


def test_objects_store_options_as_given_and_show_the_non_default_ones():
    knn = gk.estimators.KNN(k=np.int64(5), metric="euclidean")
    assert knn.get_params() == {"k": 5, "metric": "euclidean", "noise": 0.0, "random_state": None}
    assert type(knn.k) is np.int64  # as given; checked values are knn.checked
    assert type(knn.checked.k) is int
    assert repr(knn) == "KNN(k=np.int64(5), metric='euclidean')"
    assert repr(gk.estimators.Gaussian()) == "Gaussian()"
    assert repr(gk.estimators.Binning(bin_range=(0, 1))) == "Binning(bin_range=(0, 1))"
    assert gk.estimators.KDE(sigma2=0.1) == gk.estimators.KDE(sigma2=0.1)
    assert gk.estimators.KDE(sigma2=0.1) != gk.estimators.KDE(sigma2=0.2)
    assert knn.set_params(k=7).get_params()["k"] == 7 and knn.k == 5


@pytest.mark.parametrize("make,error,message", [
    (lambda: gk.estimators.KNN(k=0), ValueError,
     "The 'k' parameter of KNN must be an int >= 1. Got 0 instead."),
    (lambda: gk.estimators.Mixed(k=2.5), TypeError,
     "The 'k' parameter of Mixed must be an int >= 1. Got 2.5 instead."),
    (lambda: gk.estimators.KNN(metric="l1"), ValueError,
     "The 'metric' parameter of KNN must be one of 'max', 'euclidean'. Got 'l1' instead."),
    (lambda: gk.estimators.KDE(sigma2=0), ValueError,
     "The 'sigma2' parameter of KDE must be a positive finite number. Got 0 instead."),
    (lambda: gk.estimators.Binning(bins=0), ValueError,
     "The 'bins' parameter of Binning must be an int >= 1. Got 0 instead."),
    (lambda: gk.estimators.Gaussian(ridge=-1), ValueError,
     "The 'ridge' parameter of Gaussian must be a finite number >= 0. Got -1 instead."),
    (lambda: gk.estimators.Gaussian(copula="yes"), ValueError,
     "The 'copula' parameter of Gaussian must be True or False. Got 'yes' instead."),
    (lambda: gk.estimators.KDE(noise=-1), ValueError,
     "The 'noise' parameter of KDE must be a finite number >= 0. Got -1 instead."),
    (lambda: gk.estimators.KNN(random_state="seed"), TypeError,
     "The 'random_state' parameter of KNN must be None"),
], ids=["k", "k-float", "metric", "sigma2", "bins", "ridge", "copula", "noise", "random-state"])
def test_options_are_checked_once_at_construction(make, error, message):
    with pytest.raises(error) as caught:
        make()
    assert str(caught.value).startswith(message)


NAMED = [
    ("binning", {"bins": 4}, Z, Y),
    ("knn", {"k": 5, "metric": "euclidean"}, Z, W),
    ("mixed", {"k": 4}, Z, Y),
    ("kde", {"sigma2": 0.05}, Z, Y),
    ("gaussian", {"ridge": 1e-4, "covariance_prior": 3.0}, Z, Y),
    ("gaussian", {"copula": False}, Z, W),
]


@pytest.mark.parametrize("name,options,z,w", NAMED,
                         ids=[f"{n}-{'-'.join(o)}" for n, o, _, _ in NAMED])
def test_a_name_with_options_is_its_object(name, options, z, w):
    obj = family(name)(**options)
    for fn in (gk.mutual_information, gk.synergy_profile, gk.leave_one_out_mutual_information):
        np.testing.assert_array_equal(fn(z, w, estimator=name, **options),
                                      fn(z, w, estimator=obj))


def test_an_option_of_another_family_names_the_family_and_its_options():
    with pytest.raises(TypeError, match="KDE takes no option 'k'; its options are sigma2, "
                                        "noise, random_state"):
        gk.mutual_information(Z, Y, estimator="kde", sigma2=0.5, k=5)
    with pytest.raises(TypeError, match="KNN takes no option 'kk'; its options are k, metric, "
                                        "noise, random_state"):
        gk.mutual_information(Z, W, estimator="knn", kk=5)
    with pytest.raises(TypeError, match="options go to the estimator object's constructor"):
        gk.mutual_information(Z, W, estimator=gk.estimators.KNN(), k=5)


def test_auto_applies_the_options_of_the_family_it_chooses():
    assert gk.synergy(Z, Y, k=5) == gk.synergy(Z, Y, estimator=gk.estimators.Mixed(k=5))
    assert gk.mutual_information(Z, W, k=5, metric="euclidean") == \
        gk.mutual_information(Z, W, estimator="knn", k=5)
    assert gk.entropy(BITS, k=5) == gk.entropy(BITS)  # binning: k is knn's and mixed's
    with pytest.raises(ValueError, match="The 'k' parameter of Mixed must be an int >= 1"):
        gk.entropy(BITS, k=0)  # checked whatever auto chooses
    with pytest.raises(TypeError, match="'auto' chooses between binning, mixed, knn; none "
                                        "takes option 'ridge'"):
        gk.mutual_information(Z, W, ridge=1.0)
    with pytest.raises(TypeError, match="none takes option 'bogus'"):
        gk.mutual_information(Z, W, bogus=1.0)


def test_a_torch_family_says_when_a_backend_request_has_no_part():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gk.mutual_information(Z, Y, estimator="gaussian", backend="cpu")  # where the data is
        gk.mutual_information(Z, Y, estimator="gaussian")
    for backend in ("triton", "reference", "cuda"):
        with pytest.warns(RuntimeWarning, match=f"backend='{backend}' has no part in the "
                                                "Gaussian estimate: it runs on torch"):
            gk.mutual_information(Z, Y, estimator="gaussian", backend=backend)


def test_a_torch_family_says_when_cpu_is_asked_for_with_cuda_data():
    from gib_kernels.estimators.inputs import _torch_backend_note

    with pytest.warns(RuntimeWarning, match=r"backend='cpu' has no part in the Gaussian "
                                            r"estimate: it runs on torch on the data's "
                                            r"device \(cuda\)"):
        _torch_backend_note(gk.estimators.Gaussian(), "cpu", data_on_cuda=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _torch_backend_note(gk.estimators.Gaussian(), "cuda", data_on_cuda=True)


@pytest.mark.gpu
def test_the_gaussian_on_cuda_data_says_a_cpu_backend_has_no_part():
    z, y = torch.from_numpy(Z).cuda(), torch.from_numpy(Y).cuda()
    with pytest.warns(RuntimeWarning, match="backend='cpu' has no part"):
        on_gpu = gk.mutual_information(z, y, estimator="gaussian", backend="cpu")
    assert_close(on_gpu, gk.mutual_information(Z, Y, estimator="gaussian"), rtol=1e-9)


# --- the family protocol -------------------------------------------------------------------------

METHODS = [name for name, _ in inspect.getmembers(Family, inspect.isfunction)
           if not name.startswith("_")]


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_every_registered_family_keeps_the_protocol(name):
    cls = family(name)
    assert issubclass(cls, Estimator) and cls.name == name
    estimator = cls()
    assert isinstance(estimator, Family)
    for flag in FLAGS[1:]:
        assert isinstance(getattr(cls, flag), str if flag == "runs_on" else bool), flag
    assert cls.runs_on in RUNS_ON
    for method in METHODS:
        expected = list(inspect.signature(getattr(Family, method)).parameters)
        assert list(inspect.signature(getattr(cls, method)).parameters) == expected, method
    # the constructor takes the declared options, with the defaults repr leaves out
    assert list(inspect.signature(cls.__init__).parameters)[1:] == list(cls.parameter_names())
    assert repr(estimator) == f"{cls.__name__}()"


def test_the_registry_is_the_one_list_of_names():
    from gib_kernels import cli

    assert gk.estimators.names() == ("auto", *ESTIMATORS)
    commands = next(a for a in cli.build_parser()._actions if a.dest == "command")
    estimate = {a.dest: a for a in commands.choices["estimate"]._actions}
    assert tuple(estimate["estimator"].choices) == gk.estimators.names()


# --- one pass per synergy ------------------------------------------------------------------------

CASES = [("mixed", Z, Y), ("knn", Z, W), ("binning", BITS, XOR),
         (gk.estimators.KDE(sigma2=0.5), Z, Y), ("gaussian", Z, Y), ("gaussian", Z, W)]


@pytest.mark.parametrize("estimator,z,w", CASES, ids=[f"{e}-{w.ndim}d" for e, _, w in CASES])
def test_information_terms_equal_the_separate_functions(estimator, z, w):
    terms = gk.information_terms(z, w, estimator=estimator, base="e")
    same = dict(estimator=estimator, base="e")
    # the full estimate from a fused pass equals the separate one up to summation order
    assert_close(terms.mutual_information, gk.mutual_information(z, w, **same),
                 rtol=1e-12, atol=1e-14, name="I(Z;W)")
    np.testing.assert_array_equal(terms.per_feature,
                                  gk.per_feature_mutual_information(z, w, **same))
    np.testing.assert_array_equal(terms.leave_one_out,
                                  gk.leave_one_out_mutual_information(z, w, **same))
    np.testing.assert_array_equal(terms.synergy_profile, gk.synergy_profile(z, w, **same))


def test_information_terms_come_in_the_callers_base_and_array_type():
    nats = gk.information_terms(Z, Y, base="e")
    bits = gk.information_terms(torch.from_numpy(Z), torch.from_numpy(Y))
    assert isinstance(bits.synergy_profile, torch.Tensor)
    assert_close(bits.mutual_information, nats.mutual_information / np.log(2), rtol=1e-14)
    assert_close(bits.synergy_profile.numpy(), nats.synergy_profile / np.log(2), rtol=1e-14)


def _counting_backend(monkeypatch):
    """The cpu backend with every primitive call counted."""
    counts = collections.Counter()
    primitives = [name for name, _ in inspect.getmembers(Backend, inspect.isfunction)
                  if not name.startswith("_") and name not in ("floats", "ints")]

    def counted(name):
        method = getattr(CpuBackend, name)

        def call(self, *args, **kwargs):
            counts[name] += 1
            return method(self, *args, **kwargs)
        return call

    counting = type("CountingBackend", (CpuBackend,), {n: counted(n) for n in primitives})
    monkeypatch.setattr(backends, "select", lambda name, on_cuda: counting())
    return counts


def test_a_mixed_synergy_profile_makes_one_fused_pass_and_no_second_full_estimate(monkeypatch):
    counts = _counting_backend(monkeypatch)
    m = Z.shape[1]
    gk.synergy_profile(Z, Y, estimator="mixed")
    # one fused leave-one-out pass (whose entry m is I(Z;Y)), then I(Z_j;Y) for each j: a k-th
    # neighbour distance and a count each; the one pattern count is the duplicate-row check
    assert counts == {"knn_loo_maxnorm": 1, "kth_neighbor_distance": m, "count_within": m,
                      "pattern_counts": 1}


# --- a family added through the documented steps only --------------------------------------------
# The one new module (here, this section) and the one registration line (in the test, at run time).


class PlugIn(Estimator):
    """The plug-in entropy of the distinct rows, as they are (no bins, no options)."""

    name = "plugin"
    entropy_description = "plug-in entropy of the distinct rows"

    def __init__(self):
        self._validate()

    def prepare(self, d, x, name):
        return value_codes(x)

    def _h(self, d, *arrays) -> float:
        be = d.backend
        joint = arrays[0] if len(arrays) == 1 else cat(*arrays)
        counts = np.asarray(be.pattern_counts(be.ints(joint), None), dtype=np.float64)
        p = counts / d.n
        return float(-(p * np.log(p)).sum())

    def entropy(self, d, z) -> float:
        return self._h(d, z)

    def mutual_information(self, d, z) -> float:
        return self._h(d, z) + self._h(d, d.w) - self._h(d, z, d.w)

    def conditional_mutual_information(self, d) -> float:
        return (self._h(d, d.z, d.v) + self._h(d, d.w, d.v) - self._h(d, cat(d.z, d.w), d.v)
                - self._h(d, d.v))


def test_a_family_added_with_one_module_and_one_registration_line(monkeypatch):
    monkeypatch.setitem(ESTIMATORS, "plugin", PlugIn)  # the registration line
    assert "plugin" in gk.estimators.names()
    assert_close(gk.synergy_profile(BITS, XOR, estimator="plugin"), [1.0, 1.0], rtol=0.0,
                 atol=0.02, name="XOR synergy")
    terms = gk.information_terms(BITS, XOR, estimator=PlugIn())
    np.testing.assert_array_equal(terms.synergy_profile,
                                  gk.synergy_profile(BITS, XOR, estimator="plugin"))
    assert_close(terms.mutual_information, gk.mutual_information(BITS, XOR, estimator="binning"),
                 rtol=1e-12, name="I(Z;W)")
    assert gk.leave_one_out_entropy(BITS, estimator="plugin")[0] == \
        gk.entropy(BITS[:, 1:], estimator="plugin")
    with pytest.raises(TypeError, match="PlugIn takes no option 'bogus'; its options are none"):
        gk.entropy(BITS, estimator="plugin", bogus=1)
    test_every_registered_family_keeps_the_protocol("plugin")


def test_an_added_family_runs_in_the_tracker_and_the_command_line(monkeypatch, tmp_path, capsys):
    import json

    import torch
    from torch import nn

    from gib_kernels.cli import main
    from gib_kernels.tracking import InformationTracker

    monkeypatch.setitem(ESTIMATORS, "plugin", PlugIn)  # the registration line, and nothing else
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    tracker = InformationTracker(model, ["1"], BITS.astype(np.float32), XOR, estimator="plugin")
    tracker.step(0)
    (record,) = tracker.finish()
    assert record["estimator"] == "plugin"
    assert record["I_TY"] == gk.mutual_information(
        model(torch.from_numpy(BITS.astype(np.float32))).detach().numpy(), XOR,
        estimator="plugin")
    np.savez(tmp_path / "a.npz", z=BITS, w=XOR)
    assert main(["estimate", str(tmp_path / "a.npz"), "--z", "z", "--w", "w", "--estimator",
                 "plugin", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["estimator"]["used"] == "plugin"
    assert result["synergy"] == pytest.approx(gk.synergy(BITS, XOR, estimator="plugin"))
