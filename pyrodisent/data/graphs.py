"""Data whose points are vertices of a graph: graph minibatches and the correlated-VAE data sets.

Correlated VAEs (Tang et al., ICML 2019) train on three minibatches at once — vertices, edges, and
random non-edge pairs — each term scaled to the whole graph (Tang et al. 2019):

- :class:`GraphBatch` is a :class:`~pyrodisent.data.Batch` of vertices (x, index, …: the data plate)
  that also carries a uniform minibatch of the graph's edges (ids, the observations at both ends, the
  edge weights, and |E|, the edge plate's size) and of non-edge pairs (observations at both ends and
  the number of non-edge pairs, the pair plate's size).
- :class:`GraphDataset` is an :class:`~pyrodisent.data.ArrayDataset` with a graph: its ``loader`` yields
  graph batches (the trainer takes it like any dataset), its ``batch`` plain vertex batches (so
  evaluation code that encodes a data set works unchanged). It validates the graph (no self-loops, ids
  in range, no duplicates) and computes the edge weights (effective resistances, 1 on a forest).
- :class:`CorrelatedTreeSimulation` is the paper's synthetic protocol and its general-graph variant;
  :class:`SpriteGraph` is a graph of procedural dSprites images joined when they differ in k factors.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Iterator, Optional

import numpy as np
import torch
from scipy.special import expit
from sklearn.decomposition import PCA

from pyrodisent.data import undirected_graphs as graphs
from pyrodisent.data.arrays import ArrayDataset, BatchLoader
from pyrodisent.data.batch import Batch
from pyrodisent.data.dsprites import ProceduralDSprites
from pyrodisent.random_state import as_generator
from pyrodisent.registry import DATASETS


@dataclass
class GraphBatch(Batch):
    """A vertex minibatch with a minibatch of edges and of non-edge pairs.

    :param edge_index: ``(E_b,)`` ids of the drawn edges in the graph's edge list (the edge plate's subsample).
    :param edge_x: ``(E_b, 2, *observation_shape)`` observations at the two ends of each drawn edge.
    :param edge_weight: ``(E_b,)`` weight of each edge term (effective resistance; 1 on a forest).
    :param num_edges: |E|, the size of the edge plate.
    :param pair_x: ``(P, 2, *observation_shape)`` observations at the two ends of each drawn non-edge pair.
    :param num_non_edges: the number of vertex pairs that are not edges, n(n − 1)/2 − |E| (the pair plate's size).
    """

    edge_index: Optional[torch.Tensor] = None
    edge_x: Optional[torch.Tensor] = None
    edge_weight: Optional[torch.Tensor] = None
    num_edges: int = 0
    pair_x: Optional[torch.Tensor] = None
    num_non_edges: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        shape = tuple(self.x.shape[1:])
        if self.edge_index is not None:
            count = self.edge_index.shape[0]
            if self.edge_x is None or tuple(self.edge_x.shape) != (count, 2, *shape):
                raise ValueError(f"GraphBatch.edge_x must have shape ({count}, 2, *{shape}), got "
                                 f"{None if self.edge_x is None else tuple(self.edge_x.shape)}")
            if self.edge_weight is None or tuple(self.edge_weight.shape) != (count,):
                raise ValueError(f"GraphBatch.edge_weight must have shape ({count},)")
            if count > self.num_edges:
                raise ValueError(f"GraphBatch has {count} edges but num_edges (the whole graph's) is {self.num_edges}")
        if self.pair_x is not None and tuple(self.pair_x.shape[1:]) != (2, *shape):
            raise ValueError(f"GraphBatch.pair_x must have shape (P, 2, *{shape}), got {tuple(self.pair_x.shape)}")

    GRAPH_FIELDS = ("edge_index", "edge_x", "edge_weight", "pair_x")

    def _named_tensors(self):
        """The vertex tensors (leading dimension B); the edge and pair tensors are checked on their own."""
        return ((name, value) for name, value in super()._named_tensors() if name not in self.GRAPH_FIELDS)

    @property
    def num_batch_edges(self) -> int:
        return 0 if self.edge_index is None else self.edge_index.shape[0]

    @property
    def num_batch_pairs(self) -> int:
        return 0 if self.pair_x is None else self.pair_x.shape[0]

    def to(self, device, non_blocking: bool = False) -> "GraphBatch":
        move = lambda t: None if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        moved = super().to(device, non_blocking)
        return replace(moved, edge_index=move(self.edge_index), edge_x=move(self.edge_x),
                       edge_weight=move(self.edge_weight), pair_x=move(self.pair_x))


class GraphDataset(ArrayDataset):
    """Observations at the vertices of an undirected graph.

    :param x: ``(N, *observation_shape)`` one observation per vertex.
    :param edges: ``(E, 2)`` the training graph's edges (validated; a forest or disconnected graph is
        fine: every component is modelled on its own).
    :param edge_weights: ``"effective_resistance"`` (default: the probability that each edge lies in a
        uniform spanning tree, exactly 1 on a forest), ``"ones"``, or an array ``(E,)`` of positive weights.
    :param resistance_args: keyword arguments of :func:`pyrodisent.data.undirected_graphs.effective_resistances`.
    :param edge_batch_size, pair_batch_size: edges and non-edge pairs drawn with each vertex minibatch.
    :param heldout_edges: ``(H, 2)`` edges kept out of training for link prediction (validated; they must
        not be training edges).
    :param u, factors, extras: as :class:`ArrayDataset`.
    """

    def __init__(self, x, edges, *, edge_weights="effective_resistance", resistance_args: Optional[dict] = None,
                 edge_batch_size: int = 256, pair_batch_size: int = 256, heldout_edges=None, u=None, factors=None,
                 extras: Optional[Dict[str, torch.Tensor]] = None):
        super().__init__(x, u=u, factors=factors, extras=extras)
        n = len(self)
        if edge_batch_size < 1 or pair_batch_size < 0:
            raise ValueError(f"edge_batch_size must be ≥ 1 and pair_batch_size ≥ 0, got {edge_batch_size}, "
                             f"{pair_batch_size}")
        edges = graphs.validate_edges(n, edges)
        if isinstance(edge_weights, str):
            if edge_weights == "effective_resistance":
                weights = graphs.effective_resistances(n, edges, **(resistance_args or {}))
            elif edge_weights == "ones":
                weights = np.ones(len(edges))
            else:
                raise ValueError(f"edge_weights must be 'effective_resistance', 'ones' or an array, "
                                 f"got {edge_weights!r}")
        else:
            weights = np.asarray(edge_weights, dtype=np.float64)
            if weights.shape != (len(edges),) or not np.all(weights > 0) or not np.all(np.isfinite(weights)):
                raise ValueError(f"edge_weights must be {len(edges)} positive finite numbers, "
                                 f"got shape {weights.shape}")
        heldout = graphs.validate_edges(n, np.zeros((0, 2)) if heldout_edges is None else heldout_edges,
                                        name="heldout_edges")
        if len(heldout) and len(edges):
            overlap = np.intersect1d(graphs.pair_codes(n, edges), graphs.pair_codes(n, heldout))
            if overlap.size:
                raise ValueError(f"{overlap.size} held-out edges are also training edges, e.g. "
                                 f"{[int(overlap[0] // n), int(overlap[0] % n)]}")
        self.edges = torch.as_tensor(edges)
        self.edge_weights = torch.as_tensor(weights, dtype=torch.float32)
        self.heldout_edges = heldout
        self.edge_batch_size = int(edge_batch_size)
        self.pair_batch_size = int(pair_batch_size)
        self._edge_codes = torch.as_tensor(np.sort(graphs.pair_codes(n, edges)))

    @property
    def num_vertices(self) -> int:
        return len(self)

    @property
    def num_edges(self) -> int:
        return self.edges.shape[0]

    @property
    def num_non_edges(self) -> int:
        return len(self) * (len(self) - 1) // 2 - self.num_edges

    def edges_numpy(self) -> np.ndarray:
        return self.edges.cpu().numpy()

    def to(self, device) -> "GraphDataset":
        moved = GraphDataset.__new__(GraphDataset)
        moved.__dict__.update(self.__dict__)
        base = ArrayDataset.to(self, device)
        moved.x, moved.u, moved.factors, moved.extras = base.x, base.u, base.factors, base.extras
        moved.edges = self.edges.to(device)
        moved.edge_weights = self.edge_weights.to(device)
        moved._edge_codes = self._edge_codes.to(device)
        return moved

    def graph_batch(self, vertices: torch.Tensor, edge_ids: Optional[torch.Tensor] = None,
                    pairs: Optional[torch.Tensor] = None) -> GraphBatch:
        """The vertices at ``vertices``, the edges ``edge_ids`` and the vertex pairs ``pairs`` (P, 2) as a batch."""
        plain = self.batch(vertices)
        fields = dict(x=plain.x, index=plain.index, u=plain.u, factors=plain.factors, extras=plain.extras,
                      num_edges=self.num_edges, num_non_edges=self.num_non_edges)
        if edge_ids is not None and len(edge_ids):
            ends = self.edges[edge_ids]
            fields.update(edge_index=edge_ids, edge_x=self.x[ends], edge_weight=self.edge_weights[edge_ids])
        if pairs is not None and len(pairs):
            fields.update(pair_x=self.x[pairs])
        return GraphBatch(**fields)

    def full_batch(self) -> GraphBatch:
        """Every vertex and every edge, no pairs: the model's loss on it is the whole graph's (plates unscaled)."""
        device = self.x.device
        return self.graph_batch(torch.arange(len(self), device=device), torch.arange(self.num_edges, device=device))

    def sample_non_edges(self, num: int, generator: torch.Generator) -> torch.Tensor:
        """``num`` uniform vertex pairs (i ≠ j) that are not training edges, ``(num, 2)`` long (with replacement)."""
        n = len(self)
        chosen = []
        remaining = num
        while remaining > 0:
            i = torch.randint(0, n, (remaining,), generator=generator)
            j = torch.randint(0, n - 1, (remaining,), generator=generator)
            j = j + (j >= i).long()
            low, high = torch.minimum(i, j), torch.maximum(i, j)
            codes = (low * n + high).to(self._edge_codes.device)
            if len(self._edge_codes):
                position = torch.searchsorted(self._edge_codes, codes).clamp(max=len(self._edge_codes) - 1)
                keep = (self._edge_codes[position] != codes).cpu()
            else:
                keep = torch.ones(remaining, dtype=torch.bool)
            chosen.append(torch.stack([i, j], 1)[keep])
            remaining -= int(keep.sum())
        return torch.cat(chosen).to(self.x.device)

    def loader(self, batch_size: int, shuffle: bool = True, generator: Optional[torch.Generator] = None,
               drop_last: bool = False) -> "GraphBatchLoader":
        return GraphBatchLoader(self, batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last)


class GraphBatchLoader(BatchLoader):
    """Vertex minibatches as :class:`BatchLoader` (an epoch is one pass over the vertices), each with
    ``edge_batch_size`` edges drawn uniformly without replacement (all of them when the graph has fewer)
    and ``pair_batch_size`` uniform non-edge pairs, all from the loader's own (checkpointed) generator."""

    dataset: GraphDataset

    def __iter__(self) -> Iterator[GraphBatch]:
        data = self.dataset
        device = data.x.device
        edge_count = min(data.edge_batch_size, data.num_edges)
        for vertex_batch in super().__iter__():
            edge_ids = torch.randperm(data.num_edges, generator=self.generator)[:edge_count].to(device)
            pairs = data.sample_non_edges(data.pair_batch_size, self.generator) if data.pair_batch_size else None
            yield data.graph_batch(vertex_batch.index, edge_ids, pairs)


# ------------------------------------------------------------------------------------------ data sets
class _LinkPredictionProtocol:
    """What the graph data sets share once built: observations ``x`` at the vertices, true ``factors``,
    clustering ``labels``, and the graph's edges split into ``training_edges`` and ``heldout_edges``."""

    def training_set(self, edge_batch_size: int = 256, pair_batch_size: int = 256,
                     resistance_args: Optional[dict] = None) -> GraphDataset:
        """The training graph: x, factors, ``extras["label"]``; the held-out edges travel with it."""
        return GraphDataset(self.x, self.training_edges, heldout_edges=self.heldout_edges,
                            resistance_args=resistance_args, edge_batch_size=edge_batch_size,
                            pair_batch_size=pair_batch_size, factors=self.factors, extras={"label": self.labels})

    def config(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class CorrelatedTreeSimulation(_LinkPredictionProtocol):
    """The synthetic protocol of Tang et al. (2019, §4.2.2) and a general-graph variant.

    - a random recursive tree of ``num_vertices`` vertices (vertex i attaches to a uniform earlier one);
    - latents along the tree: z_root ~ N(0, I), child = τ · parent + √(1 − τ²) ε, dimension ``latent_dim``
      (:class:`~pyrodisent.distributions.graph.GraphCorrelatedNormal`'s ancestral sampler);
    - ``num_features`` binary features x ~ Bernoulli(σ(W₂ relu(W₁ z + b₁) + b₂)), all weights N(0, 1),
      ``hidden`` units (the official generator);
    - labels: the first principal component of z at or above its median (the spectral-clustering task);
    - vertex ids randomly permuted, then ``heldout_fraction`` of the edges held out for link prediction
      (which leaves the tree a forest: its components are modelled separately).

    ``graph="general"``: the tree plus ``extra_edge_fraction · (n − 1)`` random extra edges, each joining a
    uniformly chosen vertex to its grandparent (distance 2 in the tree, latent correlation τ²), so the
    graph has cycles and its edge weights are effective resistances below 1. The latents still follow the
    tree; held-out edges are drawn from all edges.
    """

    num_vertices: int = 10_000
    num_features: int = 1_000
    latent_dim: int = 100
    hidden: int = 300
    correlation: float = 0.99
    graph: str = "tree"
    extra_edge_fraction: float = 0.2
    heldout_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self):
        if self.graph not in ("tree", "general"):
            raise ValueError(f"graph must be 'tree' or 'general', got {self.graph!r}")
        if self.num_vertices < 3:
            raise ValueError(f"num_vertices must be ≥ 3, got {self.num_vertices}")
        if not 0 <= self.correlation < 1:
            raise ValueError(f"correlation τ must be in [0, 1), got {self.correlation}")
        rng = as_generator(self.seed)
        n = self.num_vertices
        parent = graphs.random_recursive_tree(n, rng)
        edges = graphs.tree_edges(parent)
        _, levels = graphs.forest_levels(n, edges)
        z = graphs.propagate_along_forest(rng.standard_normal((n, self.latent_dim)), parent, levels, self.correlation)
        w1 = rng.standard_normal((self.latent_dim, self.hidden))
        b1 = rng.standard_normal(self.hidden)
        w2 = rng.standard_normal((self.hidden, self.num_features))
        b2 = rng.standard_normal(self.num_features)
        x = (rng.random((n, self.num_features)) < expit(np.maximum(z @ w1 + b1, 0) @ w2 + b2)).astype(np.float32)
        component = PCA(n_components=1, random_state=0).fit_transform(z)[:, 0]
        labels = (component >= np.median(component)).astype(np.int64)
        if self.graph == "general":
            has_grandparent = np.flatnonzero((parent >= 0) & (parent[np.maximum(parent, 0)] >= 0))
            count = min(len(has_grandparent), int(round(self.extra_edge_fraction * (n - 1))))
            chosen = rng.choice(has_grandparent, size=count, replace=False)
            edges = np.concatenate([edges, np.stack([parent[parent[chosen]], chosen], 1)])
        permutation = rng.permutation(n)  # vertex permutation[k] becomes vertex k
        new_id = np.empty(n, dtype=np.int64)
        new_id[permutation] = np.arange(n)
        edges = graphs.validate_edges(n, new_id[edges])
        train, heldout = graphs.split_edges(edges, self.heldout_fraction, rng)
        object.__setattr__(self, "x", x[permutation])
        object.__setattr__(self, "latents", z[permutation].astype(np.float32))
        object.__setattr__(self, "factors", self.latents)  # the true latents are the factors to recover
        object.__setattr__(self, "labels", labels[permutation])
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "training_edges", train)
        object.__setattr__(self, "heldout_edges", heldout)


@dataclass(frozen=True)
class SpriteGraph(_LinkPredictionProtocol):
    """Procedural dSprites images as vertices, joined when their factors differ in exactly ``differing_factors``.

    ``num_images`` distinct grid points are drawn without replacement from the grid
    (:class:`~pyrodisent.data.ProceduralDSprites`, ``grid="small"`` by default: 1,536 points), rendered,
    and every pair differing in exactly k factors (sharing all the others) is an edge; ``heldout_fraction``
    of the edges are held out for link prediction. Labels: the shape factor.
    """

    num_images: int = 256
    differing_factors: int = 1
    grid: str = "small"
    heldout_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self):
        source = ProceduralDSprites(grid=self.grid, seed=self.seed)
        if not 1 <= self.differing_factors <= source.num_factors:
            raise ValueError(f"differing_factors must be in 1..{source.num_factors}, got {self.differing_factors}")
        if not 2 <= self.num_images <= len(source):
            raise ValueError(f"num_images must be in 2..{len(source)} (the {self.grid} grid), got {self.num_images}")
        rng = as_generator(self.seed)
        flat = np.sort(rng.choice(len(source), self.num_images, replace=False))
        factors = np.stack(np.unravel_index(flat, source.factor_sizes), axis=1).astype(np.int64)
        differing = (factors[:, None, :] != factors[None, :, :]).sum(-1)
        i, j = np.nonzero(np.triu(differing == self.differing_factors, 1))
        edges = np.stack([i, j], 1)
        train, heldout = graphs.split_edges(edges, self.heldout_fraction, rng)
        object.__setattr__(self, "x", source.sample_observations_from_factors(factors, rng))
        object.__setattr__(self, "factors", factors)
        object.__setattr__(self, "labels", factors[:, 0].copy())
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "training_edges", train)
        object.__setattr__(self, "heldout_edges", heldout)


DATASETS.register("correlated_tree")(CorrelatedTreeSimulation)
DATASETS.register("sprite_graph")(SpriteGraph)
