"""Inference objectives."""
from pyrodisent.infer.elbo import MeanFieldELBO, PyroELBO, build_objective

__all__ = ["MeanFieldELBO", "PyroELBO", "build_objective"]
