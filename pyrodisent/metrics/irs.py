"""Interventional Robustness Score (IRS).

Suter, Miladinovic, Schoelkopf and Bauer, "Robustly Disentangled Causal Mechanisms: Validating Deep
Representations for Interventional Robustness", ICML 2019; disentanglement_lib's version
(``unsupervised_study_v1``: diff quantile 0.99, factors in 20 histogram bins).

Codes with zero variance are dropped. For code z_k and factor v_j, holding v_j at each of its values
v (after discretising the factor), the deviation of z_k from its conditional mean E[z_k | v_j = v] is
summarised by its ``diff_quantile`` quantile; averaging over the values of v_j and dividing by the
largest deviation of z_k from its overall mean gives the normalised deviation D_kj, and

    IRS_kj = 1 - D_kj,   IRS_k = max_j IRS_kj,   IRS = sum_k w_k IRS_k / sum_k w_k

with w_k = max_n |z_nk - mean(z_k)|.
"""
from __future__ import annotations

import numpy as np

from pyrodisent.metrics._discretize import NUM_BINS, check_codes_and_factors, histogram_discretize


def irs(codes: np.ndarray, factors: np.ndarray, diff_quantile: float = 0.99) -> float:
    """Interventional robustness score of codes with respect to ground-truth factors.

    :param codes: ``(N, K)`` representations (disentanglement_lib: N = 10,000).
    :param factors: ``(N, F)`` factor values (integer classes or real values); each factor is put into
        20 equal-width histogram bins, as in disentanglement_lib (for a factor with at most 20
        consecutive integer values every value keeps its own bin).
    :param diff_quantile: quantile of the within-group deviations (1.0 is the paper's maximum).
    :return: IRS in [0, 1]; 0 when every code is constant.
    """
    codes, factors = check_codes_and_factors(codes, factors, integer=False)
    if not 0.0 <= diff_quantile <= 1.0:
        raise ValueError(f"diff_quantile must lie in [0, 1]; got {diff_quantile!r}")
    active = codes[:, codes.var(axis=0) > 0]
    if active.shape[1] == 0:
        return 0.0
    return float(irs_from_discrete_factors(histogram_discretize(factors, NUM_BINS), active, diff_quantile))


def irs_matrix(discrete_factors: np.ndarray, codes: np.ndarray, diff_quantile: float = 0.99):
    """``(K, F)`` matrix IRS_kj and the normalisers w_k ``(K,)`` for non-constant ``codes``."""
    largest_deviation = np.max(np.abs(codes - codes.mean(axis=0)), axis=0)  # (K,)
    mean_deviation = np.zeros((codes.shape[1], discrete_factors.shape[1]))
    for j in range(discrete_factors.shape[1]):
        values = np.unique(discrete_factors[:, j])
        for value in values:
            group = codes[discrete_factors[:, j] == value]
            deviation = np.abs(group - group.mean(axis=0))
            mean_deviation[:, j] += np.quantile(deviation, q=diff_quantile, axis=0)
        mean_deviation[:, j] /= values.size
    return 1.0 - mean_deviation / largest_deviation[:, None], largest_deviation


def irs_from_discrete_factors(discrete_factors: np.ndarray, codes: np.ndarray, diff_quantile: float = 0.99) -> float:
    """IRS of non-constant ``codes`` ``(N, K)`` given discrete factors ``(N, F)``."""
    matrix, weights = irs_matrix(discrete_factors, codes, diff_quantile)
    return float(np.average(matrix.max(axis=1), weights=weights))
