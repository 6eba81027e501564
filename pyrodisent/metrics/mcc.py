"""Mean correlation coefficient (MCC) between true and inferred latents.

Used by the identifiability literature (iVAE, sVAE+): correlate every true latent with every
inferred one, match them one-to-one by the assignment that maximises total |correlation|
(scipy's ``linear_sum_assignment``), and average the matched |correlations|. Invariant to
permutation, scaling and (for Spearman) monotone transforms of the inferred latents.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

from pyrodisent.metrics._arrays import check_matrix


def correlation_matrix(z_true: np.ndarray, z_est: np.ndarray, method: str = "pearson") -> np.ndarray:
    """|correlation| between each true latent (rows) and each inferred latent (columns), shape (d, k).

    A constant column has no defined correlation; it counts as 0.
    """
    z_true = check_matrix(z_true, "z_true")
    z_est = check_matrix(z_est, "z_est", num_rows=z_true.shape[0])
    if method == "spearman":
        z_true, z_est = rankdata(z_true, axis=0), rankdata(z_est, axis=0)
    elif method != "pearson":
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    a = z_true - z_true.mean(0)
    b = z_est - z_est.mean(0)
    norm_a = np.linalg.norm(a, axis=0)
    norm_b = np.linalg.norm(b, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (a.T @ b) / np.outer(norm_a, norm_b)
    return np.nan_to_num(np.abs(corr), nan=0.0)


def matched_correlations(z_true: np.ndarray, z_est: np.ndarray, method: str = "pearson"):
    """``(rows, cols, correlations)`` of the one-to-one matching maximising total |correlation|."""
    corr = correlation_matrix(z_true, z_est, method)
    rows, cols = linear_sum_assignment(-corr)
    return rows, cols, corr[rows, cols]


def mcc(z_true: np.ndarray, z_est: np.ndarray, method: str = "pearson") -> float:
    """Mean |correlation| of matched true/inferred latent pairs.

    :param z_true: true latents, shape (N, d).
    :param z_est: inferred latents, shape (N, k); with k ≠ d only min(d, k) pairs are matched.
    :param method: ``"pearson"`` or ``"spearman"``.
    """
    return float(matched_correlations(z_true, z_est, method)[2].mean())
