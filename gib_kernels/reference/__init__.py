"""Slow, obviously correct reference estimators: plain numpy float64, results in nats.

Brute-force pairwise distances in row blocks (no n x n matrix at once), naive leave-one-out
loops, and Gaussian closed forms. No input validation: the public API validates first. Every
fast backend is tested against these.
"""
from .binning import (
    conditional_mutual_information_discrete,
    discretize,
    entropy_discrete,
    mutual_information_discrete,
)
from .gaussian import gaussian_entropy, gaussian_mutual_information, gaussian_mutual_information_rho
from .kde import entropy_kde, mutual_information_kde
from .knn import (
    conditional_mutual_information_ksg,
    count_within,
    entropy_kl,
    kth_neighbor_distance,
    mutual_information_ksg,
    mutual_information_mixed,
)
from .synergy import interaction_information, leave_one_out, synergy_profile

__all__ = [
    "conditional_mutual_information_discrete",
    "conditional_mutual_information_ksg",
    "count_within",
    "discretize",
    "entropy_discrete",
    "entropy_kde",
    "entropy_kl",
    "gaussian_entropy",
    "gaussian_mutual_information",
    "gaussian_mutual_information_rho",
    "interaction_information",
    "kth_neighbor_distance",
    "leave_one_out",
    "mutual_information_discrete",
    "mutual_information_kde",
    "mutual_information_ksg",
    "mutual_information_mixed",
    "synergy_profile",
]
