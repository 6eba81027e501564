"""Latent shift: a sparse, per-pair transformation in latent space that turns z1 into z2 (seed idea of issue #16;
the pair analogue of sVAE+'s mask, Lopez et al., CLeaR 2023).

For a pair (x1, x2) that differs in a few factors, both observations have the VAE's story, and a
limited-capacity map f_ψ turns z1 into a code that must explain x2 as well::

    z1, z2          ~ N(0, I)                                   both ELBOs (sites "z", "z_pair", "x", "x_pair")
    π_k             ~ Beta(1, K)                                sparsity prior on the gate probabilities
    γ_k | π_k       ~ RelaxedBernoulliStraightThrough(τ, π_k)   the gates: which dimensions the pair changes
    f_ψ(z1, z2)     = z1 + γ ⊙ s_ψ(z1, z2 − z1)                 a sparse shift; s_ψ a small network
    x2              ~ p(x | decoder(f_ψ(z1, z2)))^γ_w           the transformation term, weight γ_w

Objective: ELBO(x1) + ELBO(x2) + γ_w · E log p(x2 | decoder(f_ψ(z1, ·))) − KL(q(π) ‖ Beta(1, K)). Only gated
dimensions may move z1 towards x2, so reconstructing x2 through f_ψ pushes the pair's shared factors onto
dimensions the pair agrees on, and the gates onto the dimensions of the factors that changed.

Guide: the encoder's q(z | x) for both observations (β-weighted KL); per pair and dimension
q(π_k | x1, x2) = Beta(c_k σ(ℓ_k), c_k (1 − σ(ℓ_k))) with ℓ = g(|μ1 − μ2|, log σ1, log σ2) from a small gate
network and a learned concentration c_k, and q(γ | π) the model's conditional — the gate machinery of
sVAE+ (:mod:`pyrodisent.distributions.gates`), so the gate terms reduce to KL(q(π) ‖ Beta(1, K)) (the
cancelling log p(γ | π) − log q(γ | π) is left out: ``unscored_relaxed_gate``). The
posterior probability that a pair changes dimension k is σ(ℓ_k); :meth:`changed_dimensions` thresholds it at ½.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import pyro
import torch
from pyro import poutine
from torch import nn

from pyrodisent.data.batch import Batch
from pyrodisent.distributions.gates import (annealed_temperature, check_gate_settings, gate_probability_posterior,
                                            sparsity_prior, unscored_relaxed_gate)
from pyrodisent.nn.mlp import MLP
from pyrodisent.paired_model import PairedLatentVariableModel
from pyrodisent.registry import MODELS

GATE_PROBABILITY_SITE = "gate_probability"
GATE_SITE = "gate"
TRANSFORMED_OBSERVATION_SITE = "x_pair_transformed"  # x2 scored through decoder(f_ψ(z1, ·))


@MODELS.register("latent_shift")
class LatentShiftVAE(PairedLatentVariableModel):
    """Both ELBOs plus γ_w · log p(x2 | decoder(z1 + γ ⊙ s_ψ)) with per-pair Gumbel-sigmoid gates γ.

    :param transform_weight: γ_w, the weight of the transformation term.
    :param sparsity: K of the Beta(1, K) prior on the gate probabilities (> 1: sparse).
    :param temperature, final_temperature, temperature_anneal_steps: τ of the Gumbel-sigmoid, annealed linearly.
    :param gate_hidden: hidden widths of the gate network g (input: |μ1 − μ2|, log σ1, log σ2).
    :param shift_hidden: hidden widths of the shift network s_ψ (input: z1, z2 − z1).
    :param initial_concentration: c of q(π) at initialisation.
    :param beta: weight of the KL terms of z1 and z2, as in the β-VAE (default 1).
    """

    def __init__(self, *args, transform_weight: float = 1.0, sparsity: float = 10.0, temperature: float = 1.0,
                 final_temperature: Optional[float] = None, temperature_anneal_steps: int = 0,
                 gate_hidden: Sequence[int] = (64,), shift_hidden: Sequence[int] = (64,),
                 initial_concentration: float = 10.0, beta: float = 1.0, **kwargs):
        super().__init__(*args, beta=beta, **kwargs)
        check_gate_settings(sparsity, temperature, final_temperature)
        if transform_weight < 0:
            raise ValueError(f"transform_weight must be ≥ 0 (the weight of log p(x2 | f(z1))), got {transform_weight}")
        self.transform_weight = float(transform_weight)
        self.sparsity = float(sparsity)
        self.initial_temperature = float(temperature)
        self.final_temperature = final_temperature
        self.temperature_anneal_steps = int(temperature_anneal_steps)
        k = self.latent_dim
        self.gate_network = MLP((3 * k,), (k,), hidden=tuple(gate_hidden))
        self.shift_network = MLP((2 * k,), (k,), hidden=tuple(shift_hidden))
        self.log_concentration = nn.Parameter(torch.full((k,), math.log(initial_concentration)))

    @property
    def temperature(self) -> float:
        return annealed_temperature(self.initial_temperature, self.final_temperature, self.temperature_anneal_steps,
                                    self._step)

    def gate_logits(self, first, second) -> torch.Tensor:
        """ℓ = g(|μ1 − μ2|, log σ1, log σ2), (B, K): the logit of the posterior probability of each gate."""
        (loc_1, scale_1), (loc_2, scale_2) = first, second
        return self.gate_network(torch.cat([(loc_1 - loc_2).abs(), scale_1.log(), scale_2.log()], -1))

    def shift(self, z_first: torch.Tensor, z_second: torch.Tensor) -> torch.Tensor:
        """s_ψ(z1, z2 − z1), (B, K)."""
        return self.shift_network(torch.cat([z_first, z_second - z_first], -1))

    def pair_model_terms(self, batch: Batch, z_first: torch.Tensor, z_second: torch.Tensor) -> None:
        probability = pyro.sample(GATE_PROBABILITY_SITE, sparsity_prior(z_first, self.sparsity).to_event(1))
        gate = pyro.sample(GATE_SITE, unscored_relaxed_gate(probability, self.temperature).to_event(1))
        transformed = z_first + gate * self.shift(z_first, z_second)  # f_ψ(z1, ·)
        second = self.second_batch(batch)
        with poutine.scale(scale=self.transform_weight):
            pyro.sample(TRANSFORMED_OBSERVATION_SITE, self.observation_distribution(transformed, second),
                        obs=second.x)

    def pair_guide_terms(self, batch: Batch, first, second) -> None:
        logits = self.gate_logits(first, second)
        posterior = gate_probability_posterior(logits, self.log_concentration.expand_as(logits))
        probability = pyro.sample(GATE_PROBABILITY_SITE, posterior.to_event(1))
        pyro.sample(GATE_SITE, unscored_relaxed_gate(probability, self.temperature).to_event(1))

    @torch.no_grad()
    def gate_probabilities(self, batch: Batch) -> torch.Tensor:
        """q(γ_k = 1 | x1, x2) = σ(ℓ_k), (B, K)."""
        return torch.sigmoid(self.gate_logits(*self.encoded_pair(batch)))

    @torch.no_grad()
    def changed_dimensions(self, batch: Batch) -> torch.Tensor:
        """The gated dimensions: q(γ_k = 1 | x1, x2) > ½, (B, K) booleans."""
        return self.gate_probabilities(batch) > 0.5
