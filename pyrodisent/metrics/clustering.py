"""Clustering accuracy: k-means on the codes, clusters matched to labels one-to-one.

The correlated VAE paper's spectral-clustering task (Tang et al. 2019, §4.2.2): cluster the posterior
means with k-means (sklearn, k = number of classes) and score the share of points whose cluster is
matched to their label by the best one-to-one assignment (scipy ``linear_sum_assignment`` on the
contingency table). 1 is perfect; for two balanced classes chance is about 0.5.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans

from pyrodisent.metrics._arrays import check_matrix


def matched_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Share of points whose predicted cluster maps to their label under the best one-to-one matching."""
    predicted, labels = np.asarray(predicted).ravel(), np.asarray(labels).ravel()
    if predicted.shape != labels.shape:
        raise ValueError(f"predicted has {predicted.size} entries but labels has {labels.size}")
    _, predicted = np.unique(predicted, return_inverse=True)
    _, labels = np.unique(labels, return_inverse=True)
    table = np.zeros((predicted.max() + 1, labels.max() + 1))
    np.add.at(table, (predicted, labels), 1)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / labels.size)


def clustering_accuracy(codes: np.ndarray, labels: np.ndarray, num_clusters: Optional[int] = None,
                        seed: int = 0, n_init: int = 10) -> float:
    """Accuracy of k-means clusters of ``codes`` (N, K) against integer ``labels`` (N,).

    :param num_clusters: k (default: the number of distinct labels).
    """
    codes = check_matrix(codes, "codes")
    labels = np.asarray(labels).ravel()
    if labels.size != len(codes):
        raise ValueError(f"labels has {labels.size} entries but codes has {len(codes)} rows")
    k = num_clusters or len(np.unique(labels))
    predicted = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(codes)
    return matched_accuracy(predicted, labels)
