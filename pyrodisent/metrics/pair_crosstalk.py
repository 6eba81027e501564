"""Crosstalk of a factor pair: does the latent that carries one factor also carry the other?

Träuble et al. (ICML 2021) show that a VAE trained on data where two factors are correlated tends to encode
rotated combinations of them (c1 + c2, c1 − c2) rather than each alone. On *uncorrelated* evaluation data this
shows as crosstalk: for each factor f of the pair, take the latent k_f with the largest |Spearman ρ| with f and
measure its |Spearman ρ| with the other factor g of the pair,

    crosstalk = ½ (|ρ(z_{k_1}, c_2)| + |ρ(z_{k_2}, c_1)|)

— near 0 when each factor has a latent of its own, about 0.7 when the best latents encode c1 ± c2.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
from scipy.stats import spearmanr

from pyrodisent.metrics._arrays import check_matrix


def _absolute_spearman(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """|ρ| of every column of ``codes`` with ``values``, (K,); 0 for a constant column."""
    scores = []
    for column in codes.T:
        rho = spearmanr(column, values).statistic if np.ptp(column) > 0 else 0.0
        scores.append(0.0 if np.isnan(rho) else abs(rho))
    return np.asarray(scores)


def pair_crosstalk(codes: np.ndarray, factors: np.ndarray, pair: Tuple[int, int]) -> float:
    """The crosstalk of factors ``pair`` = (i, j) in ``codes`` (N, K) against ``factors`` (N, F), in [0, 1]."""
    codes = check_matrix(codes, "codes")
    factors = check_matrix(factors, "factors")
    if len(codes) != len(factors):
        raise ValueError(f"codes and factors must have the same number of rows, got {len(codes)} and {len(factors)}")
    i, j = pair
    if i == j or not (0 <= i < factors.shape[1] and 0 <= j < factors.shape[1]):
        raise ValueError(f"pair must name two different factors of {factors.shape[1]}, got {pair}")
    total = 0.0
    for own, other in ((i, j), (j, i)):
        best = int(np.argmax(_absolute_spearman(codes, factors[:, own])))
        total += _absolute_spearman(codes[:, [best]], factors[:, other])[0]
    return total / 2
