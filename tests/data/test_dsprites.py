import itertools

import numpy as np
import pytest
import torch

from pyrodisent.data import ArrayDataset
from pyrodisent.data.dsprites import (DSPRITES_FILENAME, DSprites, ProceduralDSprites, render_sprites)
from pyrodisent.data.ground_truth import factor_grid_index
from pyrodisent.registry import DATASETS

TINY_SIZES = (1, 3, 2, 2, 4, 4)  # color, shape, scale, orientation, posX, posY


def write_fake_dsprites(path, sizes=TINY_SIZES, compressed=True, **overrides):
    """A tiny .npz with the real file's keys and layout: random binary images, one per grid point."""
    rng = np.random.default_rng(0)
    n = int(np.prod(sizes))
    classes = np.array(list(itertools.product(*[range(s) for s in sizes])), dtype=np.int64)
    possible = [np.ones(1), np.arange(1, sizes[1] + 1.0), np.linspace(0.5, 1, sizes[2]),
                np.linspace(0, 2 * np.pi, sizes[3]), np.linspace(0, 1, sizes[4]), np.linspace(0, 1, sizes[5])]
    values = np.stack([possible[j][classes[:, j]] for j in range(6)], axis=1)
    arrays = dict(
        imgs=(rng.random((n, 64, 64)) < 0.3).astype(np.uint8),
        latents_classes=classes,
        latents_values=values,
        metadata=np.array({"latents_sizes": np.array(sizes), "latents_names": ("color", "shape", "scale",
                                                                               "orientation", "posX", "posY")},
                          dtype=object),
    )
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path, arrays


@pytest.fixture
def fake_file(tmp_path):
    return write_fake_dsprites(tmp_path / DSPRITES_FILENAME)


@pytest.mark.parametrize("compressed", [True, False])
def test_real_loader_fetches_the_image_at_the_row_major_index(tmp_path, compressed):
    path, arrays = write_fake_dsprites(tmp_path / DSPRITES_FILENAME, compressed=compressed)
    data = DSprites(path)
    assert data.factor_sizes == (3, 2, 2, 4, 4) and data.num_factors == 5
    assert data.observation_shape == (1, 64, 64) and len(data) == 192
    factors = data.sample_factors(50, np.random.default_rng(1))
    x = data.sample_observations_from_factors(factors, 0)
    index = factor_grid_index(np.concatenate([np.zeros((50, 1), int), factors], axis=1), TINY_SIZES)
    assert x.dtype == np.float32 and x.shape == (50, 1, 64, 64)
    np.testing.assert_array_equal(x[:, 0], arrays["imgs"][index])
    np.testing.assert_array_equal(data.factor_values(factors), arrays["latents_values"][index, 1:])
    np.testing.assert_array_equal(arrays["latents_classes"][index, 1:], factors)


def test_path_from_folder_and_environment(fake_file, monkeypatch):
    path, _ = fake_file
    assert DSprites(path.parent).path == path
    monkeypatch.setenv("PYRODISENT_DATA", str(path.parent))
    assert DSprites().path == path


def test_missing_file_names_the_dsprites_download(monkeypatch):
    monkeypatch.delenv("PYRODISENT_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"dsprites.*not found.*github.com/deepmind/dsprites-dataset"):
        DSprites()


@pytest.mark.parametrize("override, message", [
    (dict(latents_classes=None), r"has no array 'latents_classes'; found: \['imgs', 'latents_values', 'metadata'\]"),
    (dict(metadata=np.array({"sizes": 1}, dtype=object)), "metadata must be a dict with 'latents_sizes'"),
    (dict(metadata=np.array({"latents_sizes": np.array([3, 2, 2, 4, 4])}, dtype=object)), "six sizes"),
    (dict(imgs=np.zeros((192, 64, 64), np.float32)), "imgs must be uint8, got float32"),
    (dict(imgs=np.zeros((191, 64, 64), np.uint8)), r"imgs must have shape \(192, H, W\)"),
    (dict(imgs=np.full((192, 64, 64), 255, np.uint8)), "0/1 values"),
    (dict(latents_classes=np.zeros((192, 5), np.int64)), r"latents_classes must be an integer array of shape \(192, 6\)"),
    (dict(latents_values=np.zeros((192, 5))), r"latents_values must have shape \(192, 6\)"),
])
def test_malformed_files_give_clear_errors(tmp_path, override, message):
    path, _ = write_fake_dsprites(tmp_path / DSPRITES_FILENAME, **override)
    with pytest.raises(ValueError, match=message):
        DSprites(path)


def test_rows_out_of_grid_order_are_refused(tmp_path):
    path, arrays = write_fake_dsprites(tmp_path / DSPRITES_FILENAME)
    write_fake_dsprites(path, latents_classes=arrays["latents_classes"][::-1].copy())
    with pytest.raises(ValueError, match="not in row-major grid order"):
        DSprites(path)


def test_not_an_npz_file(tmp_path):
    path = tmp_path / DSPRITES_FILENAME
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        DSprites(path)


def test_training_set_and_registry(fake_file):
    path, arrays = fake_file
    data = DATASETS.build("dsprites", path=path)
    assert isinstance(data, DSprites)
    train = data.training_set(30, random_state=3)
    assert isinstance(train, ArrayDataset) and train.x.shape == (30, 1, 64, 64) and train.factors.shape == (30, 5)
    index = factor_grid_index(train.factors.numpy(), data.factor_sizes)
    np.testing.assert_array_equal(train.x.numpy()[:, 0], arrays["imgs"][index])


# --- procedural ------------------------------------------------------------------------------------

def area(images):
    return images.reshape(len(images), -1).sum(-1)


def centroid(image):
    rows, cols = np.nonzero(image)
    return rows.mean(), cols.mean()


def test_grids_and_values():
    full, small = ProceduralDSprites(), ProceduralDSprites("small")
    assert full.factor_sizes == (3, 6, 40, 32, 32) and small.factor_sizes == (3, 2, 4, 8, 8)
    assert full.observation_shape == small.observation_shape == (1, 64, 64)
    assert full.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    np.testing.assert_allclose(full.values[1], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert full.values[2][0] == 0 and np.isclose(full.values[2][-1], 2 * np.pi) and len(full.values[2]) == 40
    for j, (small_values, full_values) in enumerate(zip(small.values, full.values)):
        assert set(small_values) <= set(full_values)
        if j != 2:  # orientation is circular: the small grid spreads 4 values over the circle instead
            assert small_values.min() == full_values.min() and small_values.max() == full_values.max()
    np.testing.assert_allclose(small.values[2], full.values[2][[0, 10, 20, 30]])
    with pytest.raises(ValueError, match="grid must be"):
        ProceduralDSprites("medium")


def test_images_are_binary_float32_and_the_small_grid_is_a_subgrid():
    full, small = ProceduralDSprites(), ProceduralDSprites("small")
    factors = small.sample_factors(40, 0)
    x = small.sample_observations_from_factors(factors, 0)
    assert x.dtype == np.float32 and x.shape == (40, 1, 64, 64) and set(np.unique(x)) <= {0.0, 1.0}
    full_factors = np.stack([np.searchsorted(fv, sv[factors[:, j]]) for j, (fv, sv) in
                             enumerate(zip(full.values, small.values))], axis=1)
    np.testing.assert_array_equal(full.sample_observations_from_factors(full_factors, 0), x)


def test_shapes_differ_and_area_grows_with_scale():
    data = ProceduralDSprites()
    shapes = data.sample_observations_from_factors(np.array([[s, 5, 0, 16, 16] for s in range(3)]), 0)[:, 0]
    for a, b in itertools.combinations(range(3), 2):
        assert (shapes[a] != shapes[b]).sum() > 20
    for shape in range(3):
        images = data.sample_observations_from_factors(np.array([[shape, s, 5, 16, 16] for s in range(6)]), 0)
        areas = area(images)
        assert np.all(np.diff(areas) > 0), areas
        assert 2.5 < areas[-1] / areas[0] < 5.5  # area ∝ scale²: (1 / 0.5)² = 4


def test_position_moves_the_centroid_the_right_way_and_sprites_stay_in_frame():
    data = ProceduralDSprites()
    for shape in range(3):
        images = data.sample_observations_from_factors(
            np.array([[shape, 5, 7, 0, 16], [shape, 5, 7, 31, 16], [shape, 5, 7, 16, 0], [shape, 5, 7, 16, 31]]), 0)[:, 0]
        (r0, c0), (r1, c1), (r2, c2), (r3, c3) = [centroid(image) for image in images]
        assert c1 - c0 > 30 and abs(r1 - r0) < 1  # posX moves right
        assert r3 - r2 > 30 and abs(c3 - c2) < 1  # posY moves down
    corners = np.array([[s, 5, o, x, y] for s in range(3) for o in (0, 5, 13) for x in (0, 31) for y in (0, 31)])
    images = data.sample_observations_from_factors(corners, 0)[:, 0]
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    assert border.sum() == 0 and area(images).min() > 100


def test_rotation_square_and_ellipse_symmetries_heart_asymmetry():
    values = lambda shape, angle: [shape, 1.0, angle, 0.5, 0.5]  # noqa: E731
    render = lambda *rows: render_sprites(np.array(rows)).astype(int)  # noqa: E731
    square, square_45, square_90 = render(values(0, 0.3), values(0, 0.3 + np.pi / 4), values(0, 0.3 + np.pi / 2))
    assert (square != square_45).sum() > 40
    assert (square != square_90).sum() <= 4 and abs(square.sum() - square_45.sum()) < 0.05 * square.sum()
    ellipse, ellipse_90, ellipse_180 = render(values(1, 0.3), values(1, 0.3 + np.pi / 2), values(1, 0.3 + np.pi))
    assert (ellipse != ellipse_180).sum() <= 4 and (ellipse != ellipse_90).sum() > 100
    heart, heart_180 = render(values(2, 0.0), values(2, np.pi))
    assert (heart != heart_180).sum() > 50
    assert np.allclose(centroid(heart), centroid(heart_180), atol=1.0)  # rotation about the centroid
    widest_row = heart.sum(1).argmax()
    assert widest_row < centroid(heart)[0] < centroid(heart_180)[0] + 1  # upright: the lobes on top at orientation 0
    assert heart_180.sum(1).argmax() > centroid(heart_180)[0]
    grid = ProceduralDSprites()
    first, last = grid.sample_observations_from_factors(np.array([[2, 3, 0, 9, 9], [2, 3, 39, 9, 9]]), 0)
    np.testing.assert_array_equal(first, last)  # 0 and 2π alias, as in the real set


def test_mean_foreground_matches_the_real_set_and_training_set_is_deterministic():
    data = ProceduralDSprites(seed=5)
    assert abs(data.sample_observations(600, 0).mean() - 0.043) < 0.006
    a, b = data.training_set(20), DATASETS.build("dsprites_procedural", seed=5).training_set(20)
    assert isinstance(a, ArrayDataset) and a.x.shape == (20, 1, 64, 64) and a.factors.dtype == torch.int64
    assert np.array_equal(a.x.numpy(), b.x.numpy()) and np.array_equal(a.factors.numpy(), b.factors.numpy())
    with pytest.raises(ValueError, match=r"factor 1 \(scale\)"):
        data.sample_observations_from_factors(np.array([[0, 6, 0, 0, 0]]), 0)


# --- corrupt files ---------------------------------------------------------------------------------

def _flip_bytes_of_member(path, member, count=8):
    """Overwrite ``count`` bytes in the middle of a zip member's stored data (as a bad disk or download would)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    with open(path, "r+b") as handle:
        handle.seek(info.header_offset + 26)
        name_length, extra_length = np.frombuffer(handle.read(4), dtype="<u2")
        start = info.header_offset + 30 + int(name_length) + int(extra_length)
        handle.seek(start + info.compress_size // 2)
        original = handle.read(count)
        handle.seek(start + info.compress_size // 2)
        handle.write(bytes(b ^ 0xFF for b in original))


@pytest.mark.parametrize("member, compressed", [("latents_values.npy", False), ("imgs.npy", False),
                                                ("imgs.npy", True), ("latents_classes.npy", True)])
def test_a_corrupted_member_names_the_file_and_member(tmp_path, member, compressed):
    path, _ = write_fake_dsprites(tmp_path / DSPRITES_FILENAME, compressed=compressed)
    _flip_bytes_of_member(path, member)
    with pytest.raises(ValueError, match=rf"{DSPRITES_FILENAME}: the archive's member '{member}' is corrupt "
                                         r"\((BadZipFile: Bad CRC-32|error: Error -3).*download the file again"):
        DSprites(path)


def test_nan_in_latents_values_is_refused(tmp_path):
    _, arrays = write_fake_dsprites(tmp_path / "good.npz")
    values = arrays["latents_values"].copy()
    values[7, 3] = np.nan
    values[20, 1] = np.inf
    path, _ = write_fake_dsprites(tmp_path / DSPRITES_FILENAME, latents_values=values)
    with pytest.raises(ValueError, match=rf"{DSPRITES_FILENAME}: latents_values holds NaN or inf values "
                                         r"\(rows \[7, 20\] first\)"):
        DSprites(path)
