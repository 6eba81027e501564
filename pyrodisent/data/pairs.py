"""Pairs of observations that share some factors, for any :class:`~pyrodisent.data.ground_truth.GroundTruthData`.

- :func:`weak_pairs`: disentanglement_lib's weak protocol (Locatello et al., ICML 2020, ``simple_dynamics``):
  draw a factor vector, copy it, and resample n factors chosen uniformly without replacement, n = 1 or n = k
  each with probability ½ (k = −1: k ~ U{1..F−1} per pair; k = 1: always one factor). A resampled value may
  equal the old one, so the factors that *changed* are those whose values differ.
- :func:`approximate_pairs`: the same with the "shared" factors only approximately shared: each moves by an
  offset drawn uniformly from {−s, …, s} grid steps (clipped to the grid), while the resampled factors are
  drawn to differ from their old values; the changed set is the resampled factors.
- :class:`CorrelatedFactors`: a training distribution in which one pair of factors (i, j) is correlated
  (Träuble et al., ICML 2021): on values normalised to [0, 1], p(c_i, c_j) ∝ exp(−(c_i − c_j)² / (2σ²)), the
  other factors uniform. Pairs drawn from it resample the correlated factors from their conditional, so
  both images of a pair lie in the correlated distribution. Evaluation uses uncorrelated factors.

:func:`paired_dataset` renders pairs into an :class:`~pyrodisent.data.arrays.ArrayDataset` whose batches carry
``x`` (first images), ``batch["x_pair"]`` (second images), ``batch["factors_pair"]`` and
``batch["changed_factors"]`` (booleans (B, F)). Randomness comes only from the random state passed in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.data.ground_truth import GroundTruthData
from pyrodisent.random_state import RandomState, as_generator

#: what a batch of pairs carries (a model's ``batch_needs``, a protocol's ``provides``)
PAIR = "pair"
#: the ``extras`` keys of a pair batch
PAIR_OBSERVATION = "x_pair"
PAIR_FACTORS = "factors_pair"
CHANGED_FACTORS = "changed_factors"


@dataclass
class FactorPairs:
    """Factor vectors of N pairs: ``first`` and ``second`` (N, F) int64, ``resampled`` (N, F) booleans (the
    factors drawn anew for the second) and ``changed`` (N, F) booleans (the factors that count as changed)."""

    first: np.ndarray
    second: np.ndarray
    resampled: np.ndarray
    changed: np.ndarray


def discrete_sizes(dataset: GroundTruthData) -> Tuple[int, ...]:
    """The factor sizes of ``dataset``, which pairs need to be discrete."""
    if not dataset.factors_are_discrete:
        raise ValueError(f"pairs need discrete factors (a grid to resample and to step on); "
                         f"{type(dataset).__name__} has factor sizes {dataset.factor_sizes}")
    return tuple(int(size) for size in dataset.factor_sizes)


def number_resampled(num: int, num_factors: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """n per pair (disentanglement_lib): 1 or k with probability ½ each; k = −1 draws k ~ U{1..F−1} per pair."""
    if num_factors < 2:
        raise ValueError(f"pairs need at least 2 factors (one to change, one to share), got {num_factors}")
    if k == -1:
        k_per_pair = rng.integers(1, num_factors, num)
    elif 1 <= k <= num_factors - 1:
        k_per_pair = np.full(num, k)
    else:
        raise ValueError(f"k must be -1 (random per pair) or in 1..{num_factors - 1} (factors to resample), got {k}")
    return np.where(rng.random(num) < 0.5, 1, k_per_pair)


def resample_masks(counts: np.ndarray, num_factors: int, rng: np.random.Generator) -> np.ndarray:
    """(N, F) booleans with ``counts[n]`` factors chosen uniformly without replacement in row n."""
    order = np.argsort(rng.random((len(counts), num_factors)), axis=1)
    ranks = np.argsort(order, axis=1)
    return ranks < counts[:, None]


class CorrelatedFactors:
    """Factors with one pair (i, j) correlated, p(c_i, c_j) ∝ exp(−(c_i − c_j)² / (2σ²)) on values normalised
    to [0, 1] (c = index / (size − 1)), the other factors uniform and independent (Träuble et al. 2021).

    :param sizes: the factor sizes (F).
    :param pair: the indices (i, j) of the correlated factors.
    :param sigma: σ > 0; smaller is stronger correlation.
    """

    def __init__(self, sizes: Sequence[int], pair: Tuple[int, int], sigma: float):
        self.sizes = tuple(int(s) for s in sizes)
        i, j = (int(p) for p in pair)
        if i == j or not (0 <= i < len(self.sizes) and 0 <= j < len(self.sizes)):
            raise ValueError(f"the correlated pair must be two different factor indices in 0..{len(self.sizes) - 1}, "
                             f"got {pair}")
        if not sigma > 0:
            raise ValueError(f"the correlation's sigma must be positive (smaller: stronger), got {sigma}")
        if self.sizes[i] < 2 or self.sizes[j] < 2:
            raise ValueError(f"correlated factors need at least 2 values each, got sizes {self.sizes[i]}, {self.sizes[j]}")
        self.pair = (i, j)
        self.sigma = float(sigma)
        self.joint = self.joint_probabilities()

    def joint_probabilities(self) -> np.ndarray:
        """p(c_i, c_j) on the grid, shape (size_i, size_j), summing to 1."""
        i, j = self.pair
        c_i = np.arange(self.sizes[i]) / (self.sizes[i] - 1)
        c_j = np.arange(self.sizes[j]) / (self.sizes[j] - 1)
        weights = np.exp(-(c_i[:, None] - c_j[None, :]) ** 2 / (2 * self.sigma ** 2))
        return weights / weights.sum()

    def correlation(self) -> float:
        """The Pearson correlation of (c_i, c_j) under :meth:`joint_probabilities` (exact, on the grid)."""
        i, j = self.pair
        c_i = np.arange(self.sizes[i]) / (self.sizes[i] - 1)
        c_j = np.arange(self.sizes[j]) / (self.sizes[j] - 1)
        p = self.joint
        mean_i, mean_j = p.sum(1) @ c_i, p.sum(0) @ c_j
        covariance = np.sum(p * np.outer(c_i - mean_i, c_j - mean_j))
        variance_i = p.sum(1) @ (c_i - mean_i) ** 2
        variance_j = p.sum(0) @ (c_j - mean_j) ** 2
        return float(covariance / np.sqrt(variance_i * variance_j))

    def sample(self, num: int, random_state: RandomState) -> np.ndarray:
        """``num`` factor vectors (num, F) int64."""
        rng = as_generator(random_state)
        factors = np.stack([rng.integers(0, size, num) for size in self.sizes], axis=1).astype(np.int64)
        flat = rng.choice(self.joint.size, size=num, p=self.joint.ravel())
        i, j = self.pair
        factors[:, i], factors[:, j] = np.unravel_index(flat, self.joint.shape)
        return factors

    def resample_pair(self, factors: np.ndarray, resampled: np.ndarray, rng: np.random.Generator) -> None:
        """Redraw, in place, the correlated factors marked in ``resampled`` (N, F): both jointly when both are
        marked, one from its conditional given the other when only one is."""
        i, j = self.pair
        both = resampled[:, i] & resampled[:, j]
        if both.any():
            flat = rng.choice(self.joint.size, size=int(both.sum()), p=self.joint.ravel())
            factors[both, i], factors[both, j] = np.unravel_index(flat, self.joint.shape)
        for target, given, table in ((i, j, self.joint), (j, i, self.joint.T)):
            rows = np.flatnonzero(resampled[:, target] & ~resampled[:, given])
            for row in rows:
                conditional = table[:, factors[row, given]]
                factors[row, target] = rng.choice(len(conditional), p=conditional / conditional.sum())


def first_factors(dataset: GroundTruthData, num: int, rng: np.random.Generator,
                  correlated: Optional[CorrelatedFactors]) -> np.ndarray:
    return dataset.sample_factors(num, rng) if correlated is None else correlated.sample(num, rng)


def weak_pairs(dataset: GroundTruthData, num: int, random_state: RandomState, k: int = 1,
               correlated: Optional[CorrelatedFactors] = None) -> FactorPairs:
    """``num`` pairs of disentanglement_lib's weak protocol (see the module docstring); with ``correlated``
    the first factors come from it and resampled correlated factors from its conditional."""
    rng = as_generator(random_state)
    sizes = discrete_sizes(dataset)
    first = np.asarray(first_factors(dataset, num, rng, correlated), dtype=np.int64)
    resampled = resample_masks(number_resampled(num, len(sizes), k, rng), len(sizes), rng)
    second = first.copy()
    fresh = dataset.sample_factors(num, rng)
    second[resampled] = fresh[resampled]
    if correlated is not None:
        correlated.resample_pair(second, resampled, rng)
    return FactorPairs(first, second, resampled, second != first)


def approximate_pairs(dataset: GroundTruthData, num: int, random_state: RandomState, k: int = 1,
                      share_radius: int = 1, correlated: Optional[CorrelatedFactors] = None) -> FactorPairs:
    """``num`` pairs whose resampled factors differ from the first's and whose shared factors move by up to
    ``share_radius`` grid steps (uniform offset in {−s, …, s}, clipped to the grid)."""
    if share_radius < 0:
        raise ValueError(f"share_radius must be ≥ 0 (grid steps a shared factor may move), got {share_radius}")
    rng = as_generator(random_state)
    sizes = np.asarray(discrete_sizes(dataset))
    first = np.asarray(first_factors(dataset, num, rng, correlated), dtype=np.int64)
    resampled = resample_masks(number_resampled(num, len(sizes), k, rng), len(sizes), rng)
    resampled &= sizes[None, :] > 1  # a factor with one value cannot change
    offsets = rng.integers(-share_radius, share_radius + 1, first.shape)
    second = np.clip(first + offsets, 0, sizes[None, :] - 1)
    # a value different from the old one: old + U{1..size−1} modulo size
    shifts = np.floor(rng.random(first.shape) * (sizes[None, :] - 1)).astype(np.int64) + 1
    different = (first + shifts) % sizes[None, :]
    second[resampled] = different[resampled]
    if correlated is not None:  # from the conditional, then made to differ if it drew the old value
        correlated.resample_pair(second, resampled, rng)
        for column in correlated.pair:
            same = resampled[:, column] & (second[:, column] == first[:, column])
            second[same, column] = different[same, column]
    return FactorPairs(first, second, resampled, resampled.copy())


def paired_dataset(dataset: GroundTruthData, pairs: FactorPairs, random_state: RandomState) -> ArrayDataset:
    """Render both images of each pair: x (first images), factors (first factors), and the extras
    ``x_pair``, ``factors_pair`` and ``changed_factors``."""
    rng = as_generator(random_state)
    first = dataset.sample_observations_from_factors(pairs.first, rng)
    second = dataset.sample_observations_from_factors(pairs.second, rng)
    return ArrayDataset(first, factors=pairs.first, extras={PAIR_OBSERVATION: second, PAIR_FACTORS: pairs.second,
                                                            CHANGED_FACTORS: pairs.changed})


def factor_index(dataset: GroundTruthData, name: str) -> int:
    """The index of the factor called ``name`` (case and underscores ignored: ``pos_x`` finds ``posX``)."""
    def key(text: str) -> str:
        return text.replace("_", "").replace("-", "").lower()

    names = [dataset._factor_name(j) for j in range(dataset.num_factors)]
    matches = [j for j, known in enumerate(names) if key(known) == key(name)]
    if not matches:
        raise ValueError(f"{type(dataset).__name__} has no factor {name!r}; its factors: {', '.join(names)}")
    return matches[0]
