"""The second-minibatch stream of auxiliary objectives (Kim & Mnih 2018, Alg. 2)."""
import pytest
import torch

from pyrodisent.training.auxiliary import AuxiliaryObjective, IndependentMinibatches
from pyrodisent.data import ArrayDataset


def stream(seed=0, num_points=10, batch_size=3):
    data = ArrayDataset(torch.arange(num_points, dtype=torch.float32).unsqueeze(-1))
    return IndependentMinibatches(data, batch_size, torch.Generator().manual_seed(seed))


def draws(minibatches, count):
    return [minibatches.next().index.tolist() for _ in range(count)]


def test_each_pass_is_a_permutation_cut_into_full_minibatches_of_distinct_points():
    minibatches = stream()
    first_pass, second_pass = draws(minibatches, 3), draws(minibatches, 3)  # 10 // 3 minibatches a pass
    for one_pass in (first_pass, second_pass):
        points = [i for batch in one_pass for i in batch]
        assert all(len(batch) == 3 for batch in one_pass)
        assert len(set(points)) == 9  # no point twice within a pass; the tenth waits for a later pass
    assert first_pass != second_pass  # a fresh permutation each pass


@pytest.mark.parametrize("drawn_before_saving", [0, 1, 3, 4])
def test_a_restored_stream_draws_what_the_uninterrupted_one_draws(drawn_before_saving):
    """Saved before any draw, mid-pass, at the end of a pass and just after a new one began."""
    uninterrupted = stream()
    draws(uninterrupted, drawn_before_saving)
    state = uninterrupted.state_dict()
    expected = draws(uninterrupted, 7)
    restored = stream(seed=5)  # another generator, overwritten by the state
    draws(restored, 2)
    restored.load_state_dict(state)
    assert draws(restored, 7) == expected


def test_minibatch_larger_than_the_data_is_refused():
    with pytest.raises(ValueError, match="batch_size must be between 1 and the 10 points"):
        stream(batch_size=11)


def test_auxiliary_objective_without_parameters_is_refused():
    with pytest.raises(ValueError, match="'critic' has no parameters"):
        AuxiliaryObjective("critic", [], loss=lambda batch: torch.zeros(()))
