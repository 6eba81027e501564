"""Topology-aware product priors: a representation as a product of factors, each with its own topology.

The hypothesis: a disentangled representation is a product of 1-D factors — a discrete set of points
(shape), a segment with end points (scale, position), a loop (rotation angle, hue). The prior is a
product of blocks, one per factor, each putting its lowest "energy" on its low-dimensional set:

    p(z) = Π_b p_b(z_b; s_b(t))                                               (product prior)

with p_b a mixture of k narrow Gaussians (points(k), 1-D), a smoothed uniform on an interval (segment,
1-D), or the 2-D tilted Gaussian p_τ(z) ∝ exp(τ‖z‖) N(z; 0, I) of Floto et al. (ICLR 2023, Eq. 3)
whose density concentrates on a circle (loop, 2-D), or the unit circle itself with a uniform prior and a
projected-normal posterior (circle, 2-D: a loop in polar form; see
:mod:`pyrodisent.distributions.topological`). Energy annealing: each block's sharpness s_b (mixture
width, segment edge width, τ) follows a schedule from flat to sharp over ``anneal_steps`` trainer steps,
so encodings settle onto the low-energy sets as training proceeds. The objective is the β-ELBO
E_q[log p(x|z)] − β KL(q(z|x) ‖ p(z)), the KL by Monte Carlo (the prior has no closed form against q).

``blocks`` is the user's whole hypothesis, a few words: ``"points(3), segment, loop, loop, segment,
segment"``; ``"tilted(10)"`` is the tilted prior of Floto et al. on the whole latent space.
"""
from __future__ import annotations

from typing import Sequence, Union

from pyrodisent.distributions.topological import ProductPrior, Tilted, TopologyBlock, parse_blocks
from pyrodisent.model import LatentVariableModel
from pyrodisent.registry import MODELS

#: the product prior for the circular-sprites factors (shape, scale, orientation, hue, pos_x, pos_y)
CIRCULAR_SPRITES_BLOCKS = "points(3), segment, loop, loop, segment, segment"


@MODELS.register("topological_vae")
class TopologicalVAE(LatentVariableModel):
    """A product prior of topology blocks (points, segment, loop, tilted), each annealed from flat to sharp."""

    def __init__(self, *args, blocks: Union[str, Sequence[TopologyBlock]] = CIRCULAR_SPRITES_BLOCKS,
                 anneal_steps: int = 0, latent_dim: int = 0, **kwargs):
        """:param blocks: the blocks, as text (``"points(3), segment, loop"``) or block modules; their
            dimensions add up to the latent size.
        :param anneal_steps: steps over which each block sharpens from flat to sharp (0: sharp from the start).
        :param latent_dim: 0, or the blocks' total dimension (a check).
        """
        product = ProductPrior(parse_blocks(blocks) if isinstance(blocks, str) else list(blocks))
        if latent_dim and latent_dim != product.dim:
            raise ValueError(f"latent_dim {latent_dim} does not match the blocks {blocks!r}, which take "
                             f"{product.dim} dimensions (leave latent_dim at 0)")
        if anneal_steps < 0:
            raise ValueError(f"anneal_steps must be ≥ 0, got {anneal_steps}")
        super().__init__(*args, latent_dim=product.dim, **kwargs)
        if not product.gaussian_posterior and (self.posterior_covariance != "diagonal" or len(self.posterior_flow)):
            raise ValueError(f"blocks {product.extra_repr()!r} have a circle, whose posterior is a projected normal: "
                             "use posterior_covariance='diagonal' and no posterior flow")
        self.product_prior = product
        self.anneal_steps = int(anneal_steps)

    @property
    def anneal_progress(self) -> float:
        """How far the blocks have sharpened: min(1, step / anneal_steps) (1 without annealing)."""
        if self.anneal_steps <= 0:
            return 1.0
        return min(1.0, self._step / self.anneal_steps)

    def prior(self, batch, **globals):
        return self.product_prior.distribution(self.anneal_progress, batch_shape=(batch.size,))

    def posterior(self, batch):
        """q(z | x) = Π_b q_b(z_b | x): the encoder's diagonal Gaussian, but on the unit circle (a projected
        normal) for circle blocks."""
        if self.product_prior.gaussian_posterior:
            return super().posterior(batch)
        return self.product_prior.posterior(*self.posterior_params(batch))


@MODELS.register("tilted_vae")
class TiltedVAE(TopologicalVAE):
    """The tilted prior of Floto et al. (ICLR 2023) on the whole latent space: p(z) ∝ exp(τ‖z‖) N(z; 0, I)."""

    def __init__(self, *args, latent_dim: int = 10, tau: float = 5.0, anneal_steps: int = 0, **kwargs):
        """:param tau: τ of the prior (its density concentrates near the sphere of radius ≈ τ); with
            ``anneal_steps`` it grows linearly from 0 to τ over that many steps."""
        block = Tilted(latent_dim, tau=tau, start_tau=0.0 if anneal_steps else tau)
        super().__init__(*args, blocks=[block], anneal_steps=anneal_steps, **kwargs)
