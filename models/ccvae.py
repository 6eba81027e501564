"""CCVAE: capturing label characteristics in VAEs (Joy, Schmon, Torr, Siddharth & Rainforth, ICLR 2021).

Generative model (Sec. 3), one scalar latent per label ("core", z_c) and style latents z_s::

    y_i ~ p(y_i) (uniform over the C_i classes)      z_c,i | y_i ~ N(m_{i,y_i}, s_{i,y_i}²)
    z_s ~ N(0, I)                                    x ~ p(x | decoder([z_c, z_s]))

Inference: q(z | x) a diagonal Gaussian from the encoder; a classifier q(y | z_c) = Π_i q(y_i | z_c,i), each a
softmax of C_i logits w_{i,c} z_c,i + b_{i,c} (the official code's diagonal layer, one input per label).

Supervised bound (Eq. 4), with q(y | x) = E_q(z|x)[q(y | z_c)] estimated from S draws of z::

    log p(x, y) ≥ E_q(z|x)[ q(y|z_c)/q(y|x) · ( log p(x|z) − KL(q(z|x) ‖ p(z|y)) − log q(y|z_c) ) ]
                  + log p(y) + log q(y|x)

as the official code computes it: a single reparameterised z for the expectation, the analytic KL between the
diagonal Gaussians q(z|x) and p(z|y) = N([m_y, 0], diag[s_y², 1]), and the weight's numerator q(y|z_c) at
z_c with its gradient stopped (so only q(y|x), the classifier term, trains the weight).

Unsupervised bound (Eq. 5) with y summed out exactly (the discrete enumeration of ``TraceEnum_ELBO``, written as a
sum over each label's C_i values because the prior and q(y|z_c) factorise over labels, so the joint sum over
Π_i C_i configurations is the sum of L per-label sums; tests/models/test_ccvae.py checks it against the joint
sum)::

    log p(x) ≥ E_q(z|x)[ log p(x|z) + log p(z_s) − log q(z|x)
                         + Σ_i Σ_c q(c|z_c,i) ( log p(y_i=c) + log N(z_c,i; m_ic, s_ic²) − log q(c|z_c,i) ) ]

Training minimises −(Σ labelled supervised bounds + Σ unlabelled unsupervised bounds) · N / B. There is no β.

``label_weight`` α multiplies the classifier term log q(y|x) of Eq. 4 (α = 1, the default, is the paper's bound).
In Eq. 4 the classifier's gradient vanishes in expectation — E_q(z|x)[q(y|z_c)/q(y|x) ∇ log q(y|z_c)] = ∇ log q(y|x)
cancels the last term — so at α = 1 the classifier learns only from the noise of that cancellation and from the
unlabelled bound; α > 1 leaves (α − 1) ∇ log q(y|x), the classification weight of Kingma et al.'s M2 model.
It may also be one weight per label, α_i: the joint term is then weighted by the smallest, α_min log q(y|x), and each
label's own classifier term log q(y_i|x) = log E_q(z|x)[q(y_i|z_c,i)] (from the same S draws) by what its weight
exceeds that, α_i − α_min — equal weights are the single α exactly.

``label_delays`` is a curriculum over the labels: label i joins the model after its delay d_i (trainer steps, default
0). Until then its latent is a style latent — prior N(0, 1) in both bounds, no classifier terms, its labels not read
— so labels that are learned at once (size, position) cannot take the encoder before the slower ones (shape) have
a hold (README, concept models: every label localised within the budget only so).

For evaluation (ELBO, IWAE, PSIS k̂) the model's prior is the marginal of the same generative model with y
summed out exactly: each z_c,i a mixture Σ_c p(y_i=c) N(m_ic, s_ic²), z_s ~ N(0, I).
"""
from __future__ import annotations

import math
from typing import List, Sequence

import pyro.distributions as dist
import torch
from torch import nn
from torch.distributions import kl_divergence

from pyrodisent.concept_model import IMPOSSIBLE, ConceptModel, ConceptObjective
from pyrodisent.data.batch import Batch
from pyrodisent.registry import MODELS


@MODELS.register("ccvae")
class CCVAE(ConceptModel):
    """CCVAE: z_c,i | y_i ~ N(m_{y_i}, s_{y_i}), z_s ~ N(0, I), classifier q(y_i | z_c,i).

    The first L latent dimensions are the core (one per label), the other K − L the style.

    :param label_classes: C_i of each label. :param classifier_samples: S, draws of z estimating q(y | x).
    :param label_weight: α ≥ 1, the weight of log q(y | x) in the supervised bound (1: the paper's Eq. 4), or one
        α_i ≥ 1 per label.
    :param label_delays: the step at which each label joins the model (one for all, or one per label; 0: from the
        start); until then its latent is a style latent.
    """

    def __init__(self, *args, label_classes, classifier_samples: int = 100,
                 label_weight: float | Sequence[float] = 1.0, **kwargs):
        kwargs.setdefault("posterior_covariance", "diagonal")
        super().__init__(*args, label_classes=label_classes, **kwargs)
        if self.posterior_covariance != "diagonal" or len(self.posterior_flow):
            raise ValueError("CCVAE's bounds use the analytic KL of a diagonal Gaussian guide: "
                             "posterior_covariance='diagonal' and no posterior flow")
        if self.latent_dim <= self.num_labels:
            raise ValueError(f"CCVAE needs latent_dim > the number of labels ({self.num_labels}: one core dimension "
                             f"each) to leave style dimensions; got latent_dim={self.latent_dim}")
        if classifier_samples < 1:
            raise ValueError(f"classifier_samples must be ≥ 1, got {classifier_samples}")
        weights = torch.as_tensor(label_weight, dtype=torch.float).flatten()
        if len(weights) not in (1, self.num_labels):
            raise ValueError(f"label_weight: one α or one per label ({self.num_labels} labels), got {len(weights)} "
                             f"weights: {label_weight}")
        if not bool((weights >= 1).all()):
            raise ValueError(f"label_weight α must be ≥ 1 (1: the paper's bound), got {label_weight}")
        self.classifier_samples = int(classifier_samples)
        self.label_weight = float(weights[0]) if len(weights) == 1 else [float(w) for w in weights]
        self.register_buffer("label_weight_excess", (weights - weights.min()).expand(self.num_labels).clone(),
                             persistent=False)  # α_i − α_min: the weight of each label's own term log q(y_i|x)
        self.joint_label_weight = float(weights.min())
        spread = torch.stack([torch.nn.functional.pad(torch.linspace(-1.0, 1.0, c), (0, self.max_classes - c))
                              for c in self.label_classes])
        self.prior_loc = nn.Parameter(2.0 * spread)                  # m_ic
        self.prior_log_scale = nn.Parameter(torch.zeros_like(spread))  # log s_ic
        self.classifier_weight = nn.Parameter(spread.clone())         # w_ic
        self.classifier_bias = nn.Parameter(torch.zeros_like(spread))  # b_ic
        log_prior = torch.where(self.class_mask, -torch.tensor(self.label_classes, dtype=torch.float).log()[:, None],
                                torch.tensor(IMPOSSIBLE))
        self.register_buffer("label_log_prior", log_prior, persistent=False)  # log p(y_i = c), uniform

    # ------------------------------------------------------------------ the pieces of the model
    def core_blocks(self) -> List[List[int]]:
        return [[i] for i in range(self.num_labels)]

    def label_log_probs(self, z: torch.Tensor) -> torch.Tensor:
        """log q(y_i = c | z_c,i), (…, L, C_max)."""
        core = z[..., :self.num_labels, None]
        return self.masked_logits(core * self.classifier_weight + self.classifier_bias)

    def core_prior_log_probs(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z_c,i; m_ic, s_ic²) for every class, (…, L, C_max) (padded classes: IMPOSSIBLE)."""
        core = z[..., :self.num_labels, None]
        log_p = dist.Normal(self.prior_loc, self.prior_log_scale.exp()).log_prob(core)
        return torch.where(self.class_mask, log_p, torch.full_like(log_p, IMPOSSIBLE))

    def conditional_prior(self, y: torch.Tensor, joined: torch.Tensor | None = None) -> dist.Distribution:
        """p(z | y) = N([m_y, 0], diag[s_y², 1]) for labels y (B, L): batch (B,), event (K,); a label not yet
        ``joined`` (0 in the (L,) mask) has N(0, 1), as the style."""
        index = y.long()[..., None]
        loc = self.prior_loc.expand(*y.shape, -1).gather(-1, index)[..., 0]
        scale = self.prior_log_scale.exp().expand(*y.shape, -1).gather(-1, index)[..., 0]
        if joined is not None:
            loc, scale = loc * joined, scale * joined + (1 - joined)
        style = loc.new_zeros(*y.shape[:-1], self.latent_dim - self.num_labels)
        return dist.Normal(torch.cat([loc, style], -1), torch.cat([scale, style + 1], -1)).to_event(1)

    def prior(self, batch: Batch) -> dist.Distribution:
        """The marginal p(z) = Π_i Σ_c p(y_i=c) N(z_c,i; m_ic, s_ic²) · N(z_s; 0, I) (y summed out exactly)."""
        size, style_dim, c = batch.size, self.latent_dim - self.num_labels, self.max_classes
        style_logits = torch.full((style_dim, c), IMPOSSIBLE, device=batch.device)
        style_logits[:, 0] = 0.0
        logits = torch.cat([self.label_log_prior, style_logits]).expand(size, -1, -1)
        loc = torch.cat([self.prior_loc, self.prior_loc.new_zeros(style_dim, c)]).expand(size, -1, -1)
        scale = torch.cat([self.prior_log_scale.exp(), self.prior_loc.new_ones(style_dim, c)]).expand(size, -1, -1)
        return dist.MixtureSameFamily(dist.Categorical(logits=logits), dist.Normal(loc, scale)).to_event(1)

    def intervene(self, z: torch.Tensor, label: int, value: int) -> torch.Tensor:
        """z with z_c,label set to the prior mean m_{label, value} of class ``value``."""
        z = z.clone()
        z[:, label] = self.prior_loc[label, value].detach()
        return z

    # ------------------------------------------------------------------ the two bounds (per point)
    def supervised_bound(self, batch: Batch, y: torch.Tensor, posterior: dist.Distribution, z: torch.Tensor,
                         z_draws: torch.Tensor) -> torch.Tensor:
        """Eq. 4 per point, (B,): ``z`` (B, K) one draw of q(z|x), ``z_draws`` (S, B, K) the draws estimating q(y|x)."""
        index, joined = y.long()[..., None], self.joined_labels()
        keep = (lambda terms: terms) if joined is None else (lambda terms: terms * joined)  # the joined labels' terms
        log_q_y_zc = keep(self.label_log_probs(z).gather(-1, index)[..., 0]).sum(-1)
        stopped = keep(self.label_log_probs(z.detach()).gather(-1, index)[..., 0]).sum(-1)
        draws = keep(self.label_log_probs(z_draws).gather(-1, index.expand(z_draws.shape[0], *index.shape))[..., 0])
        log_q_y_x = torch.logsumexp(draws.sum(-1), 0) - math.log(z_draws.shape[0])
        log_q_each_y_x = torch.logsumexp(draws, 0) - math.log(z_draws.shape[0])  # log q(y_i|x), (B, L)
        log_p_y = keep(self.label_log_prior.expand(*y.shape, -1).gather(-1, index)[..., 0]).sum(-1)
        kl = kl_divergence(posterior, self.conditional_prior(y, joined))
        log_p_x = self.observation_distribution(z, batch).log_prob(batch.x)
        weight = (stopped - log_q_y_x).exp()
        classifier_terms = self.joint_label_weight * log_q_y_x + (self.label_weight_excess * log_q_each_y_x).sum(-1)
        return weight * (log_p_x - kl - log_q_y_zc) + log_p_y + classifier_terms

    def unsupervised_bound(self, batch: Batch, posterior: dist.Distribution, z: torch.Tensor) -> torch.Tensor:
        """Eq. 5 per point with every label summed out exactly, (B,)."""
        log_p_x = self.observation_distribution(z, batch).log_prob(batch.x)
        log_p_style = dist.Normal(0.0, 1.0).log_prob(z[..., self.num_labels:]).sum(-1)
        joined = self.joined_labels()
        if joined is None:
            label_terms = self.enumerated_label_terms(z)
        else:  # a label still waiting: its latent is a style latent
            waiting = dist.Normal(0.0, 1.0).log_prob(z[..., :self.num_labels])
            label_terms = (self.enumerated_label_terms(z, per_label=True) * joined + waiting * (1 - joined)).sum(-1)
        return log_p_x + log_p_style - posterior.log_prob(z) + label_terms

    def enumerated_label_terms(self, z: torch.Tensor, per_label: bool = False) -> torch.Tensor:
        """Σ_i Σ_c q(c|z_c,i) (log p(y_i=c) + log p(z_c,i | c) − log q(c|z_c,i)), (…,) (``per_label``: (…, L), the
        sum over c only)."""
        log_q = self.label_log_probs(z)
        terms = log_q.exp() * (self.label_log_prior + self.core_prior_log_probs(z) - log_q)
        terms = torch.where(self.class_mask, terms, torch.zeros_like(terms)).sum(-1)
        return terms if per_label else terms.sum(-1)

    def training_objective(self, num_particles: int = 1):
        return CCVAEObjective(self, num_particles)


class CCVAEObjective(ConceptObjective):
    """The trainer's loss ``(model, guide, batch) → (loss, terms)`` for a :class:`CCVAE`: −(supervised bounds of the
    labelled points + unsupervised bounds of the others) · N / B, averaged over ``num_particles`` draws of z."""

    def __call__(self, model, guide, batch: Batch):
        ccvae = self.model
        y, labelled = ccvae.labels_of(batch)
        scale = ccvae.num_data / batch.size
        posterior = ccvae.posterior(batch)
        total = 0.0
        for _ in range(self.num_particles):
            z = posterior.rsample()
            bound = ccvae.unsupervised_bound(batch, posterior, z)
            if labelled.any():
                draws = posterior.rsample((ccvae.classifier_samples,))
                bound = torch.where(labelled, ccvae.supervised_bound(batch, y, posterior, z, draws), bound)
            total = total + bound
        bound = total / self.num_particles
        loss = -scale * bound.sum()
        with torch.no_grad():
            accuracy = (ccvae.predict_labels(posterior.mean) == y).float().mean()
            cross_entropy = -ccvae.label_log_probs(z).gather(-1, y[..., None])[..., 0]  # the last draw's, (B, L)
        return loss, {"labelled_bound": (-scale * bound[labelled].sum()).detach(),
                      "unlabelled_bound": (-scale * bound[~labelled].sum()).detach(),
                      "label_accuracy": accuracy * ccvae.num_data,  # the trainer divides terms by N
                      **{name: scale * value.sum()
                         for name, value in ccvae.join_terms(cross_entropy, labelled).items()}}
