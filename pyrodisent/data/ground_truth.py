"""The ground-truth data interface (disentanglement_lib's, with numpy generators).

Every dataset with known generative factors implements it; sampling-based metrics
(BetaVAE score, FactorVAE score) and pair/graph constructions consume only this interface.
"""
from __future__ import annotations

import abc
from typing import Optional, Sequence, Tuple

import numpy as np

# re-exported: the random-state helpers live in the leaf module pyrodisent.random_state
from pyrodisent.random_state import RandomState, as_generator  # noqa: F401


class GroundTruthData(abc.ABC):
    """A data source whose observations are generated from known factors.

    Discrete factors take values ``0 .. size-1``; a continuous factor has size ``None``.
    """

    #: human-readable factor names, length F
    factor_names: Tuple[str, ...] = ()
    #: True when an observation is a fixed function of its factors (no noise drawn from the random
    #: state): then a deterministic representation can be evaluated once per factor grid point
    #: (``pyrodisent.metrics.encoded_grid``).
    deterministic_observations: bool = False

    @property
    @abc.abstractmethod
    def factor_sizes(self) -> Tuple[Optional[int], ...]:
        """Number of values of each factor (``None`` for a continuous factor), length F."""

    @property
    @abc.abstractmethod
    def observation_shape(self) -> Tuple[int, ...]:
        """Shape of one observation, e.g. ``(1, 64, 64)`` (channels first)."""

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    @property
    def factors_are_discrete(self) -> bool:
        return all(size is not None for size in self.factor_sizes)

    @abc.abstractmethod
    def sample_factors(self, num: int, random_state: RandomState) -> np.ndarray:
        """``num`` factor vectors, shape ``(num, F)``."""

    @abc.abstractmethod
    def sample_observations_from_factors(self, factors: np.ndarray, random_state: RandomState) -> np.ndarray:
        """Observations for the given factors, shape ``(num, *observation_shape)``, float32."""

    def sample(self, num: int, random_state: RandomState) -> Tuple[np.ndarray, np.ndarray]:
        """``(factors, observations)`` for ``num`` random points."""
        rng = as_generator(random_state)
        factors = self.sample_factors(num, rng)
        return factors, self.sample_observations_from_factors(factors, rng)

    def sample_observations(self, num: int, random_state: RandomState) -> np.ndarray:
        return self.sample(num, random_state)[1]

    def _check_factors(self, factors: np.ndarray) -> np.ndarray:
        """Validate a factor array against ``factor_sizes`` (shape, integrality, range)."""
        factors = np.asarray(factors)
        if factors.ndim != 2 or factors.shape[1] != self.num_factors:
            raise ValueError(f"factors must have shape (N, {self.num_factors}), got {factors.shape}")
        for j, size in enumerate(self.factor_sizes):
            if size is None:
                continue
            column = factors[:, j]
            if not np.all(np.equal(np.mod(column, 1), 0)) or column.min(initial=0) < 0 or column.max(initial=0) >= size:
                raise ValueError(
                    f"factor {j} ({self._factor_name(j)}) must hold integers in [0, {size - 1}], "
                    f"got values in [{column.min()}, {column.max()}]"
                )
        return factors

    def _factor_name(self, j: int) -> str:
        return self.factor_names[j] if j < len(self.factor_names) else f"factor_{j}"


def factor_grid_index(factors: np.ndarray, factor_sizes: Sequence[int]) -> np.ndarray:
    """Row-major flat index of each factor vector in a full factor grid (dSprites/3dshapes order)."""
    sizes = np.asarray(factor_sizes, dtype=np.int64)
    bases = np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]])
    return np.asarray(factors, dtype=np.int64) @ bases


def procedural_grid_values(grid: str, supersample: int, image_size: int, full_values: Sequence[np.ndarray],
                           small_indices: Sequence[Sequence[int]]) -> Tuple[np.ndarray, ...]:
    """The factor values of a procedurally rendered dataset's grid — ``full``, or ``small`` (the full grid's
    values at ``small_indices``, for tests) — after checking its rendering settings."""
    if grid not in ("full", "small"):
        raise ValueError(f"grid must be 'full' or 'small', got {grid!r}")
    if supersample < 1 or image_size < 8:
        raise ValueError(f"supersample must be ≥ 1 and image_size ≥ 8, got {supersample} and {image_size}")
    if grid == "full":
        return tuple(full_values)
    return tuple(full[index] for full, index in zip(full_values, small_indices))
