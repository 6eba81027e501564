"""GP-VAE: Gaussian-process prior over latent time series (Fortuin et al., AISTATS 2020).

Data: sequences x_{1:T} of frames with missing entries (``batch["observed_mask"]``; the encoder
sees missing entries as 0). Latents: k channels, each a path z^j_{1:T} over the frames.

Prior (Sec. 3.2, Eq. 1):   z^j(·) ~ GP(0, k_j),  so  z^j_{1:T} ~ N(0, K_j),  K_j[t, t'] = k_j(t, t'),
                           with the Cauchy kernel k(Δ) = σ (1 + Δ²/ℓ²)⁻¹ by default (Sec. 3.2), or any
                           GPyTorch kernel of ``pyrodisent.gp`` (RBF, Matérn, periodic, sums, products).
Likelihood (Eq. 2):        x_t | z_t ~ p(x_t | g(z_t)), one decoder g for every frame; only observed
                           entries are scored (Sec. 3.4: the ELBO sums log p(x_t^o | z_t) over x^o).
Guide (Sec. 3.3):          q(z^j_{1:T} | x_{1:T}) = N(m_j, Λ_j⁻¹), Λ_j = B_jᵀB_j with B_j upper bidiagonal;
                           m_j and the two bands of B_j come from a CNN over time (``temporal_conv_encoder``),
                           so sampling and log det Λ_j cost O(T) per sequence and channel.
Objective (Sec. 3.4):      Σ_n E_q[log p(x_n^o | z_n)] − β KL(q(z_n | x_n) ‖ p(z_n)), the KL analytic
                           (``pyrodisent.distributions.banded_precision``, O(T²) against the dense prior).
Imputation:                missing entries ← E[x_t | z_t = E_q z_t] (``reconstruct``; ``pyrodisent.evaluation.imputation``).

Reference settings (Healing MNIST): 256 latent channels, Cauchy σ = 1, ℓ = 2, β = 0.8, Bernoulli
likelihood; the reference implementation inverts dense T × T matrices (O(T³) per sequence).
"""
from __future__ import annotations

from typing import Any, Dict

import pyro.distributions as dist
import torch
from torch import nn
from torch.nn.functional import softplus

from pyrodisent.data.batch import Batch
from pyrodisent.distributions import BandedPrecisionNormal
from pyrodisent.gp import GaussianProcessPrior, build_kernel
from pyrodisent.model import LatentVariableModel
from pyrodisent.nn import build_network
from pyrodisent.registry import MODELS


@MODELS.register("gp_vae")
class GPVAE(LatentVariableModel):
    """GP-VAE over sequences of frames, ``observation_shape = (T, *frame_shape)``; ``latent_dim`` is k.

    ``encoder``/``decoder`` (with ``encoder_args``/``decoder_args``) name the per-frame networks, wrapped
    in a CNN over time and a frame-wise decoder.

    :param kernel: kernel spec of :func:`pyrodisent.gp.build_kernel` (``cauchy``, ``rbf``, ``matern32``,
        ``periodic``, ``rbf+periodic``, ...).
    :param length_scale, kernel_scale, period: its hyperparameters (ℓ in frames, prior variance σ, period).
    :param learn_kernel: learn the hyperparameters (one set per channel) instead of fixing them.
    :param jitter: added to the diagonal of each K_j.
    :param window: frames seen by the encoder's temporal convolution (odd; the reference uses 3).
    :param features: per-frame feature width of the encoder.
    """

    batch_needs = frozenset({"sequence"})  # what each batch must carry (pyrodisent.protocols.base)

    def __init__(self, observation_shape, latent_dim: int, num_data: int, *, kernel: str = "cauchy",
                 length_scale: float = 2.0, kernel_scale: float = 1.0, period: float = 10.0,
                 learn_kernel: bool = False, jitter: float = 1e-3, window: int = 3, features: int = 256,
                 likelihood: str = "bernoulli", **kwargs):
        if kwargs.get("encode_aux") or kwargs.get("aux_dim"):
            raise ValueError("gp_vae has no auxiliary variable: the frame times index its prior")
        if isinstance(observation_shape, int) or len(observation_shape) < 2:
            raise ValueError(f"gp_vae needs sequences, observation_shape (T, *frame_shape); got {observation_shape}")
        self.window, self.features = int(window), int(features)  # read by build_encoder during __init__
        super().__init__(observation_shape, latent_dim, num_data, likelihood=likelihood, **kwargs)
        kernel_module = build_kernel(kernel, self.latent_dim, length_scale=length_scale, scale=kernel_scale,
                                     period=period, learn=learn_kernel)
        self.gaussian_process = GaussianProcessPrior(kernel_module, self.num_frames, jitter=jitter)

    @property
    def num_frames(self) -> int:
        return self.observation_shape[0]

    @property
    def latent_event_shape(self):
        """One sequence's latents: a path over the T frames for each of the k channels, (k, T)."""
        return (self.latent_dim, self.num_frames)

    def build_encoder(self, name: str, args: Dict[str, Any]) -> nn.Module:
        """Per frame t and channel j: m_j(t), the raw diagonal and the raw superdiagonal of B_j — (T, 3k)."""
        return build_network("temporal_conv_encoder", self.observation_shape, (self.num_frames, 3 * self.latent_dim),
                             frame_network=name, frame_args=args, features=self.features, window=self.window)

    def build_decoder(self, name: str, args: Dict[str, Any]) -> nn.Module:
        """g applied to z_t at every frame: paths (k, T) → (T, *frame_shape)."""
        return build_network("framewise_decoder", (self.latent_dim, self.num_frames), self.observation_shape,
                             frame_network=name, frame_args=args)

    # ------------------------------------------------------------------ the generative story
    def prior(self, batch: Batch) -> dist.Distribution:
        """Eq. 1: for each sequence, k independent GPs over the frame times — batch (B,), event (k, T)."""
        return self.gaussian_process((batch.size,)).to_event(1)

    def posterior(self, batch: Batch) -> dist.Distribution:
        """Sec. 3.3: q(z^j_{1:T} | x) = N(m_j, (B_jᵀB_j)⁻¹) per channel — batch (B,), event (k, T).

        B_j is read as a backward Gauss–Markov chain, z_t = m_t + ρ_t (z_{t+1} − m_{t+1}) + s_t ε_t:
        B_tt = 1/s_t and B_{t,t+1} = −ρ_t/s_t, with s_t > 0 (softplus, as the VAE's scale) and
        ρ_t ∈ (−1, 1) (tanh), so that Var q stays bounded however long the sequence.
        """
        out = self.encoder(batch.x).transpose(-1, -2)  # (B, 3k, T)
        loc, raw_scale, raw_coefficient = out.chunk(3, dim=-2)  # (B, k, T) each
        diagonal = 1 / (softplus(raw_scale) + 1e-4)
        superdiagonal = -torch.tanh(raw_coefficient[..., :-1]) * diagonal[..., :-1]
        return BandedPrecisionNormal(loc, diagonal, superdiagonal).to_event(1)

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def encode_frames(self, batch: Batch, sample: bool = False) -> torch.Tensor:
        """Per-frame codes: the posterior mean (or a draw) of z_t, shape (B, T, k)."""
        return self.encode(batch, sample=sample).transpose(-1, -2)
