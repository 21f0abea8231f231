"""The study across models: its statistics against scipy and against known values in seeded
simulations, its grid, and tiny studies end to end (files, resume without retraining)."""
import csv
import json
import math

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats

from gib_kernels import cli, studies
from gib_kernels.cli import main
from gib_kernels.studies import run as study_run
from gib_kernels.studies import statistics as S
from gib_kernels.studies.grid import Variant, load_grid
from gib_kernels.studies.measure import noisy_labels


def correlated_normals(rng, n, rho):
    x = rng.normal(size=n)
    return x, rho * x + math.sqrt(1 - rho**2) * rng.normal(size=n)


# ----------------------------------------------------------------------------- statistics
def test_spearman_and_kendall_equal_scipy():
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=30), 1)  # ties in both
    y = np.round(x + rng.normal(size=30), 0)
    assert S.spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic, abs=1e-12)
    assert S.kendall(x, y) == pytest.approx(scipy_stats.kendalltau(x, y).statistic, abs=1e-12)
    # Over leading axes, each row as scipy gives it.
    xs, ys = rng.normal(size=(5, 12)), rng.normal(size=(5, 12))
    np.testing.assert_allclose(S.spearman(xs, ys),
                               [scipy_stats.spearmanr(a, b).statistic for a, b in zip(xs, ys)])
    np.testing.assert_allclose(S.kendall(xs, ys),
                               [scipy_stats.kendalltau(a, b).statistic for a, b in zip(xs, ys)])


def test_a_constant_variable_has_no_correlation():
    x, y = np.arange(6.0), np.ones(6)
    assert math.isnan(S.spearman(x, y)) and math.isnan(S.kendall(x, y))
    assert math.isnan(S.permutation_pvalue(S.spearman, x, y))


def test_partial_spearman_is_the_correlation_of_residualised_ranks():
    rng = np.random.default_rng(4)
    z = rng.normal(size=40)
    x, y = z + rng.normal(size=40), z + 0.5 * rng.normal(size=40)
    rx, ry, rz = (scipy_stats.rankdata(v) for v in (x, y, z))
    design = np.column_stack([np.ones_like(rz), rz])

    def residual(r):
        return r - design @ np.linalg.lstsq(design, r, rcond=None)[0]

    direct = np.corrcoef(residual(rx), residual(ry))[0, 1]
    assert S.partial_spearman(x, y, z) == pytest.approx(direct, abs=1e-12)
    # the formula on the three pairwise rhos
    rxy, rxz, ryz = (scipy_stats.spearmanr(a, b).statistic for a, b in ((x, y), (x, z), (y, z)))
    formula = (rxy - rxz * ryz) / math.sqrt((1 - rxz**2) * (1 - ryz**2))
    assert S.partial_spearman(x, y, z) == pytest.approx(formula, abs=1e-12)
    # y's link to x runs through z: given z, far weaker than without
    assert abs(S.partial_spearman(x, y, z)) < 0.5 * S.spearman(x, y)


def test_bootstrap_interval_covers_the_population_spearman_rho():
    rho = 0.6
    population = 6 / math.pi * math.asin(rho / 2)  # Spearman's rho of a bivariate normal
    x, y = correlated_normals(np.random.default_rng(5), 300, rho)
    interval = S.bootstrap_interval(S.spearman, x, y, seed=1)
    assert interval.contains(population) and interval.kept == S.RESAMPLES
    assert interval.high - interval.low < 0.25
    # and it does so at about its level over many samples
    rng = np.random.default_rng(6)
    covered = [S.bootstrap_interval(S.spearman, *correlated_normals(rng, 40, rho),
                                    resamples=500, seed=i).contains(population)
               for i in range(40)]
    assert 0.85 <= np.mean(covered)


def test_bootstrap_is_seeded_and_paired():
    rng = np.random.default_rng(7)
    x, y = correlated_normals(rng, 25, 0.5)
    first = S.bootstrap_interval(S.spearman, x, y, seed=3)
    assert S.bootstrap_interval(S.spearman, x, y, seed=3) == first
    assert S.bootstrap_interval(S.spearman, x, y, seed=4) != first
    # the same variable twice: every resample's difference is 0
    same = S.compare(x, x.copy(), y)
    assert same.signed == 0 and same.signed_interval.low == same.signed_interval.high == 0
    assert same.verdict == "undecided"


def test_permutation_pvalues_of_independent_data_are_roughly_uniform():
    rng = np.random.default_rng(8)
    p = [S.permutation_pvalue(S.spearman, rng.normal(size=15), rng.normal(size=15),
                              permutations=199, seed=i) for i in range(100)]
    assert 0.02 <= np.mean(np.array(p) < 0.1) <= 0.2
    assert 0.3 <= np.median(p) <= 0.7


def test_permutation_pvalue_of_a_strong_relation_is_small():
    x, y = correlated_normals(np.random.default_rng(9), 30, 0.9)
    assert S.permutation_pvalue(S.kendall, x, y, permutations=999) == pytest.approx(1 / 1000)


def test_the_difference_names_the_closer_complexity():
    rng = np.random.default_rng(10)
    y = rng.normal(size=40)
    close, unrelated = -y + 0.2 * rng.normal(size=40), rng.normal(size=40)  # close: negative rho
    d = S.compare(close, unrelated, y)
    assert d.absolute > 0.5 and d.absolute_interval.low > 0 and d.verdict == "a"
    assert d.signed < 0  # the signed difference keeps the direction
    assert S.compare(unrelated, close, y).verdict == "b"
    assert d.absolute == pytest.approx(abs(S.spearman(close, y)) - abs(S.spearman(unrelated, y)))


# ----------------------------------------------------------------------------- grid, labels
def test_the_default_grid():
    grid = load_grid("default", 100)
    assert len(grid) >= 12 and len({v.name for v in grid}) == len(grid)
    assert {v.group() for v in grid} >= {"base", "width", "weight decay", "label noise",
                                          "epochs", "adversarial", "combined"}
    assert len({v.seed for v in grid}) >= 3


def test_a_grid_from_json(tmp_path):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps([{"name": "a"}, {"width": 0.5, "epochs": 3}]))
    assert load_grid(str(path), 10) == [Variant("a"), Variant("model1", width=0.5, epochs=3)]
    path.write_text(json.dumps([{"name": "a", "dropout": 0.1}]))
    with pytest.raises(ValueError, match="unknown field 'dropout'"):
        load_grid(str(path), 10)
    path.write_text(json.dumps([{"name": "a"}, {"name": "a", "seed": 1}]))
    with pytest.raises(ValueError, match="two models 'a'"):
        load_grid(str(path), 10)
    with pytest.raises(ValueError, match="label_noise"):
        Variant("b", label_noise=1.5)


def test_label_noise_moves_that_fraction_of_training_labels_to_other_classes():
    y = torch.arange(200) % 10
    train = torch.arange(0, 200, 2)
    noisy = noisy_labels(y, train, 0.3, 10, seed=0)
    changed = (noisy != y).nonzero().flatten()
    assert len(changed) == 30 and set(changed.tolist()) <= set(train.tolist())
    assert int(noisy.min()) >= 0 and int(noisy.max()) <= 9
    assert torch.equal(noisy_labels(y, train, 0.3, 10, seed=0), noisy)


def test_command_line_tables_match_the_studies():
    assert cli.STUDY_TASKS == studies.STUDY_TASKS
    assert cli.STUDY_EPOCHS == studies.STUDY_EPOCHS


# ----------------------------------------------------------------------------- end to end
TINY = ["--models", "3", "--epochs", "2", "--probe-size", "200", "--resamples", "200", "--quiet"]


@pytest.fixture(scope="module")
def study_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    assert main(["study", "--task", "cnn", "--out", str(out), *TINY]) == 0
    return out


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_study_writes_the_table_plots_and_summary(study_out):
    for name in ("models.jsonl", "study.csv", "correlations.csv", "summary.txt",
                 "robustness_vs_complexity.png", "gap_vs_complexity.png"):
        assert (study_out / name).stat().st_size > 0, name
    rows = read_csv(study_out / "study.csv")
    layers = list(studies.run.TASKS["cnn"].layers)
    assert len(rows) == 3 * len(layers)
    assert [r["model"] for r in rows[::len(layers)]] == [v.name for v in
                                                        load_grid("default", 2)[:3]]
    for row in rows:
        assert row["epochs"] == "2"
        for key in ("test_accuracy", "fgsm_0.05", "pgd_0.1", "pgd_0.2", "probe_accuracy"):
            assert 0 <= float(row[key]) <= 1
        for key in ("accuracy_gap", "loss_gap", "I_XT", "I_TY", "S_XT", "S_TY", "seconds"):
            assert math.isfinite(float(row[key]))
    # the third model is trained adversarially, the others not; the groups are the grid's
    assert [float(r["adversarial"]) > 0 for r in rows[::len(layers)]] == [False, False, True]
    assert [r["group"] for r in rows[::len(layers)]] == ["base", "label noise", "adversarial"]
    correlations = read_csv(study_out / "correlations.csv")
    assert {r["statistic"] for r in correlations} == {"spearman", "kendall", "partial spearman",
                                                      "spearman difference"}
    assert {r["outcome"] for r in correlations} >= {"pgd_0.1", "accuracy_gap", "loss_gap"}
    summary = " ".join((study_out / "summary.txt").read_text().split())  # unwrapped
    for text in ("GIB study 'cnn': 3 models", "Spearman rho", "Kendall tau",
                 "partial rho given clean", "|rho|", "Verdict", "say nothing"):
        assert text in summary, text
    assert "3 trained in this run, 0 read back" in summary


def test_rerun_reads_every_model_back_and_trains_nothing(study_out, monkeypatch, capsys):
    table = (study_out / "study.csv").read_text()
    stored = (study_out / "models.jsonl").read_text()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished model was trained again")

    monkeypatch.setattr(study_run, "train_and_measure", no_training)
    assert main(["study", "--task", "cnn", "--out", str(study_out), *TINY]) == 0
    assert "0 models trained" in capsys.readouterr().out
    assert (study_out / "study.csv").read_text() == table
    assert (study_out / "models.jsonl").read_text() == stored
    # another length is another model: it would train
    with pytest.raises(AssertionError, match="trained again"):
        main(["study", "--task", "cnn", "--out", str(study_out), *TINY[:2], "--epochs", "3",
              *TINY[4:]])


@pytest.mark.parametrize("task", ["transformer", "relu"])
def test_the_other_tasks_run(tmp_path, task):
    result = studies.run_study(task, tmp_path, models=2, epochs=1, probe_size=300, resamples=20,
                               progress=False)
    assert result.trained == 2 and len(result.rows) == 2 * len(studies.run.TASKS[task].layers)
    assert all(math.isfinite(r["S_XT"]) for r in result.rows)
    expected = "binning" if task == "relu" else "gaussian"
    assert {r["estimator"] for r in result.rows} == {expected}
