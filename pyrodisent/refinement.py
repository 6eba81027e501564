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
                for batch in _batches(data, 4096, device):
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
        self.shift = torch.zeros(n, k, device=device, requires_grad=True)  # δ
        rows, cols = torch.tril_indices(k, k, device=device)
        self._rows, self._cols = rows, cols
        raw = torch.zeros(n, len(rows), device=device)
        raw[:, rows == cols] = _SOFTPLUS_ONE
        self.raw_factor = raw.requires_grad_(True)  # T, as a vector of its lower triangle
        self.history: list[float] = []

    def _factor(self, raw: torch.Tensor) -> torch.Tensor:
        k = self.encoder_mean.shape[1]
        tril = raw.new_zeros(*raw.shape[:-1], k, k)
        tril[..., self._rows, self._cols] = raw
        diagonal = softplus(torch.diagonal(tril, dim1=-2, dim2=-1)) + 1e-6
        return torch.tril(tril, -1) + torch.diag_embed(diagonal)

    def distribution(self, index: torch.Tensor, detach: bool = False) -> dist.MultivariateNormal:
        """q_n(z) for the points ``index`` (positions in the data), batch shape (B,), event (K,)."""
        shift, raw = (self.shift.detach(), self.raw_factor.detach()) if detach else (self.shift, self.raw_factor)
        mean = self.encoder_mean[index]
        factor = self.encoder_factor[index]
        loc = mean + (factor @ shift[index][..., None])[..., 0]
        return dist.MultivariateNormal(loc, scale_tril=factor @ self._factor(raw[index]))

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
                for batch in _batches(self.data, batch_size, model.device):
                    q = self.distribution(batch.index)
                    z = q.rsample((num_particles,))  # (P, B, K)
                    q_fixed = self.distribution(batch.index, detach=True)
                    log_q = q_fixed.log_prob(z)
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
    model.posterior = lambda batch: refined.distribution(batch.index, detach=True)  # shadows the method
    try:
        yield model
    finally:
        del model.posterior


def _batches(data: ArrayDataset, batch_size: int, device: torch.device):
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)), device=data.x.device)
        yield data.batch(index).to(device)
