"""Likelihoods: decoder output → Pyro distribution over one observation.

Each likelihood is an ``nn.Module`` (it may own learnable parameters such as an observation scale
or a per-feature dispersion). Calling it with the decoder output, shape ``(..., *observation_shape)``,
and the batch returns a distribution whose event shape is the observation shape, so the model writes
``pyro.sample("x", likelihood(decoder(z), batch), obs=batch.x)``.

Count likelihoods (Poisson, negative binomial) can take a library size: the decoder output is then
read as logits of a composition over features, and the mean is ``library_size · softmax(output)``
(as in scVI and sVAE+). The library size is ``batch["library_size"]`` when the batch carries it,
otherwise the observed total count of each row.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import pyro.distributions as dist
import torch
from torch import nn
from torch.nn.functional import softplus

from pyrodisent.data.batch import OBSERVED_MASK, Batch
from pyrodisent.distributions.negative_binomial import MeanDispersionNegativeBinomial
from pyrodisent.nn.mlp import _as_shape
from pyrodisent.registry import LIKELIHOODS


def _inverse_softplus(value: float) -> float:
    return value + math.log(-math.expm1(-value))


class Likelihood(nn.Module):
    """Base class. :param observation_shape: shape of one observation (the event shape)."""

    def __init__(self, observation_shape: Sequence[int] | int):
        super().__init__()
        self.observation_shape: Tuple[int, ...] = _as_shape(observation_shape)

    @property
    def event_dims(self) -> int:
        return len(self.observation_shape)

    def forward(self, decoder_output: torch.Tensor, batch: Optional[Batch] = None) -> dist.Distribution:
        base = self.distribution(decoder_output, batch)
        mask = None if batch is None else batch.extras.get(OBSERVED_MASK)
        if mask is not None:
            # Missing entries contribute nothing: mask before the event dimensions are summed.
            base = base.mask(mask.to(torch.bool))
        return base.to_event(self.event_dims)

    def distribution(self, decoder_output: torch.Tensor, batch: Optional[Batch]) -> dist.Distribution:
        """Element-wise distribution (batch shape = decoder output shape); subclasses implement this."""
        raise NotImplementedError

    def mean(self, decoder_output: torch.Tensor, batch: Optional[Batch] = None) -> torch.Tensor:
        """Expected observation, for reconstructions and imputation."""
        return self.distribution(decoder_output, batch).mean


@LIKELIHOODS.register("bernoulli")
class BernoulliLikelihood(Likelihood):
    """x ~ Bernoulli(σ(output)); decoder output is logits (binary or [0, 1] images, as in the study)."""

    def distribution(self, decoder_output, batch):
        return dist.Bernoulli(logits=decoder_output, validate_args=False)  # [0, 1] targets allowed


@LIKELIHOODS.register("gaussian")
class GaussianLikelihood(Likelihood):
    """x ~ N(output, σ²): ``scale`` fixed, or learned (one σ per feature when ``learn_scale``).

    :param scale: the observation standard deviation (initial value when learned).
    :param learn_scale: learn σ per feature, kept above ``min_scale``.
    """

    def __init__(self, observation_shape, scale: float = 1.0, learn_scale: bool = False, min_scale: float = 1e-3):
        super().__init__(observation_shape)
        if scale <= 0:
            raise ValueError(f"Gaussian likelihood scale must be positive, got {scale}")
        self.learn_scale = learn_scale
        self.min_scale = min_scale
        if learn_scale:
            self.raw_scale = nn.Parameter(torch.full(self.observation_shape, _inverse_softplus(scale - min_scale)))
        else:
            self.register_buffer("fixed_scale", torch.tensor(float(scale)))

    @property
    def scale(self) -> torch.Tensor:
        return softplus(self.raw_scale) + self.min_scale if self.learn_scale else self.fixed_scale

    def distribution(self, decoder_output, batch):
        return dist.Normal(decoder_output, self.scale.expand_as(decoder_output))


@LIKELIHOODS.register("laplace")
class LaplaceLikelihood(GaussianLikelihood):
    """x ~ Laplace(output, b) with b fixed or learned per feature."""

    def distribution(self, decoder_output, batch):
        return dist.Laplace(decoder_output, self.scale.expand_as(decoder_output))


class _CountLikelihood(Likelihood):
    def __init__(self, observation_shape, use_library_size: bool = True):
        super().__init__(observation_shape)
        self.use_library_size = use_library_size

    def library_size(self, batch: Optional[Batch]) -> torch.Tensor:
        """Each row's library size, shape (B, 1, …, 1) (one 1 per event dimension): ``batch["library_size"]``
        when the batch carries it, otherwise the observed total count of the row."""
        if batch is None:
            raise ValueError("a count likelihood with use_library_size=True needs the batch (for the library size)")
        library = batch.extras.get("library_size")
        if library is None:
            library = batch.x.reshape(batch.size, -1).sum(-1)
        return library.reshape(-1, *([1] * self.event_dims))

    def rate(self, decoder_output: torch.Tensor, batch: Optional[Batch]) -> torch.Tensor:
        """Mean counts: ``library_size · softmax(output)`` over features, or ``exp(output)``."""
        if not self.use_library_size:
            return decoder_output.exp()
        composition = torch.softmax(decoder_output.reshape(*decoder_output.shape[: -self.event_dims], -1), -1)
        return self.library_size(batch) * composition.reshape(decoder_output.shape)

    def log_rate(self, decoder_output: torch.Tensor, batch: Optional[Batch]) -> torch.Tensor:
        """log of :meth:`rate`, computed in log space: ``log library_size + log_softmax(output)``, or the
        output itself; the decoder output's shape. A library size of 0 counts as the smallest positive
        float (its row's mean is then 0 to float precision rather than a log of −∞)."""
        if not self.use_library_size:
            return decoder_output
        library = self.library_size(batch)
        log_library = library.clamp_min(torch.finfo(library.dtype).tiny).log()
        log_composition = torch.log_softmax(decoder_output.reshape(*decoder_output.shape[: -self.event_dims], -1), -1)
        return log_library + log_composition.reshape(decoder_output.shape)


@LIKELIHOODS.register("poisson")
class PoissonLikelihood(_CountLikelihood):
    """x ~ Poisson(rate), rate from :meth:`_CountLikelihood.rate`."""

    def distribution(self, decoder_output, batch):
        return dist.Poisson(self.rate(decoder_output, batch), validate_args=False)


@LIKELIHOODS.register("negative_binomial")
class NegativeBinomialLikelihood(_CountLikelihood):
    """x ~ NB(mean μ, inverse dispersion θ per feature): Var = μ + μ²/θ (scVI's parameterisation).

    In torch's terms: total_count = θ, logits = log μ − log θ. ``log_dispersion`` is log θ, shape
    ``observation_shape``; log μ is :meth:`log_rate`.
    """

    def __init__(self, observation_shape, use_library_size: bool = True, initial_dispersion: float = 10.0):
        super().__init__(observation_shape, use_library_size)
        self.log_dispersion = nn.Parameter(torch.full(self.observation_shape, math.log(initial_dispersion)))

    def distribution(self, decoder_output, batch):
        # rows of one point (importance samples, particles: batch.repeat) share the x-only terms
        copies = 1 if batch is None else batch.copies
        return MeanDispersionNegativeBinomial(self.log_rate(decoder_output, batch), self.log_dispersion, copies,
                                              validate_args=False)


def build_likelihood(name: str, observation_shape, **kwargs) -> Likelihood:
    return LIKELIHOODS.build(name, observation_shape, **kwargs)
