"""Ada-GVAE and Ada-ML-VAE as Pyro programs: the guide's averaged posteriors, the model's two likelihoods."""
import pyro
import pytest
import torch
from pyro import poutine

from pyrodisent.data.batch import Batch
from pyrodisent.distributions.shared_posteriors import arithmetic_mean, product_of_experts
from pyrodisent.registry import MODELS

D, K, N = 4, 3, 10


def build(name):
    return MODELS.build(name, observation_shape=(D,), latent_dim=K, num_data=N, encoder_args=dict(hidden=(8,)),
                        decoder_args=dict(hidden=(8,)), seed=0)


def pair_batch():
    x = torch.randn(5, D, generator=torch.Generator().manual_seed(0))
    x_pair = x.clone()
    x_pair[:, 0] += 3.0
    return Batch(x=x, index=torch.arange(5), extras={"x_pair": x_pair})


@pytest.mark.parametrize("name, average", [("ada_gvae", arithmetic_mean), ("ada_mlvae", product_of_experts)])
def test_guide_samples_both_latents_from_the_averaged_posteriors(name, average):
    model, batch = build(name), pair_batch()
    with torch.no_grad():
        loc_1, scale_1 = model.posterior_params(batch)
        loc_2, scale_2 = model.posterior_params(Batch(x=batch["x_pair"], index=batch.index))
        trace = poutine.trace(model.guide).get_trace(batch)
    kl = torch.distributions.kl_divergence(torch.distributions.Normal(loc_1, scale_1),
                                           torch.distributions.Normal(loc_2, scale_2))
    shared = kl < 0.5 * (kl.max(-1, keepdim=True).values + kl.min(-1, keepdim=True).values)
    loc, scale = average(loc_1, scale_1, loc_2, scale_2)
    q_1, q_2 = trace.nodes["z"]["fn"].base_dist, trace.nodes["z_pair"]["fn"].base_dist
    torch.testing.assert_close(q_1.loc, torch.where(shared, loc, loc_1))
    torch.testing.assert_close(q_2.scale, torch.where(shared, scale, scale_2))
    torch.testing.assert_close(q_1.loc[shared], q_2.loc[shared])
    assert torch.equal(model.changed_dimensions(batch), ~shared)


def test_model_scores_both_observations_under_standard_normal_priors_with_beta():
    model = MODELS.build("ada_gvae", observation_shape=(D,), latent_dim=K, num_data=N, beta=3.0, seed=0,
                         encoder_args=dict(hidden=(8,)), decoder_args=dict(hidden=(8,)))
    batch = pair_batch()
    guide = poutine.trace(model.guide).get_trace(batch)
    trace = poutine.trace(poutine.replay(model.model, trace=guide)).get_trace(batch)
    for site in ("z", "z_pair"):
        prior = trace.nodes[site]["fn"].base_dist
        assert torch.equal(prior.loc, torch.zeros(5, K)) and torch.equal(prior.scale, torch.ones(5, K))
        assert trace.nodes[site]["scale"] == pytest.approx(3.0 * N / 5)
    assert torch.equal(trace.nodes["x_pair"]["value"], batch["x_pair"])
    assert trace.nodes["x"]["scale"] == pytest.approx(N / 5)


def test_a_batch_without_partners_is_the_single_image_vae():
    model = build("ada_gvae")
    batch = Batch(x=torch.randn(5, D), index=torch.arange(5))
    trace = poutine.trace(model.guide).get_trace(batch)
    assert "z_pair" not in trace.nodes and trace.nodes["z"]["value"].shape == (5, K)


def test_ada_gvae_finds_the_changed_dimension_on_synthetic_pairs():
    """Pairs of 3 independent sources mixed linearly; each pair changes one source. After a short training the
    dimensions above the threshold follow the changed source: the precision of the detection is high."""
    from pyrodisent.data.arrays import ArrayDataset
    from pyrodisent.metrics.changed_dimensions import changed_dimension_scores, latent_factor_matching
    from pyrodisent.training.trainer import Trainer

    generator = torch.Generator().manual_seed(0)
    n, sources = 1000, 3
    mixing = torch.randn(sources, 8, generator=generator)
    first = torch.randn(n, sources, generator=generator)
    changed = torch.nn.functional.one_hot(torch.randint(0, sources, (n,), generator=generator), sources).bool()
    second = torch.where(changed, torch.randn(n, sources, generator=generator), first)
    data = ArrayDataset(first @ mixing, extras={"x_pair": second @ mixing})
    pyro.set_rng_seed(0)
    model = MODELS.build("ada_gvae", observation_shape=(8,), latent_dim=sources, num_data=n, seed=0,
                         likelihood_args=dict(scale=0.1), encoder_args=dict(hidden=(32,)),
                         decoder_args=dict(hidden=(32,)))
    Trainer(model, data, epochs=10, batch_size=100, lr=5e-3, device="cpu", progress=False, seed=0).fit()
    batch = data.batch(torch.arange(n))
    codes = model.encode(batch).numpy()
    discrete_sources = torch.bucketize(first, torch.tensor([-0.5, 0.5])).numpy()
    matching = latent_factor_matching(codes, discrete_sources)
    scores = changed_dimension_scores(model.changed_dimensions(batch).numpy(), changed.numpy(), matching)
    assert scores["changed_dims_precision"] > 0.7 and scores["changed_dims_recall"] > 0.7, scores
