"""Sparse gates: relaxed-Bernoulli (Gumbel-sigmoid) masks with a Beta sparsity prior on their probabilities.

The machinery sVAE+ (Lopez et al., CLeaR 2023, Eq. 4–6) uses for the latents an action shifts, shared by every
model that gates latent dimensions (``svae_plus`` per action, ``latent_shift`` per pair)::

    π_k  ~ Beta(1, K)                                   sparsity prior (K > 1: most gates closed)
    γ_k  ~ RelaxedBernoulliStraightThrough(τ, π_k)      the gate: hard 0/1 forward, relaxed gradients

Guide: q(π_k) = Beta(c σ(ℓ_k), c (1 − σ(ℓ_k))) with mean σ(ℓ_k) and concentration c, and q(γ_k | π_k) the
model's own conditional, so the ELBO's gate terms reduce to KL(q(π) ‖ Beta(1, K)); the posterior
probability that gate k is open is q(γ_k = 1) = E_q[π_k] = σ(ℓ_k). τ may be annealed linearly
(:func:`annealed_temperature`).
"""
from __future__ import annotations

from typing import Optional

import pyro.distributions as dist
import torch

#: σ(ℓ) is kept inside [ε, 1 − ε] so that the Beta posterior's parameters stay positive
PROBABILITY_EPSILON = 1e-4


def check_gate_settings(sparsity: float, temperature: float, final_temperature: Optional[float] = None) -> None:
    """Raise ValueError naming the bad value: K of Beta(1, K) and the temperatures must be positive."""
    if sparsity <= 0:
        raise ValueError(f"sparsity K must be positive (K > 1 for a sparse prior), got {sparsity}")
    if temperature <= 0 or (final_temperature is not None and final_temperature <= 0):
        raise ValueError(f"temperatures must be positive, got temperature={temperature}, "
                         f"final_temperature={final_temperature}")


def annealed_temperature(initial: float, final: Optional[float], anneal_steps: int, step: int) -> float:
    """τ at ``step``: linear from ``initial`` to ``final`` over ``anneal_steps`` (``initial`` throughout
    without a final temperature or without annealing steps)."""
    if final is None or anneal_steps <= 0:
        return initial
    progress = min(1.0, step / anneal_steps)
    return initial + progress * (final - initial)


def sparsity_prior(like: torch.Tensor, sparsity: float) -> dist.Beta:
    """p(π) = Beta(1, K), element-wise with the shape of ``like`` (no event dimensions declared)."""
    ones = torch.ones_like(like)
    return dist.Beta(ones, sparsity * ones)


def gate_probability_posterior(logits: torch.Tensor, log_concentration: torch.Tensor) -> dist.Beta:
    """q(π) = Beta(c σ(ℓ), c (1 − σ(ℓ))), c = exp(log_concentration), element-wise."""
    mean = torch.sigmoid(logits).clamp(PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON)
    concentration = log_concentration.exp()
    return dist.Beta(concentration * mean, concentration * (1 - mean))


def relaxed_gate(probability: torch.Tensor, temperature: float) -> dist.RelaxedBernoulliStraightThrough:
    """γ | π ~ RelaxedBernoulliStraightThrough(τ, π): hard 0/1 samples on the forward pass, gradients
    through the Gumbel-sigmoid relaxation (element-wise; no event dimensions declared)."""
    tau = torch.tensor(float(temperature), device=probability.device, dtype=probability.dtype)
    return dist.RelaxedBernoulliStraightThrough(tau, probs=probability)


def unscored_relaxed_gate(probability: torch.Tensor, temperature: float) -> dist.MaskedDistribution:
    """:func:`relaxed_gate` with its log-density masked out, for a gate sampled in both model and guide from
    the same conditional γ | π (so log p(γ | π) − log q(γ | π) = 0 exactly): the site still draws the gate
    (hard forward, relaxed gradients), but adds nothing to any bound — which also spares the bounds the
    relaxed density at hard 0/1 values, ill-defined once a sample has been sliced or repeated (evaluation's
    importance weights)."""
    return relaxed_gate(probability, temperature).mask(False)
