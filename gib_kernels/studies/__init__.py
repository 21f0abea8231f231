"""The study across models (``gib-kernels study``): a family of networks of one demo task that
differ in what moves robustness and generalisation, each measured once at the end of training,
and the rank correlations of the IB and GIB complexities with robust accuracy and the
generalisation gap across the family, with bootstrap intervals.

- ``grid``: the variants (seed, width, weight decay, label noise, epochs, adversarial training)
  and the named grids;
- ``measure``: train one variant and measure it (accuracies, attacks, the four quantities per
  layer, through ``gib_kernels.tracking``);
- ``statistics``: Spearman, Kendall, partial Spearman, bootstrap intervals, permutation
  p-values, the paired difference of two correlations (numpy and scipy only);
- ``report``: the table, the correlations, the plots and the summary;
- ``run``: the whole study, resumable.

A layer between the command line and the demos, whose task table and training it reuses.

>>> from gib_kernels.studies import run_study
>>> result = run_study("cnn", "gib-study-cnn")
"""
from .grid import GRIDS, Variant, default_grid, load_grid
from .run import EPSILONS, HEADLINE, STUDY_EPOCHS, STUDY_TASKS, StudyResult, run_study

__all__ = ["EPSILONS", "GRIDS", "HEADLINE", "STUDY_EPOCHS", "STUDY_TASKS", "StudyResult",
           "Variant", "default_grid", "load_grid", "run_study"]
