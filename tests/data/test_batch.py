"""Batch: repeating stacks copies of the points and says how many, so per-point work is done once."""
import pytest
import torch

from pyrodisent.data import Batch


def test_repeat_stacks_sample_major_and_counts_the_copies():
    batch = Batch(x=torch.arange(6.0).reshape(3, 2), index=torch.tensor([5, 0, 2]),
                  extras={"action": torch.tensor([1, 1, 0])})
    assert batch.copies == 1
    twice = batch.repeat(2)
    assert twice.copies == 2 and twice.size == 6
    assert torch.equal(twice.index, torch.tensor([5, 0, 2, 5, 0, 2]))  # row s·B + b is point b
    assert torch.equal(twice.extras["action"], torch.tensor([1, 1, 0, 1, 1, 0]))
    assert twice.repeat(3).copies == 6 and twice.to("cpu").copies == 2
    with pytest.raises(ValueError, match=r"Batch.copies must be ≥ 1 and divide the batch size 3, got 2"):
        Batch(x=batch.x, index=batch.index, copies=2)
