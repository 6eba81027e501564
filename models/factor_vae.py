"""FactorVAE: disentangling by factorising (Kim & Mnih, ICML 2018).

Objective (Eq. 2):  ELBO − γ · TC(q(z)),  TC = KL(q(z) ‖ Π_j q(z_j)) ≈ E_q(z)[log D(z) / (1 − D(z))],

where the discriminator D tells samples of q(z) from samples of Π_j q(z_j). D is trained by its own
Adam (betas 0.5, 0.9), one step after every SVI step (Alg. 2): with the cross-entropy of telling
codes z ~ q(z | x) of the minibatch B (class 0) from codes of a *second* minibatch B' — x' ~ p_data drawn
independently of B — whose dimensions are each permuted across B' (class 1). It is an auxiliary
objective of the trainer (:meth:`auxiliary_objectives`), which leaves D's parameters out of the VAE's
optimizer and checkpoints and resumes D's optimizer. The VAE sees D's logit difference as the
penalty. The prior is N(0, I).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch.nn.functional import cross_entropy

from pyrodisent.training.auxiliary import AuxiliaryObjective
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
    """FactorVAE: the ELBO minus γ times a discriminator's estimate of the total correlation of q(z).

    :param gamma: γ, the TC weight. :param discriminator_hidden: widths of D's hidden layers
    (the study: five of 1000). :param discriminator_lr: Adam learning rate of D (betas 0.5, 0.9)."""

    def __init__(self, *args, gamma: float = 10.0, discriminator_hidden: Sequence[int] = (1000,) * 5,
                 discriminator_lr: float = 1e-4, **kwargs):
        super().__init__(*args, **kwargs)
        if discriminator_lr <= 0:
            raise ValueError(f"discriminator_lr must be positive, got {discriminator_lr}")
        self.gamma = float(gamma)
        self.discriminator_lr = float(discriminator_lr)
        self.discriminator = build_network("mlp", (self.latent_dim,), (2,), hidden=tuple(discriminator_hidden),
                                           activation_name="leaky_relu")

    def total_correlation_penalty(self, model_trace, guide_trace) -> torch.Tensor:
        z = guide_trace.nodes[LATENT_SITE]["value"]
        logits = self.discriminator(z)
        _, num_data = data_plate_size(model_trace.nodes[LATENT_SITE])
        return num_data * self.gamma * (logits[:, 0] - logits[:, 1]).mean()

    def training_objective(self, num_particles: int = 1):
        return PenalizedELBO(self.total_correlation_penalty, num_particles)

    def auxiliary_objectives(self):
        return [AuxiliaryObjective("discriminator", self.discriminator.parameters(), self.discriminator_loss,
                                   second_batch=True, lr=self.discriminator_lr, betas=(0.5, 0.9))]

    def discriminator_loss(self, batch, second_batch) -> torch.Tensor:
        """Alg. 2's loss of D: −½ (mean_B log D(z) + mean_B' log(1 − D(perm(z')))), z ~ q(z|x) for x in B,
        z' ~ q(z|x') for x' in the independent second minibatch B', each dimension of z' permuted across B'.
        z is drawn afresh from the encoder as the VAE's step left it (Alg. 2 reuses the VAE step's draw)."""
        with torch.no_grad():
            z = self.posterior(batch).sample()
            permuted = permute_dimensions(self.posterior(second_batch).sample())
        logits = self.discriminator(torch.cat([z, permuted]))
        real, fake = logits[: len(z)], logits[len(z):]
        return 0.5 * (cross_entropy(real, real.new_zeros(len(real), dtype=torch.long))
                      + cross_entropy(fake, fake.new_ones(len(fake), dtype=torch.long)))
