"""Inference objectives."""
from pyrodisent.infer.decomposed_elbo import DecomposedELBO
from pyrodisent.infer.elbo import MeanFieldELBO, PenalizedELBO, PyroELBO, build_objective
from pyrodisent.infer.importance_weighted import ImportanceWeightedELBO

__all__ = ["DecomposedELBO", "ImportanceWeightedELBO", "MeanFieldELBO", "PenalizedELBO", "PyroELBO", "build_objective"]
