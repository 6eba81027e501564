"""Benchmarks of topology-aware latent spaces: factors that are points, segments and loops.

``circular_sprites`` (:class:`pyrodisent.data.circular_sprites.CircularSprites`): asymmetric sprites whose
orientation and hue each cover the full circle, with a discrete shape, a scale and a position. Every
model trains with the study's convolutional networks and a Bernoulli likelihood, like the image
benchmarks of Locatello et al., and is scored with their whole metric suite (MIG, DCI, …) and, per factor
by its topology (:mod:`pyrodisent.metrics.topology`): loops by the circular correlation of the best pair of
latents, points by cluster purity, segments by Spearman correlation — on ``topology_points`` images.
Picture: each factor's matched latents coloured by the factor (a recovered loop draws a ring). And,
without the declared topologies, each factor's topology discovered from the codes
(:mod:`pyrodisent.evaluation.topology_discovery`): ``topology_discovery.csv`` and the share of factors
whose discovered topology is the declared one (``topology_discovery_accuracy``).

The priors compared: the Gaussian prior of the β-VAE (``beta_vae``), the tilted prior of Floto et al.
(``tilted_vae``) and the product of topology blocks (``topological_vae``), all at one β and one budget.
"""
from __future__ import annotations

import math
from typing import Any, Dict

import numpy as np

from pyrodisent.evaluation.scoring import encode
from pyrodisent.evaluation.topology_discovery import discover_topologies
from pyrodisent.figures.plots import plot_topology_matches
from pyrodisent.metrics.topology import topology_scores
from pyrodisent.protocols.base import ProtocolData, RunContext
from pyrodisent.protocols.image_benchmarks import IMAGE_SETTINGS, ImageBenchmark
from pyrodisent.protocols.settings import Setting
from pyrodisent.registry import DATASETS, PROTOCOLS
from pyrodisent.runs.flags import nonnegative_float, positive_int
from pyrodisent.training.run_directory import atomic_write_bytes

#: the discovered topology of each factor, with every candidate's held-out log density
TOPOLOGY_DISCOVERY = "topology_discovery.csv"

#: image settings whose defaults differ here (sized for ≤ 10 minutes a run on 2 CPU cores with evaluation)
CIRCULAR_DEFAULTS = dict(train_size=20_000, steps=2_500, beta=2.0, metric_train=3_000, metric_test=1_500)


def topology_evaluation(model, dataset, num_points: int, seed: int, run) -> Dict[str, Any]:
    """Per-factor topology scores of ``model`` on ``num_points`` fresh images of ``dataset`` (which declares
    ``factor_topologies``), the picture ``topology.png``, and the topologies discovered from the codes
    (``topology_discovery.csv``)."""
    rng = np.random.default_rng(seed + 2)
    factors = dataset.sample_factors(num_points, rng)
    images = dataset.sample_observations_from_factors(factors, rng)
    from pyrodisent.data.arrays import ArrayDataset

    codes = encode(model, ArrayDataset(images))
    values = dataset.factor_values(factors)
    scores, matches = topology_scores(values, codes, dataset.factor_topologies, dataset.factor_names,
                                      periods=dataset.factor_periods, seed=seed)
    plot_topology_matches(values, codes, matches, run.file("topology.png"))
    discovered = discover_topologies(values, codes, dataset.factor_names, periods=dataset.factor_periods, seed=seed)
    discovered.insert(2, "declared", list(dataset.factor_topologies))
    atomic_write_bytes(run.file(TOPOLOGY_DISCOVERY), discovered.to_csv(index=False).encode())
    scores["topology_discovery_accuracy"] = float((discovered["topology"] == discovered["declared"]).mean())
    return scores


@PROTOCOLS.register("circular_sprites")
class CircularSpritesBenchmark(ImageBenchmark):
    """Sprites whose orientation and hue are loops (the full circle), shape points, scale and position segments."""

    name = "circular_sprites"
    default_model = "topological_vae"
    comparison_columns = ("orientation_circular_corr", "hue_circular_corr", "loop_circular_corr", "mig", "elbo")
    settings = (
        Setting("grid", "full", "the factor grid: full, or small (for tests)", choices=("full", "small")),
        Setting("blocks", "points(3), segment, loop, loop, segment, segment", "topological_vae's product prior: "
                "one block per factor (points(k), segment, loop, normal, tilted(d))", str),
        Setting("anneal_fraction", 0.5, "share of training over which each block sharpens from flat to sharp",
                nonnegative_float),
        Setting("tau", 5.0, "τ of tilted_vae's prior (Floto et al.)", nonnegative_float),
        Setting("topology_points", 3_000, "images the topology scores are computed on", positive_int),
    ) + tuple(Setting(**{**s.__dict__, "default": CIRCULAR_DEFAULTS[s.name]}) if s.name in CIRCULAR_DEFAULTS else s
              for s in IMAGE_SETTINGS)

    def dataset(self, seed: int):
        return DATASETS.build("circular_sprites", grid=self.grid, seed=seed)

    def model_arguments(self, model_name: str, data: ProtocolData, training) -> Dict[str, Any]:
        arguments = super().model_arguments(model_name, data, training)
        steps = training["epochs"] * math.ceil(len(data.train) / training["batch_size"])
        if model_name == "topological_vae":
            arguments.update(latent_dim=0, blocks=self.blocks, anneal_steps=int(self.anneal_fraction * steps),
                             beta=self.beta)
        elif model_name == "tilted_vae":
            arguments.update(tau=self.tau, beta=self.beta)
        return arguments

    def evaluate(self, model, data: ProtocolData, context: RunContext) -> Dict[str, Any]:
        metrics = super().evaluate(model, data, context)
        metrics.update(topology_evaluation(model, data.dataset, self.topology_points, context.seed, context.run))
        return metrics
