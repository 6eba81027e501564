"""The adaptive threshold and both averages of Ada-GVAE / Ada-ML-VAE on hand-made posteriors."""
import math

import torch

from pyrodisent.distributions.shared_posteriors import (adaptive_threshold, arithmetic_mean, averaged_pair_posteriors,
                                                        gaussian_kl_per_dimension, product_of_experts,
                                                        shared_dimensions)


def test_kl_per_dimension_is_the_gaussian_kl():
    loc_1, scale_1 = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 2.0]])
    loc_2, scale_2 = torch.tensor([[0.0, -1.0]]), torch.tensor([[1.0, 1.0]])
    # dimension 0: identical → 0; dimension 1: log(1/2) + (4 + 4) / 2 − ½
    expected = torch.tensor([[0.0, math.log(0.5) + 4.0 - 0.5]])
    torch.testing.assert_close(gaussian_kl_per_dimension(loc_1, scale_1, loc_2, scale_2), expected)
    q_1 = torch.distributions.Normal(loc_1, scale_1)
    q_2 = torch.distributions.Normal(loc_2, scale_2)
    torch.testing.assert_close(gaussian_kl_per_dimension(loc_1, scale_1, loc_2, scale_2),
                               torch.distributions.kl_divergence(q_1, q_2))


def test_threshold_is_the_midpoint_of_max_and_min_per_pair():
    divergence = torch.tensor([[0.1, 0.2, 3.0, 0.05], [1.0, 1.0, 1.0, 5.0]])
    torch.testing.assert_close(adaptive_threshold(divergence), torch.tensor([[1.525], [3.0]]))
    assert shared_dimensions(divergence).tolist() == [[True, True, False, True], [True, True, True, False]]


def test_arithmetic_mean_averages_means_and_variances():
    loc, scale = arithmetic_mean(torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([3.0]), torch.tensor([3.0]))
    torch.testing.assert_close(loc, torch.tensor([2.0]))
    torch.testing.assert_close(scale, torch.tensor([math.sqrt(5.0)]))  # variances 1 and 9 → 5


def test_product_of_experts_is_precision_weighted():
    loc, scale = product_of_experts(torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([3.0]), torch.tensor([3.0]))
    # v = 2·1·9 / (1 + 9) = 1.8; μ = (1/1 + 3/9) · 1.8 / 2 = 1.2
    torch.testing.assert_close(scale ** 2, torch.tensor([1.8]))
    torch.testing.assert_close(loc, torch.tensor([1.2]))


def test_only_the_shared_dimensions_are_replaced():
    first = (torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([[1.0, 1.0, 1.0]]))
    second = (torch.tensor([[0.2, 4.0, 0.1]]), torch.tensor([[1.0, 1.0, 1.0]]))
    (loc_1, scale_1), (loc_2, scale_2), shared = averaged_pair_posteriors(first, second, arithmetic_mean)
    # δ = (0.02, 8, 0.005): τ = 4.0025, dimension 1 changed
    assert shared.tolist() == [[True, False, True]]
    torch.testing.assert_close(loc_1, torch.tensor([[0.1, 0.0, 0.05]]))
    torch.testing.assert_close(loc_2, torch.tensor([[0.1, 4.0, 0.05]]))
    torch.testing.assert_close(scale_1, scale_2)
