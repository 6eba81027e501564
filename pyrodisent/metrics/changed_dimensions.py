"""Do the latent dimensions a model says a pair changed match the factors that did change?

Latents are first matched to factors: each *active* latent (variance of its codes ≥ ``min_variance``) goes to
the factor it shares the most mutual information with (histogram-discretised codes against the discrete
factors, as for MIG); inactive latents match no factor. Then, per pair n, the predicted set P_n (the latents
the model marks as changed: Ada-GVAE's dimensions above its threshold, latent_shift's open gates) is compared
with the true set T_n (the active latents matched to a factor that changed). Micro-averaged over pairs:

    precision = Σ_n |P_n ∩ T_n| / Σ_n |P_n|,        recall = Σ_n |P_n ∩ T_n| / Σ_n |T_n|

(0 when the denominator is 0). A marked latent that matches no factor, or an unchanged one, is a false positive.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from pyrodisent.metrics._discretize import NUM_BINS, histogram_discretize, mutual_information_matrix


def latent_factor_matching(codes: np.ndarray, factors: np.ndarray, min_variance: float = 0.01,
                           num_bins: int = NUM_BINS) -> np.ndarray:
    """The factor each latent is matched to, (K,) int64: argmax over factors of I(z_k; v_j) for active latents,
    −1 for inactive ones.

    :param codes: (N, K) codes (posterior means). :param factors: (N, F) discrete factors.
    """
    codes = np.asarray(codes, dtype=np.float64)
    factors = np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"codes and factors must be (N, K) and (N, F) with the same N, got {codes.shape} and "
                         f"{factors.shape}")
    information = mutual_information_matrix(histogram_discretize(codes, num_bins), factors)  # (K, F)
    matched = information.argmax(1).astype(np.int64)
    matched[codes.var(0) < min_variance] = -1
    return matched


def changed_latents(changed_factors: np.ndarray, matching: np.ndarray) -> np.ndarray:
    """T: (N, K) booleans, latent k matched to a factor that changed in pair n."""
    changed_factors = np.asarray(changed_factors, dtype=bool)
    matching = np.asarray(matching, dtype=np.int64)
    if matching.max(initial=-1) >= changed_factors.shape[1]:
        raise ValueError(f"matching names factor {matching.max()}, but changed_factors has "
                         f"{changed_factors.shape[1]} factors")
    padded = np.concatenate([changed_factors, np.zeros((len(changed_factors), 1), dtype=bool)], axis=1)
    return padded[:, np.where(matching < 0, changed_factors.shape[1], matching)]


def changed_dimension_scores(predicted: np.ndarray, changed_factors: np.ndarray, matching: np.ndarray
                             ) -> Dict[str, float]:
    """``changed_dims_precision`` and ``changed_dims_recall`` (micro-averaged over pairs).

    :param predicted: (N, K) booleans, the latents the model marks as changed in each pair.
    :param changed_factors: (N, F) booleans, the factors that changed in each pair.
    :param matching: (K,) the factor of each latent, −1 for none (:func:`latent_factor_matching`).
    """
    predicted = np.asarray(predicted, dtype=bool)
    if predicted.ndim != 2 or predicted.shape[1] != len(matching) or len(predicted) != len(changed_factors):
        raise ValueError(f"predicted must be (N, K) with K = {len(matching)} latents and N = {len(changed_factors)} "
                         f"pairs, got {predicted.shape}")
    true = changed_latents(changed_factors, matching)
    hits = float(np.logical_and(predicted, true).sum())
    return {"changed_dims_precision": hits / predicted.sum() if predicted.sum() else 0.0,
            "changed_dims_recall": hits / true.sum() if true.sum() else 0.0}
