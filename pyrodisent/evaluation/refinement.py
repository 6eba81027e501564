"""Semi-amortised inference: refine the encoder's q(z | x_n) point by point at evaluation time.

An amortised encoder gives every point a Gaussian from one network; where that network misses a
point's posterior (the amortisation gap: Cremer et al. 2018, "Inference suboptimality in variational
autoencoders"), a per-point Gaussian q_n(z) = N(m_n, L_n L_nᵀ) started from the encoder's output and
optimised on that point's own ELBO, with the networks and the global sites fixed, closes it
(Kim et al. 2018, "Semi-amortized variational autoencoders"; Krishnan et al. 2018, "On the challenges
of learning with inference networks on sparse, high-dimensional data").

Parameterisation, in units of the encoder's own posterior (so one learning rate fits points whose
posterior widths differ by orders of magnitude): with the encoder's mean μ_n and Cholesky factor C_n,

    z = μ_n + C_n (δ_n + T_n ε),   ε ~ N(0, I),   T_n lower triangular, positive diagonal,

δ_n = 0 and T_n = I at the start (the encoder's q exactly); the full-covariance T_n also lets a
mean-field encoder's refined posterior correlate its latents. Gradients are the "sticking the
landing" estimator (Roeder et al. 2017): log q is evaluated with its parameters detached, so the
gradient's variance vanishes as q_n reaches a posterior of its family.

:func:`refined_posterior` makes a model use the refined q_n for the points of one data set —
``model.guide``, :meth:`~pyrodisent.model.LatentVariableModel.log_importance_weights` and so every
evaluation (IWAE, PSIS k̂, InferenceData) — inside a ``with`` block.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator, Optional

import pyro.distributions as dist
import torch
from pyro import poutine
from torch.distributions.utils import lazy_property
from torch.nn.functional import softplus

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.model import LatentVariableModel, _local_log_prob, plain_elbo_weights
from pyrodisent.sites import LATENT_SITE

_SOFTPLUS_ONE = math.log(math.e - 1)  # softplus⁻¹(1): T_n's diagonal starts at 1


def encoder_gaussian(q: dist.Distribution) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean (B, K), Cholesky factor (B, K, K)) of a Gaussian guide: ``Normal(...).to_event(1)`` or
    ``MultivariateNormal``."""
    if isinstance(q, dist.MultivariateNormal):
        return q.loc, q.scale_tril
    base = getattr(q, "base_dist", None)
    if isinstance(q, dist.Independent) and isinstance(base, dist.Normal) and q.reinterpreted_batch_ndims == 1:
        return base.loc, torch.diag_embed(base.scale)
    raise TypeError(f"refinement starts from a Gaussian posterior (Normal(...).to_event(1) or MultivariateNormal) "
                    f"with event shape (K,); {type(q).__name__} with event shape {tuple(q.event_shape)} is not one")


class RefinedPosterior:
    """Per-point Gaussians for the N points of ``data``, fitted by :meth:`fit`.

    :param model: a trained model whose :meth:`posterior` is Gaussian over one latent vector per point.
    :param data: the points (their positions in ``data`` are ``batch.index`` when scored).
    :param globals_trace: the fixed globals (default: ``model.fixed_globals_trace``).
    """

    def __init__(self, model: LatentVariableModel, data: ArrayDataset,
                 globals_trace: Optional[poutine.Trace] = None):
        self.model, self.data = model, data
        device = model.device
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                means, factors = [], []
                for _, batch in data.sequential(4096, device):
                    mean, factor = encoder_gaussian(model.posterior(batch))
                    means.append(mean)
                    factors.append(factor)
                if globals_trace is None:
                    globals_trace = model.fixed_globals_trace(data.batch(torch.arange(1, device=data.x.device)).to(device))
        finally:
            model.train(was_training)
        self.globals_trace = globals_trace
        self.encoder_mean = torch.cat(means)  # (N, K)
        self.encoder_factor = torch.cat(factors)  # (N, K, K)
        n, k = self.encoder_mean.shape
        # A mean-field encoder's factor is diagonal: C_n x is then an elementwise product (the same numbers
        # as the matrix product, whose other terms are exact zeros).
        diagonal = torch.diagonal(self.encoder_factor, dim1=-2, dim2=-1)
        is_diagonal = bool((self.encoder_factor == torch.diag_embed(diagonal)).all())
        self.encoder_scale = diagonal.contiguous() if is_diagonal else None  # (N, K) or None
        self.shift = torch.zeros(n, k, device=device, requires_grad=True)  # δ
        rows, cols = torch.tril_indices(k, k, device=device)
        self._tril_positions = rows * k + cols  # where T's lower-triangle vector goes in the flattened K × K
        self._on_diagonal = rows == cols
        raw = torch.zeros(n, len(rows), device=device)
        raw[:, self._on_diagonal] = _SOFTPLUS_ONE
        self.raw_factor = raw.requires_grad_(True)  # T, as a vector of its lower triangle
        self.history: list[float] = []

    def _factor(self, raw: torch.Tensor) -> torch.Tensor:
        """T (…, K, K) from its lower-triangle vector ``raw`` (…, K(K+1)/2): diagonal softplus(raw) + 10⁻⁶."""
        k = self.encoder_mean.shape[1]
        values = torch.where(self._on_diagonal, softplus(raw) + 1e-6, raw)
        tril = raw.new_zeros(*raw.shape[:-1], k * k).index_copy(-1, self._tril_positions, values)
        return tril.reshape(*raw.shape[:-1], k, k)

    def gaussian(self, index: torch.Tensor | slice, detach: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean (B, K), Cholesky factor (B, K, K)) of q_n for the points ``index`` (positions, or a slice of
        them): μ_n + C_n δ_n and C_n T_n."""
        shift, raw = (self.shift.detach(), self.raw_factor.detach()) if detach else (self.shift, self.raw_factor)
        mean = self.encoder_mean[index]
        if self.encoder_scale is not None:
            scale = self.encoder_scale[index]
            return mean + scale * shift[index], scale[..., None] * self._factor(raw[index])
        factor = self.encoder_factor[index]
        return mean + (factor @ shift[index][..., None])[..., 0], factor @ self._factor(raw[index])

    def distribution(self, index: torch.Tensor, detach: bool = False, copies: int = 1) -> dist.MultivariateNormal:
        """q_n(z) for the points ``index`` (positions in the data), batch shape (B,), event (K,).

        With ``copies`` S > 1, ``index`` is S stacked copies of its first B/S points (a repeated batch:
        :attr:`~pyrodisent.data.batch.Batch.copies`, the S importance samples of each point): q_n is built
        once per point, and draws and densities are computed per point (:class:`StackedMultivariateNormal`).
        """
        if copies > 1:
            return StackedMultivariateNormal(*self.gaussian(index[: len(index) // copies], detach), copies)
        loc, scale_tril = self.gaussian(index, detach)
        return dist.MultivariateNormal(loc, scale_tril=scale_tril, validate_args=False)

    def fit(self, steps: int = 200, lr: float = 0.05, num_particles: int = 4, batch_size: int = 4096) -> "RefinedPosterior":
        """Maximise each point's ELBO over (δ_n, T_n) with Adam (cosine-decayed ``lr``), networks and
        globals fixed; the loss history (negative ELBO per point, averaged over particles) is kept."""
        if steps < 1 or num_particles < 1:
            raise ValueError(f"need steps ≥ 1 and num_particles ≥ 1, got {steps} and {num_particles}")
        model = self.model
        optimizer = torch.optim.Adam([self.shift, self.raw_factor], lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        fixed_model = poutine.replay(model.model, trace=self.globals_trace)
        was_training = model.training
        model.eval()
        frozen = [p for p in model.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        try:
            for _ in range(steps):
                optimizer.zero_grad(set_to_none=True)
                total = 0.0
                for points, batch in self.data.sequential(batch_size, model.device):
                    loc, scale_tril = self.gaussian(points)
                    z = _rsample(loc, scale_tril, num_particles)  # (P, B, K)
                    log_q = _log_prob(loc.detach(), scale_tril.detach(), z)  # parameters detached: STL
                    repeated = batch.repeat(num_particles)
                    values = {LATENT_SITE: z.reshape(-1, z.shape[-1])}
                    with poutine.block(), plain_elbo_weights(model):
                        trace = poutine.trace(poutine.condition(fixed_model, data=values)).get_trace(repeated)
                    log_p = _local_log_prob(trace).reshape(num_particles, -1)
                    loss = -(log_p - log_q).mean(0).sum()
                    loss.backward()
                    total += float(loss.detach())
                optimizer.step()
                schedule.step()
                self.history.append(total / len(self.data))
        finally:
            for p in frozen:
                p.requires_grad_(True)
            model.train(was_training)
        return self


@contextlib.contextmanager
def refined_posterior(model: LatentVariableModel, refined: RefinedPosterior) -> Iterator[LatentVariableModel]:
    """Inside the block, ``model.posterior(batch)`` is the refined q_n of ``batch.index`` (positions in
    the refined data set); batches of any other data set would be mis-indexed, so score only those."""
    if refined.model is not model:
        raise ValueError("this RefinedPosterior was fitted for another model")
    # shadows the method
    model.posterior = lambda batch: refined.distribution(batch.index, detach=True, copies=batch.copies)
    try:
        yield model
    finally:
        del model.posterior


class StackedMultivariateNormal(dist.MultivariateNormal):
    """N(m_b, L_b L_bᵀ) for the rows of B points stacked S times (row s·B + b is point b's, as
    :meth:`~pyrodisent.data.batch.Batch.repeat` stacks a batch): batch shape (S·B,), event shape (K,).

    A ``MultivariateNormal`` whose draws and densities take one matrix product or one triangular solve
    per point, with the point's S rows as the columns (the draws are those of the ``MultivariateNormal``
    of the stacked parameters); the (S·B, K, K) factor is built only when asked for (``scale_tril``,
    ``covariance_matrix``, …).

    :param loc: m, shape (B, K).
    :param scale_tril: L, shape (B, K, K), lower triangular with a positive diagonal.
    :param copies: S.
    """

    def __init__(self, loc: torch.Tensor, scale_tril: torch.Tensor, copies: int):
        self.point_loc, self.point_scale_tril, self.copies = loc, scale_tril, copies
        self.loc = loc.repeat(copies, 1)
        torch.distributions.Distribution.__init__(self, self.loc.shape[:-1], self.loc.shape[-1:], validate_args=False)

    @lazy_property
    def _unbroadcasted_scale_tril(self) -> torch.Tensor:
        return self.point_scale_tril.repeat(self.copies, 1, 1)

    def expand(self, batch_shape, _instance=None):
        stacked = dist.MultivariateNormal(self.loc, scale_tril=self._unbroadcasted_scale_tril, validate_args=False)
        return stacked.expand(batch_shape, _instance)

    def _per_point(self, rows: torch.Tensor, operation) -> torch.Tensor:
        """``operation`` ((B, K, n) → (B, K, n)) applied to ``rows`` (..., S·B, K) gathered point by point."""
        points, k = self.point_loc.shape
        columns = rows.reshape(-1, self.copies, points, k).permute(2, 3, 0, 1)  # (B, K, …, S)
        result = operation(columns.reshape(points, k, -1))
        return result.reshape(columns.shape).permute(2, 3, 0, 1).reshape(rows.shape)

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        noise = torch.empty(shape, dtype=self.loc.dtype, device=self.loc.device).normal_()
        return self.loc + self._per_point(noise, lambda columns: torch.bmm(self.point_scale_tril, columns))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """−½‖L_b⁻¹(z − m_b)‖² − Σ log diag L_b − (K/2) log 2π, shape ``value.shape[:-1]``."""
        residual = torch.broadcast_to(value - self.loc, torch.broadcast_shapes(value.shape, self.loc.shape))
        whitened = self._per_point(residual, lambda columns: torch.linalg.solve_triangular(
            self.point_scale_tril, columns, upper=False))
        half_log_det = self.point_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1).repeat(self.copies)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + whitened.pow(2).sum(-1)) - half_log_det

    def entropy(self) -> torch.Tensor:
        half_log_det = self.point_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1).repeat(self.copies)
        return 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + half_log_det


def _rsample(loc: torch.Tensor, scale_tril: torch.Tensor, num_samples: int) -> torch.Tensor:
    """``num_samples`` reparameterised draws of N(loc, LLᵀ), shape (S, B, K): loc + L ε, ε ~ N(0, I) (the
    draws of ``MultivariateNormal(loc, scale_tril=L).rsample((S,))``), one product per point with its S
    draws as columns."""
    noise = torch.empty(num_samples, *loc.shape, dtype=loc.dtype, device=loc.device).normal_()  # (S, B, K)
    return loc + torch.bmm(scale_tril, noise.permute(1, 2, 0)).permute(2, 0, 1)


def _log_prob(loc: torch.Tensor, scale_tril: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log N(z; loc, LLᵀ) = −½‖L⁻¹(z − loc)‖² − Σ log diag L − (K/2) log 2π for z (S, B, K), loc (B, K),
    L (B, K, K); shape (S, B). One triangular solve per point with the S draws as its right-hand sides."""
    k = loc.shape[-1]
    residual = (z - loc).permute(1, 2, 0)  # (B, K, S)
    mahalanobis = torch.linalg.solve_triangular(scale_tril, residual, upper=False).pow(2).sum(-2).t()
    half_log_det = scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    return -0.5 * (k * math.log(2 * math.pi) + mahalanobis) - half_log_det
