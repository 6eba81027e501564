"""Evidence lower bound for any model/guide pair: analytic KL where it exists, Monte Carlo otherwise.

This is Pyro's ``TraceMeanField_ELBO`` estimator written as one pass over the two traces, so that a
training step costs little more than the hand-written PyTorch loss of the same networks
(``benchmarks/svi_overhead.py``). For each sample site of the model trace:

- observed (including ``pyro.factor``): ``− scale · log p(x | ·)``;
- latent, with a registered ``kl_divergence(q, p)``: ``scale · KL(q ‖ p)`` (the mean-field
  assumption: the site's prior does not depend on other latents of the same step being sampled,
  exactly as for ``TraceMeanField_ELBO``);
- latent without one: ``scale · (log q(z) − log p(z))`` at the guide's reparameterised sample.

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
        return value

    def __call__(self, model: Callable, guide: Callable, *args, **kwargs) -> Tuple[torch.Tensor, LossTerms]:
        """Returns ``(loss, terms)``: the differentiable negative ELBO and its parts
        (``reconstruction`` = −Σ observed log-likelihoods, ``kl`` = Σ latent KL terms), detached."""
        loss = 0.0
        reconstruction = 0.0
        kl = 0.0
        for _ in range(self.num_particles):
            guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
            model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
            for name, site in model_trace.nodes.items():
                if site["type"] != "sample" or site_is_subsample(site):
                    continue
                if site["is_observed"]:
                    reconstruction = reconstruction - _sum_site(site["fn"].log_prob(site["value"]), site)
                    continue
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
                    kl = kl + _sum_site(analytic, site)
                else:
                    value = guide_site["value"]
                    kl = kl + _sum_site(q.log_prob(value), guide_site) - _sum_site(p.log_prob(value), site)
        loss = (reconstruction + kl) / self.num_particles
        terms = {
            "reconstruction": _detach(reconstruction) / self.num_particles,
            "kl": _detach(kl) / self.num_particles,
        }
        return loss, terms


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
    """``meanfield`` (default, fast), ``trace`` (Pyro Trace_ELBO), ``trace_meanfield`` (Pyro's own)."""
    import pyro.infer

    if name == "meanfield":
        return MeanFieldELBO(num_particles)
    if name == "trace":
        return PyroELBO(pyro.infer.Trace_ELBO(num_particles=num_particles))
    if name == "trace_meanfield":
        return PyroELBO(pyro.infer.TraceMeanField_ELBO(num_particles=num_particles))
    raise ValueError(f"unknown objective {name!r}; expected 'meanfield', 'trace' or 'trace_meanfield'")
