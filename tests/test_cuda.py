"""Every model on a CUDA device: it trains there, keeps its parameters there, and computes what the CPU does.

Skipped where no CUDA device is present (CI has none); ``scripts/gpu_check.sh`` runs this file on a GPU
machine. A model whose code builds a tensor on the CPU (``torch.zeros(n)`` without ``device=``) fails here
with a device mismatch, which the CPU suite cannot see.
"""
import copy

import numpy as np
import pyro
import pytest
import torch

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.data import SpriteSequences
from pyrodisent.evaluation.scoring import encode, evidence_lower_bound, importance_weighted_bounds
from pyrodisent.registry import MODELS
from pyrodisent.training.trainer import Trainer
from tests.test_zoo import D, EXTRA_ARGUMENTS, K, N, training_data

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def build(name):
    return MODELS.build(name, observation_shape=(D,), latent_dim=K, num_data=N, encoder_args=dict(hidden=(16,)),
                        decoder_args=dict(hidden=(16,)), seed=0, **EXTRA_ARGUMENTS[name])


@pytest.mark.parametrize("name", sorted(EXTRA_ARGUMENTS))
def test_model_trains_on_cuda_and_encodes_as_on_the_cpu(name):
    data = training_data(name)
    pyro.set_rng_seed(0)
    model = build(name)
    before = [p.detach().clone() for p in model.parameters()]
    Trainer(model, data, epochs=2, batch_size=16, device="cuda", progress=False, seed=0).fit()  # raises on NaN
    assert all(p.is_cuda for p in model.parameters()) and all(b.is_cuda for b in model.buffers())
    assert any(not torch.equal(b.cuda(), p) for b, p in zip(before, model.parameters()))
    codes = encode(model, data)
    assert codes.shape == (N, K)
    # the same weights on the CPU encode the same points to the same codes
    on_cpu = copy.deepcopy(model).cpu()
    np.testing.assert_allclose(encode(on_cpu, data), codes, rtol=1e-4, atol=1e-4)
    # the bounds on the GPU estimate what the same weights give on the CPU: the draws differ between devices, so
    # they agree to Monte Carlo error (measured on the CPU, seeds 0–2 of every model: spread ≤ 0.29 nats for the
    # ELBO, ≤ 0.76 for the IWAE, ≤ 0.32 for the minibatch ELBO); a device bug in a likelihood or prior moves them
    # by far more
    elbo, iwae = importance_weighted_bounds(model, data, num_samples=20, seed=0)
    cpu_elbo, cpu_iwae = importance_weighted_bounds(on_cpu, data, num_samples=20, seed=0)
    assert abs(elbo - cpu_elbo) < 1.0 and abs(iwae - cpu_iwae) < 1.5, (elbo, cpu_elbo, iwae, cpu_iwae)
    plain = evidence_lower_bound(model, data, num_particles=20, seed=0)
    assert abs(plain - evidence_lower_bound(on_cpu, data, num_particles=20, seed=0)) < 1.0


def test_gp_vae_trains_on_cuda():
    data = SpriteSequences(num_frames=5, image_size=16, seed=0).sample(12).sequences()
    model = MODELS.build("gp_vae", observation_shape=(5, 1, 16, 16), latent_dim=K, num_data=len(data),
                         encoder_args=dict(hidden=(16,)), decoder_args=dict(hidden=(16,)), features=8, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    Trainer(model, data, epochs=2, batch_size=4, device="cuda", progress=False, seed=0).fit()
    assert all(p.is_cuda for p in model.parameters())
    assert any(not torch.equal(b.cuda(), p) for b, p in zip(before, model.parameters()))
    codes = encode(model, data)
    np.testing.assert_allclose(encode(copy.deepcopy(model).cpu(), data), codes, rtol=1e-4, atol=1e-4)


def test_conv_vae_learns_on_cuda():
    """A convolutional VAE on binary images: 200 steps on the GPU lower the ELBO's loss by a clear margin."""
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(512, 1, 64, 64, generator=gen) > 0.9).float()
    x[:, :, 20:44, 20:44] = 1.0  # a shared square that an untrained decoder does not draw
    from pyrodisent.data import ArrayDataset
    data = ArrayDataset(x)
    model = MODELS.build("vae", observation_shape=(1, 64, 64), latent_dim=4, num_data=len(data),
                         encoder="conv_encoder", decoder="conv_decoder", likelihood="bernoulli", seed=0)
    trainer = Trainer(model, data, epochs=25, batch_size=64, device="cuda", progress=False, seed=0)
    result = trainer.fit()
    first, last = result.history[0]["loss"], result.history[-1]["loss"]
    assert last < 0.8 * first, (first, last)
