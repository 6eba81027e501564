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


def test_sampling_weights_draw_points_in_proportion_and_in_a_seeded_order():
    """With sampling weights a pass draws as many points as the data has, with replacement, point i with probability
    ∝ w_i: here one point in ten carries half the weight, so it fills half the draws (binomial sd over 20,000 draws:
    0.0035), the zero-weight point is never drawn, the weights travel with .to(), and the same generator seed
    gives the same draws. Without weights, the plain pass (above)."""
    weights = np.full(1_000, 0.5 / 998)
    weights[0], weights[1] = 0.5, 0.0
    data = ArrayDataset(np.arange(1_000, dtype=np.float32)[:, None], sampling_weights=weights).to("cpu")
    draws = torch.cat([b.index for seed in range(20)
                       for b in data.loader(100, generator=torch.Generator().manual_seed(seed))])
    assert len(draws) == 20_000
    assert abs(float((draws == 0).float().mean()) - 0.5) < 0.02 and not bool((draws == 1).any())
    assert len(torch.unique(draws)) > 900  # the other points share the other half
    first = [b.index for b in data.loader(100, generator=torch.Generator().manual_seed(3))]
    again = [b.index for b in data.loader(100, generator=torch.Generator().manual_seed(3))]
    assert all(torch.equal(a, b) for a, b in zip(first, again)) and len(first) == 10
    ordered = torch.cat([b.index for b in data.loader(100, shuffle=False)])  # evaluation order ignores the weights
    assert torch.equal(ordered, torch.arange(1_000))
    with pytest.raises(ValueError, match=r"sampling_weights must be \(N,\) = \(3,\), non-negative"):
        ArrayDataset(np.zeros((3, 1)), sampling_weights=np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="sampling_weights has 2 rows, expected 3"):
        ArrayDataset(np.zeros((3, 1)), sampling_weights=np.ones(2))


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
