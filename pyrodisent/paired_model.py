"""The base class of models trained on pairs of observations (x1, x2) that share some factors.

Generative story (both observations of a pair, one data plate over the N pairs)::

    for n in pairs:                                   # pyro.plate("data", N, subsample=batch.index)
        z1_n ~ N(0, I),  z2_n ~ N(0, I)               # sites "z" and "z_pair", scaled by β·warm-up
        x1_n ~ p(x | decoder(z1_n))                   # site "x"
        x2_n ~ p(x | decoder(z2_n))                   # site "x_pair"
        ... :meth:`pair_model_terms`                   # a model's own sites (e.g. a latent transformation)

    guide: (z1_n, z2_n) ~ :meth:`pair_posteriors` — one encoder applied to both observations; a weakly
    supervised model couples the two there (Ada-GVAE averages the shared dimensions).

The batch carries the second observation as ``batch["x_pair"]`` (:mod:`pyrodisent.data.pairs`). A batch
without it (single observations: evaluation's ELBO, importance weights, codes and pictures) is the
single-observation VAE of the same encoder, decoder and prior — the base class's model and guide.
"""
from __future__ import annotations

from typing import Tuple

import pyro
import pyro.distributions as dist
import torch

from pyrodisent.data.batch import Batch
from pyrodisent.data.pairs import PAIR, PAIR_OBSERVATION
from pyrodisent.distributions.shared_posteriors import Posterior
from pyrodisent.model import LatentVariableModel
from pyrodisent.sites import LATENT_SITE, OBSERVATION_SITE, PAIR_LATENT_SITE, PAIR_OBSERVATION_SITE


class PairedLatentVariableModel(LatentVariableModel):
    """Two latents per pair, N(0, I) priors, both observations scored; :meth:`pair_posteriors` is the guide's
    coupling (independent posteriors here)."""

    batch_needs = frozenset({PAIR})

    @staticmethod
    def has_pair(batch: Batch) -> bool:
        return PAIR_OBSERVATION in batch.extras

    def second_batch(self, batch: Batch) -> Batch:
        """The pair's second observations as a batch of their own (same indices and extras)."""
        return Batch(x=batch[PAIR_OBSERVATION], index=batch.index, u=batch.u, extras=batch.extras,
                     copies=batch.copies)

    def encoded_pair(self, batch: Batch) -> Tuple[Posterior, Posterior]:
        """(location, scale) of q(z | x1) and of q(z | x2) from one pass of the encoder over both."""
        if self.posterior_covariance != "diagonal" or len(self.posterior_flow):
            raise ValueError(f"{type(self).__name__} needs a diagonal Gaussian posterior (it compares and averages "
                             "the pair's posteriors dimension by dimension)")
        both = Batch(x=torch.cat([batch.x, batch[PAIR_OBSERVATION]]), index=torch.cat([batch.index, batch.index]))
        loc, scale = self.posterior_params(both)
        size = batch.size
        return (loc[:size], scale[:size]), (loc[size:], scale[size:])

    def pair_posteriors(self, batch: Batch) -> Tuple[Posterior, Posterior]:
        """The guide's (location, scale) of z1 and of z2; here the encoder's, independently."""
        return self.encoded_pair(batch)

    def pair_model_terms(self, batch: Batch, z_first: torch.Tensor, z_second: torch.Tensor) -> None:
        """Further sites of the model inside the data plate (none here)."""

    def pair_guide_terms(self, batch: Batch, first: Posterior, second: Posterior) -> None:
        """Further sites of the guide inside the data plate (none here)."""

    def model(self, batch: Batch) -> torch.Tensor:
        if not self.has_pair(batch):
            return super().model(batch)
        prior = self.prior(batch)
        self.check_prior_shape(prior, batch)
        with self.data_plate(batch):
            with self.latent_scale():
                z_first = pyro.sample(LATENT_SITE, prior)
                z_second = pyro.sample(PAIR_LATENT_SITE, prior)
            with self.likelihood_scale():
                pyro.sample(OBSERVATION_SITE, self.observation_distribution(z_first, batch), obs=batch.x)
                second = self.second_batch(batch)
                pyro.sample(PAIR_OBSERVATION_SITE, self.observation_distribution(z_second, second), obs=second.x)
            self.pair_model_terms(batch, z_first, z_second)
        return z_first

    def guide(self, batch: Batch) -> torch.Tensor:
        if not self.has_pair(batch):
            return super().guide(batch)
        first, second = self.pair_posteriors(batch)
        with self.data_plate(batch):
            with self.latent_scale():
                z_first = pyro.sample(LATENT_SITE, dist.Normal(*first).to_event(1))
                pyro.sample(PAIR_LATENT_SITE, dist.Normal(*second).to_event(1))
            self.pair_guide_terms(batch, first, second)
        return z_first

    @torch.no_grad()
    def changed_dimensions(self, batch: Batch) -> torch.Tensor:
        """Booleans (B, K): the latent dimensions this model takes to differ within each pair of ``batch``.
        Models that infer them (Ada-GVAE's threshold, latent_shift's gates) override this."""
        raise NotImplementedError(f"{type(self).__name__} does not infer which dimensions a pair changes")
