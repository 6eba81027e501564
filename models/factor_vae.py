"""FactorVAE: disentangling by factorising (Kim & Mnih, ICML 2018).

Objective (Eq. 2):  ELBO − γ · TC(q(z)),  TC = KL(q(z) ‖ Π_j q(z_j)) ≈ E_q(z)[log D(z) / (1 − D(z))],

where the discriminator D tells samples of q(z) from samples of Π_j q(z_j) — the latter made by
permuting each dimension across the minibatch (Alg. 2). D is trained alongside SVI with its own
optimizer after every step (``after_step``), with the cross-entropy of Alg. 1; the VAE sees its logit
difference as the penalty. D's parameters are not trained by the VAE loss. The prior is N(0, I).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch.nn.functional import cross_entropy

from pyrodisent.infer import PenalizedELBO
from pyrodisent.infer.traces import data_plate_size
from pyrodisent.model import LATENT_SITE, LatentVariableModel
from pyrodisent.nn import build_network
from pyrodisent.registry import MODELS


def permute_dimensions(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each column of z (B, K) shuffled independently across the batch: samples of Π_j q(z_j)."""
    order = torch.argsort(torch.rand(z.shape, generator=generator, device=z.device), dim=0)
    return torch.gather(z, 0, order)


@MODELS.register("factor_vae")
class FactorVAE(LatentVariableModel):
    """:param gamma: γ, the TC weight. :param discriminator_hidden: widths of D's hidden layers
    (the study: five of 1000). :param discriminator_lr: Adam learning rate of D (betas 0.5, 0.9)."""

    def __init__(self, *args, gamma: float = 10.0, discriminator_hidden: Sequence[int] = (1000,) * 5,
                 discriminator_lr: float = 1e-4, **kwargs):
        super().__init__(*args, **kwargs)
        self.gamma = float(gamma)
        self.discriminator = build_network("mlp", (self.latent_dim,), (2,), hidden=tuple(discriminator_hidden),
                                           activation_name="leaky_relu")
        self.discriminator_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=discriminator_lr,
                                                        betas=(0.5, 0.9))

    def parameter_groups(self, lr: float) -> list:
        own = {id(p) for p in self.discriminator.parameters()}
        return [{"params": [p for p in self.parameters() if id(p) not in own], "lr": lr}]

    def total_correlation_penalty(self, model_trace, guide_trace) -> torch.Tensor:
        z = guide_trace.nodes[LATENT_SITE]["value"]
        logits = self.discriminator(z)
        _, num_data = data_plate_size(model_trace.nodes[LATENT_SITE])
        return num_data * self.gamma * (logits[:, 0] - logits[:, 1]).mean()

    def training_objective(self, num_particles: int = 1):
        return PenalizedELBO(self.total_correlation_penalty, num_particles)

    def after_step(self, batch) -> None:
        """One discriminator step: class 0 for z ~ q(z), class 1 for dimension-permuted codes."""
        with torch.no_grad():
            z = self.posterior(batch).sample()
            permuted = permute_dimensions(z)
        logits = self.discriminator(torch.cat([z, permuted]))
        labels = torch.cat([torch.zeros(len(z)), torch.ones(len(z))]).long().to(z.device)
        loss = cross_entropy(logits, labels)
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.discriminator_optimizer.step()

    # the discriminator's optimizer state travels with the model's state_dict (exact resume)
    def get_extra_state(self):
        return {"discriminator_optimizer": self.discriminator_optimizer.state_dict()}

    def set_extra_state(self, state):
        self.discriminator_optimizer.load_state_dict(state["discriminator_optimizer"])
