import numpy as np
import pytest

from pyrodisent.data import undirected_graphs as graphs
from pyrodisent.metrics import ncrr, ncrr_from_codes, squared_distance_rows


def path_graph(n=8):
    return np.stack([np.arange(n - 1), np.arange(1, n)], 1)


def test_perfect_ranking_scores_one():
    # codes on a line: each vertex's nearest others are its path neighbours
    codes = np.arange(8.0)[:, None]
    edges = path_graph()
    train, heldout = edges[::2], edges[1::2]
    assert ncrr_from_codes(codes, train, heldout) == pytest.approx(1.0)


def test_hand_computed_example():
    # vertex 0: held-out neighbour 2 ranked second (behind 3), training neighbour 1 excluded
    train, heldout = np.array([[0, 1]]), np.array([[0, 2]])
    distances = np.array([[0.0, 0.1, 0.5, 0.3], [0.1, 0, 1, 1], [0.5, 1.0, 0, 0.2], [0.3, 1, 0.2, 0]])
    rows = lambda q: distances[q]  # noqa: E731
    # vertex 0: candidates 2 (0.5), 3 (0.3) → rank 2 → 1/2; vertex 2: candidates 0 (0.5), 1 (1.0), 3 (0.2) → rank 2
    assert ncrr(rows, 4, train, heldout) == pytest.approx(0.5)


def test_ties_count_against_the_prediction():
    rows = lambda q: np.zeros((len(q), 5))  # noqa: E731
    # every candidate ties: a held-out neighbour ranks last among the 4 − (training neighbours) candidates
    assert ncrr(rows, 5, np.zeros((0, 2), np.int64), np.array([[0, 1]])) == pytest.approx(1 / 4)


def test_random_codes_score_low():
    rng = np.random.default_rng(0)
    n = 400
    edges = graphs.tree_edges(graphs.random_recursive_tree(n, 0))
    train, heldout = graphs.split_edges(edges, 0.2, 0)
    assert ncrr_from_codes(rng.standard_normal((n, 5)), train, heldout) < 0.05


def test_errors():
    rows = squared_distance_rows(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="held-out edges"):
        ncrr(rows, 4, np.array([[0, 1]]), np.zeros((0, 2), np.int64))
    with pytest.raises(ValueError, match="self-loops"):
        ncrr(rows, 4, np.array([[0, 1]]), np.array([[2, 2]]))
    with pytest.raises(ValueError, match="also training"):
        ncrr(rows, 4, np.array([[0, 1]]), np.array([[1, 0]]))
    with pytest.raises(ValueError, match="shape"):
        ncrr(lambda q: np.zeros((len(q), 3)), 4, np.array([[0, 1]]), np.array([[1, 2]]))
