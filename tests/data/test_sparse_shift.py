import numpy as np
import pytest

from pyrodisent.data.sparse_shift import SparseShiftSimulation, orthogonal_matrix


def test_targets_and_shifts_follow_the_protocol():
    sim = SparseShiftSimulation(cells_per_action=2)
    counts = sim.targets.sum(1)
    assert sim.targets.shape == (100, 15) and counts.min() >= 1 and counts.max() <= 3
    sizes = np.abs(sim.shifts[sim.targets])
    assert abs(sizes.mean() - 5.0) < 0.15 and 0.3 < sizes.std() < 0.7
    assert np.all(sim.shifts[~sim.targets] == 0)
    assert 0.3 < (sim.shifts[sim.targets] > 0).mean() < 0.7


def test_training_and_heldout_cells():
    sim = SparseShiftSimulation(cells_per_action=10)
    train, heldout = sim.training_set(), sim.heldout_set()
    assert len(train) == 800 and len(heldout) == 200
    assert set(train.extras["action"].unique().tolist()) == set(range(80))
    assert train.extras["action"].max() == 79 and heldout.extras["action"].min() == 80
    np.testing.assert_allclose(train.extras["library_size"].numpy(), train.x.sum(-1).numpy())
    assert abs(train.x.sum(-1).mean().item() / 1e6 - 1) < 0.01  # Poisson(10⁶ p) with p a per-cell softmax
    z = train.factors.numpy()
    actions = train.extras["action"].numpy()
    np.testing.assert_allclose((z - sim.shifts[actions]).std(), 1.0, atol=0.05)


def test_gaussian_variant_and_orthogonal_weights():
    sim = SparseShiftSimulation(cells_per_action=5, observation="gaussian")
    data = sim.training_set()
    assert "library_size" not in data.extras and data.x.shape == (400, 100)
    w = orthogonal_matrix(15, 100, np.random.default_rng(0))
    np.testing.assert_allclose(w @ w.T, np.eye(15), atol=1e-10)


def test_bad_arguments():
    with pytest.raises(ValueError, match="observation must be one of"):
        SparseShiftSimulation(observation="binary")
    with pytest.raises(ValueError, match="first_heldout_action"):
        SparseShiftSimulation(first_heldout_action=0)
