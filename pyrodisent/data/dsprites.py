"""dSprites (Matthey et al. 2017): the real ``.npz`` file, and a procedural renderer of the same grid.

Facts (Matthey et al., dSprites data set, 2017): 737280 binary 64×64 images, one per point of the grid
color (1) × shape (square, ellipse, heart; 3) × scale (0.5–1.0; 6) × orientation ([0, 2π]; 40) ×
posX ([0, 1]; 32) × posY ([0, 1]; 32), stored row-major (posY fastest). As in disentanglement_lib,
the constant color factor is dropped: the factors here are the other five, in that order.

- :class:`DSprites` reads the real file. The images are held bit-packed (64 × 8 bytes an image:
  377 MB for the whole set instead of 3 GB) and unpacked per minibatch.
- :class:`ProceduralDSprites` renders the same grid on demand with numpy (no file, no download),
  in the same value ranges, with a ``"small"`` sub-grid for fast tests.
"""
from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from pyrodisent.data.arrays import ArrayDataset
from pyrodisent.data.files import DATA_DIRECTORY_VARIABLE, resolve_data_file  # noqa: F401
from pyrodisent.data.ground_truth import GroundTruthData, factor_grid_index, procedural_grid_values
from pyrodisent.random_state import RandomState, as_generator
from pyrodisent.registry import DATASETS

DSPRITES_FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
DSPRITES_URL = f"https://github.com/deepmind/dsprites-dataset/raw/master/{DSPRITES_FILENAME}"


FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
SHAPE_NAMES = ("square", "ellipse", "heart")
FULL_FACTOR_SIZES = (3, 6, 40, 32, 32)
#: the "small" grid, as indices into the full grid: 3 shapes × 2 scales × 4 orientations × 8 × 8 positions
SMALL_GRID_INDICES = (
    np.arange(3),
    np.array([0, 5]),
    np.array([0, 10, 20, 30]),
    np.round(np.linspace(0, 31, 8)).astype(np.int64),
    np.round(np.linspace(0, 31, 8)).astype(np.int64),
)
#: factor values of the full grid, as in the real file's ``latents_possible_values`` (shape as 0, 1, 2)
FULL_FACTOR_VALUES = (
    np.arange(3, dtype=np.float64),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)


class _DSpritesGrid(GroundTruthData):
    """What both dSprites sources share: the five factors, uniform sampling, the training set."""

    factor_names = FACTOR_NAMES
    deterministic_observations = True
    _factor_sizes: Tuple[int, ...] = FULL_FACTOR_SIZES
    _image_size: Tuple[int, int] = (64, 64)
    seed: int = 0

    @property
    def factor_sizes(self) -> Tuple[int, ...]:
        return self._factor_sizes

    @property
    def observation_shape(self) -> Tuple[int, ...]:
        return (1, *self._image_size)

    def __len__(self) -> int:
        return int(np.prod(self._factor_sizes))

    def sample_factors(self, num: int, random_state: RandomState) -> np.ndarray:
        """``num`` grid points drawn uniformly (each factor independently), shape ``(num, 5)``, int64."""
        rng = as_generator(random_state)
        return np.stack([rng.integers(0, size, num) for size in self._factor_sizes], axis=1).astype(np.int64)

    def training_set(self, num: int = 10_000, random_state: Optional[RandomState] = None) -> ArrayDataset:
        """``num`` images of uniformly drawn grid points: x ``(num, 1, 64, 64)`` float32 in {0, 1},
        factors ``(num, 5)`` int64. ``random_state`` defaults to this source's ``seed``."""
        rng = as_generator(self.seed if random_state is None else random_state)
        factors = self.sample_factors(num, rng)
        return ArrayDataset(self.sample_observations_from_factors(factors, rng), factors=factors)


class DSprites(_DSpritesGrid):
    """The real dSprites file as a ground-truth data source.

    :param path: the ``.npz`` file or a folder holding it; default ``$PYRODISENT_DATA/<filename>``.
    :param seed: default random state of :meth:`training_set`.

    The file must hold ``imgs`` (N, H, W) uint8 in {0, 1}, ``latents_classes`` (N, 6) in row-major
    grid order, ``latents_values`` (N, 6) and ``metadata`` with ``latents_sizes`` (six sizes, the
    first — color — equal to 1, product N).
    """

    def __init__(self, path: Optional[Union[str, os.PathLike]] = None, seed: int = 0):
        self.path = resolve_data_file(path, DSPRITES_FILENAME, DSPRITES_URL)
        self.seed = seed
        name = self.path.name
        if not zipfile.is_zipfile(self.path):  # checked first: np.load would unpickle any other file
            raise ValueError(f"{self.path} is not a readable .npz archive (not a zip file)")
        try:
            archive = np.load(self.path, allow_pickle=True, encoding="latin1")
        except (zipfile.BadZipFile, ValueError, OSError) as error:
            raise ValueError(f"{self.path} is not a readable .npz archive: {error}") from error
        self._member = ""
        with archive:
            try:
                self._read_archive(archive, name)
            except (zipfile.BadZipFile, zlib.error, EOFError) as error:
                raise ValueError(f"{self.path}: the archive's member {self._member!r} is corrupt "
                                 f"({type(error).__name__}: {error}); download the file again from {DSPRITES_URL}"
                                 ) from error
        self._factor_sizes = self._latents_sizes[1:]
        self._image_size = (self._packed.shape[1], self._packed.shape[2] * 8)

    def _read_archive(self, archive, name: str) -> None:
        """Check and read the arrays of the open archive; ``self._member`` names the one being read."""
        found = sorted(archive.files)
        for key in ("imgs", "latents_classes", "latents_values", "metadata"):
            if key not in found:
                raise ValueError(f"{name} has no array {key!r}; found: {found}")
        self._member = "metadata.npy"
        metadata = archive["metadata"]
        metadata = metadata.item() if isinstance(metadata, np.ndarray) and metadata.dtype == object else metadata
        if not isinstance(metadata, dict) or "latents_sizes" not in metadata:
            raise ValueError(f"{name}: metadata must be a dict with 'latents_sizes', got {type(metadata).__name__}"
                             + (f" with keys {sorted(metadata)}" if isinstance(metadata, dict) else ""))
        latents_sizes = tuple(int(s) for s in np.asarray(metadata["latents_sizes"]).ravel())
        if len(latents_sizes) != 6 or latents_sizes[0] != 1:
            raise ValueError(f"{name}: metadata latents_sizes must be six sizes starting with color = 1 "
                             f"(real file: (1, 3, 6, 40, 32, 32)), got {latents_sizes}")
        num_images = int(np.prod(latents_sizes))
        self._member = "latents_classes.npy"
        classes = archive["latents_classes"]
        if classes.shape != (num_images, 6) or not np.issubdtype(classes.dtype, np.integer):
            raise ValueError(f"{name}: latents_classes must be an integer array of shape ({num_images}, 6), "
                             f"got {classes.dtype} {classes.shape}")
        if not np.array_equal(factor_grid_index(classes, latents_sizes), np.arange(num_images)):
            raise ValueError(f"{name}: latents_classes are not in row-major grid order of sizes {latents_sizes}")
        del classes
        self._member = "latents_values.npy"
        values = archive["latents_values"]
        if values.shape != (num_images, 6):
            raise ValueError(f"{name}: latents_values must have shape ({num_images}, 6), got {values.shape}")
        finite = np.isfinite(np.asarray(values, dtype=np.float64)).all(axis=1)
        if not finite.all():
            raise ValueError(f"{self.path}: latents_values holds NaN or inf values (rows "
                             f"{np.flatnonzero(~finite)[:5].tolist()} first); expected the finite factor values")
        self._latents_values = np.asarray(values[:, 1:], dtype=np.float64)
        self._member = "imgs.npy"
        self._packed = _read_packed_images(archive, self.path, num_images)
        self._latents_sizes = latents_sizes

    def factor_values(self, factors: np.ndarray) -> np.ndarray:
        """The real-valued factors (``latents_values`` without color) at the given grid points, ``(n, 5)``."""
        factors = self._check_factors(factors)
        return self._latents_values[factor_grid_index(factors, self._factor_sizes)]

    def images(self, index: np.ndarray) -> np.ndarray:
        """The images at flat grid indices ``index``, uint8 ``(n, H, W)`` in {0, 1}."""
        return np.unpackbits(self._packed[np.asarray(index, dtype=np.int64)], axis=-1)

    def sample_observations_from_factors(self, factors: np.ndarray, random_state: RandomState) -> np.ndarray:
        factors = self._check_factors(factors)
        images = self.images(factor_grid_index(factors, self._factor_sizes))
        return images.astype(np.float32)[:, None]

    def config(self) -> dict:
        return {"path": str(self.path), "seed": self.seed}


def _read_packed_images(archive, path: Path, num_images: int, block: int = 4096) -> np.ndarray:
    """``imgs`` streamed from the archive and bit-packed along the last axis, never whole as uint8."""
    name = path.name
    member = "imgs.npy"
    zip_file = getattr(archive, "zip", None)
    if zip_file is None or member not in zip_file.namelist():  # not a zip-backed archive: read it whole
        images = archive["imgs"]
        _check_image_array(name, images.shape, images.dtype, num_images)
        return _pack_block(name, images)
    with zip_file.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = reader(stream)
        _check_image_array(name, shape, dtype, num_images)
        if fortran_order:
            raise ValueError(f"{name}: imgs is stored in Fortran order; expected C order")
        height, width = shape[1], shape[2]
        packed = np.empty((num_images, height, width // 8), dtype=np.uint8)
        image_bytes = height * width
        for start in range(0, num_images, block):
            count = min(block, num_images - start)
            buffer = stream.read(count * image_bytes)
            if len(buffer) != count * image_bytes:
                raise ValueError(f"{name}: imgs is truncated (ends before image {start + len(buffer) // image_bytes})")
            images = np.frombuffer(buffer, dtype=np.uint8).reshape(count, height, width)
            packed[start:start + count] = _pack_block(name, images, start)
    return packed


def _check_image_array(name: str, shape, dtype, num_images: int) -> None:
    if len(shape) != 3 or shape[0] != num_images:
        raise ValueError(f"{name}: imgs must have shape ({num_images}, H, W) (real file: (737280, 64, 64)), "
                         f"got {tuple(shape)}")
    if np.dtype(dtype) != np.uint8:
        raise ValueError(f"{name}: imgs must be uint8, got {np.dtype(dtype)}")
    if shape[2] % 8:
        raise ValueError(f"{name}: imgs width must be a multiple of 8, got {shape[2]}")


def _pack_block(name: str, images: np.ndarray, start: int = 0) -> np.ndarray:
    if images.size and images.max() > 1:
        bad = start + int(np.argmax(images.reshape(len(images), -1).max(1) > 1))
        raise ValueError(f"{name}: imgs must hold 0/1 values (binary sprites); image {bad} has values up to "
                         f"{images[bad - start].max()}")
    return np.packbits(images, axis=-1)


# --------------------------------------------------------------------------------------------------
# the procedural renderer
# --------------------------------------------------------------------------------------------------

#: geometry in image widths (the image is the unit square), at scale 1. The sizes make the mean
#: foreground fraction over the grid ≈ 0.043, as in the real set, and keep every sprite within
#: radius 0.2 of its centre, so with centres in [0.22, 0.78] no sprite touches the border pixels.
SQUARE_HALF_SIDE = 0.14
ELLIPSE_SEMI_AXES = (0.2, 0.1)
HEART_UNIT = 0.145  # the heart (x² + y² − 1)³ ≤ x² y³, centred on its centroid, in units of this size
HEART_CENTROID_Y = 0.2935
POSITION_MARGIN = 0.22
SPRITE_RADIUS = 0.2


def heart_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Inside the heart curve (x² + y² − 1)³ − x² y³ ≤ 0 (y up, lobes on top)."""
    x2 = x * x
    r = x2 + y * y - 1
    return r * r * r <= x2 * y * y * y


class ProceduralDSprites(_DSpritesGrid):
    """The dSprites grid rendered on demand with numpy: square, ellipse and heart, 64×64, binary.

    :param grid: ``"full"`` — the real grid, 3 × 6 × 40 × 32 × 32, with the real value ranges — or
        ``"small"`` — the sub-grid 3 shapes × 2 scales (0.5, 1.0) × 4 orientations (0, 10, 20, 30 of
        the 40) × 8 × 8 positions (spanning [0, 1]) for fast tests. A small-grid image equals the
        full-grid image with the same factor values.
    :param seed: default random state of :meth:`training_set`.
    :param supersample: samples per pixel side; a pixel is on when at least half its samples are inside.

    Geometry (image as the unit square, y down): the sprite centre is ``0.22 + 0.56 · (posX, posY)``
    (posY = 0 at the top), the sprite is scaled by ``scale`` and rotated counter-clockwise on screen
    by ``orientation``. The shapes are close to, not pixel-identical with, the real set's.
    """

    def __init__(self, grid: str = "full", seed: int = 0, supersample: int = 4, image_size: int = 64):
        self.values = procedural_grid_values(grid, supersample, image_size, FULL_FACTOR_VALUES, SMALL_GRID_INDICES)
        self.grid = grid
        self.seed = seed
        self.supersample = supersample
        self._factor_sizes = tuple(len(v) for v in self.values)
        self._image_size = (image_size, image_size)

    def factor_values(self, factors: np.ndarray) -> np.ndarray:
        """Real-valued factors (shape 0/1/2, scale, orientation in radians, posX, posY), ``(n, 5)``."""
        factors = self._check_factors(factors).astype(np.int64)
        return np.stack([values[factors[:, j]] for j, values in enumerate(self.values)], axis=1)

    def sample_observations_from_factors(self, factors: np.ndarray, random_state: RandomState) -> np.ndarray:
        values = self.factor_values(factors)
        return render_sprites(values, self._image_size[0], self.supersample)[:, None].astype(np.float32)

    def config(self) -> dict:
        return {"grid": self.grid, "seed": self.seed, "supersample": self.supersample,
                "image_size": self._image_size[0]}


def render_sprites(values: np.ndarray, image_size: int = 64, supersample: int = 4, batch: int = 256) -> np.ndarray:
    """Binary sprites for factor values ``(n, 5)`` = (shape 0/1/2, scale, orientation, posX, posY), uint8
    ``(n, image_size, image_size)``. Only a window around each sprite is evaluated."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    out = np.zeros((n, image_size, image_size), dtype=np.uint8)
    window = int(math.ceil(2 * SPRITE_RADIUS * image_size)) + 2  # pixels each side of the window
    k = supersample
    # sample offsets inside the window, in pixels: (window·k,) along each axis
    offsets = (np.arange(window * k) + 0.5) / k
    padded = np.zeros((min(batch, n) if n else 0, image_size + 2 * window, image_size + 2 * window), dtype=np.uint8)
    for start in range(0, n, batch):
        v = values[start:start + batch]
        b = len(v)
        shape, scale, angle = v[:, 0], v[:, 1], v[:, 2]
        centre = (POSITION_MARGIN + (1 - 2 * POSITION_MARGIN) * v[:, 3:5]) * image_size  # (b, 2) x, y in pixels
        origin = np.floor(centre - window / 2).astype(np.int64)  # window's top-left pixel (x, y)
        # sample coordinates relative to the centre, in image widths (y up), divided by the scale
        inverse = (1.0 / (scale * image_size))[:, None]
        dx = ((origin[:, 0:1] + offsets[None] - centre[:, 0:1]) * inverse).astype(np.float32)  # (b, w·k)
        dy = (-(origin[:, 1:2] + offsets[None] - centre[:, 1:2]) * inverse).astype(np.float32)
        cos = np.cos(angle).astype(np.float32)[:, None, None]
        sin = np.sin(angle).astype(np.float32)[:, None, None]
        x, y = dx[:, None, :], dy[:, :, None]  # broadcast to (b, rows, cols)
        local_x = cos * x + sin * y
        local_y = cos * y - sin * x
        inside = np.zeros(local_x.shape, dtype=bool)
        for code, mask in ((0, _square), (1, _ellipse), (2, _heart)):
            chosen = shape == code
            if chosen.any():
                inside[chosen] = mask(local_x[chosen], local_y[chosen])
        samples = inside.view(np.uint8)
        coverage = sum(samples[:, i::k, j::k] for i in range(k) for j in range(k))  # (b, window, window)
        pixels = (2 * coverage >= k * k).astype(np.uint8)  # (b, window, window)
        canvas = padded[:b]
        canvas[...] = 0
        rows = origin[:, 1, None, None] + window + np.arange(window)[None, :, None]
        cols = origin[:, 0, None, None] + window + np.arange(window)[None, None, :]
        canvas[np.arange(b)[:, None, None], rows, cols] = pixels
        out[start:start + b] = canvas[:, window:window + image_size, window:window + image_size]
    return out


def _square(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(x), np.abs(y)) <= SQUARE_HALF_SIDE


def _ellipse(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    a, b = ELLIPSE_SEMI_AXES
    return (x * x) * (1 / (a * a)) + (y * y) * (1 / (b * b)) <= 1


def _heart(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return heart_mask(x * (1 / HEART_UNIT), y * (1 / HEART_UNIT) + HEART_CENTROID_Y)


DATASETS.register("dsprites")(DSprites)
DATASETS.register("dsprites_procedural")(ProceduralDSprites)
