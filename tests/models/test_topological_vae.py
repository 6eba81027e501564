"""The topology-aware VAE: its blocks shape the codes (on most seeds a loop block's codes settle on a ring holding
the angle, where a Gaussian prior's do not), annealing runs from flat to sharp with the trainer's step, and bad
blocks are named."""
import numpy as np
import pytest
import torch

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.data import ArrayDataset
from pyrodisent.evaluation.scoring import encode
from pyrodisent.metrics.topology import topology_scores
from pyrodisent.registry import MODELS
from pyrodisent.training.trainer import Trainer

COMMON = dict(observation_shape=(8,), num_data=1500, likelihood="gaussian", likelihood_args=dict(scale=0.05),
              encoder_args=dict(hidden=(32,)), decoder_args=dict(hidden=(32,)), beta=4.0)


def ring_data(seed, n=1500):
    """8-D observations of an angle (a loop) and a scalar (a segment), mixed by a random tanh layer."""
    rng = np.random.default_rng(seed)
    angle, position = rng.uniform(0, 2 * np.pi, n), rng.uniform(-1, 1, n)
    mixing = rng.normal(size=(3, 8))
    x = np.tanh(np.column_stack([np.cos(angle), np.sin(angle), position]) @ mixing) + 0.02 * rng.normal(size=(n, 8))
    return ArrayDataset(x.astype(np.float32)), np.column_stack([angle, position])


def ring_fit(seed, name, **arguments):
    """(the pair of latents that best recovers the angle, its circular correlation ρ_T, the sd / mean of the
    codes' radius in that pair)."""
    data, factors = ring_data(seed)
    model = MODELS.build(name, seed=seed, **COMMON, **arguments)
    Trainer(model, data, epochs=15, batch_size=50, lr=3e-3, seed=seed, device="cpu", progress=False).fit()
    codes = encode(model, data)
    scores, matches = topology_scores(factors, codes, ["loop", "segment"], ["angle", "position"])
    i, j = matches[0]["dims"]
    radius = np.hypot(codes[:, i] - codes[:, i].mean(), codes[:, j] - codes[:, j].mean())
    return (i, j), scores["angle_circular_corr"], radius.std() / radius.mean()


def test_a_loop_block_takes_the_angle_as_a_ring_on_most_seeds():
    """Measured (seeds 0, 1, 2): the loop block (latents 0, 1) holds the angle on seeds 1 and 2 (ρ_T 0.967, 0.928;
    radius spread 0.091, 0.141), against the β-VAE's best pair ρ_T 0.789, 0.732 and spread 0.249, 0.319. On seed 0
    the angle winds round latents (1, 2) — the loop's second coordinate and the segment — for both priors
    (ρ_T 0.845 and 0.842; spread 0.302 and 0.262): a product prior does not decide which block a factor takes."""
    loop = [ring_fit(seed, "topological_vae", blocks="loop, segment", anneal_steps=300) for seed in range(3)]
    gaussian = [ring_fit(seed, "beta_vae", latent_dim=3) for seed in range(3)]
    in_block = [pair == (0, 1) and spread < g_spread - 0.08
                for (pair, _, spread), (_, _, g_spread) in zip(loop, gaussian)]
    assert sum(in_block) >= 2, (loop, gaussian)
    assert np.mean([rho for _, rho, _ in loop]) > np.mean([rho for _, rho, _ in gaussian]) + 0.08, (loop, gaussian)


def test_a_circle_block_holds_the_angle_on_the_unit_circle():
    data, factors = ring_data(0)
    model = MODELS.build("topological_vae", seed=0, **COMMON, blocks="circle, segment")
    batch = data.batch(torch.arange(len(data)))

    def concentration():  # the mean ‖m‖ of the projected normals: 0 is the prior, uniform on the circle
        with torch.no_grad():
            return float(model.posterior_params(batch)[0][:, :2].norm(dim=-1).mean())

    before = concentration()
    Trainer(model, data, epochs=15, batch_size=50, lr=3e-3, seed=0, device="cpu", progress=False).fit()
    codes = encode(model, data)
    scores, matches = topology_scores(factors, codes, ["loop", "segment"], ["angle", "position"])
    assert np.allclose(np.hypot(codes[:, 0], codes[:, 1]), 1.0, atol=1e-5)  # the block's codes are on the circle
    # measured: circular correlation ρ_T 0.989 in the circle block (an untrained encoder's circle: 0.673),
    # concentration 0.24 → 5.9
    assert matches[0]["dims"] == (0, 1) and scores["angle_circular_corr"] > 0.95
    assert concentration() > 10 * before
    z = model.posterior(data.batch(torch.arange(4))).rsample()
    assert torch.allclose(z[:, :2].norm(dim=-1), torch.ones(4))
    with pytest.raises(ValueError, match="circle, whose posterior is a projected normal"):
        MODELS.build("topological_vae", **{**COMMON, "num_data": 10}, blocks="circle", posterior_covariance="full")


def test_annealing_follows_the_trainers_step():
    model = MODELS.build("topological_vae", seed=0, **{**COMMON, "num_data": 10}, blocks="loop, segment",
                         anneal_steps=100)
    widths = []
    for step in (0, 50, 100, 400):
        model.set_training_step(step)
        widths.append(float(model.prior(type("B", (), {"size": 1})()).parts[0].scale.flatten()[0]))
    assert model.latent_dim == 3 and widths[0] > widths[1] > widths[2] == widths[3]
    assert widths[0] == pytest.approx(2.0) and widths[2] == pytest.approx(0.2)


def test_the_tilted_vae_and_bad_blocks():
    from pyrodisent.distributions.topological import TiltedNormal

    tilted = MODELS.build("tilted_vae", seed=0, **{**COMMON, "num_data": 10}, latent_dim=4, tau=3.0)
    z = torch.randn(2, 4)
    expected = TiltedNormal(torch.tensor(3.0), 4).log_prob(z)
    assert torch.allclose(tilted.prior(type("B", (), {"size": 2})()).log_prob(z), expected)
    with pytest.raises(ValueError, match=r"latent_dim 5 does not match the blocks 'loop, segment', which take 3"):
        MODELS.build("topological_vae", **{**COMMON, "num_data": 10}, blocks="loop, segment", latent_dim=5)
    with pytest.raises(ValueError, match=r"unknown block 'ring'"):
        MODELS.build("topological_vae", **{**COMMON, "num_data": 10}, blocks="loop, ring")
