"""Weakly supervised pairs (Locatello et al., ICML 2020) over any ground-truth image dataset (issue #16).

Training data: N pairs (x1, x2) of a ground-truth dataset (setting ``dataset``) that share some factors
(:mod:`pyrodisent.data.pairs`):

- ``pairs=exact``: disentanglement_lib's weak protocol — 1 or k factors resampled (``k``; −1: random per pair);
- ``pairs=approximate``: the resampled factors differ, the "shared" ones move by up to ``share_radius`` steps;
- ``pairs=mined``: no explicit pairs — N single images, each paired with one of its ``mining_neighbours``
  nearest neighbours in the latent space of a VAE trained for ``mining_steps`` steps, re-mined with the
  model being trained every ``remine_epochs`` epochs (:mod:`pyrodisent.data.mined_pairs`).

With ``correlation`` σ the training factors are correlated (Träuble et al., ICML 2021): the two
``correlated_factors`` follow p(c1, c2) ∝ exp(−(c1 − c2)² / (2σ²)) on values normalised to [0, 1]. Every
evaluation uses uncorrelated factors.

Models: the pair models (``ada_gvae``, ``ada_mlvae``, ``latent_shift``) train on the pairs; every other image
model (``beta_vae``, …) trains on the same images as independent points (both images of every pair; the N
images for mined pairs), at twice ``batch_size`` images a step, so that every model sees the same images per
step and over training. One ``beta`` weighs every model's KL.

Evaluation: the image benchmarks' (:mod:`.image_benchmarks`: MIG, DCI, SAP, modularity, explicitness, IRS,
BetaVAE and FactorVAE scores on ``metric_train`` / ``metric_test`` points, the ELBO per image, pictures,
posterior diagnosis — the ELBO, pictures and diagnosis on single images: the first image of each pair for pair
models), ``train_seconds``, and for the models that say which latent dimensions a pair changed (Ada models:
above the adaptive threshold; latent_shift: open gates) ``changed_dims_precision`` / ``changed_dims_recall``
(:mod:`pyrodisent.metrics.changed_dimensions`) on ``pair_eval`` fresh exact pairs of uncorrelated factors;
for every model ``pair_crosstalk`` of the ``correlated_factors`` (:mod:`pyrodisent.metrics.pair_crosstalk`:
does the latent of one carry the other?) on ``metric_test`` fresh uncorrelated points.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List

import numpy as np
import torch

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.data.ground_truth import GroundTruthData
from pyrodisent.data.mined_pairs import PairMining, mined_pair_dataset, nearest_neighbour_partners, posterior_means
from pyrodisent.data.pairs import (CHANGED_FACTORS, PAIR, PAIR_FACTORS, PAIR_OBSERVATION, CorrelatedFactors, approximate_pairs,
                                   factor_index, paired_dataset, weak_pairs)
from pyrodisent.evaluation.scoring import representation_function
from pyrodisent.metrics.changed_dimensions import changed_dimension_scores, latent_factor_matching
from pyrodisent.metrics.pair_crosstalk import pair_crosstalk
from pyrodisent.protocols.base import ProtocolData, RunContext, batch_needs
from pyrodisent.protocols.image_benchmarks import (IMAGE_SETTINGS, NAMED_DATASET_SETTINGS, ImageBenchmark,
                                                    named_ground_truth)
from pyrodisent.protocols.settings import Setting
from pyrodisent.registry import MODELS, PROTOCOLS
from pyrodisent.runs.flags import nonnegative_int, positive_float, positive_int

#: image settings whose defaults differ here, sized for about 5 minutes a run on 2 CPU cores with evaluation:
#: 5,000 pairs, 1,000 steps of 32 pairs, one β = 2 for every model, metrics on 1,500 / 750 points and 200 / 100
#: votes (at 64 pairs and 500 / 250 votes a run took 700 s, 200 s of them the BetaVAE and FactorVAE scores)
WEAK_PAIRS_DEFAULTS = dict(train_size=5_000, steps=1_000, beta=2.0, metric_train=1_500, metric_test=750,
                           votes_train=200, votes_test=100)
#: models that learn from pairs in this protocol and their arguments beyond the image benchmarks'
PAIR_MODELS = ("ada_gvae", "ada_mlvae", "latent_shift")


def k_factors(value) -> int:
    k = int(value)
    if k == 0 or k < -1:
        raise ValueError(f"expected -1 (random per pair) or a number of factors ≥ 1, got {value!r}")
    return k


@PROTOCOLS.register("weak_pairs")
class WeakPairs(ImageBenchmark):
    """Weakly supervised pairs (Ada-GVAE, latent shift) on any ground-truth image set: exact, approximate, mined pairs."""

    name = "weak_pairs"
    provides = frozenset({PAIR})
    default_model = "ada_gvae"
    training = dict(ImageBenchmark.training, batch_size=32)  # pairs a step (β-VAE: 64 single images)
    replaced_attributes = ("dataset",)  # the setting names the dataset; ImageBenchmark.dataset(seed) is unused
    comparison_columns = ("mig", "dci_disentanglement", "changed_dims_precision", "changed_dims_recall", "elbo")
    settings = (
        Setting("dataset", "dsprites_procedural", "the ground-truth image dataset (a registered name: "
                "dsprites_procedural, dsprites, shapes3d, circular_sprites, …)", str),
        *NAMED_DATASET_SETTINGS,
        Setting("pairs", "exact", "exact (disentanglement_lib's weak pairs), approximate (shared factors move by up to "
                "share_radius steps) or mined (nearest neighbours in a VAE's latent space)",
                choices=("exact", "approximate", "mined")),
        Setting("k", 1, "factors resampled per pair: 1 or k with probability ½ each (disentanglement_lib); -1: k "
                "drawn from 1..F-1 per pair", k_factors),
        Setting("share_radius", 1, "grid steps a shared factor may move in approximate pairs", nonnegative_int),
        Setting("correlation", None, "σ of the correlated training factors, p(c1, c2) ∝ exp(−(c1 − c2)²/(2σ²)) on "
                "[0, 1] (none: uncorrelated); evaluation is uncorrelated", positive_float, optional=True),
        Setting("correlated_factors", ["pos_x", "pos_y"], "the two correlated factors, by name", str, many=True),
        Setting("mining_steps", 300, "steps of the VAE whose latent space mines the first pairs (pairs=mined)",
                positive_int),
        Setting("mining_neighbours", 3, "a mined partner is one of this many nearest neighbours", positive_int),
        Setting("remine_epochs", 2, "re-mine the pairs with the model being trained every this many epochs",
                positive_int),
        Setting("pair_eval", 1_000, "fresh exact pairs scoring changed_dims_precision / recall", positive_int),
        Setting("transform_weight", 1.0, "γ of latent_shift: the weight of log p(x2 | decoder(f(z1)))", positive_float),
        Setting("gate_sparsity", 10.0, "K of latent_shift's Beta(1, K) prior on its gate probabilities",
                positive_float),
    ) + tuple(Setting(**{**s.__dict__, "default": WEAK_PAIRS_DEFAULTS[s.name]}) if s.name in WEAK_PAIRS_DEFAULTS
              else s for s in IMAGE_SETTINGS)

    # ------------------------------------------------------------------ data
    def ground_truth(self, seed: int) -> GroundTruthData:
        """The dataset named by the ``dataset`` setting, with the grid, path and seed it accepts."""
        return named_ground_truth(self.name, self.dataset, self.grid, self.data_path, seed)

    def correlated_distribution(self, dataset: GroundTruthData):
        if self.correlation is None:
            return None
        if len(self.correlated_factors) != 2:
            raise ValueError(f"argument --correlated-factors: expected two factor names, got {self.correlated_factors}")
        pair = tuple(factor_index(dataset, name) for name in self.correlated_factors)
        return CorrelatedFactors(dataset.factor_sizes, pair, self.correlation)

    @staticmethod
    def learns_from_pairs(model_name: str) -> bool:
        return PAIR in batch_needs(MODELS.get(model_name))

    def load(self, model_name: str, seed: int) -> ProtocolData:
        dataset = self.ground_truth(seed)
        correlated = self.correlated_distribution(dataset)
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        paired = self.learns_from_pairs(model_name)
        if self.pairs == "mined":
            factors = dataset.sample_factors(self.train_size, rng) if correlated is None else \
                correlated.sample(self.train_size, rng)
            images = ArrayDataset(dataset.sample_observations_from_factors(factors, rng), factors=factors)
            train = self.mined_pairs(images, dataset, seed) if paired else images
        else:
            make = weak_pairs if self.pairs == "exact" else approximate_pairs
            options = dict(share_radius=self.share_radius) if self.pairs == "approximate" else {}
            pairs = make(dataset, self.train_size, rng, k=self.k, correlated=correlated, **options)
            train = paired_dataset(dataset, pairs, rng)
            if not paired:  # both images of every pair, as independent points
                train = ArrayDataset(torch.cat([train.x, train.extras[PAIR_OBSERVATION]]),
                                     factors=torch.cat([train.factors, train.extras[PAIR_FACTORS]]))
        config = dict(dataset.config(), dataset=self.dataset, pairs=self.pairs, paired_training=paired,
                      correlated_pair=None if correlated is None else list(correlated.pair))
        if correlated is not None:
            config["correlation_coefficient"] = correlated.correlation()
        images = ArrayDataset(train.x, factors=train.factors)  # single images: ELBO, pictures, diagnosis
        return ProtocolData(train=train, images=images, config=config, dataset=dataset,
                            data_seconds=time.perf_counter() - start)

    def mined_pairs(self, images: ArrayDataset, dataset: GroundTruthData, seed: int) -> ArrayDataset:
        """``images`` paired by nearest neighbours in the codes of a VAE trained ``mining_steps`` steps."""
        from pyrodisent.training.trainer import Trainer

        vae = MODELS.build("vae", seed=seed, observation_shape=dataset.observation_shape, latent_dim=self.latent_dim,
                           num_data=len(images), encoder="conv_encoder", decoder="conv_decoder",
                           **self.likelihood_arguments())
        batch_size = self.training["batch_size"]
        epochs = math.ceil(self.mining_steps / math.ceil(len(images) / batch_size))
        Trainer(vae, images, epochs=epochs, batch_size=batch_size, lr=self.training["lr"], seed=seed, device="auto",
                progress=False).fit()
        partners = nearest_neighbour_partners(posterior_means(vae, images), self.mining_neighbours,
                                              np.random.default_rng([seed, 0]))
        return mined_pair_dataset(images, partners)

    def training_callbacks(self, data: ProtocolData, seed: int) -> List[Callable]:
        if self.pairs == "mined" and data.config["paired_training"]:
            return [PairMining(self.remine_epochs, self.mining_neighbours, seed)]
        return []

    # ------------------------------------------------------------------ training
    def training_arguments(self, training: Dict[str, Any], data: ProtocolData, model_name: str) -> Dict[str, Any]:
        arguments = dict(training)
        if not data.config["paired_training"]:  # the same images a step as a model of pairs
            arguments["batch_size"] = 2 * arguments["batch_size"]
        return super().training_arguments(arguments, data, model_name)

    def model_arguments(self, model_name: str, data: ProtocolData, training) -> Dict[str, Any]:
        arguments = super().model_arguments(model_name, data, training)
        if model_name in PAIR_MODELS:
            arguments["beta"] = self.beta
        if model_name == "latent_shift":
            steps = training["epochs"] * math.ceil(len(data.train) / training["batch_size"])
            arguments.update(transform_weight=self.transform_weight, sparsity=self.gate_sparsity, temperature=1.0,
                             final_temperature=0.2, temperature_anneal_steps=steps)
        return arguments

    # ------------------------------------------------------------------ evaluation
    def evaluation_images(self, data: ProtocolData) -> ArrayDataset:
        return data.images

    def diagnosis_data(self, data: ProtocolData) -> ArrayDataset:
        return data.images

    def evaluate(self, model, data: ProtocolData, context: RunContext) -> Dict[str, Any]:
        metrics = super().evaluate(model, data, context)
        if infers_changed_dimensions(model):
            metrics.update(self.changed_dimension_metrics(model, data.dataset, context.seed))
        metrics.update(pair_crosstalk=self.correlated_pair_crosstalk(model, data.dataset, context.seed))
        return metrics

    def correlated_pair_crosstalk(self, model, dataset: GroundTruthData, seed: int) -> float:
        """:func:`~pyrodisent.metrics.pair_crosstalk.pair_crosstalk` of the ``correlated_factors`` on
        ``metric_test`` fresh, uncorrelated points (whether or not training correlated them)."""
        pair = tuple(factor_index(dataset, name) for name in self.correlated_factors)
        rng = np.random.default_rng([seed, 3])
        factors = dataset.sample_factors(self.metric_test, rng)
        codes = representation_function(model)(dataset.sample_observations_from_factors(factors, rng))
        return pair_crosstalk(codes, factors, pair)

    def changed_dimension_metrics(self, model, dataset: GroundTruthData, seed: int) -> Dict[str, float]:
        """Precision and recall of the model's changed dimensions on ``pair_eval`` fresh exact, uncorrelated pairs."""
        rng = np.random.default_rng([seed, 2])
        pairs = paired_dataset(dataset, weak_pairs(dataset, self.pair_eval, rng, k=self.k), rng)
        codes, predicted = [], []
        model.eval()
        for _, batch in pairs.sequential(256, model.device):
            codes.append(model.encode(batch).cpu())
            predicted.append(model.changed_dimensions(batch).cpu())
        matching = latent_factor_matching(torch.cat(codes).numpy(), pairs.factors.numpy())
        return changed_dimension_scores(torch.cat(predicted).numpy(), pairs.extras[CHANGED_FACTORS].numpy(), matching)


def infers_changed_dimensions(model) -> bool:
    """Whether ``model`` says which latent dimensions a pair changed (a pair model overriding the base's)."""
    from pyrodisent.paired_model import PairedLatentVariableModel

    return (isinstance(model, PairedLatentVariableModel)
            and type(model).changed_dimensions is not PairedLatentVariableModel.changed_dimensions)
