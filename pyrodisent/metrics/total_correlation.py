"""Unsupervised scores computed from the codes alone (disentanglement_lib's ``unsupervised_metrics``).

With Sigma the ``(K, K)`` sample covariance of the codes and D = diag(Sigma):

* Gaussian total correlation: KL( N(0, Sigma) || N(0, D) ) = 1/2 (sum_k log D_kk - log det Sigma);
* Gaussian Wasserstein correlation: the squared 2-Wasserstein distance between the same two Gaussians,
  W = 2 tr Sigma - 2 tr (D^(1/2) Sigma D^(1/2))^(1/2), and its normalised version W / tr Sigma;
* mutual-information score: the mean over ordered pairs of distinct codes of the discrete mutual
  information between the codes discretised into 20 equal-width bins.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from pyrodisent.metrics._discretize import (
    NUM_BINS,
    check_codes,
    check_num_codes,
    histogram_discretize,
    pairwise_mutual_information,
)


def unsupervised_scores(codes: np.ndarray) -> Dict[str, float]:
    """Total correlation, Wasserstein correlation and mutual-information score of codes ``(N, K)``, K >= 2.

    disentanglement_lib uses N = 10,000 codes. A constant code is independent of the others: it adds
    nothing to either Gaussian score (disentanglement_lib's total correlation becomes NaN there).

    :return: ``gaussian_total_correlation``, ``gaussian_wasserstein_correlation``,
        ``gaussian_wasserstein_correlation_norm`` and ``mutual_info_score``.
    """
    codes = check_codes(codes)
    check_num_codes(codes, "codes", "the mutual-information score")
    covariance = np.cov(codes, rowvar=False)
    wasserstein = gaussian_wasserstein_correlation(covariance)
    trace = np.trace(covariance)

    information = pairwise_mutual_information(histogram_discretize(codes, NUM_BINS))
    np.fill_diagonal(information, 0.0)
    num_codes = codes.shape[1]
    return {
        "gaussian_total_correlation": gaussian_total_correlation(covariance),
        "gaussian_wasserstein_correlation": wasserstein,
        "gaussian_wasserstein_correlation_norm": float(wasserstein / trace) if trace > 0 else 0.0,
        "mutual_info_score": float(information.sum() / (num_codes**2 - num_codes)),
    }


def gaussian_total_correlation(covariance: np.ndarray) -> float:
    """Total correlation of N(0, covariance), ``covariance`` ``(K, K)``; zero-variance codes are left out."""
    varying = np.diag(covariance) > 0
    covariance = covariance[np.ix_(varying, varying)]
    if covariance.shape[0] == 0:
        return 0.0
    sign, log_determinant = np.linalg.slogdet(covariance)
    if sign <= 0:  # singular: some code is an exact linear function of the others
        return float("inf")
    return float(0.5 * (np.sum(np.log(np.diag(covariance))) - log_determinant))


def gaussian_wasserstein_correlation(covariance: np.ndarray) -> float:
    """Squared 2-Wasserstein distance between N(0, covariance) and N(0, diag(covariance)).

    tr (D Sigma)^(1/2) equals tr (D^(1/2) Sigma D^(1/2))^(1/2), the sum of the square roots of the
    eigenvalues of a symmetric positive semi-definite matrix.
    """
    scale = np.sqrt(np.diag(covariance))
    eigenvalues = np.linalg.eigvalsh(covariance * np.outer(scale, scale))
    return float(2.0 * np.trace(covariance) - 2.0 * np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))
