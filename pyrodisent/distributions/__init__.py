"""Distributions and KL divergences the zoo shares (importing registers the KLs with torch)."""
from pyrodisent.distributions.banded_precision import (BandedPrecisionNormal, kl_banded_precision_to_dense,
                                                       solve_upper_bidiagonal)
from pyrodisent.distributions.kl import kl_full_gaussian_to_diagonal
from pyrodisent.distributions.negative_binomial import MeanDispersionNegativeBinomial

__all__ = ["BandedPrecisionNormal", "MeanDispersionNegativeBinomial", "kl_banded_precision_to_dense",
           "kl_full_gaussian_to_diagonal", "solve_upper_bidiagonal"]
