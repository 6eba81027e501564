"""A model scored by the topology of each factor its dataset declares: per-factor scores
(:mod:`pyrodisent.metrics.topology`), the picture of each factor's matched latents, and the topologies
discovered from the codes without the declarations (:mod:`pyrodisent.evaluation.topology_discovery`)."""
from __future__ import annotations

from typing import Any, Dict

import numpy as np

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.evaluation.scoring import encode
from pyrodisent.evaluation.topology_discovery import discover_topologies
from pyrodisent.figures.plots import plot_topology_matches
from pyrodisent.metrics.topology import topology_scores
from pyrodisent.training.run_directory import atomic_write_bytes

#: the discovered topology of each factor, with every candidate's held-out log density
TOPOLOGY_DISCOVERY = "topology_discovery.csv"
TOPOLOGY_PLOT = "topology.png"


def has_topologies(dataset) -> bool:
    """Whether a ground-truth dataset declares the topology of each factor."""
    return len(getattr(dataset, "factor_topologies", ())) == dataset.num_factors


def auto_blocks(dataset) -> str:
    """The product prior the dataset's declared topologies suggest: ``points(k)`` (k the factor's number of
    values), ``segment`` or ``loop`` per factor."""
    names = {"segment": "segment", "loop": "loop"}
    return ", ".join(f"points({size})" if topology == "points" else names[topology]
                     for topology, size in zip(dataset.factor_topologies, dataset.factor_sizes))


def topology_evaluation(model, dataset, num_points: int, seed: int, run) -> Dict[str, Any]:
    """Per-factor topology scores of ``model`` on ``num_points`` fresh images of ``dataset`` (which declares
    ``factor_topologies``), the picture ``topology.png``, and the topologies discovered from the codes
    (``topology_discovery.csv``)."""
    rng = np.random.default_rng(seed + 2)
    factors = dataset.sample_factors(num_points, rng)
    images = dataset.sample_observations_from_factors(factors, rng)
    codes = encode(model, ArrayDataset(images))
    values = dataset.factor_values(factors)
    scores, matches = topology_scores(values, codes, dataset.factor_topologies, dataset.factor_names,
                                      periods=dataset.factor_periods, seed=seed)
    plot_topology_matches(values, codes, matches, run.file(TOPOLOGY_PLOT))
    discovered = discover_topologies(values, codes, dataset.factor_names, periods=dataset.factor_periods, seed=seed)
    discovered.insert(2, "declared", list(dataset.factor_topologies))
    atomic_write_bytes(run.file(TOPOLOGY_DISCOVERY), discovered.to_csv(index=False).encode())
    scores["topology_discovery_accuracy"] = float((discovered["topology"] == discovered["declared"]).mean())
    return scores
