"""Mutual Information Gap (MIG).

Chen, Li, Grosse and Duvenaud, "Isolating Sources of Disentanglement in Variational Autoencoders",
NeurIPS 2018, Eq. 6; discrete estimator of disentanglement_lib (``unsupervised_study_v1``):

    MIG = 1/F * sum_j [ I(z_(1); v_j) - I(z_(2); v_j) ] / H(v_j)

where each code z_k is discretised into ``num_bins`` equal-width histogram bins, I is the discrete
mutual information between a discretised code and a factor v_j, z_(1) and z_(2) are the codes with the
largest and second-largest information about v_j, and H(v_j) is the factor's discrete entropy.
"""
from __future__ import annotations

import numpy as np

from pyrodisent.metrics._discretize import (
    NUM_BINS,
    check_codes_and_factors,
    check_num_codes,
    check_varying_factors,
    discrete_entropy,
    histogram_discretize,
    mutual_information_matrix,
    top_two_gap,
)


def mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = NUM_BINS) -> float:
    """Mutual information gap between codes and ground-truth factors, in [0, 1].

    :param codes: ``(N, K)`` representations (e.g. posterior means), K >= 2; disentanglement_lib uses
        N = 10,000.
    :param factors: ``(N, F)`` integer factor classes; every factor must take at least two values.
    :param num_bins: equal-width histogram bins per code (20 in disentanglement_lib's study).
    :return: the mean over factors of the normalised gap between the two most informative codes.
    """
    codes, factors = check_codes_and_factors(codes, factors)
    check_num_codes(codes, "codes", "MIG")
    check_varying_factors(factors, "factors", "MIG (normalised by the factor's entropy)")
    information = mutual_information_matrix(histogram_discretize(codes, num_bins), factors)  # (K, F)
    entropy = discrete_entropy(factors)  # (F,)
    return float(np.mean(top_two_gap(information) / entropy))
