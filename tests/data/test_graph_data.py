"""Graph data: GraphDataset validation, graph minibatches, the tree protocol and the sprite graph."""
import numpy as np
import pytest
import torch

from pyrodisent.data import undirected_graphs as graphs
from pyrodisent.data import ArrayDataset, Batch, CorrelatedTreeSimulation, GraphBatch, GraphDataset, SpriteGraph
from pyrodisent.registry import DATASETS


def tiny_graph_data(n=30, d=4, extra=None, **kwargs):
    rng = np.random.default_rng(0)
    edges = graphs.tree_edges(graphs.random_recursive_tree(n, rng))
    if extra is not None:
        edges = np.concatenate([edges, extra])
    return GraphDataset(rng.standard_normal((n, d)).astype(np.float32), edges, **kwargs)


def test_graph_dataset_validates_the_graph():
    x = np.zeros((5, 2), np.float32)
    with pytest.raises(ValueError, match="self-loops"):
        GraphDataset(x, [[0, 1], [2, 2]])
    with pytest.raises(ValueError, match="outside 0..4"):
        GraphDataset(x, [[0, 1], [2, 7]])
    with pytest.raises(ValueError, match="twice"):
        GraphDataset(x, [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="held-out edges are also training edges"):
        GraphDataset(x, [[0, 1], [1, 2]], heldout_edges=[[2, 1]])
    with pytest.raises(ValueError, match="edge_weights must be 2 positive"):
        GraphDataset(x, [[0, 1], [1, 2]], edge_weights=np.array([1.0, 0.0]))


def test_disconnected_graph_is_modelled_per_component():
    data = GraphDataset(np.zeros((6, 2), np.float32), [[0, 1], [1, 2], [3, 4]])  # a forest, vertex 5 isolated
    assert data.edge_weights.tolist() == [1.0, 1.0, 1.0]
    assert data.num_non_edges == 15 - 3


def test_cycle_weights_are_effective_resistances():
    data = tiny_graph_data(10, extra=np.array([[0, 9], [3, 8]]))
    reference = graphs.exact_resistances_by_pseudoinverse(10, data.edges_numpy())
    np.testing.assert_allclose(data.edge_weights.numpy(), reference, rtol=1e-5)
    assert (data.edge_weights < 1 - 1e-6).any()


def test_loader_yields_graph_batches():
    data = tiny_graph_data(edge_batch_size=8, pair_batch_size=5)
    loader = data.loader(7, generator=torch.Generator().manual_seed(0))
    batches = list(loader)
    assert len(batches) == len(loader) == 5
    assert sorted(torch.cat([b.index for b in batches]).tolist()) == list(range(30))
    edge_set = set(map(tuple, data.edges_numpy().tolist()))
    for batch in batches:
        assert isinstance(batch, GraphBatch) and batch.num_edges == 29 and batch.num_batch_edges == 8
        assert batch.edge_x.shape == (8, 2, 4) and batch.edge_weight.shape == (8,)
        ends = data.edges[batch.edge_index]
        torch.testing.assert_close(batch.edge_x, data.x[ends])
        assert batch.pair_x.shape == (5, 2, 4) and batch.num_non_edges == 30 * 29 // 2 - 29
        assert len(set(batch.edge_index.tolist())) == 8  # without replacement
    pairs = data.sample_non_edges(500, torch.Generator().manual_seed(1)).numpy()
    assert np.all(pairs[:, 0] != pairs[:, 1])
    assert not any(tuple(sorted(p)) in edge_set for p in pairs.tolist())
    again = list(data.loader(7, generator=torch.Generator().manual_seed(0)))
    assert all(torch.equal(a.edge_index, b.edge_index) for a, b in zip(batches, again))


def test_graph_batch_moves_and_checks_shapes():
    data = tiny_graph_data()
    batch = data.full_batch().to("cpu")
    assert isinstance(batch, GraphBatch) and batch.num_batch_edges == 29 and batch.size == 30
    assert isinstance(data.batch(torch.arange(3)), Batch) and not isinstance(data.batch(torch.arange(3)), GraphBatch)
    with pytest.raises(ValueError, match="edge_x must have shape"):
        GraphBatch(x=torch.zeros(2, 3), index=torch.arange(2), edge_index=torch.arange(2), edge_x=torch.zeros(2, 3),
                   edge_weight=torch.ones(2), num_edges=4)
    moved = data.to("cpu")
    assert isinstance(moved, GraphDataset) and moved.num_edges == data.num_edges
    assert isinstance(data, ArrayDataset)


def test_tree_protocol():
    sim = CorrelatedTreeSimulation(num_vertices=300, num_features=40, latent_dim=8, hidden=20, seed=1)
    assert sim.x.shape == (300, 40) and set(np.unique(sim.x)) <= {0.0, 1.0}
    assert len(sim.edges) == 299 and len(sim.heldout_edges) == 30 and len(sim.training_edges) == 269
    assert graphs.connected_components(300, sim.edges)[0] == 1
    assert sim.labels.mean() == pytest.approx(0.5, abs=0.01)
    i, j = sim.edges[:, 0], sim.edges[:, 1]
    correlation = np.corrcoef(sim.latents[i].ravel(), sim.latents[j].ravel())[0, 1]
    assert correlation == pytest.approx(0.99, abs=0.01)
    data = sim.training_set(edge_batch_size=16, pair_batch_size=16)
    assert data.edge_weights.tolist() == [1.0] * 269  # a forest once edges are held out
    assert data.factors.shape == (300, 8) and data.extras["label"].shape == (300,)
    assert DATASETS.get("correlated_tree") is CorrelatedTreeSimulation


def test_general_graph_variant_has_cycles():
    sim = CorrelatedTreeSimulation(num_vertices=300, num_features=10, latent_dim=4, hidden=10, graph="general",
                                   extra_edge_fraction=0.2)
    assert len(sim.edges) == 299 + 60
    data = sim.training_set()
    assert (data.edge_weights < 0.99).sum() > 10
    with pytest.raises(ValueError, match="graph must be"):
        CorrelatedTreeSimulation(num_vertices=10, graph="grid")


def test_sprite_graph_joins_images_differing_in_k_factors():
    sprites = SpriteGraph(num_images=60, differing_factors=1, seed=0)
    assert sprites.x.shape == (60, 1, 64, 64)
    differing = (sprites.factors[sprites.edges[:, 0]] != sprites.factors[sprites.edges[:, 1]]).sum(1)
    assert len(sprites.edges) > 0 and np.all(differing == 1)
    data = sprites.training_set()
    assert data.observation_shape == (1, 64, 64) and len(data.heldout_edges) == len(sprites.heldout_edges)
    with pytest.raises(ValueError, match="differing_factors"):
        SpriteGraph(num_images=10, differing_factors=0)
