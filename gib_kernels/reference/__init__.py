"""Slow, obviously correct reference code: plain numpy float64, results in nats.

Two levels, both brute force in row blocks (no n x n matrix at once) with naive leave-one-out
loops: every primitive of ``backends.protocol`` with its arguments (the ``reference`` backend is
a thin adapter over them), and whole estimators written from their papers' formulas, with
Gaussian closed forms. No input validation: the public API validates first. Every fast backend,
and every kernel test, is checked against these.
"""
from .binning import (
    binning_loo,
    discrete_conditional_mutual_information,
    discretize,
    discrete_entropy,
    discrete_mutual_information,
    pattern_counts,
)
from .gaussian import (
    class_model_prior_samples,
    gaussian_class_information,
    gaussian_entropy,
    gaussian_mutual_information,
    gaussian_mutual_information_rho,
)
from .kde import kde_entropy, kde_log_mean_kernel, kde_loo, kde_mutual_information
from .knn import (
    EUCLIDEAN,
    MAX,
    METRICS,
    count_within,
    distance_matrix,
    frenzel_pompe_cmi,
    kl_entropy,
    knn_loo_euclidean,
    knn_loo_maxnorm,
    knn_loo_maxnorm_targets,
    ksg_mutual_information,
    kth_neighbor_distance,
    mixed_mutual_information,
)
from .synergy import interaction_information, leave_one_out, synergy_profile

__all__ = [
    # the primitives of backends.protocol
    "EUCLIDEAN",
    "MAX",
    "METRICS",
    "binning_loo",
    "count_within",
    "kde_log_mean_kernel",
    "kde_loo",
    "knn_loo_euclidean",
    "knn_loo_maxnorm",
    "knn_loo_maxnorm_targets",
    "kth_neighbor_distance",
    "pattern_counts",
    # the whole estimators, closed forms and helpers
    "class_model_prior_samples",
    "discrete_conditional_mutual_information",
    "discrete_entropy",
    "discrete_mutual_information",
    "discretize",
    "distance_matrix",
    "frenzel_pompe_cmi",
    "gaussian_class_information",
    "gaussian_entropy",
    "gaussian_mutual_information",
    "gaussian_mutual_information_rho",
    "interaction_information",
    "kde_entropy",
    "kde_mutual_information",
    "kl_entropy",
    "ksg_mutual_information",
    "leave_one_out",
    "mixed_mutual_information",
    "synergy_profile",
]
