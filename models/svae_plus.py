"""sVAE+: sparse mechanism shift (Lopez et al., "Learning causal representations of single cells via
sparse mechanism shift modeling", CLeaR 2023), and its mean-shift baseline.

Generative model (paper §4, Eq. 4–6), for cells n with action (perturbation) a_n:

    π_{a,k}  ~ Beta(1, K)                               sparsity prior, K > 1 (K = 1 is flat)
    γ_{a,k}  ~ RelaxedBernoulli(τ, π_{a,k})              which latents action a shifts (Gumbel-sigmoid)
    μ_{a,k}  ~ N(0, σ_μ²)                               the size of each shift
    z_n      ~ N(μ_{a_n} ⊙ γ_{a_n}, I)                   sparse mechanism shift
    x_n      ~ p(x | decoder(z_n))                       e.g. negative binomial with library size

Guide: q(π_a,k) = Beta(c σ(ℓ_a,k), c (1 − σ(ℓ_a,k))) with mean σ(ℓ) and concentration c;
q(γ_a,k | π_a,k) = RelaxedBernoulliStraightThrough(τ, π_a,k) — hard 0/1 samples on the forward pass,
gradients through the relaxation — the same conditional as the model's (the gate machinery of
:mod:`pyrodisent.distributions.gates`, shared with ``latent_shift``), so the ELBO's mask terms reduce
to KL(q(π) ‖ Beta(1, K)): the Beta prior acts on the mask probabilities, as in the paper. ℓ starts at 5
(every mask on, as the official code); q(μ_a,k) = N(m, s²); q(z | x) amortised and blind to the action
(the encoder sees only log(1 + x) for counts). The posterior probability that action a moves latent k
is q(γ_a,k = 1) = E_q[π_a,k] = σ(ℓ_a,k).

``MeanShiftVAE`` is the paper's iVAE-style baseline: z | a ~ N(μ_a, I), no mask.
"""
from __future__ import annotations

import math
from typing import Dict

import pyro
import pyro.distributions as dist
import torch
from torch import nn
from torch.nn.functional import softplus

from pyrodisent.data.batch import Batch
from pyrodisent.distributions.gates import (annealed_temperature, check_gate_settings, gate_probability_posterior,
                                            relaxed_gate, sparsity_prior)
from pyrodisent.model import LatentVariableModel
from pyrodisent.registry import MODELS

INITIAL_SHIFT_RAW_SCALE = -3.0  # q(μ_a,k) starts at sd softplus(−3) ≈ 0.05


@MODELS.register("mean_shift_vae")
class MeanShiftVAE(LatentVariableModel):
    """z | a ~ N(μ_a, I) with a Gaussian prior N(0, σ_μ²) on every μ_a,k and a Gaussian guide.

    :param num_actions: A, the number of actions (training and held-out); the batch carries
        ``batch["action"]`` (long, shape (B,)).
    :param shift_prior_scale: σ_μ.
    :param global_lr_factor: learning-rate multiplier for the per-action variational parameters
        (:meth:`global_parameters`), which get one gradient per step (the networks get one per cell).
    """

    batch_needs = frozenset({"action"})  # what each batch must carry (pyrodisent.protocols.base)

    def __init__(self, *args, num_actions: int, shift_prior_scale: float = 10.0, global_lr_factor: float = 10.0,
                 **kwargs):
        super().__init__(*args, global_lr_factor=global_lr_factor, **kwargs)
        if num_actions < 1:
            raise ValueError(f"num_actions must be ≥ 1, got {num_actions}")
        self.num_actions = int(num_actions)
        self.shift_prior_scale = float(shift_prior_scale)
        shape = (self.num_actions, self.latent_dim)
        self.shift_loc = nn.Parameter(0.1 * torch.randn(shape))
        self.shift_raw_scale = nn.Parameter(torch.full(shape, INITIAL_SHIFT_RAW_SCALE))

    def global_parameters(self) -> list:
        """The variational parameters of the per-action global sites."""
        return [self.shift_loc, self.shift_raw_scale]

    @torch.no_grad()
    def reset_actions(self, actions: torch.Tensor) -> None:
        """Put the variational parameters of ``actions`` (long, (A',)) back at a fresh start before they are
        fitted on new cells (the paper's transfer to held-out actions): q(μ_a) = N(0, softplus(−3)²).

        Unseen in training, their posteriors were only pulled towards the prior (sVAE+'s masks switched off
        by the sparsity prior), which is no place to start a fit from; the official code re-initialises them
        likewise.
        """
        self.shift_loc[actions] = 0.0
        self.shift_raw_scale[actions] = INITIAL_SHIFT_RAW_SCALE

    def global_site_dims(self) -> Dict[str, list]:
        return {name: ["action", "latent"] for name in ("shift", "mask", "mask_probability")}

    def model_globals(self, batch: Batch) -> Dict[str, torch.Tensor]:
        zeros = self.shift_loc.new_zeros(self.num_actions, self.latent_dim)
        shift = pyro.sample("shift", dist.Normal(zeros, self.shift_prior_scale).to_event(2))
        return {"shift": shift}

    def guide_globals(self, batch: Batch) -> Dict[str, torch.Tensor]:
        shift = pyro.sample("shift", dist.Normal(self.shift_loc, softplus(self.shift_raw_scale)).to_event(2))
        return {"shift": shift}

    def prior(self, batch: Batch, shift: torch.Tensor) -> dist.Distribution:
        loc = shift[batch["action"]]
        return dist.Normal(loc, torch.ones_like(loc)).to_event(1)

    def global_medians(self) -> Dict[str, torch.Tensor]:
        return {"shift": self.shift_loc.detach()}

    def predicted_targets(self) -> torch.Tensor:
        """(A, K) booleans: the latents each action moves. Without a mask, |μ| above one prior std of z."""
        return self.shift_loc.detach().abs() > 1.0


@MODELS.register("svae_plus")
class SparseShiftVAE(MeanShiftVAE):
    """sVAE+: the mean shift of each action acts only on the latents its mask γ_a selects.

    :param sparsity: K of the Beta(1, K) prior on mask probabilities (> 1 for sparsity).
    :param temperature: τ of the Gumbel-sigmoid relaxation; with ``final_temperature`` it is annealed
        linearly from ``temperature`` to ``final_temperature`` over ``temperature_anneal_steps``.
    :param initial_mask_logit: ℓ at initialisation (5: every mask on, as the official code).
    :param initial_concentration: c of q(π) at initialisation.
    """

    def __init__(self, *args, sparsity: float = 10.0, temperature: float = 1.0, final_temperature: float | None = None,
                 temperature_anneal_steps: int = 0, initial_mask_logit: float = 5.0, initial_concentration: float = 10.0,
                 **kwargs):
        super().__init__(*args, **kwargs)
        check_gate_settings(sparsity, temperature, final_temperature)
        self.sparsity = float(sparsity)
        self.initial_temperature = float(temperature)
        self.final_temperature = final_temperature
        self.temperature_anneal_steps = int(temperature_anneal_steps)
        shape = (self.num_actions, self.latent_dim)
        self.initial_mask_logit = float(initial_mask_logit)
        self.initial_concentration = float(initial_concentration)
        self.mask_logits = nn.Parameter(torch.full(shape, self.initial_mask_logit))
        self.log_concentration = nn.Parameter(torch.full(shape, math.log(self.initial_concentration)))

    def global_parameters(self) -> list:
        return super().global_parameters() + [self.mask_logits, self.log_concentration]

    @torch.no_grad()
    def reset_actions(self, actions: torch.Tensor) -> None:
        """As :meth:`MeanShiftVAE.reset_actions`, and every mask of ``actions`` back on (ℓ and c at their
        initial values), as the official code does before fitting held-out actions."""
        super().reset_actions(actions)
        self.mask_logits[actions] = self.initial_mask_logit
        self.log_concentration[actions] = math.log(self.initial_concentration)

    @property
    def temperature(self) -> float:
        return annealed_temperature(self.initial_temperature, self.final_temperature, self.temperature_anneal_steps,
                                    self._step)

    def model_globals(self, batch: Batch) -> Dict[str, torch.Tensor]:
        probability = pyro.sample("mask_probability", sparsity_prior(self.mask_logits, self.sparsity).to_event(2))
        mask = pyro.sample("mask", relaxed_gate(probability, self.temperature).to_event(2))
        return {**super().model_globals(batch), "mask": mask}

    def mask_probability_posterior(self) -> dist.Beta:
        """q(π) = Beta(c σ(ℓ), c (1 − σ(ℓ)))."""
        return gate_probability_posterior(self.mask_logits, self.log_concentration)

    def guide_globals(self, batch: Batch) -> Dict[str, torch.Tensor]:
        probability = pyro.sample("mask_probability", self.mask_probability_posterior().to_event(2))
        mask = pyro.sample("mask", relaxed_gate(probability, self.temperature).to_event(2))
        return {**super().guide_globals(batch), "mask": mask}

    def prior(self, batch: Batch, shift: torch.Tensor, mask: torch.Tensor) -> dist.Distribution:
        loc = (shift * mask)[batch["action"]]  # Eq. 5: z ~ N(μ_a ⊙ γ_a, I)
        return dist.Normal(loc, torch.ones_like(loc)).to_event(1)

    def mask_probabilities(self) -> torch.Tensor:
        """q(γ_a,k = 1) = σ(ℓ_a,k), shape (A, K)."""
        return torch.sigmoid(self.mask_logits.detach())

    def global_medians(self) -> Dict[str, torch.Tensor]:
        return {**super().global_medians(), "mask": (self.mask_probabilities() > 0.5).float(),
                "mask_probability": self.mask_probabilities()}

    def predicted_targets(self) -> torch.Tensor:
        return self.mask_probabilities() > 0.5


