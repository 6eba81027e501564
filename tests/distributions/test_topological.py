"""Topology priors: every density integrates to one, samples follow the density, annealing sharpens, and the
product of blocks is the sum of its blocks' log densities."""
import math

import numpy as np
import pyro
import pytest
import torch
from scipy import integrate, stats

from pyrodisent.distributions.topological import (GaussianPoints, Loop, Normal, Points, ProductPrior, Segment,
                                                  SmoothedSegment, Tilted, TiltedNormal, build_block,
                                                  log_radial_integral, parse_blocks, radial_log_density,
                                                  radial_mode)

DIMS, TAUS = (1, 2, 3, 10), (0.0, 1.0, 5.0, 20.0, 50.0)


def quad_log_radial_integral(tau, dim):
    """log ∫ r^{d−1} e^{τr − r²/2} dr by adaptive quadrature, scaled at the mode."""
    mode = float(radial_mode(torch.tensor(tau, dtype=torch.float64), dim))
    f = lambda r: float(radial_log_density(torch.tensor(max(r, 1e-300), dtype=torch.float64),  # noqa: E731
                                           torch.tensor(tau, dtype=torch.float64), dim))
    peak = f(mode)
    value, _ = integrate.quad(lambda r: math.exp(f(r) - peak), 0, mode + 60, points=[mode], epsabs=0,
                              epsrel=1e-12, limit=500)
    return peak + math.log(value)


@pytest.mark.parametrize("dim", DIMS)
def test_tilted_normaliser_matches_numerical_integration(dim):
    for tau in TAUS:
        ours = float(log_radial_integral(torch.tensor(tau, dtype=torch.float64), dim))
        assert math.isfinite(ours)
        # |Δ log Z| < 1e-6 is a relative error of the normaliser below 1e-6
        assert abs(ours - quad_log_radial_integral(tau, dim)) < 1e-6, (dim, tau)


@pytest.mark.parametrize("dim, tau", [(1, 0.0), (1, 3.0), (2, 0.0), (2, 2.5)])
def test_tilted_density_integrates_to_one(dim, tau):
    distribution = TiltedNormal(torch.tensor(tau, dtype=torch.float64), dim)
    if dim == 1:
        total, _ = integrate.quad(lambda z: math.exp(float(distribution.log_prob(torch.tensor([z], dtype=torch.float64)))),
                                  -tau - 12, tau + 12, points=[-tau, tau], limit=200)
    else:
        step = 0.02
        axis = torch.arange(-tau - 9, tau + 9, step, dtype=torch.float64)
        grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1)
        total = float(distribution.log_prob(grid).exp().sum() * step ** 2)
    assert total == pytest.approx(1.0, abs=2e-4)


def radial_cdf(dim, tau):
    mode = float(radial_mode(torch.tensor(tau, dtype=torch.float64), dim))
    r = np.linspace(1e-9, mode + 12, 40001)
    log_density = radial_log_density(torch.tensor(r), torch.tensor(tau, dtype=torch.float64), dim).numpy()
    density = np.exp(log_density - log_density.max())
    cdf = integrate.cumulative_trapezoid(density, r, initial=0)
    return lambda x: np.interp(x, r, cdf / cdf[-1])


@pytest.mark.parametrize("dim, tau", [(1, 0.0), (2, 5.0), (3, 1.0), (10, 0.0), (10, 50.0)])
def test_tilted_samples_pass_a_goodness_of_fit_test_on_the_radius(dim, tau):
    pyro.set_rng_seed(0)
    z = TiltedNormal(torch.tensor(tau, dtype=torch.float64), dim).sample((3000,))
    assert z.shape == (3000, dim) and torch.isfinite(z).all()
    assert stats.kstest(z.norm(dim=-1).numpy(), radial_cdf(dim, tau)).pvalue > 0.01
    directions = z / z.norm(dim=-1, keepdim=True)
    assert directions.mean(0).abs().max() < 4 / math.sqrt(3000)  # uniform on the sphere: mean 0
    # and the test can tell: radii of the neighbouring τ are rejected
    assert stats.kstest(z.norm(dim=-1).numpy(), radial_cdf(dim, tau + 1.0)).pvalue < 1e-6


def test_a_scaled_tilted_density_is_the_standard_one_stretched():
    z = torch.randn(50, 3, dtype=torch.float64) * 2
    scaled = TiltedNormal(torch.tensor(3.0, dtype=torch.float64), 3, scale=0.5).log_prob(z)
    standard = TiltedNormal(torch.tensor(3.0, dtype=torch.float64), 3).log_prob(z / 0.5) - 3 * math.log(0.5)
    assert torch.allclose(scaled, standard)
    pyro.set_rng_seed(4)
    assert float(TiltedNormal(torch.tensor(10.0), 2, scale=0.2).sample((2000,)).norm(dim=-1).mean()) == \
        pytest.approx(2.0, abs=0.03)


def test_tilted_batches_and_validation():
    distribution = TiltedNormal(torch.tensor([0.0, 2.0, 30.0]), 3)
    assert distribution.batch_shape == (3,) and distribution.event_shape == (3,)
    assert distribution.sample((5,)).shape == (5, 3, 3)
    assert distribution.expand((4, 3)).log_prob(torch.zeros(4, 3, 3)).shape == (4, 3)
    assert distribution.log_prob(torch.zeros(3)).shape == (3,)
    with pytest.raises(ValueError, match="dim must be an integer ≥ 1"):
        TiltedNormal(1.0, 0)


def integrate_1d(distribution, low=-30.0, high=30.0):
    return integrate.quad(lambda z: math.exp(float(distribution.log_prob(torch.tensor(z, dtype=torch.float64)))),
                          low, high, limit=400, points=np.linspace(low / 10, high / 10, 25))[0]


def test_segment_and_points_integrate_to_one_and_have_finite_tails():
    for width in (1.0, 0.2, 0.01):
        segment = SmoothedSegment(torch.tensor(-1.5, dtype=torch.float64), 2.0, width)
        assert integrate_1d(segment) == pytest.approx(1.0, abs=1e-6)
        tails = segment.log_prob(torch.tensor([-1e3, 1e3], dtype=torch.float64))
        assert torch.isfinite(tails).all() and (tails < -1e3).all()
    points = GaussianPoints(torch.tensor([-2.0, 0.5, 3.0], dtype=torch.float64), 0.1)
    assert integrate_1d(points) == pytest.approx(1.0, abs=1e-6)
    assert float(points.log_prob(torch.tensor(0.5, dtype=torch.float64)).exp()) == pytest.approx(
        stats.norm.pdf(0, scale=0.1) / 3, rel=1e-9)


def cdf_by_integration(distribution, grid):
    density = distribution.log_prob(torch.tensor(grid, dtype=torch.float64)).exp().numpy()
    cdf = integrate.cumulative_trapezoid(density, grid, initial=0)
    return lambda x: np.interp(x, grid, cdf / cdf[-1])


def test_segment_and_points_samples_follow_their_densities():
    pyro.set_rng_seed(1)
    grid = np.linspace(-8, 8, 80001)
    segment = SmoothedSegment(torch.tensor(-1.0, dtype=torch.float64), 1.5, 0.3)
    points = GaussianPoints(torch.tensor([-2.0, 0.0, 2.5], dtype=torch.float64), 0.2)
    for distribution, other in ((segment, SmoothedSegment(torch.tensor(-1.0, dtype=torch.float64), 1.8, 0.3)),
                                (points, GaussianPoints(torch.tensor([-2.0, 0.2, 2.5], dtype=torch.float64), 0.2))):
        draws = distribution.sample((4000,)).numpy()
        assert stats.kstest(draws, cdf_by_integration(distribution, grid)).pvalue > 0.01
        assert stats.kstest(draws, cdf_by_integration(other, grid)).pvalue < 1e-4


def test_segment_samples_are_reparameterised():
    width = torch.tensor(0.5, requires_grad=True)
    SmoothedSegment(torch.tensor(0.0), 1.0, width).rsample((100,)).pow(2).sum().backward()
    assert width.grad is not None and width.grad != 0


@pytest.mark.parametrize("block", [Points(3), Segment(), Loop(), Normal(2), Tilted(3, tau=2.0)])
def test_every_block_is_a_normalised_density_at_every_stage_of_annealing(block):
    block = block.double()
    for progress in (0.0, 0.5, 1.0):
        distribution = block.distribution(progress)
        assert distribution.event_shape == (block.dim,)
        if block.dim == 1:
            with torch.no_grad():
                total = integrate.quad(lambda z: math.exp(float(distribution.log_prob(
                    torch.tensor([z], dtype=torch.float64)))), -15, 15, limit=400, points=np.linspace(-2, 2, 21))[0]
            assert total == pytest.approx(1.0, abs=1e-5)
        elif block.dim == 2:
            step = 0.02
            axis = torch.arange(-12, 12, step, dtype=torch.float64)
            grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1)
            assert float(distribution.log_prob(grid).exp().sum() * step ** 2) == pytest.approx(1.0, abs=2e-4)
        else:  # 3-D: the radial form was checked above; here the block's samples are finite and scored
            assert torch.isfinite(distribution.log_prob(distribution.sample((10,)))).all()


def test_annealing_sharpens_each_topology():
    pyro.set_rng_seed(2)
    loop, points, segment = Loop(radius=2.0, start_width=2.0, end_width=0.2), Points(3), Segment()
    radii = [loop.distribution(p).sample((4000,)).norm(dim=-1) for p in (0.0, 0.5, 1.0)]
    spreads = [float(r.std() / r.mean()) for r in radii]
    assert spreads[0] > spreads[1] > spreads[2] and spreads[2] < 0.11  # a thinner and thinner ring
    assert float(radii[2].mean()) == pytest.approx(2.0, abs=0.05)  # on the circle of radius 2
    spread = []
    for progress in (0.0, 1.0):
        z = points.distribution(progress).sample((4000,))[:, 0]
        spread.append(float((z[:, None] - points.centres.detach()).abs().min(-1).values.mean()))
    assert spread[1] < spread[0] / 5
    outside = [float((segment.distribution(p).sample((4000,)).abs() > math.sqrt(3)).float().mean()) for p in (0, 1)]
    assert outside[1] < 0.02 < outside[0]


def test_a_product_of_blocks_is_the_sum_of_their_log_densities():
    pyro.set_rng_seed(3)
    prior = ProductPrior(parse_blocks("points(3), segment, loop, loop, segment, segment"))
    assert prior.dim == 8 and [b.name for b, _ in prior.slices()][:3] == ["points(3)", "segment", "loop"]
    distribution = prior.distribution(0.3, batch_shape=(5,))
    z = distribution.sample()
    assert z.shape == (5, 8) and distribution.event_shape == (8,)
    expected = sum(block.distribution(0.3).log_prob(z[:, where]) for block, where in prior.slices())
    assert torch.allclose(distribution.log_prob(z), expected)
    assert distribution.expand((2, 5)).log_prob(torch.zeros(2, 5, 8)).shape == (2, 5)
    assert not distribution.has_rsample
    smooth = ProductPrior([Segment(), Normal(2)]).distribution(1.0, (4,))
    assert smooth.has_rsample and smooth.rsample().shape == (4, 3)
    centres = prior.blocks[0].centres
    distribution.log_prob(z).sum().backward()
    assert centres.grad is not None and centres.grad.abs().sum() > 0  # the point centres are learnable


@pytest.mark.parametrize("text", ["points", "circle", "segment(2)", "tilted", "points(0)"])
def test_bad_block_names_are_named(text):
    with pytest.raises(ValueError, match=r"points\(k\), segment, loop|k ≥ 1"):
        build_block(text)


def test_empty_products_are_refused():
    with pytest.raises(ValueError, match="no blocks"):
        parse_blocks(" , ")
    with pytest.raises(ValueError, match="at least one block"):
        ProductPrior([])
