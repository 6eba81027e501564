"""pyrodisent: disentangled and identifiable representation learning in Pyro.

Write a generative hypothesis — a prior over latents — as a Pyro program by subclassing
:class:`LatentVariableModel`; train it with :class:`Trainer`; score it with :mod:`pyrodisent.metrics`;
diagnose its posterior with :mod:`pyrodisent.diagnostics`.
"""
from pyrodisent.data import ArrayDataset, Batch, GroundTruthData
from pyrodisent.model import LatentVariableModel
from pyrodisent.registry import DATASETS, LIKELIHOODS, MODELS, NETWORKS
from pyrodisent.train import Trainer, TrainingResult

__version__ = "0.1.0"

__all__ = ["ArrayDataset", "Batch", "GroundTruthData", "LatentVariableModel", "Trainer", "TrainingResult",
           "MODELS", "NETWORKS", "LIKELIHOODS", "DATASETS", "__version__"]
