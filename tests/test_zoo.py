"""Every registered model trains a few steps on tiny data, and evaluation and diagnostics run on it."""
import arviz as az
import numpy as np
import pyro
import pytest
import torch

import pyrodisent.model
import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.evaluation import diagnostics
from pyrodisent.evaluation.diagnostics import khat_summary, psis_khat
from pyrodisent.data import undirected_graphs as graphs
from pyrodisent.data import ArrayDataset, GraphDataset
from pyrodisent.evaluation.scoring import encode, evidence_lower_bound, importance_weighted_bounds
from pyrodisent.registry import MODELS
from pyrodisent.training.trainer import Trainer

N, D, K, A = 48, 6, 3, 4


def tiny_data():
    rng = np.random.default_rng(0)
    factors = rng.standard_normal((N, K)).astype(np.float32)
    x = np.tanh(factors @ rng.standard_normal((K, D))).astype(np.float32)
    action = np.arange(N) % A
    return ArrayDataset(x, u=np.eye(A, dtype=np.float32)[action], factors=factors, extras={"action": action})


def tiny_graph_data():
    """The same points as vertices of a random tree, for the models whose prior follows a graph."""
    data = tiny_data()
    edges = graphs.tree_edges(graphs.random_recursive_tree(N, 0))
    return GraphDataset(data.x, edges, u=data.u, factors=data.factors, extras=data.extras, edge_batch_size=8,
                        pair_batch_size=8)


def tiny_pair_data():
    """The same points, each with a partner: a noisy copy (``batch["x_pair"]``), for the models of pairs."""
    data = tiny_data()
    partner = data.x + 0.1 * torch.randn(data.x.shape, generator=torch.Generator().manual_seed(1))
    return ArrayDataset(data.x, u=data.u, factors=data.factors, extras={**data.extras, "x_pair": partner})


def tiny_labelled_data():
    """The same points with two labels of their factors (2 and 3 classes), half of the points labelled, for the
    concept models."""
    data = tiny_data()
    factors = data.factors.numpy()
    labels = np.stack([factors[:, 0] > 0, np.digitize(factors[:, 1], [-0.5, 0.5])], 1)
    return ArrayDataset(data.x, u=data.u, factors=data.factors,
                        extras={**data.extras, "labels": labels, "labelled": np.arange(N) % 2 == 0})


# Models that train on labelled batches (batch["labels"], batch["labelled"]); evaluation sees the same batches.
LABEL_MODELS = {"ccvae", "clap"}

# Models that train on pair batches (sites z, z_pair); evaluation and diagnostics see the same pair batches.
PAIR_MODELS = {"ada_gvae", "ada_mlvae", "latent_shift"}

# Models that train on graph batches (they refuse plain ones): trained on tiny_graph_data(); evaluation and
# diagnostics still see plain vertex batches, as for every other model.
GRAPH_MODELS = {"cvae_ind", "cvae_corr"}

# What each model needs beyond the common arguments; a newly registered model must be added here.
EXTRA_ARGUMENTS = {
    "vae": {},
    "beta_vae": {},
    "ivae": {"aux_dim": A},
    "mean_shift_vae": {"num_actions": A},
    "svae_plus": {"num_actions": A},
    "annealed_vae": {"capacity_steps": 4},
    "beta_tcvae": {},
    "dip_vae": {},
    "dip_vae_ii": {},
    "factor_vae": {"discriminator_hidden": (16, 16)},
    "cvae_ind": {},
    "cvae_corr": {},
    "topological_vae": {"blocks": "loop, segment", "anneal_steps": 4},  # K = 3 latent dimensions
    "tilted_vae": {"tau": 2.0},
    "ada_gvae": {},
    "ada_mlvae": {},
    "latent_shift": {"gate_hidden": (8,), "shift_hidden": (8,)},
    "ccvae": {"label_classes": (2, 3), "classifier_samples": 10},
    "clap": {"label_classes": (2, 3), "core_dim": 2, "group_lasso_weight": 0.1, "schedule_steps": 6},
}


# Models of sequences (observations (T, *frame)) cannot train on the (N, D) vectors above; each gets the
# same train / evaluate / diagnose check on tiny sequences in the file named here.
SEQUENCE_MODELS = {"gp_vae": "tests/models/test_gp_vae.py"}


def test_every_registered_model_is_covered():
    # the zoo's models only: tests register users' model files (laplace_vae, broken_vae) in the same process
    zoo = {name for name in MODELS.names() if MODELS.get(name).__module__.startswith("pyrodisent.zoo.")}
    assert zoo - set(SEQUENCE_MODELS) == set(EXTRA_ARGUMENTS)


# Models with global latent sites (per-action shifts and masks): evidence_lower_bound draws the globals from
# their guide and counts their KL, while the importance weights fix them at their medians, so the two
# bounds are different quantities there.
GLOBAL_SITE_MODELS = {"mean_shift_vae", "svae_plus"}


def training_data(name):
    """The tiny data model ``name`` trains on: graph, pair, labelled or plain batches."""
    return (tiny_graph_data() if name in GRAPH_MODELS else tiny_pair_data() if name in PAIR_MODELS
            else tiny_labelled_data() if name in LABEL_MODELS else tiny_data())


@pytest.mark.parametrize("name", sorted(EXTRA_ARGUMENTS))
def test_model_trains_evaluates_and_diagnoses(name, tmp_path):
    data = training_data(name)
    pyro.set_rng_seed(0)
    model = MODELS.build(name, observation_shape=(D,), latent_dim=K, num_data=N, encoder_args=dict(hidden=(16,)),
                         decoder_args=dict(hidden=(16,)), **EXTRA_ARGUMENTS[name])
    before = [p.detach().clone() for p in model.parameters()]
    result = Trainer(model, data, epochs=2, batch_size=16, device="cpu", progress=False, seed=0).fit()
    assert len(result.history) == 2 and np.isfinite(result.final_loss)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    codes = encode(model, data)
    with torch.no_grad():
        means = model.posterior_params(data.batch(torch.arange(N)))[0].numpy()
    np.testing.assert_allclose(codes, means, rtol=1e-5, atol=1e-6)  # codes are the guide's means
    assert not np.allclose(encode(model, data, sample=True, seed=0), codes)  # sample=True draws from q(z | x)
    elbo, iwae = importance_weighted_bounds(model, data, num_samples=20, seed=0)
    # Independent estimates of one ELBO: analytic-KL minibatch objective against the mean log weight
    # (measured: within 0.03 nats a point on every model without global sites).
    if name not in GLOBAL_SITE_MODELS:
        assert evidence_lower_bound(model, data, num_particles=20, seed=0) == pytest.approx(elbo, abs=0.1)
    # The 20 weights are distinct draws: IWAE exceeds their mean by a clear margin (measured 0.3–0.4 nats),
    # which it would not if the same z were drawn 20 times.
    assert iwae > elbo + 0.05, (elbo, iwae)
    summary = diagnostics.diagnose(model, data, tmp_path, num_draws=5, num_obs=10, num_samples=30, khat_num_obs=10)
    assert summary == khat_summary(psis_khat(model, data, num_samples=30, num_obs=10, seed=0))  # this model's k̂
    idata = az.from_netcdf(tmp_path / "inference_data.nc")
    assert idata.posterior["z"].shape == (1, 5, 10, K)
    assert idata.log_likelihood["x"].shape == (1, 5, 10)


@pytest.mark.parametrize("name", sorted(EXTRA_ARGUMENTS))
def test_log_importance_weights_scored_in_groups_equal_one_pass(name, monkeypatch):
    """The model scores the guide's S draws in groups of rows (MODEL_ROWS_PER_PASS): the weights are those
    of a single pass over all S·B rows, whatever the grouping."""
    data = tiny_pair_data() if name in PAIR_MODELS else tiny_labelled_data() if name in LABEL_MODELS else tiny_data()
    model = MODELS.build(name, observation_shape=(D,), latent_dim=K, num_data=N, encoder_args=dict(hidden=(16,)),
                         decoder_args=dict(hidden=(16,)), seed=0, **EXTRA_ARGUMENTS[name]).eval()
    batch = data.batch(torch.arange(10))
    globals_trace = model.fixed_globals_trace(batch)
    weights = []
    for rows in (10 ** 9, 30, 10, 1):  # one pass; 3 samples per pass, the last one short; 1; 1 (fewer rows than B)
        monkeypatch.setattr(pyrodisent.model, "MODEL_ROWS_PER_PASS", rows)
        pyro.set_rng_seed(0)
        with torch.no_grad():
            weights.append(model.log_importance_weights(batch, 7, globals_trace=globals_trace))
    assert weights[0].shape == (7, 10)
    for grouped in weights[1:]:
        torch.testing.assert_close(grouped, weights[0], rtol=1e-6, atol=1e-5)
