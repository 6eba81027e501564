import numpy as np
import pytest

from pyrodisent.data.ground_truth import GroundTruthData, as_generator
from pyrodisent.metrics.beta_vae_score import beta_vae_score, fixed_factor_differences


class OneHotFactors(GroundTruthData):
    """Observations are the concatenated one-hot encodings of the factors (4 + 5 + 6 = 15 numbers)."""

    factor_sizes = (4, 5, 6)
    observation_shape = (15,)

    def sample_factors(self, num, random_state):
        rng = as_generator(random_state)
        return np.stack([rng.integers(0, size, num) for size in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        offsets = np.cumsum((0,) + self.factor_sizes[:-1])
        observations = np.zeros((factors.shape[0], 15), dtype=np.float32)
        np.put_along_axis(observations, factors + offsets, 1.0, axis=1)
        return observations


class OneFactor(OneHotFactors):
    factor_sizes = (4,)
    observation_shape = (4,)


def factor_values(observations):
    """The identity-like representation: decode each factor's value from its one-hot block."""
    blocks = np.split(observations, np.cumsum(OneHotFactors.factor_sizes)[:-1], axis=1)
    return np.stack([block.argmax(axis=1) for block in blocks], axis=1).astype(float)


SMALL = dict(batch_size=16, num_train=300, num_eval=200)


def test_identity_representation_scores_one():
    assert beta_vae_score(OneHotFactors(), factor_values, 0, **SMALL) == pytest.approx(1.0)


def test_random_representation_scores_near_chance():
    noise = np.random.default_rng(123)
    score = beta_vae_score(OneHotFactors(), lambda x: noise.normal(size=(x.shape[0], 3)), 0, **SMALL)
    assert score < 0.5  # chance is 1/3


def test_fixed_factor_has_zero_difference():
    features, labels = fixed_factor_differences(OneHotFactors(), factor_values, np.random.default_rng(0), 8, 100)
    assert features.shape == (100, 3)
    assert set(np.unique(labels)) == {0, 1, 2}
    # The fixed factor's code is equal within every pair; the other codes differ somewhere.
    np.testing.assert_array_equal(features[np.arange(100), labels], 0.0)
    assert np.all(np.sort(features, axis=1)[:, 1] > 0)


def test_same_seed_same_score_and_generators_accepted():
    noisy = lambda x: factor_values(x) + x[:, :3] * 3.0  # deterministic but entangled
    first = beta_vae_score(OneHotFactors(), noisy, 7, **SMALL)
    again = beta_vae_score(OneHotFactors(), noisy, np.random.default_rng(7), **SMALL)
    assert first == again
    assert beta_vae_score(OneHotFactors(), noisy, 8, **SMALL) != first  # the seed matters: another draws other pairs


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"representation_fn must map observations .* returned shape \(\d+,\)"):
        beta_vae_score(OneHotFactors(), lambda x: x[:, 0], 0, **SMALL)
    with pytest.raises(ValueError, match=r"at least 2 factors; got 1"):
        beta_vae_score(OneFactor(), lambda x: x, 0, **SMALL)
    with pytest.raises(ValueError, match=r"num_train must be a positive integer; got 0"):
        beta_vae_score(OneHotFactors(), factor_values, 0, batch_size=16, num_train=0)
    with pytest.raises(TypeError, match=r"random_state must be"):
        beta_vae_score(OneHotFactors(), factor_values, "seed", **SMALL)
