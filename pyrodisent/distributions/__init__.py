"""Distributions and KL divergences the zoo shares (importing registers the KLs with torch)."""
from pyrodisent.distributions.banded_precision import (BandedPrecisionNormal, kl_banded_precision_to_dense,
                                                       solve_upper_bidiagonal)
from pyrodisent.distributions.kl import kl_full_gaussian_to_diagonal
from pyrodisent.distributions.negative_binomial import MeanDispersionNegativeBinomial
from pyrodisent.distributions.topological import (BlockProductDistribution, Circle, GaussianPoints, Loop, Points,
                                                  ProductPrior, Segment, SmoothedSegment, Tilted, TiltedNormal,
                                                  TopologyBlock, build_block, log_radial_integral, parse_blocks)

__all__ = ["BandedPrecisionNormal", "BlockProductDistribution", "Circle", "GaussianPoints", "Loop",
           "MeanDispersionNegativeBinomial", "Points", "ProductPrior", "Segment", "SmoothedSegment", "Tilted",
           "TiltedNormal", "TopologyBlock",
           "build_block", "kl_banded_precision_to_dense", "kl_full_gaussian_to_diagonal", "log_radial_integral",
           "parse_blocks", "solve_upper_bidiagonal"]
