"""Sequences of moving sprites with pixels missing not at random: the Healing-MNIST protocol on sprites.

Healing MNIST (Fortuin et al., AISTATS 2020) is T = 10 frames of a digit rotated
by a random walk, with pixels missing not at random. Here the digit is a dSprites sprite rendered
with :func:`pyrodisent.data.dsprites.render_sprites` (no file needed):

- per sequence: the shape (square, ellipse, heart — the label of the downstream classification) and
  the scale (uniform in ``scale_range``) are fixed;
- per frame: the orientation and the position (posX, posY) follow Gaussian random walks, reflected
  at the edges of their ranges (orientation in [−``max_orientation``, ``max_orientation``], position
  in [0, 1], the dSprites ranges; the first frame uniform in the range);
- missingness (MNAR, as in Healing MNIST: the chance that a pixel is missing depends on its value):
  a foreground pixel is missing with probability ``missing_foreground``, a background pixel with
  ``missing_background``, independently. The defaults, 0.9 and 0.6, leave about 62% of the pixels
  missing (Healing MNIST: 60%), and only one sprite pixel in ten observed.

Factors per frame, ``(N, T, 5)``: shape (0, 1, 2), scale, orientation (radians), posX, posY — the
dSprites order. Randomness always comes from an explicit random state.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.data.batch import OBSERVED_MASK
from pyrodisent.data.dsprites import FACTOR_NAMES, SHAPE_NAMES, render_sprites
from pyrodisent.random_state import RandomState, as_generator
from pyrodisent.registry import DATASETS

#: the factors that change within a sequence or between sequences continuously (MCC targets)
CONTINUOUS_FACTORS = (1, 2, 3, 4)


def flatten_frames(array: np.ndarray) -> np.ndarray:
    """Per-sequence arrays ``(N, T, ...)`` as per-frame arrays ``(N·T, ...)``."""
    return array.reshape(-1, *array.shape[2:])


def reflect(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Fold ``values`` back into [low, high] by reflection at both ends (a reflected random walk)."""
    width = high - low
    folded = np.mod(values - low, 2 * width)
    return low + np.where(folded > width, 2 * width - folded, folded)


@dataclass
class SequenceSet:
    """Complete sequences, which pixels are observed, and the true factors of every frame.

    :param complete: ``(N, T, 1, H, W)`` float32 in {0, 1}; models never see it, metrics score against it.
    :param observed_mask: ``(N, T, 1, H, W)`` bool, True where the pixel is observed.
    :param factors: ``(N, T, 5)`` float64 (shape, scale, orientation, posX, posY).
    """

    complete: np.ndarray
    observed_mask: np.ndarray
    factors: np.ndarray

    def __len__(self) -> int:
        return len(self.complete)

    @property
    def num_frames(self) -> int:
        return self.complete.shape[1]

    @property
    def masked(self) -> np.ndarray:
        """What a model sees: the observed pixels, 0 where missing, ``(N, T, 1, H, W)``."""
        return self.complete * self.observed_mask

    @property
    def labels(self) -> np.ndarray:
        """The shape of each sequence, ``(N,)`` int64 (0 square, 1 ellipse, 2 heart)."""
        return self.factors[:, 0, 0].astype(np.int64)

    def sequences(self) -> ArrayDataset:
        """Training set of whole sequences: x = masked ``(N, T, 1, H, W)``, extras ``observed_mask``."""
        return ArrayDataset(self.masked, extras={OBSERVED_MASK: self.observed_mask})

    def frames(self) -> ArrayDataset:
        """Training set of single frames (for per-frame models): x ``(N·T, 1, H, W)``, factors ``(N·T, 5)``."""
        return ArrayDataset(flatten_frames(self.masked), factors=flatten_frames(self.factors),
                            extras={OBSERVED_MASK: flatten_frames(self.observed_mask)})

    def subset(self, index) -> "SequenceSet":
        return SequenceSet(self.complete[index], self.observed_mask[index], self.factors[index])


@DATASETS.register("sprite_sequences")
class SpriteSequences:
    """Procedural sprite sequences (module docstring): T frames of ``image_size``² binary sprites.

    :param num_frames: T.
    :param image_size: side of the square frames (e.g. 32).
    :param scale_range: per-sequence sprite scale, uniform (dSprites: 0.5–1).
    :param max_orientation: orientations stay in [−m, m] radians (m = π/4: a square's rotations are all distinct).
    :param orientation_step, position_step: standard deviations of the random-walk steps per frame.
    :param missing_foreground, missing_background: probabilities that a sprite / background pixel is missing.
    :param supersample: render samples per pixel side.
    :param seed: default random state of :meth:`sample`.
    """

    factor_names = FACTOR_NAMES
    shape_names = SHAPE_NAMES

    def __init__(self, num_frames: int = 10, image_size: int = 32, scale_range: Tuple[float, float] = (0.7, 1.0),
                 max_orientation: float = math.pi / 4, orientation_step: float = 0.15, position_step: float = 0.08,
                 missing_foreground: float = 0.9, missing_background: float = 0.6, supersample: int = 4,
                 seed: int = 0):
        if num_frames < 1 or image_size < 8:
            raise ValueError(f"num_frames must be ≥ 1 and image_size ≥ 8, got {num_frames} and {image_size}")
        if not 0 < scale_range[0] <= scale_range[1] <= 1:
            raise ValueError(f"scale_range must lie in (0, 1] (the renderer's window fits scale ≤ 1), "
                             f"got {scale_range}")
        for name, p in (("missing_foreground", missing_foreground), ("missing_background", missing_background)):
            if not 0 <= p < 1:
                raise ValueError(f"{name} must be a probability in [0, 1), got {p}")
        if max_orientation <= 0 or orientation_step < 0 or position_step < 0:
            raise ValueError("max_orientation must be positive and the random-walk steps non-negative")
        self.num_frames = int(num_frames)
        self.image_size = int(image_size)
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.max_orientation = float(max_orientation)
        self.orientation_step = float(orientation_step)
        self.position_step = float(position_step)
        self.missing_foreground = float(missing_foreground)
        self.missing_background = float(missing_background)
        self.supersample = int(supersample)
        self.seed = seed

    @property
    def observation_shape(self) -> Tuple[int, ...]:
        return (self.num_frames, 1, self.image_size, self.image_size)

    def sample_factors(self, num: int, random_state: RandomState) -> np.ndarray:
        """Factors of ``num`` sequences, ``(num, T, 5)``: shape and scale constant, the rest random walks."""
        rng = as_generator(random_state)
        t = self.num_frames
        shape = rng.integers(0, len(SHAPE_NAMES), num).astype(np.float64)
        scale = rng.uniform(*self.scale_range, num)
        m = self.max_orientation
        orientation = rng.uniform(-m, m, num)[:, None] + np.cumsum(
            np.concatenate([np.zeros((num, 1)), rng.normal(0, self.orientation_step, (num, t - 1))], 1), 1)
        position = rng.uniform(0, 1, (num, 1, 2)) + np.cumsum(
            np.concatenate([np.zeros((num, 1, 2)), rng.normal(0, self.position_step, (num, t - 1, 2))], 1), 1)
        return np.concatenate([
            np.repeat(shape[:, None, None], t, 1),
            np.repeat(scale[:, None, None], t, 1),
            reflect(orientation, -m, m)[..., None],
            reflect(position, 0.0, 1.0),
        ], -1)

    def sample_observations_from_factors(self, factors: np.ndarray, random_state: RandomState = 0) -> np.ndarray:
        """Complete frames for factors ``(n, T, 5)``: ``(n, T, 1, H, W)`` float32 in {0, 1} (deterministic)."""
        factors = np.asarray(factors, dtype=np.float64)
        if factors.ndim != 3 or factors.shape[2] != len(FACTOR_NAMES):
            raise ValueError(f"factors must have shape (N, T, {len(FACTOR_NAMES)}), got {factors.shape}")
        n, t = factors.shape[:2]
        frames = render_sprites(factors.reshape(n * t, -1), self.image_size, self.supersample)
        return frames.reshape(n, t, 1, self.image_size, self.image_size).astype(np.float32)

    def sample_observed_mask(self, complete: np.ndarray, random_state: RandomState) -> np.ndarray:
        """Which pixels are observed (bool, the shape of ``complete``): MNAR, missing with a value-dependent chance."""
        rng = as_generator(random_state)
        missing_probability = np.where(complete > 0.5, self.missing_foreground, self.missing_background)
        return rng.random(complete.shape) >= missing_probability

    def sample(self, num: int, random_state: Optional[RandomState] = None) -> SequenceSet:
        """``num`` sequences with their missingness and factors; ``random_state`` defaults to ``seed``."""
        if num < 1:
            raise ValueError(f"num must be ≥ 1 sequences, got {num}")
        rng = as_generator(self.seed if random_state is None else random_state)
        factors = self.sample_factors(num, rng)
        complete = self.sample_observations_from_factors(factors)
        return SequenceSet(complete, self.sample_observed_mask(complete, rng), factors)

    def training_set(self, num: int = 2000, random_state: Optional[RandomState] = None) -> ArrayDataset:
        """Masked sequences with their ``observed_mask`` (see :meth:`SequenceSet.sequences`)."""
        return self.sample(num, random_state).sequences()

    def config(self) -> dict:
        return {"num_frames": self.num_frames, "image_size": self.image_size, "scale_range": list(self.scale_range),
                "max_orientation": self.max_orientation, "orientation_step": self.orientation_step,
                "position_step": self.position_step, "missing_foreground": self.missing_foreground,
                "missing_background": self.missing_background, "supersample": self.supersample, "seed": self.seed}
