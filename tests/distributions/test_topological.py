"""Topology priors: every density integrates to one, samples follow the density, annealing sharpens, and the
product of blocks is the sum of its blocks' log densities."""
import math

import numpy as np
import pyro
import pytest
import torch
from scipy import integrate, stats

from pyrodisent.distributions.topological import (Circle, GaussianPoints, Loop, Normal, Points, ProductPrior,
                                                  Segment, SmoothedSegment, Tilted, TiltedNormal, build_block,
                                                  log_radial_integral, parse_blocks)

DIMS, TAUS = (1, 2, 3, 10), (0.0, 1.0, 5.0, 20.0, 50.0)


# The references below are written out here (numpy, scipy), not taken from the module under test.
def reference_mode(tau, dim):
    """The maximiser of f(r) = (d − 1) log r + τr − r²/2 over r ≥ 0."""
    return (tau + math.sqrt(tau ** 2 + 4 * (dim - 1))) / 2


def reference_log_radial_density(r, tau, dim):
    r = np.asarray(r, dtype=np.float64)
    return (dim - 1) * np.log(np.maximum(r, 1e-300)) + tau * r - r ** 2 / 2


def quad_log_radial_integral(tau, dim, power=0):
    """log ∫_0^∞ r^{d−1+power} e^{τr − r²/2} dr by adaptive quadrature, scaled by e^{−f(r*)} at the mode."""
    mode = reference_mode(tau, dim)
    peak = float(reference_log_radial_density(mode, tau, dim))
    value, _ = integrate.quad(lambda r: r ** power * math.exp(float(reference_log_radial_density(r, tau, dim)) - peak),
                              0, mode + 60, points=[mode], epsabs=0, epsrel=1e-12, limit=500)
    return peak + math.log(value)


def reference_log_normaliser(tau, dim):
    """log Z = log(2π^{d/2}/Γ(d/2)) + log ∫ r^{d−1} e^{τr − r²/2} dr."""
    return math.log(2) + dim / 2 * math.log(math.pi) - math.lgamma(dim / 2) + quad_log_radial_integral(tau, dim)


@pytest.mark.parametrize("dim", DIMS)
def test_tilted_normaliser_matches_numerical_integration(dim):
    for tau in TAUS:
        tau_tensor = torch.tensor(tau, dtype=torch.float64)
        radial = float(log_radial_integral(tau_tensor, dim))
        assert abs(radial - quad_log_radial_integral(tau, dim)) < 1e-6, (dim, tau)
        # Z / Z_quad − 1 = e^{Δ log Z} − 1: the normaliser within 1e-6 relative
        log_normaliser = float(TiltedNormal(tau_tensor, dim).log_normalizer)
        assert abs(math.expm1(log_normaliser - reference_log_normaliser(tau, dim))) < 1e-6, (dim, tau)


@pytest.mark.parametrize("dim", DIMS)
def test_tilted_log_density_is_finite_from_the_origin_to_far_tails_in_both_precisions(dim):
    for tau in TAUS:
        for dtype in (torch.float64, torch.float32):
            radii = torch.tensor([0.0, 1e-20, 1.0, reference_mode(tau, dim), 100.0, 1e3], dtype=dtype)
            z = (radii[:, None] * torch.ones(dim, dtype=dtype) / math.sqrt(dim)).requires_grad_()
            distribution = TiltedNormal(torch.tensor(tau, dtype=dtype), dim)
            log_density = distribution.log_prob(z)
            log_density.sum().backward()
            assert torch.isfinite(log_density).all() and torch.isfinite(z.grad).all(), (dim, tau, dtype)
            radii, log_normaliser = radii.double(), reference_log_normaliser(tau, dim)
            expected = tau * radii - radii ** 2 / 2 - log_normaliser
            # relative to the size of the terms that cancel (τr ≈ 2500 at τ = 50 in float32: ~1e-4 absolute)
            magnitude = 1 + tau * radii + radii ** 2 / 2 + abs(log_normaliser)
            tolerance = (1e-12 if dtype == torch.float64 else 1e-6) * magnitude
            assert ((log_density.double() - expected).abs() <= tolerance).all(), (dim, tau, dtype)


@pytest.mark.parametrize("dim, tau", [(1, 0.0), (1, 4.0), (2, 0.5), (10, 3.0), (10, 50.0)])
def test_tilted_normaliser_gradient_is_the_mean_radius(dim, tau):
    """∂ log Z/∂τ = E[‖z‖], the mean radius, by quadrature."""
    tau_tensor = torch.tensor(tau, dtype=torch.float64, requires_grad=True)
    TiltedNormal(tau_tensor, dim).log_normalizer.backward()
    mean_radius = math.exp(quad_log_radial_integral(tau, dim, power=1) - quad_log_radial_integral(tau, dim))
    assert float(tau_tensor.grad) == pytest.approx(mean_radius, rel=1e-8)


@pytest.mark.parametrize("dim, tau", [(1, 0.0), (1, 3.0), (1, 50.0), (2, 0.0), (2, 2.5)])
def test_tilted_density_integrates_to_one(dim, tau):
    distribution = TiltedNormal(torch.tensor(tau, dtype=torch.float64), dim)
    if dim == 1:
        density = lambda z: math.exp(float(distribution.log_prob(torch.tensor([z], dtype=torch.float64))))  # noqa: E731
        total, _ = integrate.quad(density, -tau - 12, tau + 12, points=[-tau, tau], limit=200)
    else:
        step = 0.02
        axis = torch.arange(-tau - 9, tau + 9, step, dtype=torch.float64)
        grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1)
        total = float(distribution.log_prob(grid).exp().sum() * step ** 2)
    assert total == pytest.approx(1.0, abs=2e-4)


def radial_cdf(dim, tau):
    """The CDF of ‖z‖, by trapezoid integration of r^{d−1} e^{τr − r²/2} on a fine grid."""
    mode = reference_mode(tau, dim)
    r = np.linspace(1e-9, mode + 12, 40001)
    log_density = reference_log_radial_density(r, tau, dim)
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
        else:  # 3-D: E_q[p/q] = 1 under a wide Gaussian q
            assert importance_weight_mean(distribution, block.dim) == pytest.approx(1.0, abs=0.03)


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


def on_circle(angle):
    return torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)


def test_a_circle_is_uniform_on_the_unit_circle_and_its_posterior_a_density_on_it():
    circle = Circle().double()
    prior = circle.distribution(0.0)
    angles = torch.linspace(-math.pi, math.pi, 20_001, dtype=torch.float64)[:-1]
    step = 2 * math.pi / len(angles)
    assert torch.allclose(prior.log_prob(on_circle(angles)), torch.full_like(angles, -math.log(2 * math.pi)))
    loc = torch.tensor([[0.0, 0.0], [2.0, -1.0], [-8.0, 3.0]], dtype=torch.float64)
    posterior = circle.posterior(loc, torch.ones_like(loc))
    density = posterior.log_prob(on_circle(angles)[:, None]).exp()  # (angles, 3)
    assert torch.allclose(density.sum(0) * step, torch.ones(3, dtype=torch.float64), atol=1e-8)
    # its mean direction is the encoder's location's; the more concentrated, the more mass near it
    assert torch.allclose(posterior.mean[1:], loc[1:] / loc[1:].norm(dim=-1, keepdim=True))
    mass_near = [float(density[(on_circle(angles) @ (loc[i] / loc[i].norm())) > math.cos(0.3), i].sum() * step)
                 for i in (1, 2)]
    assert mass_near[1] > mass_near[0] > 0.3 / math.pi
    pyro.set_rng_seed(4)
    z = posterior.rsample((1000,))
    assert torch.allclose(z.norm(dim=-1), torch.ones(1000, 3, dtype=torch.float64))
    # an unused block (location 0) costs nothing: q = p, so the Monte Carlo KL is exactly 0
    assert torch.allclose(posterior.log_prob(z)[:, 0] - prior.log_prob(z[:, 0]), torch.zeros(1000, dtype=torch.float64))


def test_a_product_posterior_takes_each_blocks_family():
    pyro.set_rng_seed(6)
    prior = ProductPrior(parse_blocks("points(3), circle, segment"))
    assert not prior.gaussian_posterior and ProductPrior(parse_blocks("loop, segment")).gaussian_posterior
    loc = torch.randn(5, 4, requires_grad=True)
    scale = torch.rand(5, 4) + 0.5
    posterior = prior.posterior(loc, scale)
    z = posterior.rsample()
    assert z.shape == (5, 4) and torch.allclose(z[:, 1:3].norm(dim=-1), torch.ones(5))
    gaussian = torch.distributions.Normal(loc[:, [0, 3]], scale[:, [0, 3]]).log_prob(z[:, [0, 3]]).sum(-1)
    circular = Circle().posterior(loc[:, 1:3], scale[:, 1:3]).log_prob(z[:, 1:3])
    assert torch.allclose(posterior.log_prob(z), gaussian + circular)
    assert torch.allclose(posterior.mean[:, [0, 3]], loc[:, [0, 3]])
    z.sum().backward()
    assert loc.grad[:, 1:3].abs().sum() > 0  # reparameterised through the projection
    with pytest.raises(ValueError, match="take 4 dimensions"):
        prior.posterior(loc[:, :3], scale[:, :3])


def test_a_loop_takes_its_radius_from_its_name():
    """``loop(r)``: the ring of radius r, as thin relative to its radius as the default ring when sharp."""
    pyro.set_rng_seed(4)
    small, default = build_block("loop(0.551)"), build_block("loop")
    assert (small.radius, small.name, default.radius, default.name) == (0.551, "loop(0.551)", 2.0, "loop")
    radii = small.distribution(1.0).sample((4000,)).norm(dim=-1)
    assert float(radii.mean()) == pytest.approx(0.551, rel=0.02)
    assert float(radii.std() / radii.mean()) < 0.11
    assert build_block(" loop ( 1 ) ").radius == 1.0
    direct = Loop(radius=0.551)  # the block text and the constructor build the same ring
    assert (direct.name, direct.end_width) == (small.name, small.end_width) == ("loop(0.551)", pytest.approx(0.0551))
    assert Loop().end_width == 0.2 and Loop(radius=1.0, end_width=0.5).end_width == 0.5
    with pytest.raises(ValueError, match=r"radius r > 0"):
        build_block("loop(0)")


@pytest.mark.parametrize("text", ["points", "circle(2)", "segment(2)", "tilted", "points(0)", "points(2.5)",
                                  "loop(0.)", "normal(.5)"])
def test_bad_block_names_are_named(text):
    with pytest.raises(ValueError, match=r"points\(k\), segment, loop|k ≥ 1"):
        build_block(text)


def test_empty_products_are_refused():
    with pytest.raises(ValueError, match="no blocks"):
        parse_blocks(" , ")
    with pytest.raises(ValueError, match="at least one block"):
        ProductPrior([])


def importance_weight_mean(distribution, dim, num_samples=200_000, seed=5):
    """(1/N) Σ p(z_n)/q(z_n), z_n ~ q = N(0, s² I) with s > 1 (so p/q is bounded), wide enough to cover the
    shell where p lives: an unbiased estimate of ∫ p = 1."""
    tau = float(getattr(distribution, "tau", torch.tensor(0.0)).max())
    scale = 1.2 * max(1.0, (reference_mode(tau, dim) + 2) / math.sqrt(dim))
    generator = torch.Generator().manual_seed(seed)
    z = scale * torch.randn(num_samples, dim, generator=generator, dtype=torch.float64)
    log_q = -(z ** 2).sum(-1) / (2 * scale ** 2) - dim * math.log(scale) - dim / 2 * math.log(2 * math.pi)
    with torch.no_grad():
        return float((distribution.log_prob(z) - log_q).exp().mean())


@pytest.mark.parametrize("dim, tau", [(3, 0.0), (3, 5.0), (10, 2.0), (10, 5.0)])
def test_tilted_density_integrates_to_one_by_importance_sampling(dim, tau):
    distribution = TiltedNormal(torch.tensor(tau, dtype=torch.float64), dim)
    assert importance_weight_mean(distribution, dim) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("dim, tau", [(3, 20.0), (10, 50.0)])
def test_mean_log_density_of_samples_is_minus_the_entropy_by_quadrature(dim, tau):
    """E_p[log p(z)] = E[τr − r²/2] − log Z, the expectation by quadrature of the radial density."""
    pyro.set_rng_seed(6)
    distribution = TiltedNormal(torch.tensor(tau, dtype=torch.float64), dim)
    log_density = distribution.log_prob(distribution.sample((4000,)))
    mode = reference_mode(tau, dim)
    log_radial = quad_log_radial_integral(tau, dim)
    peak = float(reference_log_radial_density(mode, tau, dim))
    weight = lambda r: math.exp(float(reference_log_radial_density(r, tau, dim)) - peak)  # noqa: E731
    energy = integrate.quad(lambda r: (tau * r - r ** 2 / 2) * weight(r), 0, mode + 60, points=[mode], limit=500)[0]
    expected = energy * math.exp(peak - log_radial) - reference_log_normaliser(tau, dim)
    standard_error = float(log_density.std()) / math.sqrt(len(log_density))
    assert float(log_density.mean()) == pytest.approx(expected, abs=4 * standard_error)
    assert standard_error < 0.05  # the check is sharp: an error in log Z of 0.2 would be caught


def test_validation_follows_torch():
    with pytest.raises(ValueError, match="tau"):
        TiltedNormal(torch.tensor(-1.0), 2, validate_args=True)
    tilted = TiltedNormal(torch.tensor(1.0), 2, validate_args=True)
    with pytest.raises(ValueError):
        tilted.log_prob(torch.tensor([float("nan"), 0.0]))
    with pytest.raises(ValueError):
        tilted.log_prob(torch.zeros(3))  # event shape (2,)
    with pytest.raises(ValueError, match="low < high"):
        SmoothedSegment(1.0, 0.0, 0.1, validate_args=True)
    assert SmoothedSegment(1.0, 0.0, 0.1, validate_args=False).batch_shape == ()  # unchecked, as torch's Uniform
    with pytest.raises(ValueError, match="width"):
        SmoothedSegment(0.0, 1.0, -0.1, validate_args=True)
    with pytest.raises(ValueError, match="width"):
        GaussianPoints(torch.tensor([0.0, 1.0]), 0.0, validate_args=True)
    with pytest.raises(ValueError):
        GaussianPoints(torch.tensor([0.0, 1.0]), 0.1, validate_args=True).log_prob(torch.tensor(float("nan")))
    product = ProductPrior([Segment(), Loop()]).distribution(1.0)
    with pytest.raises(ValueError, match=r"sizes \[1, 2\].*3 entries"):
        product.log_prob(torch.zeros(4))


def test_segment_tails_follow_the_gaussian_tail_asymptotics():
    """Far left of [a, b], p(z) ≈ φ(x)/(−x (b − a)) with x = (z − a)/w (the Mills ratio, to O(1/x²))."""
    low, high, width = -1.0, 2.0, 0.05
    segment = SmoothedSegment(torch.tensor(low, dtype=torch.float64), high, width)
    for x in (-200.0, -1e3, -2e4):
        z = torch.tensor(low + x * width, dtype=torch.float64, requires_grad=True)
        log_density = segment.log_prob(z)
        log_density.backward()
        log_density = log_density.detach()
        asymptotic = -x ** 2 / 2 - math.log(-x) - 0.5 * math.log(2 * math.pi) - math.log(high - low)
        assert float(log_density) == pytest.approx(asymptotic, abs=2 / x ** 2)
        assert float(z.grad) == pytest.approx(-x / width, rel=1e-3)  # d/dz of −x²/2
        mirrored = segment.log_prob(torch.tensor(high - x * width, dtype=torch.float64))  # symmetric
        assert float(mirrored) == pytest.approx(float(log_density), rel=1e-12)


def test_segment_rsample_differentiates_every_parameter():
    pyro.set_rng_seed(7)
    low, high, width = (torch.tensor(v, requires_grad=True) for v in (-1.0, 2.0, 0.3))
    samples = SmoothedSegment(low, high, width).rsample((20_000,))
    samples.sum().backward()
    # z = a + (b − a) u + w ε: ∂Σz/∂a = Σ(1 − u), ∂Σz/∂b = Σ u, ∂Σz/∂w = Σ ε
    assert float(low.grad) / 20_000 == pytest.approx(0.5, abs=0.02)
    assert float(high.grad) / 20_000 == pytest.approx(0.5, abs=0.02)
    assert float(low.grad + high.grad) == pytest.approx(20_000, rel=1e-5)
    assert abs(float(width.grad)) / 20_000 < 0.03


def test_the_public_names_are_exported():
    import pyrodisent.distributions as distributions

    for name in ("TiltedNormal", "SmoothedSegment", "GaussianPoints", "TopologyBlock", "Points", "Segment", "Loop",
                 "Tilted", "ProductPrior", "BlockProductDistribution", "build_block", "parse_blocks",
                 "log_radial_integral"):
        assert name in distributions.__all__ and hasattr(distributions, name), name
