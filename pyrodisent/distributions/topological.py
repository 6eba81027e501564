"""Priors over latent blocks with a topology: points, segments, loops — and their product.

**Tilted Gaussian** (Floto et al., ICLR 2023, Eq. 3): p_τ(z) ∝ exp(τ‖z‖) N(z; 0, I_d). In polar form
z = r·u, u uniform on the sphere S^{d−1}, and the radius has density ∝ r^{d−1} exp(τr − r²/2), so

    log p_τ(z) = τ‖z‖ − ‖z‖²/2 − log A_{d−1} − log I_d(τ),   I_d(τ) = ∫_0^∞ r^{d−1} exp(τr − r²/2) dr,

with A_{d−1} = 2π^{d/2}/Γ(d/2) the area of the unit sphere (2 for d = 1). log I_d(τ) is computed in log
space around the mode r* = (τ + √(τ² + 4(d−1)))/2 of f(r) = (d−1) log r + τr − r²/2 by Gauss–Legendre
quadrature of exp(f(r) − f(r*)), so it neither overflows (τ = 50: f(r*) ≈ 1250) nor loses the
small-τ end; it is differentiable in τ (∂ log I_d/∂τ = E[r]). Sampling is exact: u from a normalised
Gaussian, r by rejection (in float64) — f is concave with f'' ≤ −1, so f(r) ≤ f(r*) − (r − r*)²/2 and
N(r*, 1) truncated to r > 0 is an envelope.

**Smoothed segment**: the uniform distribution on [a, b] convolved with N(0, w²), a bounded factor whose
end points soften with w: p(z) = (Φ((z − a)/w) − Φ((z − b)/w)) / (b − a); exact, reparameterised sampling.

**Gaussian points**: an equal-weight mixture of k narrow Gaussians, N(c_j, w²).

**Circle** (a loop in polar form): z_b = (cos θ, sin θ) lies on the unit circle itself, with the uniform
prior p(θ) = 1/2π, and the posterior is the projected normal (Hernandez-Stumpfhauser et al. 2017),
z_b = (m + ε)/‖m + ε‖, ε ~ N(0, I_2), whose concentration ‖m‖ the encoder sets: reparameterised, and free
(KL 0 at m = 0) for a block left unused — where ``loop``, a Gaussian posterior under a ring-shaped prior,
charges KL to a block whose codes sit off the ring. A circle block holds nothing but an angle; which
factor takes it, the prior does not decide (on ``circular_sprites`` the positions did, as arcs).

**Blocks** are modules that hold a block's parameters (learnable point centres) and return its
distribution at a sharpness that anneals from flat (progress 0) to sharp (progress 1), and the family of
its posterior (:meth:`TopologyBlock.posterior`: a diagonal Gaussian but for circles); a
:class:`ProductPrior` of blocks is the prior of a topology-aware VAE, p(z) = Π_b p_b(z_b).
"""
from __future__ import annotations

import functools
import math
import re
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from pyro.distributions import Normal as _Normal
from pyro.distributions import ProjectedNormal, TorchDistribution
from torch import nn
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

#: Gauss–Legendre nodes of the radial integral, and its half-width in standard deviations of the mode
QUADRATURE_NODES = 400
QUADRATURE_HALF_WIDTH = 40.0


# ------------------------------------------------------------------ the tilted Gaussian
def log_sphere_area(dim: int) -> float:
    """log A_{d−1}, the area of the unit sphere in R^d (log 2 for d = 1)."""
    return math.log(2.0) + (dim / 2) * math.log(math.pi) - math.lgamma(dim / 2)


def radial_mode(tau: torch.Tensor, dim: int) -> torch.Tensor:
    """r* maximising f(r) = (d−1) log r + τr − r²/2 over r ≥ 0: the positive root of r² − τr − (d−1) = 0
    (r* = τ for d = 1, written so, since √(τ²) has no derivative at τ = 0)."""
    if dim == 1:
        return tau.clamp_min(0.0)
    return (tau + torch.sqrt(tau ** 2 + 4 * (dim - 1))) / 2


def radial_log_density(r: torch.Tensor, tau: torch.Tensor, dim: int) -> torch.Tensor:
    """f(r) = (d−1) log r + τr − r²/2 (for d = 1 without the log term, which is 0)."""
    f = tau * r - r ** 2 / 2
    return f + (dim - 1) * torch.log(r) if dim > 1 else f


def log_radial_integral(tau, dim: int) -> torch.Tensor:
    """log I_d(τ) = log ∫_0^∞ r^{d−1} exp(τr − r²/2) dr, elementwise in ``tau`` (any shape; float64 inside,
    returned in ``tau``'s floating dtype, else the default dtype).

    Gauss–Legendre quadrature of exp(f(r) − f(r*)) over r* ± 40 standard deviations of the mode, σ* =
    1/√(−f''(r*)) = 1/√(1 + (d−1)/r*²), clipped at 0: within 1e-11 relative of 30-digit quadrature for
    d ≤ 50, τ ≤ 200. Differentiable in τ: the window (and f(r*), which cancels) is held fixed, so the
    gradient is that of the integral itself, ∂ log I_d/∂τ = E[r].
    """
    tau = torch.as_tensor(tau)
    dtype = tau.dtype if tau.is_floating_point() else torch.get_default_dtype()
    tau64 = tau.to(torch.float64)
    with torch.no_grad():  # where the nodes go is a numerical choice, not a function of τ to differentiate
        mode = radial_mode(tau64, dim)
        spread = 1 / torch.sqrt(1 + (dim - 1) / mode.clamp_min(1e-12) ** 2)
        low = (mode - QUADRATURE_HALF_WIDTH * spread).clamp_min(0.0)
        high = mode + QUADRATURE_HALF_WIDTH * spread
        nodes, weights = (rule.to(tau64.device) for rule in legendre_rule(QUADRATURE_NODES))
        half = (high - low) / 2
        r = low.unsqueeze(-1) + half.unsqueeze(-1) * (nodes + 1)  # (..., nodes)
        peak = radial_log_density(mode, tau64, dim)
    values = radial_log_density(r, tau64.unsqueeze(-1), dim) - peak.unsqueeze(-1)
    result = peak + torch.log(half) + torch.logsumexp(values + torch.log(weights), dim=-1)
    return result.to(dtype)


@functools.lru_cache(maxsize=4)
def legendre_rule(num_nodes: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Gauss–Legendre nodes and weights on [−1, 1] (float64), computed once per size."""
    nodes, weights = np.polynomial.legendre.leggauss(num_nodes)
    return torch.as_tensor(nodes), torch.as_tensor(weights)


class TiltedNormal(TorchDistribution):
    """p_τ(z) ∝ exp(τ‖z‖/σ) N(z; 0, σ² I_d) (Floto et al. 2023, with a scale σ): event shape (d,), batch
    shape of ``tau`` and ``scale``; z/σ has the tilted density of the module docstring.

    :param tau: τ ≥ 0 (0: the normal N(0, σ² I)); the density concentrates near the sphere of radius ≈ τσ,
        with a radial spread of about σ.
    :param dim: d ≥ 1.
    :param scale: σ > 0.
    """

    arg_constraints = {"tau": constraints.nonnegative, "scale": constraints.positive}
    support = constraints.real_vector
    has_rsample = False

    def __init__(self, tau, dim: int, scale=1.0, validate_args=None):
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be an integer ≥ 1, got {dim}")
        tau = torch.as_tensor(tau)
        tau = tau if tau.is_floating_point() else tau.to(torch.get_default_dtype())
        scale = torch.as_tensor(scale, dtype=tau.dtype, device=tau.device)
        self.tau, self.scale = torch.broadcast_tensors(tau, scale)
        self.dim = int(dim)
        super().__init__(self.tau.shape, torch.Size([self.dim]), validate_args=validate_args)
        #: log Z = log A_{d−1} + log I_d(τ) + d log σ, the batch shape (differentiable in τ and σ)
        self.log_normalizer = (log_sphere_area(self.dim) + log_radial_integral(self.tau, self.dim)
                               + self.dim * torch.log(self.scale))

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(TiltedNormal, _instance)
        batch_shape = torch.Size(batch_shape)
        new.tau, new.scale = self.tau.expand(batch_shape), self.scale.expand(batch_shape)
        new.dim = self.dim
        new.log_normalizer = self.log_normalizer.expand(batch_shape)
        super(TiltedNormal, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        radius = value.pow(2).sum(-1).clamp_min(1e-30).sqrt() / self.scale  # a finite gradient at z = 0
        return self.tau * radius - radius ** 2 / 2 - self.log_normalizer.to(value.dtype)

    @torch.no_grad()
    def sample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        direction = torch.randn(shape, dtype=self.tau.dtype, device=self.tau.device)
        direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-30)
        # the radius in float64: at τ = 50 the acceptance exponent is a difference of numbers near 1250
        radius = sample_radius(self.tau.to(torch.float64).expand(shape[:-1]), self.dim).to(direction.dtype)
        return direction * (self.scale.expand(shape[:-1]) * radius).unsqueeze(-1)

    @property
    def mean(self):
        return torch.zeros(self._extended_shape(), dtype=self.tau.dtype, device=self.tau.device)


@torch.no_grad()
def sample_radius(tau: torch.Tensor, dim: int, max_rounds: int = 1000) -> torch.Tensor:
    """Exact draws of r ∝ r^{d−1} exp(τr − r²/2), one per element of ``tau``, by rejection from N(r*, 1)
    truncated to r > 0 (an envelope because f'' ≤ −1)."""
    mode = radial_mode(tau, dim)
    result = torch.empty_like(tau)
    pending = torch.ones_like(tau, dtype=torch.bool)
    for _ in range(max_rounds):
        if not pending.any():
            return result
        centre, rate = mode[pending], tau[pending]
        proposal = centre + torch.randn_like(centre)
        log_accept = (radial_log_density(proposal.clamp_min(1e-30), rate, dim) - radial_log_density(centre, rate, dim)
                      + (proposal - centre) ** 2 / 2)
        accept = (proposal > 0) & (torch.rand_like(centre).log() < log_accept)
        chosen = result[pending]
        chosen[accept] = proposal[accept]
        result[pending] = chosen
        still = pending.clone()
        still[pending] = ~accept
        pending = still
    raise RuntimeError(f"rejection sampling of the tilted radius did not finish in {max_rounds} rounds")


# ------------------------------------------------------------------ segments and points
def _log_difference_of_exps(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(exp(a) − exp(b)) for a > b, stable when both are very negative."""
    return a + torch.log(-torch.expm1(b - a))


class SmoothedSegment(TorchDistribution):
    """The uniform distribution on [low, high] convolved with N(0, width²): event shape ().

    :param low: a, the left end, any shape.
    :param high: b > a, the right end.
    :param width: w > 0, the standard deviation of the smoothing.

    Tensors or numbers, broadcast together (the batch shape; numbers take the tensors' dtype).

    ``log_prob`` is finite far into the tails (|z| ≫ w); ``rsample`` is a + (b − a) u + w ε, u ~ U(0, 1),
    ε ~ N(0, 1), differentiable in all three parameters.
    """

    arg_constraints = {"low": constraints.real, "high": constraints.real, "width": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, low, high, width, validate_args=None):
        self.low, self.high, self.width = broadcast_all(low, high, width)
        super().__init__(self.low.shape, torch.Size(), validate_args=validate_args)
        if self._validate_args and not bool((self.low < self.high).all()):  # as torch's Uniform checks it
            raise ValueError(f"SmoothedSegment needs low < high, got low {self.low} and high {self.high}")

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(SmoothedSegment, _instance)
        batch_shape = torch.Size(batch_shape)
        new.low, new.high, new.width = (v.expand(batch_shape) for v in (self.low, self.high, self.width))
        super(SmoothedSegment, new).__init__(batch_shape, torch.Size(), validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        # The density is symmetric about the middle m: score the mirror image d = −|z − m| ≤ 0, where
        # Φ((d + h)/w) − Φ((d − h)/w) subtracts a small Φ from a larger one (no cancellation, no branch
        # whose gradient could be NaN).
        half = (self.high - self.low) / 2
        distance = -(value - (self.low + self.high) / 2).abs()
        upper, lower = (distance + half) / self.width, (distance - half) / self.width
        return (_log_difference_of_exps(torch.special.log_ndtr(upper), torch.special.log_ndtr(lower))
                - torch.log(self.high - self.low))

    def rsample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        uniform = torch.rand(shape, dtype=self.low.dtype, device=self.low.device)
        noise = torch.randn(shape, dtype=self.low.dtype, device=self.low.device)
        return self.low + (self.high - self.low) * uniform + self.width * noise

    @property
    def mean(self):
        return ((self.low + self.high) / 2).expand(self.batch_shape)

    @property
    def variance(self):
        return ((self.high - self.low) ** 2 / 12 + self.width ** 2).expand(self.batch_shape)


class GaussianPoints(TorchDistribution):
    """An equal-weight mixture of k Gaussians N(c_j, width²): ``centres`` (…, k), event shape ()."""

    arg_constraints = {"centres": constraints.real_vector, "width": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, centres, width, validate_args=None):
        self.centres = (centres if torch.is_tensor(centres)
                        else torch.as_tensor(centres, dtype=torch.get_default_dtype()))
        if self.centres.dim() < 1 or self.centres.shape[-1] < 1:
            raise ValueError(f"centres must have a last dimension of k ≥ 1 points, "
                             f"got shape {tuple(self.centres.shape)}")
        self.width = torch.as_tensor(width, dtype=self.centres.dtype, device=self.centres.device)
        batch_shape = torch.broadcast_shapes(self.centres.shape[:-1], self.width.shape)
        super().__init__(batch_shape, torch.Size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(GaussianPoints, _instance)
        batch_shape = torch.Size(batch_shape)
        new.centres = self.centres.expand(batch_shape + self.centres.shape[-1:])
        new.width = self.width.expand(batch_shape)
        super(GaussianPoints, new).__init__(batch_shape, torch.Size(), validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        width = self.width.unsqueeze(-1)
        z = (value.unsqueeze(-1) - self.centres) / width
        log_component = -z ** 2 / 2 - torch.log(width) - math.log(2 * math.pi) / 2
        return torch.logsumexp(log_component, dim=-1) - math.log(self.centres.shape[-1])

    @torch.no_grad()
    def sample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        k = self.centres.shape[-1]
        choice = torch.randint(k, shape, device=self.centres.device)
        centres = self.centres.expand(shape + (k,)).gather(-1, choice.unsqueeze(-1)).squeeze(-1)
        return centres + self.width.expand(shape) * torch.randn(shape, dtype=self.centres.dtype,
                                                                device=self.centres.device)


# ------------------------------------------------------------------ blocks
def _geometric(start: float, end: float, progress: float) -> float:
    """start^(1−p) · end^p: sharpness that changes by equal factors over training."""
    progress = min(max(float(progress), 0.0), 1.0)
    return start ** (1 - progress) * end ** progress


class TopologyBlock(nn.Module):
    """A block of ``dim`` latent dimensions with a topology; :meth:`distribution` gives its prior (event
    shape (dim,)) at annealing progress p ∈ [0, 1] (0: flat, 1: sharp)."""

    name: str = ""
    dim: int = 1
    #: whether :meth:`posterior` is the encoder's diagonal Gaussian
    gaussian_posterior: bool = True

    def distribution(self, progress: float = 1.0) -> TorchDistribution:
        raise NotImplementedError

    def posterior(self, loc: torch.Tensor, scale: torch.Tensor) -> TorchDistribution:
        """q(z_b | x) from the encoder's location and scale for the block's dimensions, (…, dim) each: the
        diagonal Gaussian N(loc, diag scale²) (event shape (dim,))."""
        return _Normal(loc, scale).to_event(1)

    def extra_repr(self) -> str:
        return self.name


class Points(TopologyBlock):
    """points(k): a mixture of k Gaussians on one dimension, centres learnable (evenly on [−spread,
    spread] at first), width annealed from ``start_width`` to ``end_width``."""

    def __init__(self, k: int, start_width: float = 1.0, end_width: float = 0.1, spread: float = 1.5):
        super().__init__()
        if int(k) != k or k < 1:
            raise ValueError(f"points(k) needs an integer k ≥ 1, got {k}")
        _check_widths(start_width, end_width)
        self.k, self.dim, self.name = int(k), 1, f"points({int(k)})"
        self.start_width, self.end_width = float(start_width), float(end_width)
        self.centres = nn.Parameter(torch.linspace(-spread, spread, self.k) if self.k > 1 else torch.zeros(1))

    def distribution(self, progress: float = 1.0) -> TorchDistribution:
        width = _geometric(self.start_width, self.end_width, progress)
        return _as_vector(GaussianPoints(self.centres, width))


class Segment(TopologyBlock):
    """segment: the uniform on [−a, a] (a = √3: unit variance) with edges softened by a width annealed from
    ``start_width`` to ``end_width``."""

    def __init__(self, start_width: float = 1.0, end_width: float = 0.05, half_length: float = math.sqrt(3)):
        super().__init__()
        _check_widths(start_width, end_width)
        if half_length <= 0:
            raise ValueError(f"half_length must be > 0, got {half_length}")
        self.dim, self.name = 1, "segment"
        self.start_width, self.end_width, self.half_length = float(start_width), float(end_width), float(half_length)
        self.register_buffer("anchor", torch.zeros(()), persistent=False)  # follows the model's device and dtype

    def distribution(self, progress: float = 1.0) -> TorchDistribution:
        width = _geometric(self.start_width, self.end_width, progress)
        a = self.anchor
        return _as_vector(SmoothedSegment(a - self.half_length, a + self.half_length, a + width))


class Tilted(TopologyBlock):
    """tilted(d): the tilted Gaussian on d dimensions, τ annealed linearly from ``start_tau`` to ``tau``
    (start_tau = τ: no annealing)."""

    def __init__(self, dim: int, tau: float = 5.0, start_tau: float | None = None):
        super().__init__()
        if int(dim) != dim or dim < 1:
            raise ValueError(f"tilted(d) needs an integer d ≥ 1, got {dim}")
        if tau < 0 or (start_tau is not None and start_tau < 0):
            raise ValueError(f"τ must be ≥ 0, got {tau} (start {start_tau})")
        self.dim, self.name = int(dim), f"tilted({int(dim)})"
        self.tau, self.start_tau = float(tau), float(tau if start_tau is None else start_tau)
        self.register_buffer("anchor", torch.zeros(()), persistent=False)

    def distribution(self, progress: float = 1.0) -> TorchDistribution:
        progress = min(max(float(progress), 0.0), 1.0)
        return TiltedNormal(self.anchor + (self.start_tau + (self.tau - self.start_tau) * progress), self.dim)


class Loop(TopologyBlock):
    """loop: a 2-D block whose density concentrates on the circle of radius ``radius`` — the 2-D tilted
    Gaussian with scale σ = w and τ = radius / w — its radial width w annealed from ``start_width`` (a
    broad bump) to ``end_width`` (a thin ring; by default a tenth of the radius, so every ring sharpens to the
    same shape and ``loop(r)`` in block text is ``Loop(radius=r)``)."""

    #: the final width over the radius when ``end_width`` is not given (the default ring: 0.2 / 2)
    END_WIDTH_PER_RADIUS = 0.1

    def __init__(self, radius: float = 2.0, start_width: float = 2.0, end_width: Optional[float] = None):
        super().__init__()
        if radius <= 0:
            raise ValueError(f"radius must be > 0, got {radius}")
        end_width = radius * self.END_WIDTH_PER_RADIUS if end_width is None else end_width
        _check_widths(start_width, end_width)
        self.dim, self.name = 2, "loop" if radius == 2.0 else f"loop({radius:g})"
        self.radius, self.start_width, self.end_width = float(radius), float(start_width), float(end_width)
        self.register_buffer("anchor", torch.zeros(()), persistent=False)

    def distribution(self, progress: float = 1.0) -> TorchDistribution:
        width = _geometric(self.start_width, self.end_width, progress)
        return TiltedNormal(self.anchor + self.radius / width, 2, scale=self.anchor + width)


class Circle(TopologyBlock):
    """circle: a loop in polar form — z_b on the unit circle, uniform prior (the projected normal with zero
    concentration), projected-normal posterior with concentration the encoder's location (its scale unused).
    There is no sharpness to anneal: the latent is on the circle from the start."""

    gaussian_posterior = False

    def __init__(self):
        super().__init__()
        self.dim, self.name = 2, "circle"
        self.register_buffer("anchor", torch.zeros(()), persistent=False)

    def distribution(self, progress: float = 1.0) -> TorchDistribution:
        return ProjectedNormal(self.anchor.expand(2))

    def posterior(self, loc: torch.Tensor, scale: torch.Tensor) -> TorchDistribution:
        return ProjectedNormal(loc)


class Normal(TopologyBlock):
    """normal(d): the standard normal on d dimensions (no topology; ignores annealing)."""

    def __init__(self, dim: int = 1):
        super().__init__()
        if int(dim) != dim or dim < 1:
            raise ValueError(f"normal(d) needs an integer d ≥ 1, got {dim}")
        self.dim, self.name = int(dim), "normal" if dim == 1 else f"normal({int(dim)})"
        self.register_buffer("anchor", torch.zeros(()), persistent=False)

    def distribution(self, progress: float = 1.0) -> TorchDistribution:
        loc = self.anchor.expand(self.dim)
        return _Normal(loc, torch.ones_like(loc)).to_event(1)


def _check_widths(start: float, end: float) -> None:
    if not (start > 0 and end > 0):
        raise ValueError(f"widths must be > 0, got start {start} and end {end}")


def _as_vector(distribution: TorchDistribution) -> TorchDistribution:
    """A scalar distribution as a distribution over vectors of one element (event shape (1,))."""
    return distribution.expand(distribution.batch_shape + (1,)).to_event(1)


BLOCK_FORMS = "points(k), segment, loop, loop(r), circle, normal, normal(d), tilted(d)"


def build_block(text: str) -> TopologyBlock:
    """A block from its name: ``points(3)`` (or ``points3``), ``segment``, ``loop``, ``loop(r)`` (a ring of radius
    r, its final width r/10 as the default ring's), ``circle``, ``normal``, ``normal(d)``, ``tilted(d)``."""
    match = re.fullmatch(r"\s*([a-z]+)\s*(?:\(\s*(\d+)\s*\)|(\d+)|\(\s*(\d*\.\d+)\s*\))?\s*", text.lower())
    if not match:
        raise ValueError(f"unknown block {text!r}; expected one of {BLOCK_FORMS}")
    kind, number, decimal = match.group(1), match.group(2) or match.group(3), match.group(4)
    if kind == "loop" and (number or decimal):
        radius = float(number or decimal)
        if radius <= 0:
            raise ValueError(f"loop(r) needs a radius r > 0, got {text!r}")
        return Loop(radius=radius)
    if decimal:
        raise ValueError(f"unknown block {text!r}: only loop(r) takes a decimal; expected one of {BLOCK_FORMS}")
    if kind == "points" and number:
        return Points(int(number))
    if kind in ("segment", "loop", "circle") and not number:
        return {"segment": Segment, "loop": Loop, "circle": Circle}[kind]()
    if kind == "normal":
        return Normal(int(number) if number else 1)
    if kind == "tilted" and number:
        return Tilted(int(number))
    raise ValueError(f"unknown block {text!r}; expected one of {BLOCK_FORMS}")


def parse_blocks(text: str) -> List[TopologyBlock]:
    """Blocks from a comma-separated list: ``"points(3), segment, loop, loop, segment, segment"``."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError(f"no blocks in {text!r}; expected a comma-separated list of {BLOCK_FORMS}")
    return [build_block(part.strip()) for part in parts]


# ------------------------------------------------------------------ the product
class BlockProductDistribution(TorchDistribution):
    """Π_b p_b(z_b) over z = (z_1, …, z_B) concatenated: event shape (Σ d_b,)."""

    arg_constraints = {}
    support = constraints.real_vector

    def __init__(self, parts: Sequence[TorchDistribution], batch_shape=torch.Size(), validate_args=None):
        for part in parts:
            if len(part.event_shape) != 1:
                raise ValueError(f"every block's distribution must have event shape (d,); {type(part).__name__} "
                                 f"has event shape {tuple(part.event_shape)}")
        self.parts = [part.expand(torch.Size(batch_shape)) for part in parts]
        self.sizes = [int(part.event_shape[0]) for part in self.parts]
        self.has_rsample = all(part.has_rsample for part in self.parts)
        super().__init__(torch.Size(batch_shape), torch.Size([sum(self.sizes)]), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return BlockProductDistribution(self.parts, batch_shape, validate_args=self._validate_args)

    def log_prob(self, value):
        """Σ_b log p_b(z_b), the blocks' slices of the last axis; shape ``value.shape[:-1]`` broadcast with the
        batch shape."""
        if value.dim() < 1 or value.shape[-1] != sum(self.sizes):
            raise ValueError(f"the product of blocks of sizes {self.sizes} scores vectors of {sum(self.sizes)} "
                             f"entries, got a value of shape {tuple(value.shape)}")
        if self._validate_args:
            self._validate_sample(value)
        pieces = value.split(self.sizes, dim=-1)
        return sum(part.log_prob(piece) for part, piece in zip(self.parts, pieces))

    def sample(self, sample_shape=torch.Size()):
        return torch.cat([part.sample(sample_shape) for part in self.parts], dim=-1)

    def rsample(self, sample_shape=torch.Size()):
        if not self.has_rsample:
            raise NotImplementedError("a block of this product has no reparameterised sampler")
        return torch.cat([part.rsample(sample_shape) for part in self.parts], dim=-1)

    @property
    def mean(self):
        """The blocks' means side by side (a circle's: its mean direction)."""
        return torch.cat([part.mean for part in self.parts], dim=-1)


class ProductPrior(nn.Module):
    """p(z) = Π_b p_b(z_b): a product of topology blocks, e.g. ``ProductPrior([Points(3), Segment(), Loop()])``."""

    def __init__(self, blocks: Sequence[TopologyBlock]):
        super().__init__()
        blocks = list(blocks)
        if not blocks:
            raise ValueError("a product prior needs at least one block")
        for block in blocks:
            if not isinstance(block, TopologyBlock):
                raise TypeError(f"blocks must be TopologyBlock modules, got {type(block).__name__}")
        self.blocks = nn.ModuleList(blocks)
        self.dim = sum(block.dim for block in blocks)

    def slices(self) -> List[Tuple[TopologyBlock, slice]]:
        """Each block with the slice of the latent vector it occupies."""
        out, start = [], 0
        for block in self.blocks:
            out.append((block, slice(start, start + block.dim)))
            start += block.dim
        return out

    def distribution(self, progress: float = 1.0, batch_shape=()) -> BlockProductDistribution:
        return BlockProductDistribution([block.distribution(progress) for block in self.blocks], batch_shape)

    @property
    def gaussian_posterior(self) -> bool:
        """Whether every block's posterior is the encoder's diagonal Gaussian (no circle block)."""
        return all(block.gaussian_posterior for block in self.blocks)

    def posterior(self, loc: torch.Tensor, scale: torch.Tensor) -> BlockProductDistribution:
        """q(z | x) = Π_b q_b(z_b | x) from the encoder's location and scale (…, dim) each."""
        if loc.shape[-1] != self.dim or scale.shape != loc.shape:
            raise ValueError(f"the blocks take {self.dim} dimensions; got location {tuple(loc.shape)} and scale "
                             f"{tuple(scale.shape)} (a diagonal scale of the location's shape)")
        parts = [block.posterior(loc[..., where], scale[..., where]) for block, where in self.slices()]
        return BlockProductDistribution(parts, loc.shape[:-1])

    def extra_repr(self) -> str:
        return ", ".join(block.name for block in self.blocks)
