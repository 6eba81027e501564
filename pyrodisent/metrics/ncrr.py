"""NCRR: normalised cumulative reciprocal rank of held-out links (Tang et al., ICML 2019, §4.2.3).

For every vertex i with held-out neighbours, rank all other vertices by a distance (the correlated VAE
paper uses E_q‖z_i − z_j‖²), leaving out i itself and its training neighbours (known links are not
predictions). A held-out neighbour j at rank r_j — the number of candidates at distance ≤ d_ij, ties
counted against the prediction — contributes 1/r_j; CRR_i = Σ_j 1/r_j, and the ideal
ICRR_i = Σ_{r=1}^{h_i} 1/r for h_i held-out neighbours, reached when they are ranked first. NCRR is the
mean of CRR_i / ICRR_i over those vertices: 1 is perfect, random rankings score about
(H(n_i)/n_i) · h_i / ICRR_i with n_i candidates (H the harmonic number), ≈ 10⁻³ for 10,000 vertices.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from pyrodisent.data import undirected_graphs as graphs
from pyrodisent.metrics._arrays import check_matrix

DistanceRows = Callable[[np.ndarray], np.ndarray]


def ncrr(distance_rows: DistanceRows, num_vertices: int, training_edges: np.ndarray, heldout_edges: np.ndarray,
         query_batch: int = 256) -> float:
    """NCRR of held-out links.

    :param distance_rows: ``queries (q,) → distances (q, num_vertices)``, smaller meaning more likely linked.
    :param training_edges, heldout_edges: ``(E, 2)`` and ``(H, 2)`` edges (disjoint, validated).
    """
    training_edges = graphs.validate_edges(num_vertices, training_edges, "training_edges")
    heldout_edges = graphs.validate_edges(num_vertices, heldout_edges, "heldout_edges")
    if len(heldout_edges) == 0:
        raise ValueError("NCRR needs held-out edges; got none")
    known = graphs.neighbour_lists(num_vertices, training_edges)
    heldout = graphs.neighbour_lists(num_vertices, heldout_edges)
    queries = np.array([i for i in range(num_vertices) if len(heldout[i])], dtype=np.int64)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, num_vertices + 1))])
    scores = []
    for start in range(0, len(queries), query_batch):
        chunk = queries[start:start + query_batch]
        distances = np.array(distance_rows(chunk), dtype=np.float64)
        if distances.shape != (len(chunk), num_vertices):
            raise ValueError(f"distance_rows returned shape {distances.shape}, expected ({len(chunk)}, {num_vertices})")
        if np.isnan(distances).any():
            raise ValueError("distance_rows returned NaN distances")
        for row, i in enumerate(chunk):
            if np.intersect1d(known[i], heldout[i]).size:
                raise ValueError(f"vertex {i} has held-out neighbours that are also training neighbours")
            candidates = distances[row]
            candidates[i] = np.inf
            candidates[known[i]] = np.inf
            targets = candidates[heldout[i]]
            ranks = (candidates[None, :] <= targets[:, None]).sum(1)
            scores.append((1.0 / ranks).sum() / harmonic[len(targets)])
    return float(np.mean(scores))


def squared_distance_rows(codes: np.ndarray) -> DistanceRows:
    """``distance_rows`` for point codes (N, K): squared Euclidean distances."""
    codes = check_matrix(codes, "codes")
    norms = (codes ** 2).sum(1)

    def rows(queries: np.ndarray) -> np.ndarray:
        return np.maximum(norms[queries, None] + norms[None, :] - 2 * codes[queries] @ codes.T, 0.0)

    return rows


def ncrr_from_codes(codes: np.ndarray, training_edges: np.ndarray, heldout_edges: np.ndarray) -> float:
    """NCRR ranking by squared Euclidean distance between codes (N, K)."""
    codes = check_matrix(codes, "codes")
    return ncrr(squared_distance_rows(codes), len(codes), training_edges, heldout_edges)
