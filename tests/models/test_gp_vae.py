"""GP-VAE: the Pyro program, the observed-pixel likelihood, and the zoo's train/evaluate/diagnose check.

The zoo test (tests/test_zoo.py) trains every model on (N, D) vectors; the GP-VAE needs sequences
(N, T, *frame), so it is excluded there and gets the same check here on tiny sequences.
"""
import numpy as np
import pyro
import pytest
import torch
from pyro import poutine
from torch.distributions import kl_divergence

import pyrodisent.model
import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.evaluation import diagnostics
from pyrodisent.data import SpriteSequences
from pyrodisent.distributions import BandedPrecisionNormal
from pyrodisent.evaluation.scoring import encode, evidence_lower_bound, importance_weighted_bounds
from pyrodisent.evaluation.imputation import impute
from pyrodisent.registry import MODELS
from pyrodisent.training.trainer import Trainer

T, SIDE, K = 5, 16, 3


def tiny_sequences(num=12):
    return SpriteSequences(num_frames=T, image_size=SIDE, seed=0).sample(num)


def build(num_data, **kwargs):
    return MODELS.build("gp_vae", observation_shape=(T, 1, SIDE, SIDE), latent_dim=K, num_data=num_data,
                        encoder_args=dict(hidden=(16,)), decoder_args=dict(hidden=(16,)), features=8, **kwargs)


def test_model_and_guide_are_pyro_programs_with_a_gp_prior_and_a_banded_guide():
    data = tiny_sequences().sequences()
    model = build(len(data), kernel="matern32")
    batch = data.batch(torch.arange(4))
    guide_trace = poutine.trace(model.guide).get_trace(batch)
    model_trace = poutine.trace(poutine.replay(model.model, trace=guide_trace)).get_trace(batch)
    prior, q = model_trace.nodes["z"]["fn"], guide_trace.nodes["z"]["fn"]
    assert isinstance(prior.base_dist, pyro.distributions.MultivariateNormal)
    assert isinstance(q.base_dist, BandedPrecisionNormal)
    assert prior.batch_shape == q.batch_shape == (4,) and prior.event_shape == q.event_shape == (K, T)
    torch.testing.assert_close(prior.base_dist.covariance_matrix[0], model.gaussian_process.covariance())
    assert model_trace.nodes["x"]["fn"].event_shape == (T, 1, SIDE, SIDE)
    assert model_trace.nodes["data"]["fn"].size == len(data)  # the plate is sized to the dataset
    kl = kl_divergence(q, prior)
    assert kl.shape == (4,)
    # against a Monte Carlo average of log q − log p over draws of the banded guide
    with torch.no_grad():
        draws = q.sample((20_000,))
        log_ratio = q.log_prob(draws) - prior.log_prob(draws)
    standard_error = log_ratio.std(0) / 20_000 ** 0.5
    assert torch.all((kl.detach() - log_ratio.mean(0)).abs() < 5 * standard_error + 1e-3), (kl, log_ratio.mean(0))


def test_the_likelihood_counts_observed_pixels_only():
    sequences = tiny_sequences()
    data = sequences.sequences()
    model = build(len(data))
    batch = data.batch(torch.arange(3))
    z = model.posterior(batch).sample()
    log_p = model.observation_distribution(z, batch).log_prob(batch.x)
    changed = batch.x.clone()
    changed[~batch["observed_mask"]] = 1.0  # any value where the pixel is missing
    torch.testing.assert_close(model.observation_distribution(z, batch).log_prob(changed), log_p)
    unmasked = type(batch)(x=batch.x, index=batch.index)
    assert not torch.allclose(model.observation_distribution(z, unmasked).log_prob(changed), log_p)


def test_gp_vae_trains_evaluates_imputes_and_diagnoses(tmp_path):
    sequences = tiny_sequences(16)
    data = sequences.sequences()
    model = build(len(data), learn_kernel=True)
    before = [p.detach().clone() for p in model.parameters()]
    lengthscale = model.gaussian_process.kernel.base_kernel.raw_lengthscale
    lengthscale_before = lengthscale.detach().clone()
    result = Trainer(model, data, epochs=2, batch_size=8, device="cpu", progress=False, seed=0).fit()
    assert len(result.history) == 2 and np.isfinite(result.final_loss)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert not torch.equal(lengthscale_before, lengthscale.detach())  # the kernel is trained with the rest
    codes = encode(model, data)
    assert codes.shape == (len(data), K, T)
    # one code per sequence, in the data's order: the sequences reversed give the codes reversed
    reversed_codes = encode(model, data.subset(np.arange(len(data))[::-1].copy()))
    np.testing.assert_allclose(reversed_codes, codes[::-1], rtol=1e-5, atol=1e-6)
    # the ELBO by two routes: analytic KL + reconstruction draws, and the mean log importance weight
    elbo, iwae = importance_weighted_bounds(model, data, num_samples=200, seed=0)
    assert evidence_lower_bound(model, data, num_particles=50, seed=0) == pytest.approx(elbo, abs=0.02 * abs(elbo) + 0.05)
    # IWAE is the log-mean-exp of the model's weights (not their log-sum-exp, not their mean)
    pyro.set_rng_seed(0)
    model.eval()
    with torch.no_grad():
        log_w = model.log_importance_weights(data.batch(torch.arange(len(data))), 200)
    assert iwae == pytest.approx(float((torch.logsumexp(log_w, 0) - np.log(200)).mean()), abs=1e-3)
    imputed = impute(model, data)
    observed = sequences.observed_mask
    np.testing.assert_array_equal(imputed[observed], sequences.masked[observed])
    missing = ~observed
    assert not np.allclose(imputed[missing], sequences.masked[missing])  # the missing pixels are filled in
    summary = diagnostics.diagnose(model, data, tmp_path, num_draws=5, num_obs=4, num_samples=30, khat_num_obs=4)
    assert summary == diagnostics.khat_summary(diagnostics.psis_khat(model, data, num_samples=30, num_obs=4, seed=0))
    assert (tmp_path / "inference_data.nc").exists()


def test_checkpoint_holds_the_kernel_and_the_model_moves_as_a_whole():
    model = build(4, learn_kernel=True)
    assert any("gaussian_process.kernel" in key for key in model.state_dict())
    model = model.double()
    assert all(p.dtype == torch.float64 for p in model.gaussian_process.kernel.parameters())
    data = tiny_sequences(4).sequences()
    batch = data.batch(torch.arange(2))
    batch.x = batch.x.double()
    assert model.prior(batch).base_dist.scale_tril.dtype == torch.float64


def test_gp_vae_refuses_vectors_and_auxiliary_variables():
    with pytest.raises(ValueError, match="sequences"):
        MODELS.build("gp_vae", observation_shape=(6,), latent_dim=2, num_data=4)
    with pytest.raises(ValueError, match="no auxiliary variable"):
        build(4, aux_dim=3)


def test_log_importance_weights_scored_in_groups_equal_one_pass(monkeypatch):
    """Sequences (latent paths of event shape (K, T)) scored in groups of rows give the weights of one pass."""
    data = tiny_sequences(6).sequences()
    model = build(len(data)).eval()
    batch = data.batch(torch.arange(3))
    weights = []
    for rows in (10 ** 9, 6, 1):
        monkeypatch.setattr(pyrodisent.model, "MODEL_ROWS_PER_PASS", rows)
        pyro.set_rng_seed(0)
        with torch.no_grad():
            weights.append(model.log_importance_weights(batch, 5))
    assert weights[0].shape == (5, 3)
    for grouped in weights[1:]:
        torch.testing.assert_close(grouped, weights[0], rtol=1e-6, atol=1e-4)
