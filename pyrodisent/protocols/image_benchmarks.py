"""The image benchmarks of Locatello et al. (2019): dSprites (the real ``.npz``), procedural dSprites and
3dshapes (the real ``3dshapes.h5``), each scored with the whole disentanglement metric suite.

Every model trains with the study's convolutional encoder and decoder and a Bernoulli likelihood (setting
``likelihood``: or a Gaussian of std ``observation_scale``) for a number of steps (rounded up to whole
epochs). Metrics: MIG, DCI (disentanglement, completeness,
informativeness), SAP, modularity, explicitness, IRS, the β-VAE and FactorVAE scores — each fitted on
``metric_train`` points and scored on ``metric_test`` points drawn from the ground-truth factors — and
the ELBO. Pictures: reconstructions, latent traversals, KL per latent dimension.

What is scored on what: the metrics on points drawn afresh from the ground-truth factors
(``data.dataset``); the ELBO on the whole training set (a pass in order, minibatch by minibatch);
the pictures on its first points (reconstructions: 8, KL per dimension and traversals: 1000), the
posterior diagnosis on its first ``diagnosis_points``. The training set of ``shapes3d`` may be streamed
from the file (setting ``train_store``): then every one of these reads its points from the file, as
the trainer does, and the whole file as training set is put in an order drawn from the seed, so that
its first points are spread over the grid as those of a drawn sample are.
"""
from __future__ import annotations

import math
import time
from typing import Any, Dict

import numpy as np

from pyrodisent.evaluation.topology import auto_blocks, has_topologies, topology_evaluation
from pyrodisent.evaluation.scoring import evidence_lower_bound, representation_function
from pyrodisent.figures.images import plot_kl_per_dimension, plot_latent_traversals, plot_reconstructions
from pyrodisent.data.shapes3d import FACTOR_SIZES
from pyrodisent.metrics import disentanglement_metrics
from pyrodisent.protocols.base import Protocol, ProtocolData, RunContext
from pyrodisent.data.ground_truth import GroundTruthData
from pyrodisent.protocols.settings import Setting, keyword_arguments
from pyrodisent.registry import DATASETS, PROTOCOLS
from pyrodisent.runs.flags import nonnegative_float, nonnegative_int, positive_float, positive_int

#: ``train_store="auto"`` streams a training set whose float32 copy would exceed this (1 GiB; the default
#: 20,000 images of 3dshapes are 0.98 GB)
STREAM_ABOVE_BYTES = 2**30

IMAGE_SETTINGS = (
    Setting("train_size", 20_000, "images in the training set", positive_int),
    Setting("steps", 3_000, "optimizer steps (rounded up to whole epochs; the study: 300k)", positive_int),
    Setting("latent_dim", 10, "latent dimensions", positive_int),
    Setting("likelihood", "bernoulli", "pixel likelihood: bernoulli (the study's) or gaussian (std "
            "observation_scale)", choices=("bernoulli", "gaussian")),
    Setting("observation_scale", 0.1, "std of the gaussian pixel likelihood", positive_float),
    Setting("beta", 4.0, "β of beta_vae", positive_float),
    Setting("kl_warmup_fraction", 0.0, "share of training over which every model's KL weight grows linearly from 0 "
            "to its full value", nonnegative_float),
    Setting("tc_weight", 6.0, "β of beta_tcvae", nonnegative_float),
    Setting("gamma", 10.0, "γ of factor_vae; annealed_vae uses 1000", nonnegative_float),
    Setting("lambda_od", 10.0, "λ_od of dip_vae / dip_vae_ii", nonnegative_float),
    Setting("max_capacity", 25.0, "C_max of annealed_vae", nonnegative_float),
    Setting("metric_train", 10_000, "points to fit metric classifiers", positive_int),
    Setting("metric_test", 5_000, "held-out points for the metrics", positive_int),
    Setting("votes_train", 0, "votes fitting the BetaVAE and FactorVAE scores' classifiers (0: metric_train)",
            nonnegative_int),
    Setting("votes_test", 0, "votes scoring them (0: metric_test)", nonnegative_int),
    Setting("blocks", "auto", "topological_vae's product prior, one block per factor (points(k), segment, loop, "
            "circle, normal, tilted(d)); auto: from the dataset's declared topologies", str),
    Setting("anneal_fraction", 0.5, "share of training over which topological_vae's blocks sharpen from flat to "
            "sharp", nonnegative_float),
    Setting("tau", 5.0, "τ of tilted_vae's prior (Floto et al.)", nonnegative_float),
    Setting("topology_points", 3_000, "images the per-factor topology scores and the topology discovery use "
            "(datasets that declare their factors' topologies)", positive_int),
)


#: how a protocol with a ``dataset`` setting builds it (:func:`named_ground_truth`): the grid and the file
NAMED_DATASET_SETTINGS = (
    Setting("grid", "full", "factor grid of the procedural datasets: full, or small (tests)", choices=("full", "small")),
    Setting("data_path", None, "file or folder of a real dataset (dsprites, shapes3d; else $PYRODISENT_DATA)", str,
            optional=True),
)


def named_ground_truth(protocol: str, name: str, grid: str, data_path, seed: int) -> GroundTruthData:
    """The registered ground-truth image dataset ``name`` (a protocol's ``dataset`` setting), built with the grid,
    path and seed it accepts; a dataset without images or a factor grid is refused, naming ``protocol``."""
    factory = DATASETS.get(name)
    accepted = keyword_arguments(factory)
    offered = dict(grid=grid, seed=seed, path=data_path)
    dataset = factory(**{key: value for key, value in offered.items()
                         if key in accepted and not (key == "path" and value is None)})
    if not isinstance(dataset, GroundTruthData) or len(dataset.observation_shape) != 3:
        raise ValueError(f"protocol {protocol}: dataset {name!r} is not a ground-truth image dataset "
                         f"(expected observations (C, H, W) and known factors)")
    if not dataset.factors_are_discrete:
        raise ValueError(f"protocol {protocol}: dataset {name!r} has continuous factors; it needs a factor grid")
    return dataset


class ImageBenchmark(Protocol):
    """Base of the three image benchmarks: the dataset is built by :meth:`dataset`."""

    training = dict(batch_size=64, lr=5e-4, epochs=None)
    diagnosis = dict(draws=20, points=100, samples=100)
    comparison_columns = ("mig", "dci_disentanglement", "factor_vae_score", "elbo")
    dataset_name = ""

    def dataset(self, seed: int):
        raise NotImplementedError

    def load(self, model_name: str, seed: int) -> ProtocolData:
        dataset = self.dataset(seed)
        start = time.perf_counter()
        train, config = self.training_set(dataset, np.random.default_rng(seed))
        return ProtocolData(train=train, config=config, dataset=dataset, data_seconds=time.perf_counter() - start)

    def training_set(self, dataset, rng: np.random.Generator):
        """The training set (``train_size`` points drawn from the factors, float32 in memory) and the data's
        description for config.json."""
        return dataset.training_set(self.train_size, rng), dataset.config()

    def training_arguments(self, training: Dict[str, Any], data: ProtocolData, model_name: str) -> Dict[str, Any]:
        arguments = dict(training)
        if arguments.get("epochs") is None:  # from the number of steps, unless set
            arguments["epochs"] = math.ceil(self.steps / math.ceil(len(data.train) / arguments["batch_size"]))
        return arguments

    def model_arguments(self, model_name: str, data: ProtocolData, training) -> Dict[str, Any]:
        steps = training["epochs"] * math.ceil(len(data.train) / training["batch_size"])
        extra = {
            "beta_vae": dict(beta=self.beta),
            "beta_tcvae": dict(tc_weight=self.tc_weight),
            "factor_vae": dict(gamma=self.gamma),
            "annealed_vae": dict(gamma=1000.0, max_capacity=self.max_capacity, capacity_steps=steps),
            "dip_vae": dict(lambda_od=self.lambda_od),
            "dip_vae_ii": dict(lambda_od=self.lambda_od),
        }
        arguments = dict(super().model_arguments(model_name, data, training),
                         observation_shape=data.dataset.observation_shape, latent_dim=self.latent_dim,
                         encoder="conv_encoder", decoder="conv_decoder", **self.likelihood_arguments(),
                         **extra.get(model_name, {}))
        if self.kl_warmup_fraction > 0:
            arguments.update(kl_warmup_steps=int(self.kl_warmup_fraction * steps))
        if model_name == "topological_vae":  # the latent size is the blocks' total
            arguments.update(latent_dim=0, blocks=self.product_blocks(data.dataset), beta=self.beta,
                             anneal_steps=int(self.anneal_fraction * steps))
        elif model_name == "tilted_vae":
            arguments.update(tau=self.tau, beta=self.beta)
        return arguments

    def likelihood_arguments(self) -> Dict[str, Any]:
        if self.likelihood == "gaussian":
            return dict(likelihood="gaussian", likelihood_args=dict(scale=self.observation_scale))
        return dict(likelihood="bernoulli")

    def product_blocks(self, dataset) -> str:
        if self.blocks != "auto":
            return self.blocks
        if not has_topologies(dataset):
            raise ValueError(f"protocol {self.name}: its dataset declares no factor topologies, so blocks=auto has "
                             "nothing to build from; set the blocks, e.g. --set blocks='points(3), segment, loop'")
        return auto_blocks(dataset)

    def evaluation_images(self, data: ProtocolData):
        """The single images the ELBO and the pictures are computed on: the training set (a protocol whose
        training points are not single images, e.g. pairs, returns those it has)."""
        return data.train

    def evaluate(self, model, data: ProtocolData, context: RunContext) -> Dict[str, Any]:
        images = self.evaluation_images(data)
        metrics = disentanglement_metrics(data.dataset, representation_function(model),
                                          np.random.default_rng(context.seed + 1), num_train=self.metric_train,
                                          num_test=self.metric_test,
                                          num_votes_train=self.votes_train or self.metric_train,
                                          num_votes_eval=self.votes_test or self.metric_test, progress=context.progress)
        metrics.update(elbo=evidence_lower_bound(model, images, seed=context.seed),
                       train_seconds=context.result.train_seconds, data_seconds=data.data_seconds,
                       steps=context.result.steps)
        plot_reconstructions(model, images, context.run.file("reconstructions.png"))
        plot_latent_traversals(model, images, context.run.file("traversals.png"))
        plot_kl_per_dimension(model, images, context.run.file("kl_per_dimension.png"))
        if has_topologies(data.dataset):
            metrics.update(topology_evaluation(model, data.dataset, self.topology_points, context.seed, context.run))
        return metrics


@PROTOCOLS.register("dsprites")
class DSprites(ImageBenchmark):
    """dSprites (Matthey et al. 2017) from the real .npz: 737,280 binary 64×64 sprites, five factors."""

    name = "dsprites"
    default_model = "beta_tcvae"
    settings = (Setting("data_path", None, "file or folder of the real data (else $PYRODISENT_DATA)", str,
                        optional=True),) + IMAGE_SETTINGS

    def dataset(self, seed: int):
        return DATASETS.build("dsprites", path=self.data_path)


@PROTOCOLS.register("dsprites_procedural")
class ProceduralDSprites(ImageBenchmark):
    """Procedural dSprites: sprites drawn on the fly with dSprites' factors (no download; the full or a small grid)."""

    name = "dsprites_procedural"
    default_model = "beta_tcvae"
    settings = (Setting("grid", "full", "procedural dSprites grid", choices=("full", "small")),) + IMAGE_SETTINGS

    def dataset(self, seed: int):
        return DATASETS.build("dsprites_procedural", grid=self.grid, seed=seed)


@PROTOCOLS.register("shapes3d")
class Shapes3D(ImageBenchmark):
    """3dshapes (Burgess & Kim 2018) from the real 3dshapes.h5: 480,000 RGB 64×64 scenes, six factors."""

    name = "shapes3d"
    default_model = "beta_tcvae"
    settings = (Setting("data_path", None, "file or folder of the real data (else $PYRODISENT_DATA)", str,
                        optional=True),
                Setting("factor_sizes", list(FACTOR_SIZES), "the file's factor grid: floor, wall, object hue, scale, "
                        "shape, orientation (the real one; others for small files of the same layout)", positive_int,
                        many=True),
                Setting("train_store", "auto", "how the training set is held: memory (float32, 49 kB an image), "
                        "stream (read from the file per minibatch as uint8, converted on the model's device; "
                        "train_size equal to the file's size streams every image once), auto (stream when the "
                        "float32 copy would exceed 1 GiB, i.e. above 21,845 images)",
                        choices=("auto", "memory", "stream"))) + IMAGE_SETTINGS

    def dataset(self, seed: int):
        return DATASETS.build("shapes3d", path=self.data_path, factor_sizes=self.factor_sizes)

    def training_set(self, dataset, rng: np.random.Generator):
        store = self.train_store
        if store == "auto":
            float32_bytes = self.train_size * 4 * math.prod(dataset.observation_shape)
            store = "stream" if float32_bytes > STREAM_ABOVE_BYTES else "memory"
        if store == "memory":
            train = dataset.training_set(self.train_size, rng)
        else:
            whole_file = self.train_size == len(dataset)
            train = dataset.streaming_training_set(None if whole_file else self.train_size, rng)
        return train, dict(dataset.config(), train_store=store)
