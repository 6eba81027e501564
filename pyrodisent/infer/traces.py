"""Reading the shared sites out of a model/guide trace pair (for objectives and penalties)."""
from __future__ import annotations

from typing import Tuple

import torch
from pyro.distributions.util import scale_and_mask
from pyro.poutine import Trace
from pyro.poutine.util import site_is_subsample
from torch.distributions import kl_divergence

from pyrodisent.sites import DATA_PLATE, LATENT_SITE


def data_plate_frame(site):
    """The data plate's frame around ``site``, or ``None`` when the site is outside it (a global site)."""
    return next((frame for frame in site["cond_indep_stack"] if frame.name == DATA_PLATE), None)


def data_plate_size(site) -> Tuple[int, int]:
    """(minibatch size B, dataset size N) of the data plate around ``site``."""
    frame = data_plate_frame(site)
    if frame is not None:
        return frame.size, frame.full_size or frame.size
    raise ValueError(f"site {site['name']!r} is not inside the {DATA_PLATE!r} plate")


def base_distribution(fn):
    """The element-wise distribution under ``Independent``/masking wrappers."""
    while hasattr(fn, "base_dist"):
        fn = fn.base_dist
    return fn


def latent_kl_per_point(model_trace: Trace, guide_trace: Trace, site: str = LATENT_SITE) -> torch.Tensor:
    """KL(q(z_n | x_n) ‖ p(z_n | ·)) for each point of the minibatch, shape (B,), unscaled."""
    return kl_divergence(guide_trace.nodes[site]["fn"], model_trace.nodes[site]["fn"])


def gaussian_posterior_params(guide_trace: Trace, site: str = LATENT_SITE) -> Tuple[torch.Tensor, torch.Tensor]:
    """(loc, scale), each (B, K), of a diagonal Gaussian guide at ``site``."""
    base = base_distribution(guide_trace.nodes[site]["fn"])
    if not hasattr(base, "loc") or not hasattr(base, "scale"):
        raise TypeError(f"site {site!r} of the guide is a {type(base).__name__}, not a location-scale distribution")
    return base.loc, base.scale


def guide_only_log_prob(model_trace: Trace, guide_trace: Trace):
    """Σ scale · log q over the guide's sample sites that the model does not have, differentiable (0.0
    when there are none).

    Such sites are auxiliary variables of the guide — e.g. AutoNormal's ``<site>_unconstrained``, from
    which it computes the model site's value. Their log q is part of log q(z) of the ELBO, so the loss
    adds it, as ``TraceMeanField_ELBO`` and ``Trace_ELBO`` do. Pyro requires them to be marked
    ``infer={"is_auxiliary": True}`` (the autoguides do); an unmarked guide-only site is a mistake (a
    misspelt or missing model site) and raises.
    """
    total = 0.0
    model_nodes = model_trace.nodes
    for name, site in guide_trace.nodes.items():
        if site["type"] != "sample" or name in model_nodes or site_is_subsample(site):
            continue
        if not site["infer"].get("is_auxiliary", False):
            raise ValueError(
                f"guide site {name!r} has no counterpart in the model: sample it in the model too, or mark it "
                "infer={'is_auxiliary': True} if it is an auxiliary variable of the guide (as Pyro's autoguides do)"
            )
        fn = site["fn"]
        if not fn.has_rsample:
            raise ValueError(
                f"auxiliary guide site {name!r} ({type(fn).__name__}) is not reparameterisable; "
                "train with objective='trace' (Pyro's Trace_ELBO) instead"
            )
        total = total + scale_and_mask(fn.log_prob(site["value"]), site["scale"], site["mask"]).sum()
    return total
