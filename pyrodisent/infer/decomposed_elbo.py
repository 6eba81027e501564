"""The ELBO split into its four parts and re-weighted (Chen et al. 2018, β-TCVAE, Eq. 2 and §4.1).

For the local latent site z with amortised guide q(z|x), averaging over the data distribution,

    ELBO = E[log p(x|z)] − I_q(z; x) − TC(q(z)) − Σ_j KL(q(z_j) ‖ p(z_j))
         = E[ log p(x|z) − (log q(z|x) − log q(z)) − (log q(z) − Σ_j log q(z_j)) − (Σ_j log q(z_j) − log p(z)) ]

and the weighted objective is  a·log p(x|z) − b·MI − c·TC − d·dimension-wise KL  (a = b = c = d = 1: the
ELBO; c = β: β-TCVAE; the official iVAE code trains with a = 100, b = 1, c = 0, d = 10).

The aggregate posterior q(z) and its marginals q(z_j) are estimated by minibatch-weighted sampling
(Chen et al., Eq. S6): log q(z_i) ≈ logsumexp_j log q(z_i | x_j) − log(N·B) for a minibatch of B
points from N. Works for any guide whose latent site factorises over dimensions with an element-wise
base distribution (Normal, Laplace, ...) or a full-covariance MultivariateNormal (marginals N(loc_j, Σ_jj)):
it is evaluated on every (sample, data point) pair.

Each site's ``scale`` and ``mask`` are honoured, as in Pyro's estimators: the data plate's N/B, β and
KL warm-up (``poutine.scale`` around the latent site), any ``poutine.scale``/``poutine.mask`` a user
adds. The q-parts of the latent terms (log q(z|x) split into MI, TC and Σ_j log q(z_j)) take the guide
site's scale and mask, log p(z) the model site's, so at weights (1, 1, 1, 1) the loss is Pyro's
``Trace_ELBO`` on the same sample. (The aggregate posterior is estimated from every point of the
minibatch, masked or not.) Other sample sites (global latents, further observations, the guide's
auxiliary sites) enter with weight 1, as in the ELBO.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Tuple

import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import site_is_subsample

from pyrodisent.infer.traces import base_distribution, data_plate_size, guide_only_log_prob
from pyrodisent.sites import LATENT_SITE, OBSERVATION_SITE


def _pairwise_log_prob(q, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(log q(z_i | x_k), log q_j(z_{i,j} | x_k)) for all i, k, j: shapes (B, B) and (B, B, K).

    Element-wise guides (Normal(...).to_event(1), Laplace, ...): the joint is the sum of the marginals.
    A full-covariance guide (MultivariateNormal): the joint is the multivariate density and the
    marginals are N(loc_j, Σ_jj).
    """
    base = base_distribution(q)
    if isinstance(base, dist.MultivariateNormal):
        joint = base.log_prob(z.unsqueeze(-2))
        marginal_scale = base.scale_tril.pow(2).sum(-1).sqrt()  # sqrt(diag(L Lᵀ))
        marginals = dist.Normal(base.loc, marginal_scale).log_prob(z.unsqueeze(-2))
        return joint, marginals
    marginals = base.log_prob(z.unsqueeze(-2))
    return marginals.sum(-1), marginals


class DecomposedELBO:
    """Negative weighted ELBO ``−(a·log p(x|z) − b·MI − c·TC − d·dimKL)`` summed over the data (N/B-scaled).

    :param reconstruction_weight: a. :param mutual_information_weight: b.
    :param total_correlation_weight: c. :param dimension_kl_weight: d.
    :param schedule: optional ``step -> (a, b, c, d)``: time-varying weights (e.g. :func:`official_ivae_anneal`);
        the step is the model's training step (``model.__self__._step``, set by the trainer).
    """

    def __init__(self, reconstruction_weight: float = 1.0, mutual_information_weight: float = 1.0,
                 total_correlation_weight: float = 1.0, dimension_kl_weight: float = 1.0,
                 latent_site: str = LATENT_SITE, observation_site: str = OBSERVATION_SITE,
                 schedule: Optional[Callable[[int], Tuple[float, float, float, float]]] = None):
        self.weights = (reconstruction_weight, mutual_information_weight, total_correlation_weight, dimension_kl_weight)
        self.latent_site = latent_site
        self.observation_site = observation_site
        self.schedule = schedule

    def weights_at(self, model) -> Tuple[float, float, float, float]:
        if self.schedule is None:
            return self.weights
        return tuple(self.schedule(int(getattr(getattr(model, "__self__", None), "_step", 0))))

    def __call__(self, model, guide, *args, **kwargs) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        a, b, c, d = self.weights_at(model)
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
        guide_z = guide_trace.nodes[self.latent_site]
        model_z = model_trace.nodes[self.latent_site]
        z, q = guide_z["value"], guide_z["fn"]
        batch_size, num_data = data_plate_size(model_z)
        if z.dim() != 2:
            raise ValueError(f"DecomposedELBO expects the latent site {self.latent_site!r} to have shape (B, K); got {tuple(z.shape)}")
        log_norm = math.log(batch_size * num_data)
        joint, pairwise = _pairwise_log_prob(q, z)  # (B, B), (B, B, K)
        log_qz_x = q.log_prob(z)  # (B,)
        log_qz = torch.logsumexp(joint, dim=1) - log_norm
        log_prod_qzj = (torch.logsumexp(pairwise, dim=1) - log_norm).sum(-1)
        log_pz = model_z["fn"].log_prob(z)

        def guide_weighted(value):  # Σ_n over the minibatch with the guide site's scale and mask
            return scale_and_mask(value, guide_z["scale"], guide_z["mask"]).sum()

        mutual_information = guide_weighted(log_qz_x - log_qz)
        total_correlation = guide_weighted(log_qz - log_prod_qzj)
        weighted_log_pz = scale_and_mask(log_pz, model_z["scale"], model_z["mask"]).sum()
        dimension_kl = guide_weighted(log_prod_qzj) - weighted_log_pz
        loss = b * mutual_information + c * total_correlation + d * dimension_kl
        reconstruction = 0.0
        other = 0.0
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample" or site_is_subsample(site) or name == self.latent_site:
                continue
            log_p = scale_and_mask(site["fn"].log_prob(site["value"]), site["scale"], site["mask"]).sum()
            if site["is_observed"]:
                if name == self.observation_site:
                    reconstruction = reconstruction - log_p
                else:
                    other = other - log_p
            else:  # global latent: log q − log p at the guide's sample
                g = guide_trace.nodes[name]
                other = other + scale_and_mask(g["fn"].log_prob(g["value"]), g["scale"], g["mask"]).sum() - log_p
        other = other + guide_only_log_prob(model_trace, guide_trace)
        loss = loss + a * reconstruction + other
        terms = {
            "reconstruction": torch.as_tensor(reconstruction).detach(),
            "mutual_information": mutual_information.detach(),
            "total_correlation": total_correlation.detach(),
            "dimension_kl": dimension_kl.detach(),
        }
        return loss, terms


def official_ivae_anneal(observation_variance: float, total_steps: int) -> Callable[[int], Tuple[float, float, float, float]]:
    """The official iVAE code's ``anneal`` schedule (ilkhem/iVAE, ``iVAE.anneal``) as ``step -> (a, b, c, d)``.

    With a₀ = 1/(2σ²) and T = total_steps / 1.6: a = min(2a₀, a₀(1 + t/T)), b = max(1, 0.3a₀(1 − t/T)),
    c = min(1, t/T), d = max(1, 0.5a₀(1 − t/T)); after T the plain ELBO (1, 1, 1, 1).
    """
    a0 = 0.5 / observation_variance
    threshold = max(1, int(total_steps / 1.6))

    def schedule(step: int) -> Tuple[float, float, float, float]:
        if step > threshold:
            return 1.0, 1.0, 1.0, 1.0
        t = step / threshold
        return min(2 * a0, a0 + a0 * t), max(1.0, 0.3 * a0 * (1 - t)), min(1.0, t), max(1.0, 0.5 * a0 * (1 - t))

    return schedule
