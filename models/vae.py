"""VAE and β-VAE (Kingma & Welling 2014; Higgins et al., ICLR 2017).

β-VAE objective (Higgins et al., Eq. 4):  E_q[log p(x|z)] − β · KL(q(z|x) ‖ p(z)),  p(z) = N(0, I).
β enters the Pyro program as ``poutine.scale`` on the latent site in both model and guide, which the
base class does; the prior is the base class's N(0, I). Nothing else differs from the VAE.
"""
from __future__ import annotations

from pyrodisent.model import LatentVariableModel
from pyrodisent.registry import MODELS


@MODELS.register("vae")
class VAE(LatentVariableModel):
    """p(z) = N(0, I), q(z|x) diagonal Gaussian, β = 1: the plain ELBO."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("beta", 1.0)
        super().__init__(*args, **kwargs)


@MODELS.register("beta_vae")
class BetaVAE(LatentVariableModel):
    """The VAE with the KL term weighted by β > 1 (default 4), pressing q(z|x) towards the factorised prior."""

    def __init__(self, *args, beta: float = 4.0, **kwargs):
        super().__init__(*args, beta=beta, **kwargs)
