"""The negative binomial in scVI's parameterisation, by log mean and log inverse dispersion.

x ~ NB(μ, θ): mean μ, variance μ + μ²/θ — in torch's terms total_count = θ, logits = log μ − log θ
(success probability μ / (θ + μ)); a Gamma–Poisson mixture, x | λ ~ Poisson(λ), λ ~ Gamma(θ, θ/μ).

    log p(x) = lgamma(x + θ) − lgamma(θ) − lgamma(x + 1) + θ (log θ − log(θ + μ)) + x (log μ − log(θ + μ))

μ never leaves log space. The two differences are log-sigmoids of ℓ = log μ − log θ:
log θ − log(θ + μ) = log σ(−ℓ) and log μ − log(θ + μ) = log σ(ℓ), each computed to full relative
precision, so x (log μ − log(θ + μ)) keeps its digits for large counts, where the difference of two
logarithms (log μ − logaddexp(log θ, log μ)) would cancel most of them. θ is usually one number per
feature while μ varies per row as well: θ is kept at its own (unbroadcast) shape, so lgamma(θ) is
computed once per feature rather than once per entry.
"""
from __future__ import annotations

from typing import Optional

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import Gamma, constraints
from torch.nn.functional import logsigmoid


class MeanDispersionNegativeBinomial(TorchDistribution):
    """NB(μ, θ) with mean μ = exp(``log_mean``) and inverse dispersion θ = exp(``log_theta``).

    :param log_mean: log μ, shape ``(R, *features)`` (or any batch shape): finite (μ > 0).
    :param log_theta: log θ, broadcastable with ``log_mean`` (e.g. shape ``(*features,)``); kept at
        its own shape, so per-feature work is done once per feature.
    :param copies: S when the R rows are S stacked copies of their first R/S rows (a batch repeated for S
        importance samples or particles: :attr:`~pyrodisent.data.batch.Batch.copies`). When the value scored
        is stacked the same way, :meth:`log_prob` computes the terms that depend on the value and θ alone
        (:meth:`log_normalizer`) on the first R/S rows only; otherwise, and when θ varies by row, on every row.

    Batch shape: the broadcast of both shapes; event shape ``()`` (``.to_event`` for a vector).
    """

    arg_constraints = {"log_mean": constraints.real, "log_theta": constraints.real}
    support = constraints.nonnegative_integer
    has_rsample = False

    def __init__(self, log_mean: torch.Tensor, log_theta: torch.Tensor, copies: int = 1, validate_args=None):
        batch_shape = torch.broadcast_shapes(log_mean.shape, log_theta.shape)
        self.log_mean = log_mean.expand(batch_shape)
        self.log_theta = log_theta
        self.copies = int(copies)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MeanDispersionNegativeBinomial, _instance)
        batch_shape = torch.Size(batch_shape)
        new.log_mean = self.log_mean.expand(batch_shape)
        new.log_theta = self.log_theta
        new.copies = self.copies if batch_shape == self.batch_shape else 1  # new leading dims: other rows
        super(MeanDispersionNegativeBinomial, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def theta(self) -> torch.Tensor:
        """θ, the inverse dispersion, at the shape of ``log_theta``."""
        return self.log_theta.exp()

    @property
    def mean(self) -> torch.Tensor:
        return self.log_mean.exp()

    @property
    def variance(self) -> torch.Tensor:
        """μ + μ²/θ, the batch shape."""
        mean = self.mean
        return mean + mean.pow(2) / self.theta

    @property
    def logits(self) -> torch.Tensor:
        """log μ − log θ: torch's ``NegativeBinomial`` logits, the batch shape."""
        return self.log_mean - self.log_theta

    def sample(self, sample_shape=torch.Size()) -> torch.Tensor:
        """Counts, shape ``sample_shape + batch_shape``: λ ~ Gamma(θ, rate θ/μ), x ~ Poisson(λ)."""
        with torch.no_grad():
            rate = torch.exp(self.log_theta - self.log_mean)  # θ/μ, the batch shape
            gamma = Gamma(self.theta.expand(self.batch_shape), rate, validate_args=False)
            return torch.poisson(gamma.sample(sample_shape))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log p(value), the broadcast of ``value``'s shape and the batch shape."""
        if self._validate_args:
            self._validate_sample(value)
        theta = self.theta
        logits = self.log_mean - self.log_theta  # ℓ = log μ − log θ
        log_kernel = theta * logsigmoid(-logits) + value * logsigmoid(logits)
        copies = self._copies(value)
        if copies is None:
            return self._log_normalizer(value) + log_kernel
        distinct = value.shape[0] // copies  # value is `copies` copies of its first `distinct` rows
        log_normalizer = self._log_normalizer(value[:distinct])
        return (log_kernel.reshape(copies, *log_normalizer.shape) + log_normalizer).reshape(log_kernel.shape)

    def log_normalizer(self, value: torch.Tensor) -> torch.Tensor:
        """lgamma(x + θ) − lgamma(x + 1) − lgamma(θ), the broadcast of ``value``'s shape and θ's: the part of
        log p(x) free of μ; computed on the first rows only when the rows of ``value`` are the
        ``copies`` stacked copies of them."""
        copies = self._copies(value)
        if copies is None:
            return self._log_normalizer(value)
        log_normalizer = self._log_normalizer(value[: value.shape[0] // copies])
        return log_normalizer.expand(copies, *log_normalizer.shape).reshape(value.shape)

    def _log_normalizer(self, value: torch.Tensor) -> torch.Tensor:
        theta = self.theta
        return torch.lgamma(value + theta) - torch.lgamma(value + 1) - torch.lgamma(theta)

    def _copies(self, value: torch.Tensor) -> Optional[int]:
        """S when the distribution's rows are S > 1 stacked copies (``copies``), θ is the same for every row
        and ``value``'s rows are stacked copies too (checked: equal to their first R/S rows); else None."""
        copies, batch_shape, log_theta = self.copies, self.batch_shape, self.log_theta
        if copies == 1 or value.shape != batch_shape or batch_shape[0] % copies:
            return None
        if log_theta.dim() == len(batch_shape) and log_theta.shape[0] != 1:
            return None  # θ varies by row
        first = value[: batch_shape[0] // copies]
        if not torch.equal(value.reshape(copies, *first.shape), first.expand(copies, *first.shape)):
            return None
        return copies
