"""Sparse mechanism shift simulation of sVAE+ (Lopez et al., CLeaR 2023, §5.1).

- A actions (perturbations) × C cells each; d latents; G genes.
- Each action a targets 1–3 latents (drawn with replacement, so duplicates merge); each target's shift
  has size N(5, 0.5) and a random sign. z | a ~ N(shift_a, I), shift_a zero off the targets.
- Mixing: a 4-layer leaky-ReLU (slope 0.2) MLP with orthogonalised random weights; the output logits are
  divided by their standard deviation; p = softmax over genes (per cell); counts x ~ Poisson(10⁶ · p).
  (The official code takes the softmax over cells — almost certainly unintended; here it is per cell.)
- ``observation="gaussian"``: x = the normalised logits + N(0, noise²) instead of counts.
- Actions ``heldout_actions`` (default 80–99) are not seen in training.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Tuple

import numpy as np

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.data.ground_truth import GroundTruthData
from pyrodisent.random_state import RandomState, as_generator
from pyrodisent.registry import DATASETS

OBSERVATIONS = ("counts", "gaussian")


def orthogonal_matrix(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A (rows, cols) matrix with orthonormal columns (or rows, when cols > rows), from a QR of a Gaussian."""
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))
    return q if rows >= cols else q.T


@dataclass(frozen=True)
class SparseShiftSimulation(GroundTruthData):
    """The sVAE+ simulation; :meth:`training_set` and :meth:`heldout_set` give the fixed data.

    ``targets`` (A, d) is the true binary target matrix; ``shifts`` (A, d) the true mean shifts.
    Factors are the continuous latents z; extras carry ``action`` (long) and ``library_size``.
    """

    num_actions: int = 100
    cells_per_action: int = 250
    latent_dim: int = 15
    num_genes: int = 100
    max_targets: int = 3
    shift_mean: float = 5.0
    shift_std: float = 0.5
    num_layers: int = 4
    library_size: float = 1e6
    observation: str = "counts"
    gaussian_noise: float = 0.1
    first_heldout_action: int = 80
    seed: int = 0

    def __post_init__(self):
        if self.observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {self.observation!r}")
        if not 0 < self.first_heldout_action <= self.num_actions:
            raise ValueError(f"first_heldout_action must be in 1..{self.num_actions}, got {self.first_heldout_action}")
        if not 1 <= self.max_targets <= self.latent_dim:
            raise ValueError(f"max_targets must be in 1..latent_dim={self.latent_dim}, got {self.max_targets}")
        rng = np.random.default_rng(self.seed)
        targets = np.zeros((self.num_actions, self.latent_dim), dtype=bool)
        shifts = np.zeros((self.num_actions, self.latent_dim))
        for a in range(self.num_actions):
            count = rng.integers(1, self.max_targets + 1)
            chosen = np.unique(rng.integers(0, self.latent_dim, count))
            targets[a, chosen] = True
            sizes = rng.normal(self.shift_mean, self.shift_std, len(chosen))
            shifts[a, chosen] = sizes * rng.choice([-1.0, 1.0], len(chosen))
        widths = [self.latent_dim] + [self.num_genes] * self.num_layers
        weights = [orthogonal_matrix(i, o, rng) for i, o in zip(widths[:-1], widths[1:])]
        object.__setattr__(self, "_targets", targets)
        object.__setattr__(self, "_shifts", shifts)
        object.__setattr__(self, "_weights", weights)
        object.__setattr__(self, "_data_seed", int(rng.integers(2**31)))

    # ground-truth interface
    @property
    def factor_sizes(self) -> Tuple[Optional[int], ...]:
        return (None,) * self.latent_dim

    @property
    def observation_shape(self) -> Tuple[int, ...]:
        return (self.num_genes,)

    @property
    def targets(self) -> np.ndarray:
        """True target matrix (A, d): which latents each action shifts."""
        return self._targets

    @property
    def shifts(self) -> np.ndarray:
        return self._shifts

    @property
    def training_actions(self) -> np.ndarray:
        return np.arange(self.first_heldout_action)

    @property
    def heldout_actions(self) -> np.ndarray:
        return np.arange(self.first_heldout_action, self.num_actions)

    def sample_factors(self, num: int, random_state: RandomState) -> np.ndarray:
        rng = as_generator(random_state)
        actions = rng.integers(0, self.first_heldout_action, num)
        return self.sample_latents(actions, rng)

    def sample_latents(self, actions: np.ndarray, random_state: RandomState) -> np.ndarray:
        """z | a ~ N(shift_a, I), shape (n, d)."""
        rng = as_generator(random_state)
        return self._shifts[actions] + rng.standard_normal((len(actions), self.latent_dim))

    def mixing_logits(self, z: np.ndarray) -> np.ndarray:
        """The leaky-ReLU MLP's output divided by its standard deviation, shape (n, G)."""
        h = np.asarray(z, dtype=np.float64)
        for k, w in enumerate(self._weights):
            h = h @ w
            if k < len(self._weights) - 1:
                h = np.where(h > 0, h, 0.2 * h)
        return h / h.std()

    def sample_observations_from_factors(self, factors: np.ndarray, random_state: RandomState) -> np.ndarray:
        factors = self._check_factors(factors)
        rng = as_generator(random_state)
        logits = self.mixing_logits(factors)
        if self.observation == "gaussian":
            return (logits + self.gaussian_noise * rng.standard_normal(logits.shape)).astype(np.float32)
        logits = logits - logits.max(-1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(-1, keepdims=True)
        return rng.poisson(self.library_size * p).astype(np.float32)

    def _dataset(self, actions: np.ndarray, seed_offset: int) -> ArrayDataset:
        rng = np.random.default_rng(self._data_seed + seed_offset)
        cell_actions = np.repeat(actions, self.cells_per_action)
        z = self.sample_latents(cell_actions, rng)
        x = self.sample_observations_from_factors(z, rng)
        extras = {"action": cell_actions.astype(np.int64)}
        if self.observation == "counts":
            extras["library_size"] = x.sum(-1).astype(np.float32)
        return ArrayDataset(x, factors=z.astype(np.float32), extras=extras)

    def training_set(self) -> ArrayDataset:
        """Cells of the training actions (0 .. first_heldout_action − 1)."""
        return self._dataset(self.training_actions, 0)

    def heldout_set(self) -> ArrayDataset:
        """Cells of the held-out actions, never seen in training."""
        return self._dataset(self.heldout_actions, 1)

    def config(self) -> dict:
        return asdict(self)


DATASETS.register("sparse_shift")(SparseShiftSimulation)
