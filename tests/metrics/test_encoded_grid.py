import numpy as np
import pytest

from pyrodisent.data import NonstationarySources
from pyrodisent.data.dsprites import ProceduralDSprites
from pyrodisent.metrics import disentanglement_metrics
from pyrodisent.metrics.encoded_grid import EncodedGrid, can_encode_grid
from pyrodisent.metrics.suite import images_encoded_by_suite

SMALL = dict(num_train=300, num_test=200, num_votes_train=60, num_votes_eval=40)


def region_sums(observations):
    """A deterministic, batch-independent representation: pixel counts in 4 vertical and 3 horizontal bands."""
    images = np.asarray(observations)[:, 0]
    columns = images.reshape(len(images), 64, 4, 16).sum((1, 3))
    rows = images[:, :63].reshape(len(images), 3, 21, 64).sum((2, 3))
    return np.concatenate([columns, rows], 1).astype(np.float64)


def test_encoded_grid_gives_the_same_scores_as_encoding_every_sample():
    dataset = ProceduralDSprites(grid="small")
    direct = disentanglement_metrics(dataset, region_sums, 3, encode_grid=False, **SMALL)
    cached = disentanglement_metrics(dataset, region_sums, 3, encode_grid=True, **SMALL)
    assert cached == direct


def test_encoded_grid_looks_up_the_codes_of_each_grid_point():
    dataset = ProceduralDSprites(grid="small")
    grid = EncodedGrid(dataset, region_sums, batch_size=100, progress=False)
    factors = dataset.sample_factors(50, np.random.default_rng(0))
    expected = region_sums(dataset.sample_observations_from_factors(factors, 0))
    np.testing.assert_array_equal(grid.representation_function(grid.sample_observations_from_factors(factors, 0)),
                                  expected)
    assert grid.codes.shape == (int(np.prod(dataset.factor_sizes)), 7)


def test_noisy_or_continuous_datasets_are_not_encoded_as_a_grid():
    sources = NonstationarySources(num_segments=2, points_per_segment=5, latent_dim=2)
    assert not can_encode_grid(sources)
    with pytest.raises(ValueError, match="deterministic function"):
        EncodedGrid(sources, lambda x: x)


def test_the_suite_encodes_the_grid_when_that_is_cheaper():
    dataset = ProceduralDSprites(grid="small")  # 1,536 grid points, fewer than the ~19,000 images SMALL samples
    assert images_encoded_by_suite(**SMALL) > int(np.prod(dataset.factor_sizes))
    encoded = []

    def counting(observations):
        encoded.append(len(observations))
        return region_sums(observations)

    disentanglement_metrics(dataset, counting, 3, **SMALL)
    assert sum(encoded) == int(np.prod(dataset.factor_sizes))  # every grid point once, nothing more
