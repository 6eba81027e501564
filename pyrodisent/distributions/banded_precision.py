"""A Gaussian over a time series whose precision is tridiagonal: Λ = BᵀB with B upper bidiagonal.

The variational family of the GP-VAE (Fortuin et al., AISTATS 2020, Sec. 3.3): for each sequence and
latent channel, q(z) = N(μ, Λ⁻¹) with

    B = ⎡d₀ e₀          ⎤      Λ = BᵀB (tridiagonal),   d_t > 0,
        ⎢   d₁ e₁       ⎥      log det Λ = 2 Σ_t log d_t,
        ⎢      ⋱  ⋱     ⎥      z = μ + B⁻¹ε,  ε ~ N(0, I)   (Cov = B⁻¹B⁻ᵀ = Λ⁻¹).
        ⎣         d_{T−1}⎦

Costs, per sequence and channel: ``log_prob`` O(T) (‖B(z − μ)‖² needs the two bands only);
``rsample`` and ``variance`` solve the bidiagonal system B y = ε, the first-order recurrence
y_t = ε_t/d_t + r_t y_{t+1} with r_t = −e_t/d_t, by recursive doubling: ⌈log₂ T⌉ vectorised steps,
O(T log T) work (a Python loop over t would be O(T) work but T sequential steps; a dense triangular
solve would be O(T²)). The dense covariance (``covariance_matrix``) is O(T²): it is semiseparable,
Σ_ij = R(i, j) v_j for i ≤ j with R(i, j) = Π_{m=i}^{j−1} r_m and v = diag Σ, built in log space.

The analytic KL to a dense Gaussian (the GP prior), registered with torch, needs every entry of the
prior's precision, so it costs O(T²) per sequence and channel (a handful of T × T elementwise passes);
see :func:`kl_banded_precision_to_dense`.
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
from torch.distributions import MultivariateNormal, constraints, register_kl
from torch.distributions.multivariate_normal import _batch_mahalanobis
from torch.distributions.utils import _standard_normal

from pyro.distributions.torch_distribution import TorchDistribution

UNDERFLOW_EXPONENT = -80.0


def solve_bidiagonal_recurrence(coefficient: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """y with y_t = offset_t + coefficient_t · y_{t+1}, y_T = 0, along the last axis, by recursive doubling.

    After the step with shift s, y_t = b_t + a_t y_{t+2s}: substituting the relation at t + s gives
    b_t ← b_t + a_t b_{t+s}, a_t ← a_t a_{t+s} (values beyond the end are 0). ⌈log₂ T⌉ steps.

    :param coefficient: a, shape ``(..., T)`` (the last entry is never used).
    :param offset: b, shape ``(..., T)``, broadcastable with ``coefficient``.
    """
    a, b = torch.broadcast_tensors(coefficient, offset)
    num_steps = a.shape[-1]
    shift = 1
    while shift < num_steps:
        a_next = torch.nn.functional.pad(a[..., shift:], (0, shift))
        b_next = torch.nn.functional.pad(b[..., shift:], (0, shift))
        b = b + a * b_next
        a = a * a_next
        shift *= 2
    return b


def solve_upper_bidiagonal(diagonal: torch.Tensor, superdiagonal: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """y = B⁻¹ rhs along the last axis, B upper bidiagonal: ``diagonal`` (…, T), ``superdiagonal`` (…, T − 1)."""
    ratio = torch.nn.functional.pad(-superdiagonal / diagonal[..., :-1], (0, 1))
    return solve_bidiagonal_recurrence(ratio, rhs / diagonal)


class BandedPrecisionNormal(TorchDistribution):
    """N(loc, (BᵀB)⁻¹) over the last axis, B upper bidiagonal with positive diagonal.

    :param loc: μ, shape ``(..., T)``.
    :param diagonal: B_tt > 0, shape ``(..., T)``.
    :param superdiagonal: B_{t,t+1}, shape ``(..., T − 1)``.

    Batch shape: the broadcast of the three leading shapes; event shape ``(T,)``.
    """

    arg_constraints = {
        "loc": constraints.real_vector,
        "diagonal": constraints.independent(constraints.positive, 1),
        "superdiagonal": constraints.real_vector,
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: torch.Tensor, diagonal: torch.Tensor, superdiagonal: torch.Tensor, validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must have at least one dimension (time), got a scalar")
        num_steps = loc.shape[-1]
        if diagonal.shape[-1:] != (num_steps,):
            raise ValueError(f"diagonal must end in T = {num_steps} (like loc), got shape {tuple(diagonal.shape)}")
        if superdiagonal.shape[-1:] != (num_steps - 1,):
            raise ValueError(f"superdiagonal must end in T − 1 = {num_steps - 1}, "
                             f"got shape {tuple(superdiagonal.shape)}")
        batch_shape = torch.broadcast_shapes(loc.shape[:-1], diagonal.shape[:-1], superdiagonal.shape[:-1])
        self.loc = loc.expand(batch_shape + (num_steps,))
        self.diagonal = diagonal.expand(batch_shape + (num_steps,))
        self.superdiagonal = superdiagonal.expand(batch_shape + (num_steps - 1,))
        super().__init__(batch_shape, torch.Size([num_steps]), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(BandedPrecisionNormal, _instance)
        batch_shape = torch.Size(batch_shape)
        num_steps = self.event_shape[0]
        new.loc = self.loc.expand(batch_shape + (num_steps,))
        new.diagonal = self.diagonal.expand(batch_shape + (num_steps,))
        new.superdiagonal = self.superdiagonal.expand(batch_shape + (num_steps - 1,))
        super(BandedPrecisionNormal, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    # ------------------------------------------------------------------ structure
    @property
    def ratio(self) -> torch.Tensor:
        """r_t = −e_t / d_t, t < T − 1, shape ``(..., T − 1)``: y_t = ε_t/d_t + r_t y_{t+1} solves B y = ε."""
        return -self.superdiagonal / self.diagonal[..., :-1]

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def mode(self) -> torch.Tensor:
        return self.loc

    @property
    def variance(self) -> torch.Tensor:
        """diag Λ⁻¹: v_t = 1/d_t² + r_t² v_{t+1} (the last row of B⁻¹B⁻ᵀ first), O(T log T)."""
        ratio = torch.nn.functional.pad(self.ratio, (0, 1))
        return solve_bidiagonal_recurrence(ratio.pow(2), self.diagonal.pow(-2))

    def log_det_precision(self) -> torch.Tensor:
        """log det Λ = 2 Σ_t log d_t, shape = batch shape."""
        return 2 * self.diagonal.log().sum(-1)

    def bidiagonal_factor(self) -> torch.Tensor:
        """B as a dense ``(..., T, T)`` matrix (for tests and small T)."""
        return torch.diag_embed(self.diagonal) + torch.diag_embed(self.superdiagonal, offset=1)

    @property
    def precision_matrix(self) -> torch.Tensor:
        """Λ = BᵀB, dense ``(..., T, T)``."""
        factor = self.bidiagonal_factor()
        return factor.transpose(-1, -2) @ factor

    def inverse_factor_products(self) -> torch.Tensor:
        """R(i, j) = Π_{m=i}^{j−1} r_m for j ≥ i (1 on the diagonal), 0 below it: ``(..., T, T)``, O(T²)."""
        magnitude, sign = self._factor_product_parts()
        return magnitude * (sign.unsqueeze(-1) * sign.unsqueeze(-2))

    def _factor_product_parts(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """(|R(i, j)| as ``(..., T, T)``, σ as ``(..., T)``) with R(i, j) = σ_i σ_j |R(i, j)|.

        |R(i, j)| = exp(S_j − S_i), S the cumulative sum of log|r| (accumulated in float64, so that long
        sequences keep their precision), so no product over- or underflows before it is taken;
        σ_j = Π_{m<j} sign r_m.
        """
        ratio = self.ratio
        tiny = torch.finfo(ratio.dtype).tiny
        log_abs = ratio.abs().clamp_min(tiny).log().double().cumsum(-1).to(ratio.dtype)
        log_abs = torch.nn.functional.pad(log_abs, (1, 0))  # S_j = Σ_{m<j} log|r_m|
        sign = torch.where(ratio < 0, -1.0, 1.0).to(ratio.dtype).cumprod(-1)
        sign = torch.nn.functional.pad(sign, (1, 0), value=1.0)
        num_steps = log_abs.shape[-1]
        upper = torch.ones(num_steps, num_steps, dtype=torch.bool, device=ratio.device).triu()
        exponent = log_abs.unsqueeze(-2) - log_abs.unsqueeze(-1)  # [i, j]: S_j − S_i
        # Below the diagonal R is 0; factors under e⁻⁸⁰ are set to 0 too: they are negligible, and as
        # subnormal floats they would slow every later operation on them several-fold.
        keep = upper & (exponent > UNDERFLOW_EXPONENT)
        return torch.where(keep, exponent, -math.inf).exp(), sign

    def covariance_upper(self) -> torch.Tensor:
        """U with U_ij = Σ_ij for j ≥ i and 0 below: Σ = U + Uᵀ − diag(v), ``(..., T, T)``, O(T²)."""
        return self.inverse_factor_products() * self.variance.unsqueeze(-2)

    @property
    def covariance_matrix(self) -> torch.Tensor:
        """Σ = Λ⁻¹ = B⁻¹B⁻ᵀ, dense ``(..., T, T)``, O(T²)."""
        upper = self.covariance_upper()
        return upper + upper.transpose(-1, -2) - torch.diag_embed(self.variance)

    # ------------------------------------------------------------------ sampling and density
    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        noise = _standard_normal(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + solve_upper_bidiagonal(self.diagonal, self.superdiagonal, noise)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """−½‖B(z − μ)‖² + Σ_t log d_t − (T/2) log 2π, O(T)."""
        if self._validate_args:
            self._validate_sample(value)
        residual = value - self.loc
        whitened = self.diagonal * residual
        whitened = whitened + torch.nn.functional.pad(self.superdiagonal * residual[..., 1:], (0, 1))
        num_steps = self.event_shape[0]
        return -0.5 * whitened.pow(2).sum(-1) + self.diagonal.log().sum(-1) - 0.5 * num_steps * math.log(2 * math.pi)

    def entropy(self) -> torch.Tensor:
        num_steps = self.event_shape[0]
        return 0.5 * num_steps * (1 + math.log(2 * math.pi)) - self.diagonal.log().sum(-1)


def kl_banded_precision_to_dense(q: BandedPrecisionNormal, p: MultivariateNormal) -> torch.Tensor:
    """KL(N(μ_q, Λ_q⁻¹) ‖ N(μ_p, Σ_p)) for q with tridiagonal precision and any dense Gaussian p:

        ½ [ tr(Σ_p⁻¹ Σ_q) + (μ_p − μ_q)ᵀ Σ_p⁻¹ (μ_p − μ_q) − T + log det Σ_p + log det Λ_q ].

    The trace is Σ_ij (Σ_p⁻¹)_ij (Σ_q)_ij = 2 Σ_ij P_ij U_ij − Σ_i P_ii v_i with U the upper half of Σ_q
    (:meth:`BandedPrecisionNormal.covariance_upper`): O(T²) per sequence and channel. ``p.precision_matrix``
    and ``p.scale_tril`` are shared by every row of a batch when p is a GP prior expanded over the
    batch (O(T³) once per channel, or cached by the prior when its hyperparameters are fixed).
    """
    num_steps = q.event_shape[0]
    if p.event_shape != q.event_shape:
        raise ValueError(f"KL between Gaussians over {num_steps} and {p.event_shape[0]} time steps")
    precision = p.precision_matrix
    # Σ_q,ij = σ_i σ_j |R(i, j)| v_j for i ≤ j, so Σ_{i≤j} P_ij Σ_q,ij = σᵀ (P ⊙ |R|) (σ ⊙ v):
    # one T × T elementwise product and one matrix-vector product.
    magnitude, sign = q._factor_product_parts()
    variance = q.variance
    upper = ((precision * magnitude) @ (sign * variance).unsqueeze(-1)).squeeze(-1)
    trace = 2 * (sign * upper).sum(-1) - (torch.diagonal(precision, dim1=-2, dim2=-1) * variance).sum(-1)
    scale_tril = p._unbroadcasted_scale_tril
    mahalanobis = _batch_mahalanobis(scale_tril, p.loc - q.loc)
    log_det_p = 2 * torch.diagonal(scale_tril, dim1=-2, dim2=-1).log().sum(-1)
    return 0.5 * (trace + mahalanobis - num_steps + log_det_p + q.log_det_precision())


register_kl(BandedPrecisionNormal, MultivariateNormal)(kl_banded_precision_to_dense)
