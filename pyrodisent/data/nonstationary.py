"""Nonstationary sources mixed by a random MLP: the iVAE simulation (Khemakhem et al., AISTATS 2020).

Generative process (Khemakhem et al. 2020, simulated-data experiments, and the official code's generator):

- M segments of L points; u = segment label (one-hot over M).
- Sources s ∈ R^d, independent given u: s_j = m_{u,j} + λ_{u,j} · ε with λ ~ U(0.5, 3) per segment and
  component, m = 0 (``uncentered`` draws m ~ U(−5, 5)), and ε standard Gaussian, Laplace or
  hyperbolic-secant (unit variance for the first two, as in the official code).
- Mixing x = A_K h_{K−1}, h_k = σ(A_k h_{k−1}), h_0 = s, with K = ``num_layers`` and the last layer linear.
  ``variant="official"``: one square matrix A reused in every layer, σ = xtanh (tanh(x) + 0.1x).
  ``variant="2019"``: an independent matrix per layer, σ = leaky ReLU with slope 0.2.
  Each matrix has U(−1, 1) entries, unit-norm columns and is redrawn until its condition number is
  below the 25th percentile of the condition numbers of 10⁴ random draws.
- ``random_stream="official"`` (default) draws with numpy's legacy generator in the official code's
  order, so ``seed=1`` reproduces the official data set (its mixing matrix has condition number ≈ 2.0;
  an independent stream drew one of 3.6, which is markedly harder to unmix).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Tuple

import numpy as np
from scipy import stats

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.data.ground_truth import GroundTruthData
from pyrodisent.random_state import RandomState, as_generator
from pyrodisent.registry import DATASETS

SOURCE_DISTRIBUTIONS = ("gauss", "laplace", "hypsecant")
VARIANTS = ("official", "2019")
RANDOM_STREAMS = ("official", "generator")


def _unit_columns(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=-2, keepdims=True)


def well_conditioned_matrix(dim: int, rng, num_draws_for_threshold: int = 10_000,
                            percentile: float = 25.0) -> np.ndarray:
    """A (dim, dim) matrix with U(−1, 1) entries and unit-norm columns whose condition number is below
    the ``percentile``-th percentile of ``num_draws_for_threshold`` random draws (float32, as the official
    code; ``rng`` a numpy Generator or legacy RandomState)."""
    draws = _unit_columns(rng.uniform(-1, 1, (num_draws_for_threshold, dim, dim)).astype(np.float32))
    threshold = np.percentile(np.linalg.cond(draws), percentile)
    while True:
        matrix = _unit_columns(rng.uniform(-1, 1, (dim, dim)).astype(np.float32))
        if np.linalg.cond(matrix) <= threshold:
            return matrix.astype(np.float64)


def xtanh(x: np.ndarray, slope: float = 0.1) -> np.ndarray:
    return np.tanh(x) + slope * x


def leaky_relu(x: np.ndarray, slope: float = 0.2) -> np.ndarray:
    return np.where(x > 0, x, slope * x)


@dataclass(frozen=True)
class NonstationarySources(GroundTruthData):
    """The iVAE simulation as a ground-truth data source; :meth:`training_set` gives the fixed data.

    The mixing function and segment parameters are drawn once from ``seed`` (official: seed 1).
    Factors are the continuous sources s (``factor_sizes`` all None); the auxiliary variable is the
    segment.
    """

    num_segments: int = 40
    points_per_segment: int = 1000
    latent_dim: int = 5
    num_layers: int = 3
    variant: str = "official"
    source_distribution: str = "gauss"
    uncentered: bool = False
    noise_scale: float = 0.0
    seed: int = 1
    random_stream: str = "official"

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.source_distribution not in SOURCE_DISTRIBUTIONS:
            raise ValueError(f"source_distribution must be one of {SOURCE_DISTRIBUTIONS}, got {self.source_distribution!r}")
        if self.num_layers < 1 or self.latent_dim < 1 or self.num_segments < 1 or self.points_per_segment < 1:
            raise ValueError("num_layers, latent_dim, num_segments and points_per_segment must all be ≥ 1")
        if self.random_stream not in RANDOM_STREAMS:
            raise ValueError(f"random_stream must be one of {RANDOM_STREAMS}, got {self.random_stream!r}")
        official = self.random_stream == "official"
        # "official": numpy's legacy generator seeded as the official code seeds it, drawn in its order
        # (segment scales, means, the training sources, then the mixing matrices): seed 1 gives the
        # official data set. "generator": a numpy Generator, the training sources drawn afterwards.
        rng = np.random.RandomState(self.seed) if official else np.random.default_rng(self.seed)
        shape = (self.num_segments, self.latent_dim)
        scales = rng.uniform(0.5, 3.0, shape)
        means = rng.uniform(-5, 5, shape) if self.uncentered else np.zeros(shape)
        segments = np.repeat(np.arange(self.num_segments), self.points_per_segment)
        sources = self.sample_sources(segments, rng, scales, means) if official else None
        if self.variant == "official":
            shared = well_conditioned_matrix(self.latent_dim, rng)
            matrices = [shared] * self.num_layers
        else:
            matrices = [well_conditioned_matrix(self.latent_dim, rng) for _ in range(self.num_layers)]
        object.__setattr__(self, "_scales", scales)
        object.__setattr__(self, "_means", means)
        object.__setattr__(self, "_matrices", matrices)
        object.__setattr__(self, "_training_sources", sources)
        object.__setattr__(self, "_data_rng_seed", int(rng.randint(2**31) if official else rng.integers(2**31)))

    # --- ground-truth interface -------------------------------------------------------------
    @property
    def factor_sizes(self) -> Tuple[Optional[int], ...]:
        return (None,) * self.latent_dim

    @property
    def factor_names(self) -> Tuple[str, ...]:  # type: ignore[override]
        return tuple(f"s{j}" for j in range(self.latent_dim))

    @property
    def observation_shape(self) -> Tuple[int, ...]:
        return (self.latent_dim,)

    @property
    def segment_scales(self) -> np.ndarray:
        """λ, shape (M, d): the standard deviation of each source in each segment."""
        return self._scales

    @property
    def segment_means(self) -> np.ndarray:
        return self._means

    def sample_segments(self, num: int, random_state: RandomState) -> np.ndarray:
        return as_generator(random_state).integers(0, self.num_segments, num)

    def sample_sources(self, segments: np.ndarray, random_state: RandomState, scales: Optional[np.ndarray] = None,
                       means: Optional[np.ndarray] = None) -> np.ndarray:
        """s | u for the given segment labels, shape (n, d) (a legacy RandomState is used as given)."""
        rng = random_state if isinstance(random_state, np.random.RandomState) else as_generator(random_state)
        scales = self._scales if scales is None else scales
        means = self._means if means is None else means
        shape = (len(segments), self.latent_dim)
        if self.source_distribution == "gauss":
            noise = rng.standard_normal(shape)
        elif self.source_distribution == "laplace":
            noise = rng.laplace(0.0, 1 / np.sqrt(2), shape)
        else:
            noise = stats.hypsecant.rvs(size=shape, random_state=rng)
        return means[segments] + scales[segments] * noise

    def sample_factors(self, num: int, random_state: RandomState) -> np.ndarray:
        rng = as_generator(random_state)
        return self.sample_sources(self.sample_segments(num, rng), rng)

    def mix(self, sources: np.ndarray) -> np.ndarray:
        """The mixing MLP f(s), shape (n, d)."""
        h = np.asarray(sources, dtype=np.float64)
        for k, matrix in enumerate(self._matrices):
            h = h @ matrix
            if k < self.num_layers - 1:
                h = xtanh(h) if self.variant == "official" else leaky_relu(h)
        return h

    def sample_observations_from_factors(self, factors: np.ndarray, random_state: RandomState) -> np.ndarray:
        factors = self._check_factors(factors)
        x = self.mix(factors)
        if self.noise_scale > 0:
            x = x + self.noise_scale * as_generator(random_state).standard_normal(x.shape)
        return x.astype(np.float32)

    # --- the fixed training set -------------------------------------------------------------
    def training_set(self) -> ArrayDataset:
        """M·L points ordered by segment: x (N, d), u one-hot (N, M), factors = sources (N, d),
        extras["segment"] (N,)."""
        rng = np.random.default_rng(self._data_rng_seed)
        segments = np.repeat(np.arange(self.num_segments), self.points_per_segment)
        sources = self._training_sources if self._training_sources is not None else self.sample_sources(segments, rng)
        x = self.sample_observations_from_factors(sources, rng)
        u = np.eye(self.num_segments, dtype=np.float32)[segments]
        return ArrayDataset(x, u=u, factors=sources.astype(np.float32), extras={"segment": segments})

    def config(self) -> dict:
        return asdict(self)


DATASETS.register("nonstationary_sources")(NonstationarySources)
