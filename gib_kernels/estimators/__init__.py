"""The estimator families, one module each with the same interface, in nats:

- ``setup(inputs, arrays)``: the family's own checks of the raw arrays (may set
  ``inputs.labels``); ``prepare(inputs, x, name)``: an array as the family computes on it;
  ``check_prepared(inputs)``: checks of the prepared arrays;
- ``entropy(inputs, z)``, ``mutual_information(inputs, z)`` (z: the sources, or some of their
  columns, against ``inputs.w`` or ``inputs.labels``), ``conditional_mutual_information(inputs)``;
- ``entropy_loo(inputs)``, ``mutual_information_loo(inputs)``: the m values without column j;
  ``per_feature_mutual_information(inputs)``: the m values of the single columns
  (``inputs.per_feature_loop`` where the family has nothing faster than one estimate each).

Each is written over the primitives of a backend (``inputs.backend``, ``backends.protocol``).
How to add an estimator: ``backends/README.md``, "Adding an estimator".
"""
from . import binning, gaussian, kde, knn, mixed

FAMILIES = {
    "binning": binning,
    "knn": knn,
    "mixed": mixed,
    "kde": kde,
    "gaussian": gaussian,
}
