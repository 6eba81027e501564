"""Pairs over a ground-truth dataset: exact, approximately shared, correlated, and mined."""
import numpy as np
import pytest
import torch

from pyrodisent.data.dsprites import ProceduralDSprites
from pyrodisent.data.mined_pairs import PARTNER, mined_pair_dataset, nearest_neighbour_partners, remine
from pyrodisent.data.pairs import (CHANGED_FACTORS, PAIR_FACTORS, PAIR_OBSERVATION, CorrelatedFactors,
                                   approximate_pairs, factor_index, paired_dataset, weak_pairs)
from pyrodisent.data.arrays import ArrayDataset

DATASET = ProceduralDSprites(grid="small")  # sizes (3, 2, 4, 8, 8)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_exact_pairs_keep_every_factor_not_resampled(k):
    pairs = weak_pairs(DATASET, 2000, np.random.default_rng(0), k=k)
    assert np.array_equal(pairs.second[~pairs.resampled], pairs.first[~pairs.resampled])
    counts = pairs.resampled.sum(1)
    assert set(np.unique(counts)) == ({1} if k == 1 else {1, k})  # disentanglement_lib: 1 or k, ½ each
    if k > 1:
        assert abs(np.mean(counts == k) - 0.5) < 0.05
    assert np.array_equal(pairs.changed, pairs.second != pairs.first)
    assert not (pairs.changed & ~pairs.resampled).any()
    assert pairs.changed.any(1).mean() > 0.6  # most resampled values differ from the old ones


def test_k_minus_one_draws_a_number_per_pair():
    pairs = weak_pairs(DATASET, 2000, np.random.default_rng(1), k=-1)
    assert set(np.unique(pairs.resampled.sum(1))) == {1, 2, 3, 4}
    with pytest.raises(ValueError, match="k must be -1"):
        weak_pairs(DATASET, 10, 0, k=5)


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_approximate_pairs_move_shared_factors_within_the_radius_and_change_the_others(radius):
    pairs = approximate_pairs(DATASET, 2000, np.random.default_rng(2), k=1, share_radius=radius)
    shared = ~pairs.resampled
    step = np.abs(pairs.second - pairs.first)
    assert step[shared].max() == radius
    assert (pairs.second[pairs.resampled] != pairs.first[pairs.resampled]).all()
    assert np.array_equal(pairs.changed, pairs.resampled) and (pairs.resampled.sum(1) == 1).all()
    sizes = np.array(DATASET.factor_sizes)
    assert (pairs.second >= 0).all() and (pairs.second < sizes).all()


def test_correlated_sampler_matches_the_correlation_sigma_implies():
    sizes = (3, 40, 32, 32)
    for sigma in (0.1, 0.3):
        correlated = CorrelatedFactors(sizes, (2, 3), sigma)
        c = correlated.sample(40_000, np.random.default_rng(3))
        normalised = c[:, 2:] / 31.0
        empirical = np.corrcoef(normalised.T)[0, 1]
        # the exact correlation of p(c_i, c_j) ∝ exp(−(c_i − c_j)²/(2σ²)) on the 32 × 32 grid, by hand
        grid = np.arange(32) / 31.0
        p = np.exp(-(grid[:, None] - grid[None, :]) ** 2 / (2 * sigma ** 2))
        p /= p.sum()
        mean = p.sum(1) @ grid
        covariance = np.sum(p * np.outer(grid - mean, grid - mean))
        variance = p.sum(1) @ (grid - mean) ** 2
        assert correlated.correlation() == pytest.approx(covariance / variance)
        assert empirical == pytest.approx(covariance / variance, abs=0.01)
        assert abs(np.corrcoef(c[:, 0], c[:, 2])[0, 1]) < 0.02  # the other factors stay independent
    assert CorrelatedFactors(sizes, (2, 3), 0.1).correlation() > CorrelatedFactors(sizes, (2, 3), 0.3).correlation()


def test_correlated_pairs_keep_the_second_image_in_the_correlated_distribution():
    correlated = CorrelatedFactors(DATASET.factor_sizes, (3, 4), 0.1)
    pairs = weak_pairs(DATASET, 4000, np.random.default_rng(4), k=1, correlated=correlated)
    for factors in (pairs.first, pairs.second):
        assert np.corrcoef(factors[:, 3], factors[:, 4])[0, 1] > 0.8
    assert np.array_equal(pairs.second[~pairs.resampled], pairs.first[~pairs.resampled])


def test_paired_dataset_carries_both_images_and_the_changed_factors():
    pairs = weak_pairs(DATASET, 6, np.random.default_rng(5))
    data = paired_dataset(DATASET, pairs, np.random.default_rng(5))
    batch = data.batch(torch.arange(6))
    assert batch.x.shape == batch[PAIR_OBSERVATION].shape == (6, 1, 64, 64)
    np.testing.assert_array_equal(batch[PAIR_FACTORS].numpy(), pairs.second)
    np.testing.assert_array_equal(batch[CHANGED_FACTORS].numpy(), pairs.changed)
    second = DATASET.sample_observations_from_factors(pairs.second, 0)
    np.testing.assert_array_equal(batch[PAIR_OBSERVATION].numpy(), second)


def test_factor_names_are_found_loosely_and_a_wrong_one_is_named():
    assert factor_index(DATASET, "pos_x") == 3 and factor_index(DATASET, "posY") == 4
    with pytest.raises(ValueError, match="has no factor 'hue'; its factors: shape, scale"):
        factor_index(DATASET, "hue")


def test_mined_partners_are_near_neighbours_other_than_itself():
    codes = np.array([[0.0], [0.1], [10.0], [10.2], [20.0], [20.05]])
    partners = nearest_neighbour_partners(codes, 1, 0)
    assert partners.tolist() == [1, 0, 3, 2, 5, 4]
    duplicated = nearest_neighbour_partners(np.zeros((4, 2)), 2, 0)
    assert (duplicated != np.arange(4)).all()


def test_remining_updates_the_pairs_in_place():
    factors = np.array([[0, 0], [0, 1], [1, 1]])
    images = ArrayDataset(np.arange(3, dtype=np.float32)[:, None], factors=factors)
    data = mined_pair_dataset(images, np.array([1, 0, 1]))
    assert data.extras[CHANGED_FACTORS].tolist() == [[False, True], [False, True], [True, False]]
    remine(data, torch.tensor([2, 2, 0]))
    assert data.extras[PAIR_OBSERVATION][:, 0].tolist() == [2.0, 2.0, 0.0]
    assert data.extras[PARTNER].tolist() == [2, 2, 0]
    assert data.extras[CHANGED_FACTORS].tolist() == [[True, True], [True, False], [True, True]]
