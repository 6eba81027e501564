import numpy as np
import pytest
import torch

from pyrodisent.data import ArrayDataset, Batch


def test_batches_cover_the_data_once_per_epoch_in_a_seeded_order():
    data = ArrayDataset(np.arange(10, dtype=np.float32)[:, None], u=np.eye(10), extras={"id": np.arange(10)})
    loader = data.loader(4, generator=torch.Generator().manual_seed(1))
    batches = list(loader)
    assert [b.size for b in batches] == [4, 4, 2] and len(loader) == 3
    index = torch.cat([b.index for b in batches])
    assert sorted(index.tolist()) == list(range(10))
    for b in batches:
        assert torch.equal(b.x[:, 0].long(), b.index) and torch.equal(b["id"], b.index)
    again = [b.index for b in data.loader(4, generator=torch.Generator().manual_seed(1))]
    assert torch.equal(torch.cat(again), index)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"u has 3 rows, expected 4"):
        ArrayDataset(np.zeros((4, 2)), u=np.zeros((3, 1)))
    with pytest.raises(TypeError, match="x must be a numpy array or torch tensor, got list"):
        ArrayDataset([[1.0]])
    with pytest.raises(ValueError, match=r"factors must have shape \(N, F\)"):
        ArrayDataset(np.zeros((4, 2)), factors=np.zeros(4))
    with pytest.raises(ValueError, match="x has no rows"):
        ArrayDataset(np.zeros((0, 2)))
    with pytest.raises(TypeError, match="dtype object"):
        ArrayDataset(np.array([[1, "a"]], dtype=object))
    with pytest.raises(ValueError, match=r"Batch.u has leading dimension \(2,\), expected \(3,\)"):
        Batch(x=torch.zeros(3, 1), index=torch.arange(3), u=torch.zeros(2, 1))
    with pytest.raises(KeyError, match="carries: none"):
        Batch(x=torch.zeros(3, 1), index=torch.arange(3))["library_size"]


def test_batch_moves_every_tensor():
    b = Batch(x=torch.zeros(2, 1), index=torch.arange(2), extras={"m": torch.ones(2)}).to("cpu")
    assert b.device.type == "cpu" and b.extras["m"].device.type == "cpu"
