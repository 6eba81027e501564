"""Gaussian-process priors over time from GPyTorch kernels: one independent GP per latent channel.

A kernel is built by name from :data:`KERNELS` with ``batch_shape = (L,)`` — one set of
hyperparameters per latent channel — and evaluated at the frame times; :class:`GaussianProcessPrior`
turns it into the covariance of a Pyro ``MultivariateNormal`` over the T frames of every channel:

    z_l(·) ~ GP(0, k_l)   ⇒   (z_l(t_0), …, z_l(t_{T−1})) ~ N(0, K_l + jitter · I),   K_l[i, j] = k_l(t_i, t_j).

Kernel names (``build_kernel``): ``cauchy`` (the GP-VAE default), ``rbf``, ``matern12``, ``matern32``,
``matern52``, ``periodic``, and sums and products of them written as ``"rbf+periodic"`` or
``"rbf*periodic"`` (``*`` binds tighter than ``+``). Each term of a sum is a ``ScaleKernel`` with
output scale ``scale / number of terms``, so the prior variance k(t, t) is ``scale`` whatever the sum.

The Cauchy kernel of Fortuin et al. (2020), k(Δ) = σ / (1 + Δ²/ℓ²), is GPyTorch's rational-quadratic
kernel (1 + Δ²/(2αℓ_RQ²))^(−α) with α = 1 (fixed) and ℓ_RQ = ℓ/√2, under a ``ScaleKernel`` with output
scale σ. Periodic: GPyTorch's exp(−2 sin²(πΔ/p) / ℓ) with period p.

Kernels are ``nn.Module`` state (raw, constrained hyperparameters): registered as a submodule of a
model they move with ``.to(device)`` and are saved in its ``state_dict``. The trainer optimises
``model.parameters()`` with torch's Adam, so they need no ``pyro.module``/param-store entry; with
``learn=False`` they are frozen (``requires_grad = False``).

Cost: the Cholesky factor and inverse of K (O(L·T³)) are shared by all the sequences of a batch; with
frozen hyperparameters they are computed once and cached (recomputed when the kernel's parameters or
device change), so the prior then costs nothing per step.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import gpytorch
import pyro.distributions as dist
import torch
from torch import nn

from pyrodisent.registry import Registry

KERNELS = Registry("kernel", hint="Combine them with '+' and '*', e.g. 'rbf+periodic'.")


def _set(kernel: gpytorch.kernels.Kernel, **values: float) -> gpytorch.kernels.Kernel:
    """Set constrained hyperparameters (``lengthscale``, ``alpha``, ...) to constant values."""
    for name, value in values.items():
        current = getattr(kernel, name)
        setattr(kernel, name, torch.full_like(current, float(value)))
    return kernel


@KERNELS.register("cauchy")
def cauchy_kernel(batch_shape: torch.Size, length_scale: float = 2.0, **_) -> gpytorch.kernels.Kernel:
    """1 / (1 + Δ²/ℓ²): GPyTorch's RQ kernel with α = 1 (frozen) and ℓ_RQ = ℓ/√2 (module docstring)."""
    kernel = _set(gpytorch.kernels.RQKernel(batch_shape=batch_shape), lengthscale=length_scale / math.sqrt(2),
                  alpha=1.0)
    kernel.raw_alpha.requires_grad_(False)
    return kernel


@KERNELS.register("rbf")
def rbf_kernel(batch_shape: torch.Size, length_scale: float = 2.0, **_) -> gpytorch.kernels.Kernel:
    """exp(−Δ² / (2ℓ²))."""
    return _set(gpytorch.kernels.RBFKernel(batch_shape=batch_shape), lengthscale=length_scale)


def _matern(nu: float):
    def build(batch_shape: torch.Size, length_scale: float = 2.0, **_) -> gpytorch.kernels.Kernel:
        return _set(gpytorch.kernels.MaternKernel(nu=nu, batch_shape=batch_shape), lengthscale=length_scale)

    build.__doc__ = f"Matérn ν = {nu} with length scale ℓ (ν = 1/2 is the Ornstein–Uhlenbeck kernel)."
    build.__qualname__ = build.__name__ = f"matern{int(2 * nu)}2_kernel"
    return build


KERNELS.register("matern12")(_matern(0.5))
KERNELS.register("matern32")(_matern(1.5))
KERNELS.register("matern52")(_matern(2.5))


@KERNELS.register("periodic")
def periodic_kernel(batch_shape: torch.Size, length_scale: float = 2.0, period: float = 10.0,
                    **_) -> gpytorch.kernels.Kernel:
    """exp(−2 sin²(πΔ/p) / ℓ) with period p (GPyTorch's parametrisation)."""
    return _set(gpytorch.kernels.PeriodicKernel(batch_shape=batch_shape), lengthscale=length_scale,
                period_length=period)


def build_kernel(spec: str, num_channels: int, length_scale: float = 2.0, scale: float = 1.0,
                 period: float = 10.0, learn: bool = False) -> gpytorch.kernels.Kernel:
    """A GPyTorch kernel with ``batch_shape = (num_channels,)`` from a name or a sum of products of names.

    :param spec: e.g. ``"cauchy"``, ``"rbf+periodic"``, ``"matern32*periodic+rbf"``.
    :param num_channels: L, the number of latent channels (one GP, one set of hyperparameters each).
    :param length_scale: ℓ of every base kernel (Cauchy: in its own parametrisation, see the module).
    :param scale: the prior variance k(t, t) (shared evenly among the terms of a sum).
    :param period: p of the periodic kernel, in frames.
    :param learn: learn the hyperparameters (per channel); otherwise they are frozen.
    """
    if num_channels < 1:
        raise ValueError(f"num_channels must be ≥ 1, got {num_channels}")
    if scale <= 0 or length_scale <= 0 or period <= 0:
        raise ValueError(f"scale, length_scale and period must be positive, got {scale}, {length_scale}, {period}")
    terms = [term.strip() for term in spec.split("+")]
    if not spec.strip() or any(not term for term in terms):
        raise ValueError(f"kernel spec {spec!r} has an empty term; expected e.g. 'cauchy' or 'rbf+periodic'")
    batch_shape = torch.Size([num_channels])
    kernel: Optional[gpytorch.kernels.Kernel] = None
    for term in terms:
        names = [name.strip() for name in term.split("*")]
        product = None
        for name in names:
            factor = KERNELS.build(name, batch_shape, length_scale=length_scale, period=period)
            product = factor if product is None else product * factor
        scaled = gpytorch.kernels.ScaleKernel(product, batch_shape=batch_shape)
        scaled.outputscale = torch.full_like(scaled.outputscale, scale / len(terms))
        kernel = scaled if kernel is None else kernel + scaled
    frozen = {id(p) for k in kernel.modules() if isinstance(k, gpytorch.kernels.RQKernel) for p in [k.raw_alpha]}
    for parameter in kernel.parameters():
        parameter.requires_grad_(learn and id(parameter) not in frozen)
    return kernel


class GaussianProcessPrior(nn.Module):
    """L independent GPs over T frame times: a ``MultivariateNormal`` with batch shape ``(..., L)``, event ``(T,)``.

    :param kernel: a GPyTorch kernel with ``batch_shape = (L,)`` (e.g. from :func:`build_kernel`).
    :param num_frames: T.
    :param time_step: the time between frames (frame t is at time ``t · time_step``).
    :param jitter: added to the diagonal of every K_l (the GP-VAE reference adds 10⁻³).
    """

    def __init__(self, kernel: gpytorch.kernels.Kernel, num_frames: int, time_step: float = 1.0,
                 jitter: float = 1e-3):
        super().__init__()
        if len(kernel.batch_shape) != 1:
            raise ValueError(f"the kernel must have batch_shape (L,) — one GP per latent channel — got "
                             f"{tuple(kernel.batch_shape)}")
        if num_frames < 1:
            raise ValueError(f"num_frames must be ≥ 1, got {num_frames}")
        self.kernel = kernel
        self.jitter = float(jitter)
        self.register_buffer("times", torch.arange(num_frames, dtype=torch.float32)[:, None] * time_step,
                             persistent=False)
        self._cache: Dict[str, object] = {}

    @property
    def num_channels(self) -> int:
        return self.kernel.batch_shape[0]

    @property
    def num_frames(self) -> int:
        return self.times.shape[0]

    @property
    def learned(self) -> bool:
        return any(parameter.requires_grad for parameter in self.kernel.parameters())

    def covariance(self) -> torch.Tensor:
        """K_l(t, t) + jitter · I for every channel, ``(L, T, T)`` (GPyTorch's lazy kernel made dense)."""
        matrix = self.kernel(self.times).to_dense()
        return matrix + self.jitter * torch.eye(self.num_frames, dtype=matrix.dtype, device=matrix.device)

    def factors(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """(Cholesky factor, precision) of every K_l, ``(L, T, T)`` each: O(L·T³), in float64, cached when frozen."""
        if not self.learned:
            key = (self.times.device, self.times.dtype, self.num_frames,
                   tuple((p.data_ptr(), p._version) for p in self.kernel.parameters()))
            if self._cache.get("key") != key:
                with torch.no_grad():
                    self._cache = {"key": key, "value": self._factors()}
            return self._cache["value"]  # type: ignore[return-value]
        return self._factors()

    def _factors(self) -> Tuple[torch.Tensor, torch.Tensor]:
        covariance = self.covariance()
        scale_tril = torch.linalg.cholesky(covariance.double())
        precision = torch.cholesky_inverse(scale_tril)
        return scale_tril.to(covariance.dtype), precision.to(covariance.dtype)

    def forward(self, batch_shape: torch.Size | Tuple[int, ...] = ()) -> dist.MultivariateNormal:
        """N(0, K_l) for each of ``batch_shape`` sequences and L channels: batch ``(*batch_shape, L)``, event ``(T,)``.

        The precision K⁻¹ (which the KL to a banded-precision guide reads) is attached to the
        distribution, so it is computed once per channel, not once per sequence.
        """
        scale_tril, precision = self.factors()
        shape = torch.Size(batch_shape) + (self.num_channels,)
        loc = scale_tril.new_zeros(shape + (self.num_frames,))
        prior = dist.MultivariateNormal(loc, scale_tril=scale_tril)
        prior.__dict__["precision_matrix"] = precision.expand(shape + precision.shape[-2:])  # torch's lazy_property
        return prior

    def _apply(self, fn, *args, **kwargs):
        self._cache = {}
        return super()._apply(fn, *args, **kwargs)
