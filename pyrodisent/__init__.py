"""pyrodisent: disentangled and identifiable representation learning in Pyro.

Write a generative hypothesis — a prior over latents — as a Pyro program by subclassing
:class:`LatentVariableModel`; train it with :class:`Trainer`; score it with :mod:`pyrodisent.metrics`;
diagnose its posterior with :mod:`pyrodisent.evaluation.diagnostics`. Seed where the model is built —
``set_seed(seed)`` before constructing it, or ``MODELS.build(name, seed=seed, ...)`` — since its
networks draw their initial weights then; ``Trainer(seed=...)`` seeds the randomness of training.
"""
import os as _os

# Idle OpenMP threads sleep instead of spinning (read when torch loads, so set before it is imported; a
# user's own setting wins): evaluation threads then share the cores gracefully with anything else
# running, where spinning threads slowed large batched passes more than tenfold (README, Results).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pyrodisent.data import ArrayDataset, Batch, GroundTruthData
from pyrodisent.training.devices import set_seed
from pyrodisent.model import LatentVariableModel
from pyrodisent.registry import DATASETS, LIKELIHOODS, MODELS, NETWORKS
from pyrodisent.training.trainer import Trainer, TrainingResult

__version__ = "0.1.0"

__all__ = ["ArrayDataset", "Batch", "GroundTruthData", "LatentVariableModel", "Trainer", "TrainingResult",
           "MODELS", "NETWORKS", "LIKELIHOODS", "DATASETS", "set_seed", "__version__"]
