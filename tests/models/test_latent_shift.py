"""latent_shift: per-pair gates from the shared sparse-gate machinery and the weighted transformation term."""
import pytest
import torch
from pyro import poutine

import pyrodisent.distributions.gates as gates
from pyrodisent.data.batch import Batch
from pyrodisent.registry import MODELS

D, K, N = 4, 3, 10


def build(**kwargs):
    return MODELS.build("latent_shift", observation_shape=(D,), latent_dim=K, num_data=N, seed=0,
                        encoder_args=dict(hidden=(8,)), decoder_args=dict(hidden=(8,)), **kwargs)


def pair_batch():
    x = torch.randn(5, D, generator=torch.Generator().manual_seed(0))
    return Batch(x=x, index=torch.arange(5), extras={"x_pair": x + 1.0})


def traces(model, batch):
    guide = poutine.trace(model.guide).get_trace(batch)
    return guide, poutine.trace(poutine.replay(model.model, trace=guide)).get_trace(batch)


def test_transformation_term_decodes_the_gated_shift_of_z1_and_is_weighted():
    model, batch = build(transform_weight=2.5), pair_batch()
    guide, trace = traces(model, batch)
    z_1, z_2, gate = (guide.nodes[name]["value"] for name in ("z", "z_pair", "gate"))
    assert set(gate.unique().tolist()) <= {0.0, 1.0} and gate.shape == (5, K)
    transformed = z_1 + gate * model.shift(z_1, z_2)
    expected = model.observation_distribution(transformed, batch).log_prob(batch["x_pair"])
    site = trace.nodes["x_pair_transformed"]
    torch.testing.assert_close(site["fn"].log_prob(site["value"]), expected)
    assert site["scale"] == pytest.approx(2.5 * N / 5)


def test_gate_terms_reduce_to_the_beta_kl():
    model, batch = build(sparsity=7.0), pair_batch()
    guide, trace = traces(model, batch)
    prior = trace.nodes["gate_probability"]["fn"].base_dist
    torch.testing.assert_close(prior.concentration1, torch.ones(5, K))
    torch.testing.assert_close(prior.concentration0, torch.full((5, K), 7.0))
    for node in (guide.nodes["gate"], trace.nodes["gate"]):  # log p(γ|π) − log q(γ|π) = 0 is left out
        assert torch.equal(node["fn"].log_prob(node["value"].clone()), torch.zeros(5))


def test_gates_come_from_the_shared_machinery(monkeypatch):
    calls = []
    original = gates.relaxed_gate
    monkeypatch.setattr(gates, "relaxed_gate", lambda p, t: calls.append(t) or original(p, t))
    model = build(temperature=1.0, final_temperature=0.5, temperature_anneal_steps=10)
    model.set_training_step(5)
    traces(model, pair_batch())
    assert calls == [pytest.approx(0.75), pytest.approx(0.75)]


def test_changed_dimensions_are_the_open_gates():
    model, batch = build(), pair_batch()
    probabilities = model.gate_probabilities(batch)
    assert probabilities.shape == (5, K) and ((probabilities > 0) & (probabilities < 1)).all()
    assert torch.equal(model.changed_dimensions(batch), probabilities > 0.5)
    with pytest.raises(ValueError, match="transform_weight must be ≥ 0"):
        build(transform_weight=-1.0)
