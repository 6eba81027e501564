"""Inference objectives."""
from pyrodisent.infer.decomposed_elbo import DecomposedELBO
from pyrodisent.infer.elbo import MeanFieldELBO, PenalizedELBO, PyroELBO, build_objective

__all__ = ["DecomposedELBO", "MeanFieldELBO", "PenalizedELBO", "PyroELBO", "build_objective"]
