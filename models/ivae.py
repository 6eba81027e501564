"""iVAE: identifiable VAE with a conditionally factorial prior (Khemakhem et al., AISTATS 2020).

Generative model (Eq. 5–7):   z | u ~ p_λ(z|u) = Π_j N(z_j; μ_j(u), exp(log σ²_j(u))),   x = f(z) + ε.
Guide:                         q(z | x, u) = N(g(x, u), diag σ²(x, u)).
Identifiability (Thm. 1) needs the variances to vary with u; with only the means depending on u
(``learn_prior_mean=True`` alone) z is identified only up to a linear map (Prop. 1). The official
code models the variance only (mean 0), which is the default here.
"""
from __future__ import annotations

from typing import Sequence

import pyro.distributions as dist
import torch

from pyrodisent.data.batch import Batch
from pyrodisent.model import LatentVariableModel
from pyrodisent.nn import build_network
from pyrodisent.registry import MODELS


@MODELS.register("ivae")
class IVAE(LatentVariableModel):
    """:param prior_hidden: hidden widths of the MLP λ(u); :param learn_prior_mean: also learn μ(u)."""

    def __init__(self, *args, prior_hidden: Sequence[int] = (100, 100), prior_activation: str = "xtanh",
                 learn_prior_mean: bool = False, **kwargs):
        kwargs.setdefault("encode_aux", True)
        super().__init__(*args, **kwargs)
        if self.aux_dim == 0:
            raise ValueError("iVAE needs an auxiliary variable u: set aux_dim to its size (e.g. the number of segments)")
        self.learn_prior_mean = learn_prior_mean
        outputs = 2 * self.latent_dim if learn_prior_mean else self.latent_dim
        self.prior_net = build_network("mlp", (self.aux_dim,), (outputs,), hidden=prior_hidden,
                                       activation_name=prior_activation)

    def prior(self, batch: Batch) -> dist.Distribution:
        out = self.prior_net(batch.u)
        loc, log_var = out.chunk(2, -1) if self.learn_prior_mean else (torch.zeros_like(out), out)
        return dist.Normal(loc, (0.5 * log_var).exp()).to_event(1)
