"""Auxiliary objectives: networks a model trains beside SVI, each with its own loss and optimizer.

Adversarial and auxiliary networks (FactorVAE's discriminator, Kim & Mnih 2018, Alg. 2) are not part
of the ELBO: they are fitted by a loss of their own, one optimizer step after each SVI step. A model
declares them in :meth:`~pyrodisent.model.LatentVariableModel.auxiliary_objectives`; the trainer
leaves their parameters out of the SVI optimizer and builds, steps, checkpoints and resumes an Adam
for each.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Tuple

import torch


@dataclass
class AuxiliaryObjective:
    """One auxiliary network's training: its parameters, its loss and its Adam settings.

    :param name: names the optimizer's state in checkpoints (unique among a model's objectives).
    :param parameters: the parameters this loss trains (and the SVI optimizer does not).
    :param loss: ``loss(batch)`` → scalar tensor; with ``second_batch``, ``loss(batch, second_batch)``.
    :param second_batch: the loss also needs a second minibatch drawn from the data independently
        of ``batch`` (x' ~ p_data, as the permuted codes of FactorVAE's Alg. 2).
    :param lr, betas, weight_decay: the Adam settings.
    """

    name: str
    parameters: Sequence[torch.nn.Parameter]
    loss: Callable[..., torch.Tensor]
    second_batch: bool = False
    lr: float = 1e-4
    betas: Tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0

    def __post_init__(self):
        self.parameters = list(self.parameters)
        if not self.parameters:
            raise ValueError(f"auxiliary objective {self.name!r} has no parameters to train")
        if self.lr <= 0:
            raise ValueError(f"auxiliary objective {self.name!r}: lr must be positive, got {self.lr}")
