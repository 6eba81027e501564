"""Circular sprites: coloured asymmetric sprites whose orientation and hue each cover the full circle.

dSprites' orientation factor runs over [0, 2π] with shapes (square, ellipse) whose symmetries fold the
circle onto a fraction of itself, so no image reveals where on the circle it lies. Here every factor
declares its topology (:attr:`CircularSprites.factor_topologies`) and the loops are true loops:

- shape (points): an arrow, an "L" and a teardrop — none has a rotational symmetry, so all orientations
  in [0, 2π) give different images;
- scale (segment): 0.6 … 1.0 of the base size, 5 values;
- orientation (loop): 2π i / 36, i = 0 … 35, counter-clockwise on screen;
- hue (loop): 2π i / 24, i = 0 … 23, the sprite's fully saturated colour on the colour wheel (radians);
- pos_x, pos_y (segments): 8 values each in [0, 1] (pos_y = 0 at the top).

Images are 64×64 RGB, channels first, float32 in [0, 1]: the sprite's colour times the share of each
pixel it covers (anti-aliased by ``supersample``² samples a pixel) on a black background. An image is a
fixed function of the factor values, and :func:`render_circular_sprites` takes any real orientation and
hue: values a whole turn apart render identically.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.data.ground_truth import GroundTruthData, procedural_grid_values
from pyrodisent.data.shapes3d import hue_to_rgb
from pyrodisent.random_state import RandomState, as_generator
from pyrodisent.registry import DATASETS

FACTOR_NAMES = ("shape", "scale", "orientation", "hue", "pos_x", "pos_y")
FACTOR_TOPOLOGIES = ("points", "segment", "loop", "loop", "segment", "segment")
FACTOR_PERIODS = (None, None, 2 * np.pi, 2 * np.pi, None, None)
SHAPE_NAMES = ("arrow", "ell", "teardrop")
FULL_FACTOR_SIZES = (3, 5, 36, 24, 8, 8)
#: factor values of the full grid (shape as 0, 1, 2; angles in radians)
FULL_FACTOR_VALUES = (
    np.arange(3, dtype=np.float64),
    np.linspace(0.6, 1.0, 5),
    2 * np.pi * np.arange(36) / 36,
    2 * np.pi * np.arange(24) / 24,
    np.linspace(0.0, 1.0, 8),
    np.linspace(0.0, 1.0, 8),
)
#: the "small" grid, as indices into the full grid: 3 shapes × 2 scales × 12 orientations × 6 hues × 3 × 3 positions
SMALL_GRID_INDICES = (
    np.arange(3),
    np.array([0, 4]),
    np.arange(0, 36, 3),
    np.arange(0, 24, 4),
    np.round(np.linspace(0, 7, 3)).astype(np.int64),
    np.round(np.linspace(0, 7, 3)).astype(np.int64),
)

#: geometry in image widths (the image is the unit square): at scale 1 every sprite lies within
#: SPRITE_RADIUS of its centre at every orientation, and centres keep POSITION_MARGIN from the edges, so the
#: sprite stays 0.025 image widths (1.6 pixels at 64×64) clear of the border.
SPRITE_RADIUS = 0.2
POSITION_MARGIN = 0.225


def _centred_polygon(vertices) -> np.ndarray:
    """The polygon moved so that its area centroid is the origin and scaled so its farthest vertex is at
    distance 1: the shape then lies in the unit disk at every rotation about its centroid."""
    v = np.asarray(vertices, dtype=np.float64)
    x, y = v[:, 0], v[:, 1]
    x_next, y_next = np.roll(x, -1), np.roll(y, -1)
    cross = x * y_next - x_next * y
    area = cross.sum() / 2
    centroid = np.array([((x + x_next) * cross).sum(), ((y + y_next) * cross).sum()]) / (6 * area)
    v = v - centroid
    return v / np.sqrt((v * v).sum(axis=1)).max()


#: the polygons in sprite units (unit disk, centroid at the origin), pointing along +x at orientation 0
ARROW = _centred_polygon([(-1.0, -0.25), (0.0, -0.25), (0.0, -0.6), (0.9, 0.0), (0.0, 0.6), (0.0, 0.25),
                          (-1.0, 0.25)])
ELL = _centred_polygon([(-0.6, -1.0), (0.7, -1.0), (0.7, -0.45), (-0.05, -0.45), (-0.05, 1.0), (-0.6, 1.0)])
#: the teardrop 2v² ≤ w² (1 − u)² (1 + u), u ≤ 1 (tip at u = 1, width w): area w · 32/15, centroid u = −1/7, and
#: its farthest point from the centroid is the tip, at 8/7; sprite units are (u, v) = (8 x − 1, 8 y) / 7
TEARDROP_WIDTH = 0.8
TEARDROP_CENTROID = -1 / 7
TEARDROP_RADIUS = 8 / 7


def _inside_polygon(x: np.ndarray, y: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Even-odd test: does a ray from (x, y) towards +x cross the polygon's edges an odd number of times?"""
    inside = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=bool)
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        if y0 == y1:  # a horizontal edge is never crossed by a horizontal ray
            continue
        crosses = (y0 > y) != (y1 > y)
        edge_x = np.float32(x0) + (y - np.float32(y0)) * np.float32((x1 - x0) / (y1 - y0))
        inside ^= crosses & (x < edge_x)
    return inside


def _arrow(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _inside_polygon(x, y, ARROW)


def _ell(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _inside_polygon(x, y, ELL)


def _teardrop(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    u = x * np.float32(TEARDROP_RADIUS) + np.float32(TEARDROP_CENTROID)
    v = y * np.float32(TEARDROP_RADIUS)
    return (u <= 1) & (2 * v * v <= np.float32(TEARDROP_WIDTH ** 2) * (1 - u) * (1 - u) * (1 + u))


SHAPE_MASKS = (_arrow, _ell, _teardrop)


def render_circular_sprites(values: np.ndarray, image_size: int = 64, supersample: int = 4,
                            batch: int = 128) -> np.ndarray:
    """Images of the factor values ``(n, 6)`` = (shape 0/1/2, scale in (0, 1], orientation and hue in
    radians — any real number — pos_x and pos_y in [0, 1]), float32 ``(n, 3, image_size, image_size)``.

    Geometry (image as the unit square, y down): the sprite's centroid is at ``0.225 + 0.55 · (pos_x, pos_y)``;
    the sprite is scaled by ``scale`` and rotated counter-clockwise on screen by ``orientation`` about its
    centroid. A pixel's value is the share of its ``supersample``² samples inside the sprite times the colour
    of the hue. Only a window around each sprite is evaluated, ``batch`` images at a time.
    """
    values = _check_values(values)
    n = len(values)
    out = np.zeros((n, 3, image_size, image_size), dtype=np.float32)
    if n == 0:
        return out
    shape = values[:, 0].astype(np.int64)
    orientation = np.mod(values[:, 2], 2 * np.pi)  # a whole turn apart: the same angle, exactly
    colour = hue_to_rgb(np.mod(values[:, 3], 2 * np.pi) / (2 * np.pi)).astype(np.float32)  # (n, 3)
    window = int(math.ceil(2 * SPRITE_RADIUS * image_size)) + 2  # pixels each side of the window
    k = supersample
    offsets = (np.arange(window * k) + 0.5) / k  # sample offsets inside the window, in pixels, (window·k,)
    padded = np.zeros((min(batch, n), image_size + 2 * window, image_size + 2 * window), dtype=np.float32)
    for start in range(0, n, batch):
        v = values[start:start + batch]
        b = len(v)
        centre = (POSITION_MARGIN + (1 - 2 * POSITION_MARGIN) * v[:, 4:6]) * image_size  # (b, 2) x, y in pixels
        origin = np.floor(centre - window / 2).astype(np.int64)  # the window's top-left pixel (x, y)
        # sample coordinates relative to the centre in sprite units (y up): the sprite is the unit disk
        inverse = (1.0 / (v[:, 1] * SPRITE_RADIUS * image_size))[:, None]
        dx = ((origin[:, 0:1] + offsets[None] - centre[:, 0:1]) * inverse).astype(np.float32)  # (b, w·k)
        dy = (-(origin[:, 1:2] + offsets[None] - centre[:, 1:2]) * inverse).astype(np.float32)
        angle = orientation[start:start + b]
        cos = np.cos(angle).astype(np.float32)[:, None, None]
        sin = np.sin(angle).astype(np.float32)[:, None, None]
        x, y = dx[:, None, :], dy[:, :, None]  # broadcast to (b, rows, cols)
        local_x = cos * x + sin * y  # the sample rotated by −orientation: the sprite turns by +orientation
        local_y = cos * y - sin * x
        inside = np.zeros(local_x.shape, dtype=bool)
        for code, mask in enumerate(SHAPE_MASKS):
            chosen = shape[start:start + b] == code
            if chosen.any():
                inside[chosen] = mask(local_x[chosen], local_y[chosen])
        coverage = inside.reshape(b, window, k, window, k).mean(axis=(2, 4), dtype=np.float32)  # (b, w, w)
        canvas = padded[:b]
        canvas[...] = 0
        rows = origin[:, 1, None, None] + window + np.arange(window)[None, :, None]
        cols = origin[:, 0, None, None] + window + np.arange(window)[None, None, :]
        canvas[np.arange(b)[:, None, None], rows, cols] = coverage
        crop = canvas[:, window:window + image_size, window:window + image_size]
        out[start:start + b] = crop[:, None] * colour[start:start + b, :, None, None]
    return out


def _check_values(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(FACTOR_NAMES):
        raise ValueError(f"factor values must have shape (N, {len(FACTOR_NAMES)}) for {FACTOR_NAMES}, "
                         f"got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("factor values hold NaN or inf (rows "
                         f"{np.flatnonzero(~np.isfinite(values).all(axis=1))[:5].tolist()} first)")
    shape, scale, position = values[:, 0], values[:, 1], values[:, 4:6]
    if not np.isin(shape, np.arange(len(SHAPE_NAMES))).all():
        raise ValueError(f"shape must be one of 0, 1, 2 ({', '.join(SHAPE_NAMES)}), got {np.unique(shape)[:5]}")
    if len(values) and (scale.min() <= 0 or scale.max() > 1):
        raise ValueError(f"scale must lie in (0, 1] (the sprite stays in the frame), got [{scale.min()}, "
                         f"{scale.max()}]")
    if len(values) and (position.min() < 0 or position.max() > 1):
        raise ValueError(f"pos_x and pos_y must lie in [0, 1], got [{position.min()}, {position.max()}]")
    return values


class CircularSprites(GroundTruthData):
    """Coloured asymmetric sprites (arrow, "L", teardrop) whose orientation and hue cover the full circle.

    :param grid: ``"full"`` — 3 shapes × 5 scales × 36 orientations × 24 hues × 8 × 8 positions (829,440
        images) — or ``"small"`` — 3 × 2 scales (0.6, 1.0) × 12 orientations (every 30°) × 6 hues (every
        60°) × 3 × 3 positions (0, 4/7, 1) for fast tests; a small-grid image equals the full-grid image
        with the same factor values.
    :param seed: default random state of :meth:`training_set`.
    :param supersample: samples per pixel side (anti-aliasing).
    :param image_size: image height and width in pixels.
    :param continuous_loops: the training set (:meth:`training_set`) covers each loop factor's whole circle: its
        value drawn uniformly within the grid cell around the drawn grid point (± half the spacing), so
        neighbouring grid values are joined by images in between — the loop is in the data, not only 24 or 36
        separate colours or angles; the factors recorded are the grid points. Evaluation images
        (:meth:`sample_observations_from_factors`) stay at the grid values.

    Factor values (:meth:`factor_values`): shape 0/1/2, scale, orientation and hue in radians (period
    :attr:`factor_periods` 2π), positions in [0, 1]. See :func:`render_circular_sprites` for the geometry.
    """

    factor_names = FACTOR_NAMES
    #: the topology of each factor: a discrete set ("points"), an interval ("segment") or a circle ("loop")
    factor_topologies = FACTOR_TOPOLOGIES
    #: the period of each loop factor's values (2π: radians), None for the others
    factor_periods = FACTOR_PERIODS
    deterministic_observations = True

    def __init__(self, grid: str = "full", seed: int = 0, supersample: int = 4, image_size: int = 64,
                 continuous_loops: bool = False):
        self.values = procedural_grid_values(grid, supersample, image_size, FULL_FACTOR_VALUES, SMALL_GRID_INDICES)
        self.grid = grid
        self.continuous_loops = bool(continuous_loops)
        self.seed = seed
        self.supersample = supersample
        self.image_size = image_size
        self._factor_sizes = tuple(len(v) for v in self.values)

    @property
    def factor_sizes(self) -> Tuple[int, ...]:
        return self._factor_sizes

    @property
    def observation_shape(self) -> Tuple[int, ...]:
        return (3, self.image_size, self.image_size)

    def __len__(self) -> int:
        return int(np.prod(self._factor_sizes))

    def sample_factors(self, num: int, random_state: RandomState) -> np.ndarray:
        """``num`` grid points drawn uniformly (each factor independently), shape ``(num, 6)``, int64."""
        rng = as_generator(random_state)
        return np.stack([rng.integers(0, size, num) for size in self._factor_sizes], axis=1).astype(np.int64)

    def factor_values(self, factors: np.ndarray) -> np.ndarray:
        """Physical values of grid points ``(n, 6)``: shape 0/1/2, scale, orientation and hue in radians, pos_x,
        pos_y in [0, 1]."""
        factors = self._check_factors(factors).astype(np.int64)
        return np.stack([values[factors[:, j]] for j, values in enumerate(self.values)], axis=1)

    def render(self, values: np.ndarray) -> np.ndarray:
        """Images of physical factor values ``(n, 6)`` (any real orientation and hue), float32 ``(n, 3, H, W)``."""
        return render_circular_sprites(values, self.image_size, self.supersample)

    def sample_observations_from_factors(self, factors: np.ndarray, random_state: RandomState) -> np.ndarray:
        """Images at the given grid points, float32 ``(n, 3, H, W)`` in [0, 1] (``random_state`` is unused)."""
        return self.render(self.factor_values(factors))

    def training_set(self, num: int = 10_000, random_state: Optional[RandomState] = None) -> ArrayDataset:
        """``num`` images of uniformly drawn grid points: x ``(num, 3, H, W)`` float32 in [0, 1], factors
        ``(num, 6)`` int64 — with ``continuous_loops``, each loop factor's value drawn within the cell of its
        grid point. ``random_state`` defaults to this source's ``seed``."""
        rng = as_generator(self.seed if random_state is None else random_state)
        factors = self.sample_factors(num, rng)
        if not self.continuous_loops:
            return ArrayDataset(self.sample_observations_from_factors(factors, rng), factors=factors)
        return ArrayDataset(self.render(self.loop_values_in_cells(factors, rng)), factors=factors)

    def loop_values_in_cells(self, factors: np.ndarray, random_state: RandomState) -> np.ndarray:
        """Physical values ``(n, 6)`` of grid points with each loop factor moved uniformly within its cell: ±
        half the spacing of its grid values, which are evenly spaced round the circle."""
        rng = as_generator(random_state)
        values = self.factor_values(factors)
        for j, period in enumerate(self.factor_periods):
            if period is not None:
                spacing = period / len(self.values[j])
                values[:, j] += rng.uniform(-spacing / 2, spacing / 2, len(values))
        return values

    def config(self) -> dict:
        return {"grid": self.grid, "seed": self.seed, "supersample": self.supersample, "image_size": self.image_size,
                "continuous_loops": self.continuous_loops}


DATASETS.register("circular_sprites")(CircularSprites)
