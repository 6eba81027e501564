"""Reading the shared sites out of a model/guide trace pair (for objectives and penalties)."""
from __future__ import annotations

from typing import Tuple

import torch
from pyro.poutine import Trace
from torch.distributions import kl_divergence

from pyrodisent.sites import DATA_PLATE, LATENT_SITE


def data_plate_size(site) -> Tuple[int, int]:
    """(minibatch size B, dataset size N) of the data plate around ``site``."""
    for frame in site["cond_indep_stack"]:
        if frame.name == DATA_PLATE:
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
