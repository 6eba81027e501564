import itertools
import json

import numpy as np
import pytest
import torch

from pyrodisent.data import ArrayDataset
from pyrodisent.data.circular_sprites import CircularSprites, render_circular_sprites
from pyrodisent.registry import DATASETS

TURN = 2 * np.pi


@pytest.fixture(scope="module")
def full():
    return CircularSprites()


@pytest.fixture(scope="module")
def small():
    return CircularSprites("small")


def l1_distances(images):
    """Pairwise sums of absolute differences (in fully covered pixel-channels), ``(n, n)``."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    return np.stack([np.abs(flat - row).sum(axis=1) for row in flat])


def around_the_circle(distances):
    """``mean_i d(i, i + k)`` for k = 0 … n/2: the distance against the angular distance."""
    n = len(distances)
    return np.array([np.mean([distances[i, (i + k) % n] for i in range(n)]) for k in range(n // 2 + 1)])


def orientations_of(data, shape, scale=0, hue=0, position=(3, 4)):
    """All 36 orientations of one shape on the full grid, the other factors fixed (indices)."""
    factors = np.array([[shape, scale, i, hue, *position] for i in range(36)])
    return data.sample_observations_from_factors(factors, 0)


def test_grids_topologies_and_values(full, small):
    assert full.factor_names == ("shape", "scale", "orientation", "hue", "pos_x", "pos_y")
    assert full.factor_topologies == ("points", "segment", "loop", "loop", "segment", "segment")
    assert full.factor_periods == (None, None, TURN, TURN, None, None)
    assert full.factor_sizes == (3, 5, 36, 24, 8, 8) and len(full) == 3 * 5 * 36 * 24 * 64
    assert small.factor_sizes == (3, 2, 12, 6, 3, 3) and len(small) == 3 * 2 * 12 * 6 * 9
    assert full.observation_shape == small.observation_shape == (3, 64, 64)
    values = full.factor_values(np.array([[2, 4, 35, 6, 7, 0], [0, 0, 9, 12, 0, 7]]))
    np.testing.assert_allclose(values, [[2, 1.0, 35 * TURN / 36, TURN / 4, 1, 0], [0, 0.6, TURN / 4, TURN / 2, 0, 1]])
    for small_values, full_values in zip(small.values, full.values):
        assert set(small_values) <= set(full_values)
    with pytest.raises(ValueError, match="grid must be"):
        CircularSprites("medium")


def test_images_are_float32_in_the_unit_interval_on_black_and_the_small_grid_is_a_subgrid(full, small):
    factors = small.sample_factors(40, 0)
    x = small.sample_observations_from_factors(factors, 0)
    assert x.dtype == np.float32 and x.shape == (40, 3, 64, 64)
    assert x.min() == 0 and x.max() == 1  # black background, fully covered pixels of a pure colour
    assert (x.max(axis=1) == 0).mean() > 0.8  # mostly background
    full_factors = np.stack([np.searchsorted(fv, sv[factors[:, j]]) for j, (fv, sv) in
                             enumerate(zip(full.values, small.values))], axis=1)
    np.testing.assert_array_equal(full.sample_observations_from_factors(full_factors, 0), x)


def test_an_image_is_a_fixed_function_of_its_factors(small):
    values = small.factor_values(small.sample_factors(9, 1))
    together = render_circular_sprites(values)
    one_by_one = np.concatenate([render_circular_sprites(values[i:i + 1]) for i in range(9)])
    in_odd_batches = render_circular_sprites(values, batch=4)
    np.testing.assert_array_equal(together, one_by_one)
    np.testing.assert_array_equal(together, in_odd_batches)


def test_a_whole_turn_of_orientation_or_hue_renders_the_same_image(full):
    base = [1, 0.8, 0.0, 0.0, 0.3, 0.6]
    turns = [0.0, TURN, -TURN, 2 * TURN]
    orientation = full.render(np.array([[*base[:2], t, *base[3:]] for t in turns]))
    hue = full.render(np.array([[*base[:3], t, *base[4:]] for t in turns]))
    for images in (orientation, hue):
        for image in images[1:]:
            np.testing.assert_array_equal(image, images[0])
    # off the grid too: any real angle, up to rounding of θ + 2π
    a, b = full.render(np.array([[0, 0.9, 0.3, 1.1, 0.5, 0.5], [0, 0.9, 0.3 + TURN, 1.1 - TURN, 0.5, 0.5]]))
    assert np.abs(a - b).mean() < 1e-4
    # the last grid orientation (350°) is a neighbour of the first, not a copy
    first, last = full.sample_observations_from_factors(np.array([[0, 4, 0, 0, 4, 4], [0, 4, 35, 0, 4, 4]]), 0)
    assert np.abs(first - last).sum() > 20


# Distances between orientations, measured on the full grid at the smallest scale (0.6, the hardest case:
# distances grow with the area) for the red sprite at position (3, 4), as sums of |difference| in fully covered
# pixel-channels: the closest pair of different orientations is a 10° turn of the teardrop, ≈ 9.0 (arrow ≈ 16.6,
# "L" ≈ 15.8; the same within ±0.4 at other positions); identical images give exactly 0. The threshold is half
# the measured minimum: every orientation is told from every other by at least four pixels' worth of change.
MIN_ORIENTATION_DISTANCE = 4.5


@pytest.mark.parametrize("shape", [0, 1, 2])
def test_all_36_orientations_differ_and_trace_a_simple_loop(full, shape):
    distances = l1_distances(orientations_of(full, shape))
    off_diagonal = distances[~np.eye(36, dtype=bool)]
    assert off_diagonal.min() > MIN_ORIENTATION_DISTANCE, off_diagonal.min()
    neighbours = np.array([[distances[i, (i - 1) % 36], distances[i, (i + 1) % 36]] for i in range(36)])
    for i in range(36):
        # the two nearest other orientations are the neighbours on the circle, by a margin (measured ≥ 1.6×)
        others = np.delete(distances[i], [(i - 1) % 36, i, (i + 1) % 36])
        assert others.min() > 1.3 * neighbours[i].max(), (i, others.min(), neighbours[i])
        # the half turn is farther than the neighbours (measured ≥ 1.6× for the arrow, 1.8× teardrop, 3.2× "L")
        assert distances[i, (i + 18) % 36] > 1.4 * neighbours[i].max()
    # the mean distance grows with the angle over the first 60° (measured: up to 70°, 90° and 100°). It is not
    # monotone up to 180° in pixels: an elongated sprite overlaps its own half turn more than its quarter turn.
    curve = around_the_circle(distances)
    assert np.all(np.diff(curve[:7]) > 0), curve


def test_the_sprite_turns_about_its_centroid(full):
    for shape in range(3):
        images = orientations_of(full, shape, scale=4, position=(4, 4))[:, 0]  # red channel: the coverage
        rows, cols = np.mgrid[0:64, 0:64]
        mass = images.sum(axis=(1, 2))
        centroids = np.stack([(images * rows).sum(axis=(1, 2)) / mass, (images * cols).sum(axis=(1, 2)) / mass], 1)
        assert np.abs(centroids - centroids.mean(0)).max() < 0.3, (shape, np.ptp(centroids, axis=0))


def test_neighbouring_hues_differ_little_and_the_difference_grows_to_the_opposite_hue(full):
    factors = np.array([[0, 0, 0, h, 3, 4] for h in range(24)])
    distances = l1_distances(full.sample_observations_from_factors(factors, 0))
    neighbour = np.array([distances[i, (i + 1) % 24] for i in range(24)])
    opposite = np.array([distances[i, (i + 12) % 24] for i in range(24)])
    # a 15° step changes one channel by 1/4; opposite hues differ by 2 (e.g. orange/azure) to 3 (red/cyan)
    # channels: the ratio is at most 1/8
    assert neighbour.max() < 0.15 * opposite.min()
    assert distances[~np.eye(24, dtype=bool)].min() >= neighbour.min() > 0  # all differ; the closest are neighbours
    curve = around_the_circle(distances)
    assert np.all(np.diff(curve[:11]) > 0) and np.all(np.diff(curve) > -1e-6 * curve[-1]), curve


def test_the_three_shapes_differ_at_every_orientation(full):
    images = np.stack([orientations_of(full, shape) for shape in range(3)])  # (3, 36, 3, 64, 64) at scale 0.6
    for a, b in itertools.combinations(range(3), 2):
        flat_a, flat_b = images[a].reshape(36, -1), images[b].reshape(36, -1)
        closest = min(np.abs(flat_a - row).sum(axis=1).min() for row in flat_b)
        assert closest > 12, (a, b, closest)  # measured ≈ 25 (teardrop against arrow)


def test_sprites_stay_inside_the_frame_at_every_orientation_and_extreme_position(full):
    corners = np.array([[s, 4, o, 0, x, y] for s in range(3) for o in range(36) for x in (0, 7) for y in (0, 7)])
    images = full.sample_observations_from_factors(corners, 0).max(axis=1)  # (n, 64, 64) coverage
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    assert border.max() == 0
    # the frame is used: some sprites reach the second row or column from the edge
    assert images[:, 1].max() > 0 and images[:, :, 1].max() > 0 and images[:, -2].max() > 0
    assert images.sum(axis=(1, 2)).min() > 100


def test_scale_grows_the_area(full):
    for shape in range(3):
        images = full.sample_observations_from_factors(np.array([[shape, s, 5, 0, 4, 4] for s in range(5)]), 0)
        area = images.sum(axis=(1, 2, 3))
        assert np.all(np.diff(area) > 0)
        assert 2.2 < area[-1] / area[0] < 3.4  # area ∝ scale²: (1 / 0.6)² ≈ 2.8


def test_sampling_is_reproducible_under_a_seed(small):
    np.testing.assert_array_equal(small.sample_factors(50, 7), small.sample_factors(50, np.random.default_rng(7)))
    assert not np.array_equal(small.sample_factors(50, 7), small.sample_factors(50, 8))
    factors = small.sample_factors(5000, 0)
    for j, size in enumerate(small.factor_sizes):
        counts = np.bincount(factors[:, j], minlength=size)
        assert len(counts) == size and counts.min() > 0.6 * 5000 / size  # every level, roughly uniformly
    a = small.training_set(12)
    b = DATASETS.build("circular_sprites", grid="small").training_set(12)
    c = small.training_set(12, random_state=1)
    assert isinstance(a, ArrayDataset) and a.x.shape == (12, 3, 64, 64) and a.factors.dtype == torch.int64
    assert torch.equal(a.x, b.x) and torch.equal(a.factors, b.factors)
    assert not torch.equal(a.factors, c.factors)
    np.testing.assert_array_equal(a.x.numpy(), small.sample_observations_from_factors(a.factors.numpy(), 0))


def test_continuous_loops_fill_each_cell_of_the_circle_in_training_images_only():
    """Training images cover the loops between grid values (each value within ± half a spacing of its recorded grid
    point, every part of the cell reached); the other factors and the evaluation images stay on the grid."""
    for grid, spacings in (("small", (TURN / 12, TURN / 6)), ("full", (TURN / 36, TURN / 24))):
        data = CircularSprites(grid, continuous_loops=True)
        factors = data.sample_factors(4000, 0)
        values = data.loop_values_in_cells(factors, 1)
        offsets = values - data.factor_values(factors)
        np.testing.assert_array_equal(offsets[:, [0, 1, 4, 5]], 0.0)
        for column, spacing in zip((2, 3), spacings):
            share = offsets[:, column] / spacing  # uniform on [-1/2, 1/2)
            assert np.abs(share).max() <= 0.5 and np.abs(share).min() < 0.01
            assert np.histogram(share, bins=4, range=(-0.5, 0.5))[0].min() > 0.2 * len(share)
    data, on_grid = CircularSprites("small", continuous_loops=True), CircularSprites("small")
    train, grid_train = data.training_set(40, random_state=2), on_grid.training_set(40, random_state=2)
    assert torch.equal(train.factors, grid_train.factors) and not torch.equal(train.x, grid_train.x)
    rng = np.random.default_rng(2)
    factors = data.sample_factors(40, rng)
    np.testing.assert_array_equal(train.x.numpy(), data.render(data.loop_values_in_cells(factors, rng)))
    np.testing.assert_array_equal(data.sample_observations_from_factors(factors, 0),
                                  on_grid.sample_observations_from_factors(factors, 0))
    assert CircularSprites(**data.config()).continuous_loops and not on_grid.config()["continuous_loops"]


def test_config_rebuilds_the_dataset():
    data = CircularSprites("small", seed=3, supersample=2, image_size=32)
    config = json.loads(json.dumps(data.config()))
    rebuilt = CircularSprites(**config)
    assert rebuilt.config() == data.config() and rebuilt.observation_shape == (3, 32, 32)
    factors = data.sample_factors(6, 0)
    np.testing.assert_array_equal(rebuilt.sample_observations_from_factors(factors, 0),
                                  data.sample_observations_from_factors(factors, 0))
    assert torch.equal(rebuilt.training_set(4).x, data.training_set(4).x)
    assert isinstance(DATASETS.build("circular_sprites", **config), CircularSprites)


def test_out_of_range_factors_and_values_are_refused(full, small):
    with pytest.raises(ValueError, match=r"factor 1 \(scale\) must hold integers in \[0, 4\]"):
        full.sample_observations_from_factors(np.array([[0, 5, 0, 0, 0, 0]]), 0)
    with pytest.raises(ValueError, match=r"factor 2 \(orientation\) must hold integers in \[0, 11\]"):
        small.factor_values(np.array([[0, 0, 12, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"factor 4 \(pos_x\)"):
        full.sample_observations_from_factors(np.array([[0, 0, 0, 0, -1, 0]]), 0)
    with pytest.raises(ValueError, match=r"shape \(N, 6\)"):
        full.sample_observations_from_factors(np.zeros((2, 5), np.int64), 0)
    with pytest.raises(ValueError, match="shape must be one of 0, 1, 2"):
        full.render(np.array([[3, 1.0, 0, 0, 0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"scale must lie in \(0, 1\]"):
        full.render(np.array([[0, 1.2, 0, 0, 0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"pos_x and pos_y must lie in \[0, 1\]"):
        full.render(np.array([[0, 1.0, 0, 0, 0.5, 1.1]]))
    with pytest.raises(ValueError, match="NaN or inf"):
        full.render(np.array([[0, 1.0, np.nan, 0, 0.5, 0.5]]))
