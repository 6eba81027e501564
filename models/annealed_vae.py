"""AnnealedVAE: controlled capacity increase (Burgess et al., "Understanding disentangling in β-VAE", 2018).

Objective (Eq. 8):   E_q[log p(x|z)] − γ · | KL(q(z|x) ‖ p(z)) − C |,   C raised linearly from 0 to C_max.

The prior is the VAE's N(0, I); only the training objective differs. The KL enters through the capacity
penalty alone: the training objective drops the ELBO's KL term (evaluation uses the plain ELBO).
As in disentanglement_lib, the KL is the minibatch mean per data point; the penalty is scaled by N to
match the summed loss.
"""
from __future__ import annotations

import torch

from pyrodisent.infer import PenalizedELBO
from pyrodisent.infer.traces import data_plate_size, latent_kl_per_point
from pyrodisent.model import LATENT_SITE, LatentVariableModel
from pyrodisent.registry import MODELS


@MODELS.register("annealed_vae")
class AnnealedVAE(LatentVariableModel):
    """AnnealedVAE: γ·|KL − C| with the capacity C raised linearly from 0 to C_max.

    :param gamma: γ. :param max_capacity: C_max (nats). :param capacity_steps: steps to reach C_max.
    """

    def __init__(self, *args, gamma: float = 1000.0, max_capacity: float = 25.0, capacity_steps: int = 100_000,
                 **kwargs):
        super().__init__(*args, **kwargs)
        if gamma <= 0 or max_capacity < 0 or capacity_steps < 1:
            raise ValueError("AnnealedVAE needs gamma > 0, max_capacity ≥ 0 and capacity_steps ≥ 1")
        self.gamma, self.max_capacity, self.capacity_steps = float(gamma), float(max_capacity), int(capacity_steps)

    @property
    def capacity(self) -> float:
        """C at the current training step."""
        return self.max_capacity * min(1.0, self._step / self.capacity_steps)

    def capacity_penalty(self, model_trace, guide_trace) -> torch.Tensor:
        kl = latent_kl_per_point(model_trace, guide_trace)
        _, num_data = data_plate_size(model_trace.nodes[LATENT_SITE])
        return num_data * self.gamma * (kl.mean() - self.capacity).abs()

    def training_objective(self, num_particles: int = 1):
        return PenalizedELBO(self.capacity_penalty, num_particles, include_kl=False)
