"""Slow, obviously correct reference estimators: plain numpy float64, results in nats.

Brute-force pairwise distances in row blocks (no n x n matrix at once), naive leave-one-out
loops, and Gaussian closed forms. No input validation: the public API validates first. Every
fast backend is tested against these.
"""
from .binning import (
    discrete_conditional_mutual_information,
    discretize,
    discrete_entropy,
    discrete_mutual_information,
)
from .gaussian import (
    class_model_prior_samples,
    gaussian_class_information,
    gaussian_entropy,
    gaussian_mutual_information,
    gaussian_mutual_information_rho,
)
from .kde import kde_entropy, kde_mutual_information
from .knn import (
    frenzel_pompe_cmi,
    count_within,
    kl_entropy,
    kth_neighbor_distance,
    ksg_mutual_information,
    mixed_mutual_information,
)
from .synergy import interaction_information, leave_one_out, synergy_profile

__all__ = [
    "discrete_conditional_mutual_information",
    "frenzel_pompe_cmi",
    "count_within",
    "discretize",
    "discrete_entropy",
    "kde_entropy",
    "kl_entropy",
    "class_model_prior_samples",
    "gaussian_class_information",
    "gaussian_entropy",
    "gaussian_mutual_information",
    "gaussian_mutual_information_rho",
    "interaction_information",
    "kth_neighbor_distance",
    "leave_one_out",
    "discrete_mutual_information",
    "kde_mutual_information",
    "ksg_mutual_information",
    "mixed_mutual_information",
    "synergy_profile",
]
