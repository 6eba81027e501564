"""Importance-weighted training of the local posterior (Burda et al. 2016, IWAE, Eq. 8).

For each data point n, S samples z_{n,s} ~ q(z | x_n) and the bound

    L_S(x_n) = log (1/S) Σ_s p(x_n, z_{n,s} | g) / q(z_{n,s} | x_n)          (IWAE, Eq. 8)

which is the ELBO at S = 1 and tightens towards log p(x_n | g) as S grows (Burda et al., Theorem 1).
Trained on L_S, the guide is no longer penalised for putting mass where the posterior has little, so
it tends to cover the posterior rather than sit inside it — what PSIS k̂ of the guide as a proposal
asks for (whether it gets there on a given model is an empirical question: see the README).

Global sites g (outside the data plate) keep the ELBO's terms: one draw shared by every sample, with
KL(q(g) ‖ p(g)) analytic where torch has it, as :class:`~pyrodisent.infer.MeanFieldELBO`.

All S samples of a minibatch run through the networks in one pass (the batch stacked S times, so any
network works). Each local site's ``scale`` and ``mask`` enter the log weight relative to the data
plate's N/B: a KL warm-up β multiplies log p(z) − log q(z) inside the weight (an annealed IWAE) and a
tempered likelihood λ multiplies log p(x | z). The gradient is the plain IWAE estimator, whose
signal-to-noise ratio for the encoder falls as O(1/√S) (Rainforth et al. 2018, "Tighter variational
bounds are not necessarily better").
"""
from __future__ import annotations

import math
from typing import Callable, Tuple

import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import site_is_subsample

from pyrodisent.infer.elbo import LossTerms, MeanFieldELBO, _detach
from pyrodisent.infer.traces import data_plate_frame, guide_only_log_prob
from pyrodisent.sites import DATA_PLATE


class ImportanceWeightedELBO(MeanFieldELBO):
    """Negative IWAE bound of the local sites with ``num_samples`` importance samples per data point.

    :param num_samples: S ≥ 2 (S = 1 is the ELBO: use :class:`~pyrodisent.infer.MeanFieldELBO`).
    """

    def __init__(self, num_samples: int = 8):
        if num_samples < 2:
            raise ValueError(f"num_samples must be ≥ 2 for an importance-weighted bound (1 is the ELBO), "
                             f"got {num_samples}")
        super().__init__(num_particles=1)
        self.num_samples = int(num_samples)

    def __call__(self, model: Callable, guide: Callable, batch, **kwargs) -> Tuple[torch.Tensor, LossTerms]:
        """Returns ``(loss, terms)``: the negative bound (N-scaled, like the ELBO's loss) and its parts
        ``local_bound`` (−Σ_n L_S(x_n) scaled to the dataset) and ``kl`` (global KL terms), detached."""
        repeated = batch.repeat(self.num_samples)
        guide_trace = poutine.trace(guide).get_trace(repeated, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(repeated, **kwargs)
        log_w, dataset_scale = self.local_log_weights(model_trace, guide_trace, batch.size)
        bound = torch.logsumexp(log_w, 0) - math.log(self.num_samples)  # (B,)
        local = -dataset_scale * bound.sum()
        kl = self.global_terms(model_trace, guide_trace)
        return local + kl, {"local_bound": _detach(local), "kl": _detach(kl)}

    def local_log_weights(self, model_trace, guide_trace, batch_size: int) -> Tuple[torch.Tensor, float]:
        """(log w of shape (S, B), N/B): Σ over data-plate sites of scale-weighted log p − log q."""
        log_w = 0.0
        dataset_scale = None
        for trace, sign in ((model_trace, 1.0), (guide_trace, -1.0)):
            for name, site in trace.nodes.items():
                if site["type"] != "sample" or site_is_subsample(site):
                    continue
                frame = data_plate_frame(site)
                if frame is None:
                    continue
                if sign < 0 and name not in model_trace.nodes:
                    raise ValueError(f"guide-only site {name!r} inside the {DATA_PLATE!r} plate: the importance-"
                                     "weighted objective supports auxiliary guide sites only outside the data plate")
                if sign < 0 and not site["fn"].has_rsample:
                    raise ValueError(f"guide site {name!r} ({type(site['fn']).__name__}) is not reparameterisable")
                plate_scale = (frame.full_size or frame.size) / frame.size
                dataset_scale = plate_scale * self.num_samples
                log_p = site["fn"].log_prob(site["value"])
                log_w = log_w + sign * scale_and_mask(log_p, site["scale"] / plate_scale, site["mask"])
        if dataset_scale is None:
            raise ValueError(f"the model has no sample site inside the {DATA_PLATE!r} plate to weight")
        return log_w.reshape(self.num_samples, batch_size), dataset_scale

    def global_terms(self, model_trace, guide_trace):
        """Σ of the ELBO's terms of the sites outside the data plate (KL of global latents, global
        observations, log q of the guide's auxiliary sites)."""
        total = 0.0
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample" or site_is_subsample(site) or data_plate_frame(site) is not None:
                continue
            if site["is_observed"]:
                total = total - scale_and_mask(site["fn"].log_prob(site["value"]), site["scale"], site["mask"]).sum()
            else:
                total = total + self.latent_site_kl(name, site, guide_trace)
        return total + guide_only_log_prob(model_trace, guide_trace)
