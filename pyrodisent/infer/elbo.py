"""Evidence lower bound for any model/guide pair: analytic KL where it exists, Monte Carlo otherwise.

This is Pyro's ``TraceMeanField_ELBO`` estimator written as one pass over the two traces, so that a
training step costs little more than the hand-written PyTorch loss of the same networks
(``benchmarks/svi_overhead.py``). For each sample site of the model trace:

- observed (including ``pyro.factor``): ``− scale · log p(x | ·)``;
- latent, with a registered ``kl_divergence(q, p)``: ``scale · KL(q ‖ p)`` (the mean-field
  assumption: the site's prior does not depend on other latents of the same step being sampled,
  exactly as for ``TraceMeanField_ELBO``);
- latent without one: ``scale · (log q(z) − log p(z))`` at the guide's reparameterised sample;

and for each sample site that only the guide has — an auxiliary variable of the guide, such as
AutoNormal's ``<site>_unconstrained`` — ``scale · log q`` at its sample (the part of log q that the
guide's auxiliary variables carry: without it an AutoNormal's scale collapses), as
``TraceMeanField_ELBO`` does. A guide-only site not marked ``infer={"is_auxiliary": True}`` is refused.

``scale`` carries the data plate's N/B subsampling factor and any ``poutine.scale`` (β, annealing),
and masks (``poutine.mask``, ``.mask()``) are honoured, so the loss is Pyro's loss. The test suite
checks equality with ``TraceMeanField_ELBO``/``Trace_ELBO`` and with a closed form.

Guide sites must be reparameterisable (``has_rsample``); for discrete latents use
``objective="trace"`` (Pyro's ``Trace_ELBO``) in the trainer.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import site_is_subsample
from torch.distributions import kl_divergence

from pyrodisent.infer.traces import guide_only_log_prob

LossTerms = Dict[str, torch.Tensor]


def _type_key(d) -> tuple:
    """Distribution type including wrapped base types (Independent(Normal) ≠ Independent(Beta))."""
    key = (type(d),)
    while hasattr(d, "base_dist"):
        d = d.base_dist
        key += (type(d),)
    return key


def _sum_site(value: torch.Tensor, site) -> torch.Tensor:
    return scale_and_mask(value, site["scale"], site["mask"]).sum()


class MeanFieldELBO:
    """Negative ELBO of ``model``/``guide`` with analytic KL terms where available.

    :param num_particles: independent samples averaged (a loop: works for any model).
    """

    def __init__(self, num_particles: int = 1):
        if num_particles < 1:
            raise ValueError(f"num_particles must be ≥ 1, got {num_particles}")
        self.num_particles = num_particles
        self._kl_cache: Dict[tuple, bool] = {}

    def _analytic_kl(self, q, p):
        """KL(q ‖ p) when torch has it for this pair of types, else ``None`` (remembered per pair)."""
        key = (_type_key(q), _type_key(p))
        if not self._kl_cache.get(key, True):
            return None
        try:
            value = kl_divergence(q, p)
        except NotImplementedError:
            self._kl_cache[key] = False
            return None
        self._kl_cache[key] = True
        if not torch.is_tensor(value):  # Pyro's KL of a distribution masked out with mask(False) is the number 0
            value = torch.as_tensor(float(value))
        return value

    def __call__(self, model: Callable, guide: Callable, *args, **kwargs) -> Tuple[torch.Tensor, LossTerms]:
        """Returns ``(loss, terms)``: the differentiable negative ELBO and its parts
        (``reconstruction`` = −Σ observed log-likelihoods, ``kl`` = Σ latent KL terms), detached."""
        loss, totals = 0.0, {}
        for _ in range(self.num_particles):
            model_trace, guide_trace = self.traces(model, guide, *args, **kwargs)
            particle_loss, terms = self.loss_from_traces(model_trace, guide_trace)
            loss = loss + particle_loss
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + value
        return loss / self.num_particles, {name: value / self.num_particles for name, value in totals.items()}

    @staticmethod
    def traces(model: Callable, guide: Callable, *args, **kwargs):
        """(model trace, guide trace): the guide run once, the model replayed on its samples."""
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
        return model_trace, guide_trace

    def loss_from_traces(self, model_trace, guide_trace) -> Tuple[torch.Tensor, LossTerms]:
        """Negative ELBO of one particle from its two traces, and its detached parts."""
        reconstruction, kl = self.elbo_parts(model_trace, guide_trace)
        return reconstruction + kl, {"reconstruction": _detach(reconstruction), "kl": _detach(kl)}

    def elbo_parts(self, model_trace, guide_trace):
        """(−Σ log-likelihoods, Σ KL terms and log q of the guide's auxiliary sites), both differentiable."""
        reconstruction = 0.0
        kl = 0.0
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample" or site_is_subsample(site):
                continue
            if site["is_observed"]:
                reconstruction = reconstruction - _sum_site(site["fn"].log_prob(site["value"]), site)
                continue
            kl = kl + self.latent_site_kl(name, site, guide_trace)
        kl = kl + guide_only_log_prob(model_trace, guide_trace)
        return reconstruction, kl

    def latent_site_kl(self, name: str, site, guide_trace):
        """``scale · KL(q ‖ p)`` of one latent site, analytic where torch has it, else at the guide's sample."""
        guide_site = guide_trace.nodes.get(name)
        if guide_site is None:
            raise ValueError(f"latent site {name!r} of the model has no counterpart in the guide")
        q, p = guide_site["fn"], site["fn"]
        if not q.has_rsample:
            raise ValueError(
                f"guide site {name!r} ({type(q).__name__}) is not reparameterisable; "
                "train with objective='trace' (Pyro's Trace_ELBO) instead"
            )
        analytic = self._analytic_kl(q, p)
        if analytic is not None:
            return _sum_site(analytic, site)
        value = guide_site["value"]
        return _sum_site(q.log_prob(value), guide_site) - _sum_site(p.log_prob(value), site)


class PenalizedELBO(MeanFieldELBO):
    """The negative ELBO plus a penalty computed from the same traces: ``loss + penalty(model_trace, guide_trace)``.

    The penalty is a differentiable scalar on the scale of the summed (N-scaled) loss; the regularised
    VAEs of the β-VAE family (AnnealedVAE's capacity, DIP-VAE's covariance, FactorVAE's total
    correlation) are each such a penalty, supplied by the model's ``training_objective``.

    :param include_kl: keep the ELBO's KL terms (False: the penalty replaces them, as AnnealedVAE's).
    """

    def __init__(self, penalty: Callable, num_particles: int = 1, include_kl: bool = True):
        super().__init__(num_particles)
        self.penalty = penalty
        self.include_kl = include_kl

    def loss_from_traces(self, model_trace, guide_trace):
        reconstruction, kl = self.elbo_parts(model_trace, guide_trace)
        penalty = self.penalty(model_trace, guide_trace)
        loss = reconstruction + (kl if self.include_kl else 0.0) + penalty
        return loss, {"reconstruction": _detach(reconstruction), "kl": _detach(kl), "penalty": _detach(penalty)}


def _detach(value):
    return value.detach() if torch.is_tensor(value) else torch.tensor(float(value))


class PyroELBO:
    """Wraps one of Pyro's ELBO classes (e.g. ``Trace_ELBO`` for score-function gradients) in the
    trainer's ``(loss, terms)`` interface."""

    def __init__(self, elbo):
        self.elbo = elbo

    def __call__(self, model, guide, *args, **kwargs):
        loss = self.elbo.differentiable_loss(model, guide, *args, **kwargs)
        return loss, {}


def build_objective(name: str, num_particles: int = 1):
    """``meanfield`` (default, fast), ``trace`` (Pyro Trace_ELBO), ``trace_meanfield`` (Pyro's own), or
    ``iwae`` (:class:`~pyrodisent.infer.importance_weighted.ImportanceWeightedELBO`, ``num_particles``
    importance samples per point)."""
    import pyro.infer

    from pyrodisent.infer.importance_weighted import ImportanceWeightedELBO

    if name == "iwae":
        return ImportanceWeightedELBO(num_particles)
    if name == "meanfield":
        return MeanFieldELBO(num_particles)
    if name == "trace":
        return PyroELBO(pyro.infer.Trace_ELBO(num_particles=num_particles))
    if name == "trace_meanfield":
        return PyroELBO(pyro.infer.TraceMeanField_ELBO(num_particles=num_particles))
    raise ValueError(f"unknown objective {name!r}; expected 'meanfield', 'trace', 'trace_meanfield' or 'iwae'")
