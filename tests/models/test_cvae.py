"""CVAE_ind / CVAE_corr: the minibatch ELBO is unbiased for the whole graph, its prior terms equal the
exact KL to the tree Gaussian, the guide correlations are symmetric, and the example runs."""
import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pyro.poutine.messenger import Messenger
from scipy.sparse.csgraph import shortest_path
from torch.distributions import MultivariateNormal, kl_divergence

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.zoo.cvae import CVAECorr, CVAEInd
from pyrodisent.data import undirected_graphs as graphs
from pyrodisent.data import CorrelatedTreeSimulation, GraphDataset, SpriteGraph
from pyrodisent.evaluation.scoring import encode
from pyrodisent.metrics import clustering_accuracy, ncrr
from pyrodisent.registry import MODELS
from pyrodisent.evaluation.graph_scores import expected_squared_distance_rows, graph_evidence_lower_bound
from pyrodisent.infer import MeanFieldELBO
from pyrodisent.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]
N, D, K, TAU = 6, 3, 2, 0.7


class fixed_latents(Messenger):
    """Give the guide's site ``z`` fixed values (not observed), so the reconstruction term is deterministic;
    every KL term is analytic, so the whole loss of a minibatch is then a deterministic function of it."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def _pyro_sample(self, msg):
        if msg["name"] == "z":
            msg["value"], msg["done"] = self.values, True


def tiny_graph(edges=None):
    rng = np.random.default_rng(0)
    edges = graphs.tree_edges(graphs.random_recursive_tree(N, rng)) if edges is None else edges
    return GraphDataset(rng.standard_normal((N, D)).astype(np.float32), edges, pair_batch_size=0)


def build(cls, **kwargs):
    torch.manual_seed(0)
    model = cls(observation_shape=(D,), latent_dim=K, num_data=N, encoder_args=dict(hidden=(8,)),
                decoder_args=dict(hidden=(8,)), correlation=TAU, **kwargs)
    return model.eval()


def loss(model, batch, z_fixed):
    guide = fixed_latents(z_fixed[batch.index])(model.guide)
    value, terms = MeanFieldELBO()(model.model, guide, batch)
    return float(value.detach()), float(terms["kl"])


def tree_guide_covariance(model, data):
    """Covariance per latent dimension of the tree-structured guide Π q_i Π q_ij/(q_i q_j): σ_i σ_j Π_path c."""
    with torch.no_grad():
        loc, scale = model.posterior_params(data.batch(torch.arange(N)))
        edges = data.edges_numpy()
        c = model.pair_correlation(data.x[edges[:, 0]], data.x[edges[:, 1]]).double()  # (E, K)
    covariance = torch.zeros(K, N, N, dtype=torch.float64)
    _, predecessors = shortest_path(graphs.adjacency_matrix(N, edges), unweighted=True, return_predecessors=True)
    index = {tuple(e): k for k, e in enumerate(edges.tolist())}
    for i, j in itertools.product(range(N), repeat=2):
        product = torch.ones(K, dtype=torch.float64)
        step = j
        while step != i:  # walk the path from j back to i
            previous = predecessors[i, step]
            product = product * c[index[tuple(sorted((previous, step)))]]
            step = previous
        covariance[:, i, j] = product * scale[i].double() * scale[j].double()
    return loc.double(), covariance


@pytest.mark.parametrize("cls", [CVAEInd, CVAECorr])
def test_minibatch_elbo_is_unbiased_and_its_prior_terms_are_exact(cls):
    data = tiny_graph()
    model = build(cls)
    z_fixed = torch.randn(N, K)
    full_loss, full_kl = loss(model, data.full_batch(), z_fixed)
    # every (vertex pair, edge pair) minibatch is equally likely: their mean is the expectation
    losses = [loss(model, data.graph_batch(torch.tensor(v), torch.tensor(e)), z_fixed)[0]
              for v in itertools.combinations(range(N), 2) for e in itertools.combinations(range(data.num_edges), 2)]
    assert np.mean(losses) == pytest.approx(full_loss, rel=1e-5)
    assert np.std(losses) > 1e-3 * abs(full_loss)  # the minibatches do differ
    # the latent terms of the full graph are KL(q(Z) ‖ p(Z)) with p the tree Gaussian per dimension: unit
    # variances and correlation τ^d between vertices d edges apart
    distances = shortest_path(graphs.adjacency_matrix(N, data.edges_numpy()), unweighted=True)
    loc, covariance = tree_guide_covariance(model, data)
    prior = MultivariateNormal(torch.zeros(N, dtype=torch.float64), covariance_matrix=torch.as_tensor(TAU ** distances))
    exact = sum(float(kl_divergence(MultivariateNormal(loc[:, k], covariance[k]), prior)) for k in range(K))
    assert full_kl == pytest.approx(exact, rel=1e-4)


def test_general_graph_edge_terms_are_weighted_by_resistance():
    edges = graphs.validate_edges(N, [[0, 1], [1, 2], [0, 2], [2, 3], [3, 4], [4, 5]])
    data = tiny_graph(edges)
    np.testing.assert_allclose(data.edge_weights.numpy(), [2 / 3, 2 / 3, 2 / 3, 1, 1, 1], rtol=1e-5)
    model = build(CVAEInd)
    z_fixed = torch.randn(N, K)
    full_loss, _ = loss(model, data.full_batch(), z_fixed)
    losses = [loss(model, data.graph_batch(torch.tensor(v), torch.tensor(e)), z_fixed)[0]
              for v in itertools.combinations(range(N), 3) for e in itertools.combinations(range(6), 3)]
    assert np.mean(losses) == pytest.approx(full_loss, rel=1e-5)


def test_non_edge_term_is_unbiased_gamma_weighted_mutual_information():
    data = tiny_graph()
    model = build(CVAECorr, non_edge_weight=5.0)
    z_fixed = torch.randn(N, K)
    vertices, edge_ids = torch.arange(2), torch.arange(2)
    without, _ = loss(model, data.graph_batch(vertices, edge_ids), z_fixed)
    edges = set(map(tuple, data.edges_numpy().tolist()))
    non_edges = [p for p in itertools.combinations(range(N), 2) if p not in edges]
    assert len(non_edges) == data.num_non_edges
    terms = [loss(model, data.graph_batch(vertices, edge_ids, torch.tensor([p])), z_fixed)[0] - without
             for p in non_edges]  # one uniformly drawn pair per minibatch
    with torch.no_grad():
        pairs = torch.tensor(non_edges)
        c = model.pair_correlation(data.x[pairs[:, 0]], data.x[pairs[:, 1]])
    mutual_information = (-0.5 * torch.log1p(-c.double() ** 2)).sum()
    assert np.mean(terms) == pytest.approx(float(5.0 * 2 / N * mutual_information), rel=1e-4)


def test_guide_correlations_are_symmetric_and_bounded():
    data = tiny_graph()
    model = build(CVAECorr, epsilon=0.01)
    with torch.no_grad():
        forward = model.pair_correlation(data.x[:3], data.x[3:])
        backward = model.pair_correlation(data.x[3:], data.x[:3])
        loc, _ = model.posterior_params(data.batch(torch.arange(N)))
        cross = model.cross_correlation_of_means(loc[:3], loc)
        same = model.pair_correlation(data.x[:2], data.x[:2])
    torch.testing.assert_close(forward, backward)
    torch.testing.assert_close(cross[torch.arange(3), torch.arange(3, 6)], forward)
    # equal means: g = softplus(3) (the initial amplitude), c = (1 − ε)(2σ(g) − 1); a huge amplitude reaches 1 − ε
    at_zero_distance = 0.99 * (2 / (1 + math.exp(-math.log1p(math.exp(3.0)))) - 1)
    torch.testing.assert_close(same, torch.full((2, K), at_zero_distance))
    with torch.no_grad():
        model.correlation_amplitude.fill_(100.0)
        torch.testing.assert_close(model.pair_correlation(data.x[:2], data.x[:2]), torch.full((2, K), 0.99))


def test_expected_squared_distances_match_samples_of_the_pair_guide():
    """E_q‖z_i − z_j‖² of link prediction against a Monte Carlo average over the guide's pair posterior."""
    data = tiny_graph()
    model = build(CVAECorr)
    with torch.no_grad():
        model.correlation_bandwidth.fill_(-3.0)  # a wide kernel: every pair correlated, so the c term counts
    rows = expected_squared_distance_rows(model, data)(np.arange(2))
    assert rows.shape == (2, N)
    pairs = torch.tensor([[i, j] for i in range(2) for j in range(N)])
    torch.manual_seed(0)
    with torch.no_grad():
        pair_guide = model.pair_posterior(data.x[pairs])  # batch (2N, K), draws (…, 2N, K, 2)
        assert pair_guide.correlation.abs().min() > 0.1
        draws = pair_guide.sample((100_000,))
    monte_carlo = (draws[..., 0] - draws[..., 1]).pow(2).sum(-1).mean(0).double().reshape(2, N)
    np.testing.assert_allclose(rows, monte_carlo.numpy(), rtol=0.02, atol=0.01)


def test_training_needs_a_graph_and_raises_the_graph_elbo():
    data = tiny_graph()
    model = build(CVAECorr, non_edge_weight=0.0)  # γ = 0: the training objective is the graph ELBO itself
    model.train()
    with pytest.raises(TypeError, match="GraphDataset"):
        model.model(data.batch(torch.arange(3)))
    data.pair_batch_size = 4
    before = graph_evidence_lower_bound(model, data, num_particles=200, seed=0)
    Trainer(model, data, epochs=40, batch_size=3, lr=1e-2, device="cpu", progress=False).fit()
    after = graph_evidence_lower_bound(model, data, num_particles=200, seed=0)
    # measured: −4.90 → −4.15 nats a vertex; 200 particles make each estimate's noise a few hundredths
    assert after > before + 0.3, (before, after)
    with pytest.raises(ValueError, match="correlation"):
        CVAEInd(observation_shape=(D,), latent_dim=K, num_data=N, correlation=1.0)


@pytest.mark.parametrize("graph, extra", [("general", ["--num-vertices", "120", "--num-features", "20",
                                                       "--data-latent-dim", "4"]),
                                          ("images", ["--num-images", "40"])])
def test_example_writes_metrics(tmp_path, graph, extra):
    out = tmp_path / graph
    subprocess.run([sys.executable, str(ROOT / "examples" / "cvae_corr.py"), "--model", "cvae_corr", "--graph", graph,
                    "--epochs", "1", "--latent-dim", "3", "--hidden", "16", "--out", str(out), "--device", "cpu",
                    "--quiet", *extra], cwd=ROOT, check=True, capture_output=True, text=True, timeout=300)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"ncrr", "cluster_accuracy", "elbo", "train_seconds"} <= set(metrics)
    # the reported scores are those of the checkpointed model on the configured data, recomputed here
    config = json.loads((out / "config.json").read_text())
    settings, derived = config["protocol_settings"], config["derived"]
    source = (SpriteGraph if graph == "images" else CorrelatedTreeSimulation)(**derived["data"])
    data = source.training_set(edge_batch_size=settings["edge_batch_size"], pair_batch_size=settings["pair_batch_size"])
    arguments = {**derived["model_arguments"], "observation_shape": tuple(derived["model_arguments"]["observation_shape"])}
    model = MODELS.build(config["model"], **arguments)
    model.load_state_dict(torch.load(out / "checkpoint.pt", weights_only=False)["model"])
    distances = expected_squared_distance_rows(model, data)
    assert metrics["ncrr"] == pytest.approx(ncrr(distances, len(data), data.edges_numpy(), data.heldout_edges))
    assert metrics["cluster_accuracy"] == pytest.approx(clustering_accuracy(encode(model, data), source.labels,
                                                                            seed=config["seed"]))


@pytest.mark.slow
def test_tree_protocol_ncrr_ordering(tmp_path):
    """The paper's synthetic tree (10,000 vertices, τ = 0.99, 1,000 features), example defaults, seed 0:
    link prediction ranks CVAE_corr > CVAE_ind > VAE (about 3 minutes on one core). Measured: 0.809, 0.728,
    0.722 — CVAE_ind's margin over the VAE is thin on this seed (0.033 and 0.070 on seeds 1 and 2)."""
    scores = {}
    for model in ("vae", "cvae_ind", "cvae_corr"):
        out = tmp_path / model
        subprocess.run([sys.executable, str(ROOT / "examples" / "cvae_corr.py"), "--model", model, "--seed", "0",
                        "--out", str(out), "--device", "cpu", "--quiet"], cwd=ROOT, check=True, timeout=900)
        scores[model] = json.loads((out / "metrics.json").read_text())["ncrr"]
    assert scores["cvae_corr"] > scores["cvae_ind"] + 0.05 and scores["cvae_ind"] > scores["vae"], scores
