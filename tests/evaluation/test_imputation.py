import numpy as np
import pytest
import torch

from pyrodisent.data import ArrayDataset
from pyrodisent.evaluation.imputation import forward_fill, impute, mean_fill, observed_means


def test_mean_and_forward_fill():
    masked = np.array([[[1.0, 0.0], [0.0, 0.0], [0.0, 4.0]]])  # (N=1, T=3, D=2)
    observed = np.array([[[True, False], [False, False], [False, True]]])
    means = observed_means(masked, observed)
    np.testing.assert_allclose(means, [1.0, 4.0])
    np.testing.assert_allclose(mean_fill(masked, observed, means)[0], [[1, 4], [1, 4], [1, 4]])
    np.testing.assert_allclose(forward_fill(masked, observed, np.array([9.0, 9.0]))[0], [[1, 9], [1, 9], [1, 4]])
    never = observed_means(np.zeros((2, 2, 3)), np.array([[[1, 0, 0]] * 2] * 2, dtype=bool))
    np.testing.assert_allclose(never, [0, 0, 0])


class Halves(torch.nn.Module):
    """A stand-in model whose reconstruction is 0.5 everywhere."""

    device = torch.device("cpu")

    def reconstruct(self, batch):
        return torch.full_like(batch.x, 0.5)


def test_impute_keeps_observed_entries_and_fills_the_rest():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    mask = torch.tensor([[True, False], [False, True]])
    filled = impute(Halves(), ArrayDataset(x, extras={"observed_mask": mask}), batch_size=1)
    np.testing.assert_allclose(filled, [[1.0, 0.5], [0.5, 1.0]])
    with pytest.raises(ValueError, match="observed_mask"):
        impute(Halves(), ArrayDataset(x))
