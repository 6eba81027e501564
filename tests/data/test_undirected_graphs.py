"""Graph utilities: validation, random trees, edge splits, spanning forests, effective resistances."""
import numpy as np
import pytest

from pyrodisent.data import undirected_graphs as graphs


def random_graph(n=40, extra=15, seed=0):
    """A random recursive tree plus ``extra`` random chords (a connected graph with cycles)."""
    rng = np.random.default_rng(seed)
    edges = graphs.tree_edges(graphs.random_recursive_tree(n, rng))
    codes = set(map(tuple, np.sort(edges, 1).tolist()))
    while len(codes) < n - 1 + extra:
        i, j = sorted(rng.choice(n, 2, replace=False).tolist())
        codes.add((i, j))
    return np.array(sorted(codes))


def test_validate_edges_canonicalises():
    edges = graphs.validate_edges(4, [[1, 0], [2, 3], [3, 1]])
    assert edges.dtype == np.int64 and edges.tolist() == [[0, 1], [2, 3], [1, 3]]
    assert graphs.validate_edges(3, np.array([[0.0, 2.0]])).tolist() == [[0, 2]]
    assert graphs.validate_edges(3, []).shape == (0, 2)


@pytest.mark.parametrize("edges, error, words", [
    ([[0, 0], [1, 2]], ValueError, "self-loops in rows [0]"),
    ([[0, 1], [1, 5]], ValueError, "outside 0..4 in rows [1]"),
    ([[0, -1]], ValueError, "outside 0..4"),
    ([[0, 1], [1, 0]], ValueError, "twice"),
    ([[0, 1, 2]], ValueError, "shape (E, 2)"),
    ([[0.5, 1.0]], TypeError, "integer vertex ids"),
])
def test_validate_edges_rejects_bad_graphs(edges, error, words):
    with pytest.raises(error, match=None) as caught:
        graphs.validate_edges(5, edges)
    assert words in str(caught.value)


def test_random_recursive_tree_attaches_to_earlier_vertices():
    parent = graphs.random_recursive_tree(500, 0)
    assert parent[0] == -1 and np.all(parent[1:] < np.arange(1, 500)) and np.all(parent[1:] >= 0)
    assert graphs.connected_components(500, graphs.tree_edges(parent))[0] == 1


def test_split_edges_partitions():
    edges = random_graph()
    train, heldout = graphs.split_edges(edges, 0.25, 0)
    assert len(heldout) == round(0.25 * len(edges)) and len(train) + len(heldout) == len(edges)
    both = np.concatenate([train, heldout])
    assert len(np.unique(both, axis=0)) == len(edges)


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_resistances_equal_pseudoinverse_formula(seed):
    edges = random_graph(seed=seed)
    reference = graphs.exact_resistances_by_pseudoinverse(40, edges)
    exact = graphs.effective_resistances(40, edges, method="exact", block_size=7)
    np.testing.assert_allclose(exact, reference, rtol=1e-9, atol=1e-12)
    assert exact.sum() == pytest.approx(40 - 1)  # Foster's theorem: Σ R_e = n − 1
    assert np.all((exact > 0) & (exact <= 1 + 1e-12))


def test_disconnected_graph_is_handled_per_component():
    edges = np.concatenate([random_graph(20, 8, seed=2), random_graph(15, 5, seed=3) + 20])
    n = 40  # vertices 35..39 are isolated
    exact = graphs.effective_resistances(n, edges, method="exact")
    np.testing.assert_allclose(exact, graphs.exact_resistances_by_pseudoinverse(n, edges), atol=1e-10)
    assert exact.sum() == pytest.approx(n - graphs.connected_components(n, edges)[0])


def test_forest_resistances_are_one():
    edges = graphs.tree_edges(graphs.random_recursive_tree(30, 0))[5:]  # a forest
    np.testing.assert_array_equal(graphs.effective_resistances(30, edges), np.ones(len(edges)))


@pytest.mark.parametrize("solver, k, worst, mean", [("splu", 3000, 0.15, 0.03), ("cg", 1000, 0.3, 0.05)])
def test_projection_resistances_are_close(solver, k, worst, mean):
    edges = random_graph(60, 30)
    reference = graphs.exact_resistances_by_pseudoinverse(60, edges)
    approx = graphs.effective_resistances(60, edges, method="projection", num_projections=k, solver=solver,
                                          random_state=0)
    assert np.abs(approx / reference - 1).max() < worst
    assert np.abs(approx / reference - 1).mean() < mean


def test_uniform_spanning_forest_frequencies_are_resistances():
    edges = graphs.validate_edges(5, [[0, 1], [1, 2], [2, 0], [2, 3], [3, 4], [4, 2], [0, 4]])
    reference = graphs.exact_resistances_by_pseudoinverse(5, edges)
    rng = np.random.default_rng(0)
    counts = np.zeros(len(edges))
    draws = 1500
    index = {tuple(e): k for k, e in enumerate(edges.tolist())}
    for _ in range(draws):
        tree = graphs.uniform_spanning_forest(5, edges, rng)
        assert len(tree) == 4 and graphs.connected_components(5, tree)[0] == 1
        for e in tree.tolist():
            counts[index[tuple(e)]] += 1
    np.testing.assert_allclose(counts / draws, reference, atol=0.05)


def test_forest_levels_rejects_cycles():
    with pytest.raises(ValueError, match="not a forest"):
        graphs.forest_levels(3, np.array([[0, 1], [1, 2], [0, 2]]))
