"""CLAP: provable concept learning for interpretable predictions (Taeb, Ruggeri, Schnuck & Yang, 2022).

Latents z = [z_c, z_s]: a core block z_c (``core_dim``) and style z_s. Two VAEs share the decoder p(x | z):

- the **prediction VAE** (the model's ``model``/``guide``, what evaluation and the concept metrics read):
  p(z) = N(0, I), q_P(z | x) the base encoder; a linear logistic classifier q(y_i = c | z_c) = softmax(W z_c + b)
  predicts every label from the core;
- the **concept-learning VAE**: p(z_c | y) = N(A_m y + b_m, diag exp(A_v y + b_v)) (y one-hot, each label over its
  classes), p(z_s) = N(0, I); q_CL(z_c | x, y) from a second encoder of x with y appended, q_CL(z_s | x) the
  prediction VAE's style part (shared, as in the official code).

Objective per point, minimised (the official ``calculate_loss``, summed over the data)::

    − ½ ELBO_P(x; β_t) − ½ ELBO_CL(x, y; β_t) + ½ γ_t · CE(y, q(y | z_c ~ q_P)) + λ · Σ_j ‖[W_{:,j}; D_{:,j}]‖₂

with ELBO(β) = E_q[log p(x|z)] − β Σ_k w_k KL_k(q ‖ p), CE the cross-entropy averaged over the labels (the official
``BCEWithLogitsLoss``; defaults γ = 50, λ = 0.05 as in the official ``main.py``), the group lasso over the core
dimensions j coupling the classifier's column W_{:,j} and the decoder's first-layer column D_{:,j} (a core dimension
that neither predicts nor draws drops out as a whole), and the schedules of
:class:`~pyrodisent.training.schedules.WarmupCyclicalSchedule`: β_t = β × (0 for the first quarter of the steps, two
cyclical ramps over the next half, then 1), γ_t = γ × (one ramp over the first three quarters, then 1). The KL of
each latent dimension k is weighed by its block's share of the latent dimensions, w_k = core_dim / K on the core and
(K − core_dim) / K on the style, as the official ``latent_kl_divergence`` does (``block_kl_shares=False``: w_k = 1,
each ELBO whole); information both blocks could hold is then cheaper in the smaller block, the core.
Semi-supervised: points without labels contribute only ½ ELBO_P.
The group lasso is a penalty of the parameters, multiplied by N to sit on the scale of the summed loss.

``classifier_gain`` g (default 1, the paper's classifier) multiplies W in the logits, g W z_c + b. Adam moves each
weight by about the learning rate a step, so over a short run W stays small, and a large γ makes the encoder spread
the core codes instead, tens of prior standard deviations apart. With g > 1 the same logits need core codes g times
closer together (what that does to localisation: README, concepts section, stop 37). The concept prior and the
classifier are shared by every point (:meth:`CLAP.global_parameters`), so ``global_lr_factor`` sets their learning
rate apart from the networks' (default 1: one rate for all; README, concepts section, stop 38).

``label_aligned_core`` (off by default, as the paper) gives each label one core dimension of its own: core_dim = L,
A_m and A_v restricted to label i's classes in row i, so p(z_c,i | y) = N(a_{i,y_i}, exp v_{i,y_i}) depends on y_i
alone, and label i's logits read z_c,i alone (W masked to one column per label; the group lasso sees the mask). A
y-dependent Gaussian prior whose every dimension may read every label is identified only up to an invertible linear
map of the core when the variances do not vary enough with y (Khemakhem et al. 2020, the iVAE's mean-only case); the
per-label rows remove that freedom, as CCVAE's one latent per label does.

``label_delays`` (:class:`~pyrodisent.concept_model.ConceptModel`) is the same curriculum as CCVAE's: until its step a
label is not read — its one-hot is zero wherever y enters (concept prior, concept encoder) and its cross-entropy
is left out (the others keep their weight 1/L). ``delay_concept_prior=False`` delays the cross-entropy alone: the
concept-learning VAE reads every label from the first step, so the shared decoder learns from the start to draw a
waiting label's factor from its core dimension, while the classifier term that competes for the encoder still waits.

Concepts: a label's block is the core dimension with the largest classifier weights for it (two labels may share
one; with ``label_aligned_core``, its own dimension), the core (for ``core_separation``) all ``core_dim``
dimensions; an intervention on label i sets z_c to the concept prior's mean A_m y' + b_m with y' the predicted
labels with label i changed.
"""
from __future__ import annotations

from typing import List

import pyro.distributions as dist
import torch
from torch import nn
from torch.distributions import kl_divergence
from torch.nn.functional import linear, softplus

from pyrodisent.concept_model import ConceptModel, ConceptObjective, one_hot_labels
from pyrodisent.data.batch import Batch
from pyrodisent.nn import build_network
from pyrodisent.registry import MODELS
from pyrodisent.training.schedules import WarmupCyclicalSchedule


def first_linear_layer(network: nn.Module) -> nn.Linear:
    """The first ``nn.Linear`` of a network (the decoder's layer reading z)."""
    for module in network.modules():
        if isinstance(module, nn.Linear):
            return module
    raise ValueError(f"{type(network).__name__} has no nn.Linear layer; CLAP's group lasso needs the decoder's first "
                     "linear layer on z")


def group_lasso(classifier_weight: torch.Tensor, decoder_weight: torch.Tensor) -> torch.Tensor:
    """Σ_j ‖[W_{:,j}; D_{:,j}]‖₂ over the columns j (core dimensions) of the classifier weight W (outputs, core) and
    the decoder's first-layer weight D (hidden, core)."""
    if classifier_weight.shape[1] != decoder_weight.shape[1]:
        raise ValueError(f"group lasso: the classifier has {classifier_weight.shape[1]} core columns, the decoder "
                         f"weight {decoder_weight.shape[1]}")
    return torch.cat([classifier_weight, decoder_weight], 0).norm(dim=0).sum()


@MODELS.register("clap")
class CLAP(ConceptModel):
    """CLAP: prediction VAE and concept-learning VAE sharing the decoder, linear classifier on the core.

    :param label_classes: C_i of each label. :param core_dim: size of z_c (default: the number of labels).
    :param label_weight: γ, the weight of the classifier's cross-entropy. :param group_lasso_weight: λ.
    :param schedule_steps: the training's steps, over which β and γ follow their schedules (0: constant).
    :param concept_hidden: width of the concept encoder's features before y is appended.
    :param block_kl_shares: weigh each dimension's KL by its block's share of the latent dimensions (the official
        code); False: the plain ELBOs.
    :param label_aligned_core: core dimension i's concept prior reads label i only, and label i's logits read core
        dimension i only (core_dim = the number of labels).
    :param label_delays: the step at which each label is first read (one for all, or one per label).
    :param delay_concept_prior: the delays hold back the concept prior and encoder's one-hot too (False: the
        classifier's cross-entropy alone).
    :param classifier_gain: g in the logits g W z_c + b (1: the paper's classifier). W is what the group lasso sees.
    """

    def __init__(self, *args, label_classes, core_dim: int = 0, label_weight: float = 50.0,
                 group_lasso_weight: float = 0.05, schedule_steps: int = 0, concept_hidden: int = 32,
                 block_kl_shares: bool = True, label_aligned_core: bool = False, delay_concept_prior: bool = True,
                 classifier_gain: float = 1.0, **kwargs):
        kwargs.setdefault("posterior_covariance", "diagonal")
        super().__init__(*args, label_classes=label_classes, **kwargs)
        if self.posterior_covariance != "diagonal" or len(self.posterior_flow):
            raise ValueError("CLAP's guides are diagonal Gaussians: posterior_covariance='diagonal', no posterior flow")
        self.core_dim = int(core_dim) or self.num_labels
        self.label_aligned_core = bool(label_aligned_core)
        self.delay_concept_prior = bool(delay_concept_prior)
        if self.label_aligned_core and self.core_dim != self.num_labels:
            raise ValueError(f"label_aligned_core gives each label one core dimension: core_dim must be the number of "
                             f"labels ({self.num_labels}), got {self.core_dim}")
        if not 1 <= self.core_dim < self.latent_dim:
            raise ValueError(f"CLAP needs 1 ≤ core_dim < latent_dim to leave style dimensions; got core_dim="
                             f"{self.core_dim}, latent_dim={self.latent_dim}")
        if label_weight < 0 or group_lasso_weight < 0:
            raise ValueError(f"label_weight and group_lasso_weight must be ≥ 0, got {label_weight}, "
                             f"{group_lasso_weight}")
        self.label_weight, self.group_lasso_weight = float(label_weight), float(group_lasso_weight)
        if not classifier_gain > 0:
            raise ValueError(f"classifier_gain must be > 0, got {classifier_gain}")
        self.classifier_gain = float(classifier_gain)
        self.schedule = WarmupCyclicalSchedule(int(schedule_steps))
        core_share = self.core_dim / self.latent_dim
        shares = torch.cat([torch.full((self.core_dim,), core_share),
                            torch.full((self.latent_dim - self.core_dim,), 1 - core_share)])
        self.register_buffer("kl_weights", shares if block_kl_shares else torch.ones(self.latent_dim), persistent=False)
        one_hot_size = sum(self.label_classes)
        self.concept_encoder = build_network(kwargs.get("encoder", "mlp"), self.observation_shape, (concept_hidden,),
                                             **(kwargs.get("encoder_args") or {}))
        self.concept_head = nn.Linear(concept_hidden + one_hot_size, 2 * self.core_dim)
        self.prior_mean = nn.Linear(one_hot_size, self.core_dim)      # A_m y + b_m
        self.prior_log_var = nn.Linear(one_hot_size, self.core_dim)   # A_v y + b_v
        self.classifier = nn.Linear(self.core_dim, self.num_labels * self.max_classes)
        label_of_class = torch.repeat_interleave(torch.arange(self.num_labels), torch.tensor(self.label_classes))
        self.register_buffer("label_of_class", label_of_class, persistent=False)  # (Σ C_i,): the label of each entry
        rows = (label_of_class[None, :] == torch.arange(self.core_dim)[:, None]) if self.label_aligned_core else None
        self.register_buffer("prior_rows", rows, persistent=False)  # (core_dim, Σ C_i): what each row of A may read
        reads = None if rows is None else (  # (L·C_max, core_dim): label i's logits read core dimension i only
            torch.arange(self.num_labels).repeat_interleave(self.max_classes)[:, None] == torch.arange(self.core_dim))
        self.register_buffer("classifier_reads", reads, persistent=False)
        first_linear_layer(self.decoder)  # refuse a decoder without one now

    # ------------------------------------------------------------------ concepts
    def one_hot(self, y: torch.Tensor) -> torch.Tensor:
        """(B, L) classes → (B, Σ C_i): each label one-hot over its own classes, concatenated; a label that has not
        joined yet (``label_delays``, unless ``delay_concept_prior`` is off) is all zeros."""
        full = one_hot_labels(y, self.max_classes)
        y = full[..., self.class_mask].reshape(*y.shape[:-1], -1)
        joined = self.joined_labels() if self.delay_concept_prior else None
        return y if joined is None else y * joined[self.label_of_class]

    def prior_parameters(self, y_one_hot: torch.Tensor):
        """(A_m y + b_m, A_v y + b_v) of the concept prior, each (B, core_dim); A restricted to each row's label under
        ``label_aligned_core``."""
        layers = (self.prior_mean, self.prior_log_var)
        if self.prior_rows is None:
            return tuple(layer(y_one_hot) for layer in layers)
        return tuple(linear(y_one_hot, layer.weight * self.prior_rows, layer.bias) for layer in layers)

    def label_log_probs(self, z: torch.Tensor) -> torch.Tensor:
        logits = linear(z[..., :self.core_dim], self.classifier_gain * self.classifier_weight(), self.classifier.bias)
        return self.masked_logits(logits.reshape(*z.shape[:-1], self.num_labels, self.max_classes))

    def classifier_weight(self) -> torch.Tensor:
        """W, (L·C_max, core_dim); under ``label_aligned_core`` zero outside each label's own core dimension."""
        weight = self.classifier.weight
        return weight if self.classifier_reads is None else weight * self.classifier_reads

    def core_blocks(self) -> List[List[int]]:
        if self.label_aligned_core:
            return [[i] for i in range(self.num_labels)]
        weight = self.classifier.weight.detach().reshape(self.num_labels, self.max_classes, self.core_dim)
        weight = weight * self.class_mask[..., None]
        return [[int(j)] for j in weight.norm(dim=1).argmax(-1)]

    def core_dims(self) -> List[int]:
        return list(range(self.core_dim))

    def concept_prior(self, y: torch.Tensor) -> dist.Distribution:
        """p(z | y) of the concept-learning VAE: N([A_m y + b_m, 0], diag[exp(A_v y + b_v), 1]), event (K,)."""
        core_loc, core_log_var = self.prior_parameters(self.one_hot(y))
        style = core_loc.new_zeros(*y.shape[:-1], self.latent_dim - self.core_dim)
        loc = torch.cat([core_loc, style], -1)
        scale = torch.cat([(0.5 * core_log_var).exp(), style + 1], -1)
        return dist.Normal(loc, scale).to_event(1)

    def concept_posterior(self, batch: Batch, y: torch.Tensor) -> dist.Distribution:
        """q_CL(z | x, y): the core from the concept encoder of x with y appended, the style shared with q_P."""
        loc, scale = self.posterior_params(batch)
        features = torch.relu(self.concept_encoder(batch.x))
        core_loc, core_raw = self.concept_head(torch.cat([features, self.one_hot(y)], -1)).chunk(2, -1)
        loc = torch.cat([core_loc, loc[..., self.core_dim:]], -1)
        scale = torch.cat([softplus(core_raw) + 1e-4, scale[..., self.core_dim:]], -1)
        return dist.Normal(loc, scale).to_event(1)

    def intervene(self, z: torch.Tensor, label: int, value: int) -> torch.Tensor:
        y = self.predict_labels(z)
        y[:, label] = value
        z = z.clone()
        z[:, :self.core_dim] = self.prior_parameters(self.one_hot(y))[0].detach()
        return z

    def global_parameters(self) -> list:
        """The concept prior's A_m, b_m, A_v, b_v and the classifier's W, b: parameters shared by every point, not
        amortised, trained at ``lr × global_lr_factor``."""
        return [*self.prior_mean.parameters(), *self.prior_log_var.parameters(), *self.classifier.parameters()]

    def group_lasso(self) -> torch.Tensor:
        decoder_weight = first_linear_layer(self.decoder).weight[:, :self.core_dim]
        return group_lasso(self.classifier_weight(), decoder_weight)

    # ------------------------------------------------------------------ objective
    def weighted_kl(self, q: dist.Distribution, p: dist.Distribution) -> torch.Tensor:
        """Σ_k w_k KL(q_k ‖ p_k) over the latent dimensions of two diagonal Gaussians (event (K,)), shape (B,)."""
        return (kl_divergence(q.base_dist, p.base_dist) * self.kl_weights).sum(-1)

    def point_losses(self, batch: Batch):
        """(loss per point (B,), its parts): −½ ELBO_P − ½ ELBO_CL + ½ γ_t CE (the last two for labelled points)."""
        y, labelled = self.labels_of(batch)
        beta_t = self.beta * self.schedule.kl_weight(self._step)
        gamma_t = self.label_weight * self.schedule.label_weight(self._step)
        q_p = self.posterior(batch)
        zeros = q_p.base_dist.loc.new_zeros(self.latent_dim)  # on the model's device
        standard = dist.Normal(zeros, zeros + 1).to_event(1)
        z_p = q_p.rsample()
        elbo_p = self.observation_distribution(z_p, batch).log_prob(batch.x) - beta_t * self.weighted_kl(q_p, standard)
        q_cl = self.concept_posterior(batch, y)
        z_cl = q_cl.rsample()
        elbo_cl = (self.observation_distribution(z_cl, batch).log_prob(batch.x)
                   - beta_t * self.weighted_kl(q_cl, self.concept_prior(y)))
        each_label = -self.label_log_probs(z_p).gather(-1, y[..., None])[..., 0]
        joined = self.joined_labels()
        cross_entropy = (each_label if joined is None else each_label * joined).mean(-1)
        mask = labelled.to(elbo_p.dtype)
        loss = -0.5 * elbo_p + mask * (-0.5 * elbo_cl + 0.5 * gamma_t * cross_entropy)
        return loss, dict(elbo_prediction=elbo_p, elbo_concepts=elbo_cl * mask, cross_entropy=cross_entropy * mask,
                          **self.join_terms(each_label, labelled))

    def training_objective(self, num_particles: int = 1):
        return CLAPObjective(self, num_particles)


class CLAPObjective(ConceptObjective):
    """The trainer's loss for :class:`CLAP`: Σ point losses · N / B + N · λ · group lasso, averaged over particles."""

    def __call__(self, model, guide, batch: Batch):
        clap = self.model
        scale = clap.num_data / batch.size
        total, parts = 0.0, {}
        for _ in range(self.num_particles):
            loss, terms = clap.point_losses(batch)
            total = total + loss.sum()
            for name, value in terms.items():
                parts[name] = parts.get(name, 0.0) + value.sum().detach()
        penalty = clap.num_data * clap.group_lasso_weight * clap.group_lasso()
        loss = scale * total / self.num_particles + penalty
        terms = {name: -scale * value / self.num_particles if name.startswith("elbo") else scale * value /
                 self.num_particles for name, value in parts.items()}
        terms["group_lasso"] = penalty.detach()
        return loss, terms
