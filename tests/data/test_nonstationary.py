import numpy as np
import pytest

from pyrodisent.data import NonstationarySources
from pyrodisent.data.nonstationary import well_conditioned_matrix


def test_official_protocol_shapes_and_segments():
    sim = NonstationarySources(num_segments=40, points_per_segment=50)
    data = sim.training_set()
    assert data.x.shape == (2000, 5) and data.u.shape == (2000, 40) and data.factors.shape == (2000, 5)
    assert (data.u.sum(-1) == 1).all() and data.u.argmax(-1).tolist() == np.repeat(np.arange(40), 50).tolist()
    assert sim.segment_scales.min() >= 0.5 and sim.segment_scales.max() <= 3.0
    assert np.allclose(sim.segment_means, 0)


def test_sources_are_modulated_per_segment():
    sim = NonstationarySources(num_segments=4, points_per_segment=20000)
    s = sim.training_set().factors.numpy().reshape(4, 20000, 5)
    np.testing.assert_allclose(s.std(1), sim.segment_scales, rtol=0.05)


def test_mixing_is_deterministic_given_the_seed_and_differs_across_seeds():
    a = NonstationarySources(points_per_segment=10).training_set()
    b = NonstationarySources(points_per_segment=10).training_set()
    c = NonstationarySources(points_per_segment=10, seed=2).training_set()
    assert np.array_equal(a.x.numpy(), b.x.numpy())
    assert not np.allclose(a.x.numpy(), c.x.numpy())


def test_official_variant_reuses_one_matrix_and_2019_draws_one_per_layer():
    official = NonstationarySources(points_per_segment=1)
    variant = NonstationarySources(points_per_segment=1, variant="2019")
    assert all(m is official._matrices[0] for m in official._matrices)
    assert not np.allclose(variant._matrices[0], variant._matrices[1])
    s = np.array([[1.0, -1.0, 0.5, 0.0, 2.0]])
    a = official._matrices[0]
    h = np.tanh(s @ a) + 0.1 * (s @ a)
    h = np.tanh(h @ a) + 0.1 * (h @ a)
    np.testing.assert_allclose(official.mix(s), h @ a)


def test_well_conditioned_matrix_has_unit_columns_and_low_condition_number():
    rng = np.random.default_rng(0)
    m = well_conditioned_matrix(5, rng, num_draws_for_threshold=2000)
    np.testing.assert_allclose(np.linalg.norm(m, axis=0), 1.0)
    draws = rng.uniform(-1, 1, (2000, 5, 5))
    draws /= np.linalg.norm(draws, axis=-2, keepdims=True)
    assert np.linalg.cond(m) <= np.percentile(np.linalg.cond(draws), 35)


def test_ground_truth_interface_and_bad_arguments():
    sim = NonstationarySources(points_per_segment=1)
    factors, x = sim.sample(7, np.random.default_rng(0))
    assert factors.shape == (7, 5) and x.shape == (7, 5) and x.dtype == np.float32
    assert sim.factor_sizes == (None,) * 5 and not sim.factors_are_discrete
    with pytest.raises(ValueError, match=r"factors must have shape \(N, 5\)"):
        sim.sample_observations_from_factors(np.zeros((3, 4)), 0)
    with pytest.raises(ValueError, match="variant must be one of"):
        NonstationarySources(variant="2020")
    with pytest.raises(TypeError, match="random_state must be"):
        sim.sample_factors(3, "seed")
