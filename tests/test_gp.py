"""GPyTorch kernels by name, batched over latent channels, and the GP prior built from them."""
import math

import pytest
import torch

from pyrodisent.gp import KERNELS, GaussianProcessPrior, build_kernel
from pyrodisent.registry import UnknownNameError


def test_cauchy_kernel_is_the_gp_vae_formula():
    gp = GaussianProcessPrior(build_kernel("cauchy", 3, length_scale=2.0, scale=1.5), 6, jitter=0.0)
    t = torch.arange(6.0)
    expected = 1.5 / (1 + (t[:, None] - t[None, :]) ** 2 / 2.0**2)
    covariance = gp.covariance().detach()
    assert covariance.shape == (3, 6, 6)
    torch.testing.assert_close(covariance, expected.expand(3, 6, 6))


@pytest.mark.parametrize("spec", KERNELS.names() + ["rbf+periodic", "rbf*periodic", "matern32*periodic+cauchy"])
def test_every_kernel_gives_a_positive_definite_prior_with_variance_scale(spec):
    gp = GaussianProcessPrior(build_kernel(spec, 4, length_scale=3.0, scale=0.7, period=5.0), 12)
    prior = gp((2,))
    assert prior.batch_shape == (2, 4) and prior.event_shape == (12,)
    variances = torch.diagonal(gp.covariance(), dim1=-2, dim2=-1)
    torch.testing.assert_close(variances, torch.full_like(variances, 0.7 + gp.jitter))
    torch.testing.assert_close(prior.precision_matrix[0] @ prior.covariance_matrix[0],
                               torch.eye(12).expand(4, 12, 12), atol=2e-3, rtol=0)


def test_hyperparameters_are_frozen_or_learned_per_channel():
    frozen = build_kernel("rbf", 3)
    assert not any(p.requires_grad for p in frozen.parameters())
    learned = build_kernel("cauchy", 3, learn=True)
    named = dict(learned.named_parameters())
    assert named["base_kernel.raw_lengthscale"].requires_grad and named["base_kernel.raw_lengthscale"].shape[0] == 3
    assert not named["base_kernel.raw_alpha"].requires_grad  # Cauchy: α = 1 stays fixed
    gp = GaussianProcessPrior(learned, 5)
    gp((2,)).log_prob(torch.zeros(2, 3, 5)).sum().backward()
    assert named["base_kernel.raw_lengthscale"].grad is not None


def test_frozen_prior_factors_are_cached_until_the_kernel_changes():
    gp = GaussianProcessPrior(build_kernel("cauchy", 2), 8)
    first = gp.factors()
    assert gp.factors()[0] is first[0]
    state = {k: v + 0.1 for k, v in gp.state_dict().items()}
    gp.load_state_dict(state)  # new hyperparameters in place: the cache must not be reused
    assert gp.factors()[0] is not first[0]
    assert not torch.allclose(gp.factors()[0], first[0])


def test_kernel_moves_with_the_module():
    gp = GaussianProcessPrior(build_kernel("rbf+periodic", 2), 5)
    gp.factors()
    gp = gp.double()
    assert all(p.dtype == torch.float64 for p in gp.kernel.parameters()) and gp.times.dtype == torch.float64
    assert gp((1,)).loc.dtype == torch.float64 and gp.factors()[1].dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_kernel_moves_to_the_gpu_with_the_module():
    gp = GaussianProcessPrior(build_kernel("cauchy", 2, learn=True), 5).cuda()
    prior = gp((3,))
    assert prior.loc.is_cuda and prior.scale_tril.is_cuda
    assert all(p.is_cuda for p in gp.kernel.parameters())


def test_bad_specs_name_what_is_wrong():
    with pytest.raises(UnknownNameError, match="unknown kernel 'bessel'.*cauchy"):
        build_kernel("bessel", 2)
    with pytest.raises(ValueError, match="empty term"):
        build_kernel("rbf+", 2)
    with pytest.raises(ValueError, match="batch_shape"):
        GaussianProcessPrior(build_kernel("rbf", 2).base_kernel.__class__(), 4)
    assert math.isclose(build_kernel("cauchy", 1, length_scale=2.0).base_kernel.lengthscale.item(), math.sqrt(2),
                        rel_tol=1e-5)
