"""Distributions and KL divergences the zoo shares (importing registers the KLs with torch)."""
from pyrodisent.distributions.kl import kl_full_gaussian_to_diagonal

__all__ = ["kl_full_gaussian_to_diagonal"]
