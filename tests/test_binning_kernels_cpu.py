"""The C++ binning kernels (gib_kernels._cpu.pattern_counts / binning_loo) against exact numpy.

binning_loo(codes, fixed)[j] is sum c log c over the distinct rows of [codes without column j,
fixed] (nats), and [m] the same over all of codes; the reference (gib_kernels.reference)
deletes each column and counts with np.unique, so hash collisions or a missed merge show up as
a mismatch.
"""
import zlib
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest

from gib_kernels import reference as ref
from inputs import BAD_SHARDS, shard_parts

_cpu = pytest.importorskip("gib_kernels._cpu")

RTOL = 1e-12
INT64 = np.iinfo(np.int64)


# ----------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Case:
    n: int
    m: int
    bins: int
    kind: str  # uniform | near | extreme | identical
    fixed: Optional[str]  # None | labels (n, 1) | two (n, 2)

    @property
    def id(self):
        return f"n{self.n}-m{self.m}-b{self.bins}-{self.kind}-{self.fixed or 'nofixed'}"


def near_duplicates(rng, n, m, b):
    """Copies of a few base rows, half of them changed in one column: many classes merge
    under exactly one column even when m is large."""
    base = rng.integers(0, b, (max(2, n // 8), m))
    codes = base[rng.integers(0, len(base), n)]
    changed = rng.random(n) < 0.5
    codes[changed, rng.integers(0, m, changed.sum())] = rng.integers(0, b, changed.sum())
    return codes


def make_codes(rng, case):
    n, m, b = case.n, case.m, case.bins
    if case.kind == "uniform":
        return rng.integers(0, b, (n, m))
    if case.kind == "near":
        return near_duplicates(rng, n, m, b)
    if case.kind == "extreme":
        # Near duplicates with each bin named by a negative or huge int64.
        names = rng.integers(INT64.min, INT64.max, b, endpoint=True)
        names[: min(b, 3)] = [INT64.min, INT64.max, -1][: min(b, 3)]
        return names[near_duplicates(rng, n, m, b)]
    if case.kind == "identical":
        return np.tile(rng.integers(-b, b, (1, m)), (n, 1))
    raise ValueError(case.kind)


def make_fixed(rng, n, fixed):
    if fixed is None:
        return None
    if fixed == "labels":
        return rng.integers(0, 3, (n, 1))
    if fixed == "two":
        return np.column_stack([rng.integers(0, 2, n), rng.integers(-2, 2, n)])
    raise ValueError(fixed)


def make_inputs(case):
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    return make_codes(rng, case), make_fixed(rng, case.n, case.fixed)


def twelve_bit_inputs():
    """All 4096 binary vectors of length 12, most significant bit first."""
    return (np.arange(4096)[:, None] >> np.arange(11, -1, -1)) & 1


def twelve_bit_labels():
    return np.random.default_rng(12).integers(0, 2, (4096, 1))


def assert_close(actual, expected, rtol=RTOL):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    rel = np.abs(actual - expected) / np.maximum(np.abs(expected), 1.0)
    bad = np.flatnonzero(rel > rtol)
    assert bad.size == 0, (
        f"max relative error {rel.max():.3e} > {rtol:.0e} at {bad.size} of {rel.size} entries; "
        f"first: {[(int(j), float(actual[j]), float(expected[j])) for j in bad[:5]]}"
    )


# ------------------------------------------------------------------------------- cases
CASES = [
    Case(1, 1, 2, "uniform", None),
    Case(1, 7, 3, "uniform", "labels"),
    Case(2, 1, 2, "uniform", None),
    Case(37, 1, 3, "uniform", "labels"),
    Case(53, 1, 30, "uniform", "two"),
    Case(101, 3, 2, "uniform", None),
    Case(257, 5, 3, "uniform", "labels"),
    Case(311, 9, 2, "uniform", "two"),
    Case(600, 4, 30, "uniform", "labels"),
    Case(599, 13, 2, "uniform", None),
    Case(433, 40, 2, "near", "labels"),
    Case(600, 40, 3, "near", None),
    Case(377, 23, 30, "near", "two"),
    Case(211, 17, 3, "extreme", "labels"),
    Case(150, 6, 3, "extreme", "two"),
    Case(199, 2, 30, "extreme", None),
    Case(97, 11, 2, "identical", None),
    Case(64, 1, 2, "identical", "labels"),
    Case(123, 29, 30, "identical", "two"),
]
CASE_IDS = [c.id for c in CASES]


@pytest.fixture
def restore_threads():
    before = _cpu.max_threads()
    yield
    _cpu.set_num_threads(before)


# ------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_pattern_counts_match_numpy(case):
    codes, fixed = make_inputs(case)
    expected = ref.pattern_counts(codes, fixed)
    counts = _cpu.pattern_counts(codes, fixed)
    np.testing.assert_array_equal(np.sort(counts), np.sort(expected))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_binning_loo_matches_numpy(case):
    codes, fixed = make_inputs(case)
    out = _cpu.binning_loo(codes, fixed)
    assert_close(out, ref.binning_loo(codes, fixed))
    counts = _cpu.pattern_counts(codes, fixed)
    assert_close(out[-1], np.sum(counts * np.log(counts)))


THREAD_INPUTS = {c.id: (lambda c=c: make_inputs(c)) for c in CASES if c.n * c.m >= 2000}
# The deepest recursion: thousands of items per level, split by both threads.
THREAD_INPUTS["twelve-bit-labels"] = lambda: (twelve_bit_inputs(), twelve_bit_labels())


@pytest.mark.parametrize("make", THREAD_INPUTS.values(), ids=THREAD_INPUTS.keys())
def test_binning_loo_bit_identical_across_threads(make, restore_threads):
    codes, fixed = make()
    runs = []
    for threads in (1, 2, 2):
        _cpu.set_num_threads(threads)
        runs.append(_cpu.binning_loo(codes, fixed).tobytes())
    assert runs[0] == runs[1] == runs[2]


@pytest.mark.parametrize(
    "fixed",
    [None, "labels", "two"],
    ids=["nofixed", "labels", "two"],
)
def test_single_column_leaves_the_fixed_columns_alone(fixed):
    # Z_-0 has no column: its patterns are the rows of fixed, or one class of all n rows.
    rng = np.random.default_rng(7)
    n = 83
    codes, fixed_cols = rng.integers(0, 5, (n, 1)), make_fixed(rng, n, fixed)
    counts = np.array([n]) if fixed is None else ref.pattern_counts(fixed_cols, None)
    expected = np.sum(counts * np.log(counts))
    assert_close(_cpu.binning_loo(codes, fixed_cols)[0], expected)


@pytest.mark.parametrize(
    "label, expected_loo",
    [
        # Each vector has 12 neighbours, one per bit: without any column the 4096 vectors
        # pair up into 2048 classes of 2.
        (None, 4096 * np.log(2.0)),
        # The two vectors of a pair differ in parity, so nothing merges.
        ("parity", 0.0),
    ],
    ids=["nofixed", "parity"],
)
def test_twelve_bit_closed_forms(label, expected_loo):
    codes = twelve_bit_inputs()
    fixed = None if label is None else (codes.sum(axis=1, keepdims=True) % 2)
    out = _cpu.binning_loo(codes, fixed)
    assert_close(out, np.r_[np.full(12, expected_loo), 0.0])


@pytest.mark.parametrize("label", ["random", "majority", "two"], ids=["random", "majority", "two"])
def test_twelve_bit_with_labels_matches_numpy(label):
    codes = twelve_bit_inputs()
    fixed = {
        "random": twelve_bit_labels,
        "majority": lambda: (codes.sum(axis=1, keepdims=True) >= 6).astype(np.int64),
        "two": lambda: np.random.default_rng(2).integers(0, 3, (4096, 2)),
    }[label]()
    assert_close(_cpu.binning_loo(codes, fixed), ref.binning_loo(codes, fixed))


@pytest.mark.parametrize("m, fixed", [(3, None), (1, "labels")], ids=["nofixed", "labels"])
def test_no_rows(m, fixed):
    codes, fixed_cols = np.zeros((0, m), np.int64), make_fixed(np.random.default_rng(3), 0, fixed)
    assert _cpu.pattern_counts(codes, fixed_cols).size == 0
    assert_close(_cpu.binning_loo(codes, fixed_cols), np.zeros(m + 1))


@pytest.mark.parametrize("fixed", [None, "two"], ids=["nofixed", "two"])
def test_pattern_counts_without_code_columns(fixed):
    # The patterns are the rows of fixed alone, or one class of all rows.
    n = 19
    fixed_cols = make_fixed(np.random.default_rng(4), n, fixed)
    expected = [n] if fixed is None else ref.pattern_counts(fixed_cols, None)
    counts = _cpu.pattern_counts(np.zeros((n, 0), np.int64), fixed_cols)
    np.testing.assert_array_equal(np.sort(counts), np.sort(expected))


# ------------------------------------------------------------------------------ sharding
SHARD_CASES = [c for c in CASES if c.n * c.m >= 300] + [Case(101, 3, 2, "uniform", None)]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
@pytest.mark.parametrize("case", SHARD_CASES[:6], ids=[c.id for c in SHARD_CASES[:6]])
def test_binning_loo_shards_add_up_exactly(case, count):
    """A shard owns the columns [begin(m), end(m)) and out[m] on shard 0, zeros elsewhere: the
    parts add up to the whole bit for bit (count > m leaves some shards all zero)."""
    codes, fixed = make_inputs(case)
    m = codes.shape[1]
    parts = shard_parts(lambda s: _cpu.binning_loo(codes, fixed, shard=s), count)
    np.testing.assert_array_equal(sum(parts), _cpu.binning_loo(codes, fixed))
    for index, part in enumerate(parts):
        owned = np.zeros(m + 1, bool)
        owned[m * index // count:m * (index + 1) // count] = True
        owned[m] = index == 0
        assert not part[~owned].any(), f"shard {index} fills columns it does not own"


def test_shard_with_more_parts_than_columns_is_empty():
    codes, fixed = make_inputs(CASES[5])  # m = 3: shard 3 of 7 owns [9 // 7, 12 // 7) = []
    assert not _cpu.binning_loo(codes, fixed, shard=(3, 7)).any()


@pytest.mark.parametrize("shard", BAD_SHARDS, ids=str)
def test_bad_shard_raises(shard):
    with pytest.raises(ValueError, match="shard must be"):
        _cpu.binning_loo(np.zeros((9, 2), np.int64), None, shard=shard)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_pattern_classes_merge_across_row_blocks(case):
    """Classes in ascending unsigned hash order with the counts of pattern_counts; classes of
    row blocks counted apart merge by hash into the whole."""
    codes, fixed = make_inputs(case)
    hashes, counts = _cpu.pattern_classes(codes, fixed)
    assert hashes.dtype == np.uint64 and hashes.shape == (counts.size, 2)
    np.testing.assert_array_equal(counts, _cpu.pattern_counts(codes, fixed))
    keys = [tuple(h) for h in hashes.tolist()]
    assert keys == sorted(set(keys)), "hashes must be distinct and ascending"
    half = case.n // 3
    merged = {}
    for rows in (slice(0, half), slice(half, None)):
        block = _cpu.pattern_classes(codes[rows], None if fixed is None else fixed[rows])
        for h, c in zip(block[0].tolist(), block[1].tolist()):
            merged[tuple(h)] = merged.get(tuple(h), 0) + c
    assert sorted(merged.items()) == list(zip(keys, counts.tolist()))
