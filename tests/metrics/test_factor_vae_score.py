import numpy as np
import pytest

from pyrodisent.data.ground_truth import GroundTruthData, as_generator
from pyrodisent.metrics.factor_vae_score import factor_vae_score, fixed_factor_votes


class LinearFactors(GroundTruthData):
    """Observations are a fixed linear embedding of the three factors into 5 numbers."""

    factor_sizes = (4, 5, 6)
    observation_shape = (5,)
    embedding = np.array([[1.0, 0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0, 1.0]])

    def sample_factors(self, num, random_state):
        rng = as_generator(random_state)
        return np.stack([rng.integers(0, size, num) for size in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        return (factors @ self.embedding).astype(np.float32)


def factor_values(observations):
    """The identity-like representation: the factors, read back from the first three numbers."""
    return np.asarray(observations[:, :3], dtype=float)


SMALL = dict(batch_size=16, num_train=300, num_eval=200, num_variance_estimate=500)


def test_identity_representation_scores_one():
    assert factor_vae_score(LinearFactors(), factor_values, 0, **SMALL) == 1.0


def test_random_representation_scores_near_chance():
    noise = np.random.default_rng(5)
    score = factor_vae_score(LinearFactors(), lambda x: noise.normal(size=(x.shape[0], 3)), 0, **SMALL)
    assert score < 0.5  # chance is 1/3


def test_collapsed_representation_scores_zero():
    noise = np.random.default_rng(5)
    collapsed = lambda x: 0.01 * noise.normal(size=(x.shape[0], 3))  # standard deviation below 0.05
    assert factor_vae_score(LinearFactors(), collapsed, 0, **SMALL) == 0.0


def test_identity_votes_are_diagonal_and_collapsed_codes_get_none():
    data = LinearFactors()
    noise = np.random.default_rng(1)
    with_collapsed = lambda x: np.hstack([factor_values(x), 0.01 * noise.normal(size=(x.shape[0], 1))])
    global_variance = np.array([1.0, 2.0, 3.0, 1e-4])
    active = np.array([True, True, True, False])
    votes = fixed_factor_votes(data, with_collapsed, np.random.default_rng(0), 16, 90, global_variance, active)
    assert votes.shape == (3, 3)  # only the active codes vote
    assert votes.sum() == 90
    np.testing.assert_array_equal(votes, np.diag(np.diag(votes)))  # fixing factor y silences code y
    assert np.all(np.diag(votes) > 0)


def test_same_seed_same_score():
    entangled = lambda x: np.asarray(x[:, [0, 3, 4]], dtype=float)
    first = factor_vae_score(LinearFactors(), entangled, 3, **SMALL)
    assert first == factor_vae_score(LinearFactors(), entangled, np.random.default_rng(3), **SMALL)
    assert first < 1.0


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"batch_size and num_variance_estimate must be at least 2"):
        factor_vae_score(LinearFactors(), factor_values, 0, batch_size=1)
    with pytest.raises(ValueError, match=r"representation_fn output contains NaN or inf values"):
        factor_vae_score(LinearFactors(), lambda x: np.full((x.shape[0], 2), np.nan), 0, **SMALL)
