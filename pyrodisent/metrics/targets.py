"""Recovery of intervention targets: which latents each action (perturbation) moves.

Latents are identified only up to permutation, so inferred latents are first matched to true factors
(one-to-one, maximising |correlation| with ``linear_sum_assignment``, as for MCC); then the predicted
target matrix (actions × matched latents) is compared entry by entry with the true one.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from pyrodisent.metrics.mcc import matched_correlations


def target_scores(true_targets: np.ndarray, predicted_targets: np.ndarray, z_true: np.ndarray,
                  z_est: np.ndarray) -> Dict[str, float]:
    """Precision, recall and F1 of predicted targets after matching latents to factors.

    :param true_targets: (A, d) booleans: action a shifts true factor j.
    :param predicted_targets: (A, k) booleans: action a shifts inferred latent j (e.g. mask probability > 0.5).
    :param z_true: (N, d) true latents; :param z_est: (N, k) inferred latents, used for the matching.
    :returns: ``target_precision``, ``target_recall``, ``target_f1``; :func:`aligned_targets` gives the
        aligned matrices themselves (e.g. for a picture).
    """
    true, predicted = aligned_targets(np.asarray(true_targets, dtype=bool), np.asarray(predicted_targets, dtype=bool),
                                      z_true, z_est)
    true_positive = float(np.logical_and(true, predicted).sum())
    precision = true_positive / predicted.sum() if predicted.sum() else 0.0
    recall = true_positive / true.sum() if true.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"target_precision": float(precision), "target_recall": float(recall), "target_f1": float(f1)}


def aligned_targets(true_targets, predicted_targets, z_true, z_est):
    """(true, predicted) target matrices restricted to matched factor/latent pairs, columns in factor order.

    Values are kept as given (booleans, or probabilities for a picture)."""
    true_targets = np.asarray(true_targets)
    predicted_targets = np.asarray(predicted_targets)
    if true_targets.ndim != 2 or predicted_targets.ndim != 2 or true_targets.shape[0] != predicted_targets.shape[0]:
        raise ValueError(
            f"target matrices must be (A, d) and (A, k) with the same number of actions; got "
            f"{true_targets.shape} and {predicted_targets.shape}"
        )
    if true_targets.shape[1] != np.shape(z_true)[1] or predicted_targets.shape[1] != np.shape(z_est)[1]:
        raise ValueError("target matrices' columns must match the latents: (A, d) with z_true (N, d), (A, k) with z_est (N, k)")
    rows, cols, _ = matched_correlations(z_true, z_est)
    return true_targets[:, rows], predicted_targets[:, cols]
