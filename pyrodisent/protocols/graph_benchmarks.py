"""Link prediction on graphs over data points (Tang et al. 2019, Correlated VAEs §4.2).

Three graphs: ``tree_graph`` — the paper's synthetic protocol (a random recursive tree of 10,000 vertices,
correlation τ = 0.99 along its edges, 1,000 binary features); ``general_graph`` — the same tree plus 20%
extra edges to grandparents (cycles: edge weights are effective resistances); ``sprite_graph`` —
procedural dSprites images joined when they differ in exactly k factors. 10% of the edges are held out.

Scored by NCRR (held-out edges ranked by E_q‖z_i − z_j‖²), k-means clustering accuracy of the posterior
means against the labels, and the whole graph's ELBO per vertex.
"""
from __future__ import annotations

import time
from typing import Any, Dict

from pyrodisent.data import CorrelatedTreeSimulation, SpriteGraph
from pyrodisent.evaluation.graph_scores import expected_squared_distance_rows, graph_evidence_lower_bound
from pyrodisent.evaluation.scoring import encode
from pyrodisent.metrics import clustering_accuracy, ncrr
from pyrodisent.protocols.base import GRAPH, Protocol, ProtocolData, RunContext
from pyrodisent.protocols.settings import Setting
from pyrodisent.registry import PROTOCOLS
from pyrodisent.runs.flags import nonnegative_float, number, positive_int, probability_below_one, seed

# One budget for every model. Minibatches as the paper (64 vertices, 256 edges, 256 pairs). Latent size
# 64: with 16 every model stalls (PCA of x to 16 dimensions already ranks links about as well). Adam 2e-3
# with a cosine decay over 15 epochs; CVAE_ind's advantage over a VAE is mostly in how fast the encoder
# learns, so it depends on the budget, while CVAE_corr leads both under either schedule. Figures: README,
# "Results".
GRAPH_SETTINGS = (
    Setting("tau", 0.99, "correlation along an edge (data and prior)", probability_below_one),
    Setting("heldout_fraction", 0.1, "edges held out for link prediction", number(float, above=0, below=1,
                                                                                  name="fraction")),
    Setting("data_seed", 0, "seed of the graph and its features", seed),
    Setting("resistance_method", "auto", "how effective resistances (edge weights) are computed",
            choices=("auto", "exact", "projection")),
    Setting("latent_dim", 64, "latent dimensions", positive_int),
    Setting("hidden", [256], "hidden widths of encoder and decoder MLPs", positive_int, many=True),
    Setting("edge_batch_size", 256, "edges drawn with each vertex minibatch", positive_int),
    Setting("pair_batch_size", 256, "non-edge pairs drawn with each vertex minibatch", positive_int),
    Setting("non_edge_weight", 1000.0, "γ of CVAE_corr's non-edge term", nonnegative_float),
)


class LinkPrediction(Protocol):
    """Base of the graph protocols: the graph is built by :meth:`graph`."""

    provides = frozenset({GRAPH})
    default_model = "cvae_corr"
    training = dict(epochs=15, batch_size=64, lr=2e-3, lr_schedule="cosine")
    diagnosis = dict(draws=100, points=200, samples=200)

    def graph(self):
        raise NotImplementedError

    def load(self, model_name: str, seed: int) -> ProtocolData:
        source = self.graph()
        start = time.perf_counter()
        train = source.training_set(edge_batch_size=self.edge_batch_size, pair_batch_size=self.pair_batch_size,
                                    resistance_args=dict(method=self.resistance_method))
        return ProtocolData(train=train, config=source.config(), source=source,
                            resistance_seconds=time.perf_counter() - start)

    def model_arguments(self, model_name: str, data: ProtocolData, training) -> Dict[str, Any]:
        nets = dict(hidden=tuple(self.hidden), activation_name="relu")
        arguments = dict(super().model_arguments(model_name, data, training), latent_dim=self.latent_dim,
                         encoder_args=nets, decoder_args=nets, likelihood="bernoulli")
        if model_name in ("cvae_ind", "cvae_corr"):
            arguments["correlation"] = self.tau
        if model_name == "cvae_corr":
            arguments["non_edge_weight"] = self.non_edge_weight
        return arguments

    def evaluate(self, model, data: ProtocolData, context: RunContext) -> Dict[str, Any]:
        train = data.train
        codes = encode(model, train)
        return {
            "ncrr": ncrr(expected_squared_distance_rows(model, train), len(train), train.edges_numpy(),
                         train.heldout_edges),
            "cluster_accuracy": clustering_accuracy(codes, data.source.labels, seed=context.seed),
            "elbo": graph_evidence_lower_bound(model, train, seed=context.seed),
            "train_seconds": context.result.train_seconds,
            "resistance_seconds": data.resistance_seconds,
            "epochs": len(context.result.history),
        }

    def title(self, model_name: str, seed: int) -> str:
        return f"{model_name} on the {self.name}, seed {seed}"


class _TreeGraphs(LinkPrediction):
    tree_settings = (
        Setting("num_vertices", 10_000, "vertices", positive_int),
        Setting("num_features", 1_000, "binary features", positive_int),
        Setting("data_latent_dim", 100, "true latent size", positive_int),
    )
    kind = "tree"

    def graph(self):
        return CorrelatedTreeSimulation(num_vertices=self.num_vertices, num_features=self.num_features,
                                        latent_dim=self.data_latent_dim, correlation=self.tau, graph=self.kind,
                                        extra_edge_fraction=getattr(self, "extra_edge_fraction", 0.2),
                                        heldout_fraction=self.heldout_fraction, seed=self.data_seed)


@PROTOCOLS.register("tree_graph")
class TreeGraph(_TreeGraphs):
    """Correlated tree (Tang et al. 2019): binary features correlated along a random recursive tree; link prediction."""

    name = "tree_graph"
    settings = _TreeGraphs.tree_settings + GRAPH_SETTINGS


@PROTOCOLS.register("general_graph")
class GeneralGraph(_TreeGraphs):
    """The correlated tree with extra edges to grandparents (cycles; effective-resistance weights); link prediction."""

    name = "general_graph"
    kind = "general"
    settings = _TreeGraphs.tree_settings + (
        Setting("extra_edge_fraction", 0.2, "extra edges per tree edge", nonnegative_float),) + GRAPH_SETTINGS


@PROTOCOLS.register("sprite_graph")
class SpriteGraphProtocol(LinkPrediction):
    """Procedural dSprites images joined when they differ in exactly k factors; link prediction and shape clustering."""

    name = "sprite_graph"
    settings = (
        Setting("num_images", 256, "number of sprites", positive_int),
        Setting("differing_factors", 1, "an edge joins images that differ in exactly this many factors",
                positive_int),
    ) + GRAPH_SETTINGS

    def graph(self):
        return SpriteGraph(num_images=self.num_images, differing_factors=self.differing_factors,
                           heldout_fraction=self.heldout_fraction, seed=self.data_seed)
