"""The importance-weighted objective against the exact marginal likelihood and the evaluation's weights."""
import math

import pyro
import pytest
import torch

from pyrodisent.data import Batch
from pyrodisent.infer import ImportanceWeightedELBO
from pyrodisent.infer.elbo import build_objective
from pyrodisent.model import log_mean_exp

from tests.infer.test_elbo import LinearGaussian, closed_form_elbo

A, SIGMA = 1.5, 0.5
X = torch.linspace(-2, 2, 64).unsqueeze(-1)
BATCH = Batch(x=X, index=torch.arange(64))


def log_marginal(x):
    """log p(x) of z ~ N(0, 1), x | z ~ N(a z, σ²): x ~ N(0, a² + σ²)."""
    variance = A**2 + SIGMA**2
    return (-0.5 * math.log(2 * math.pi * variance) - x**2 / (2 * variance)).sum()


def exact_guide_model():
    precision = 1 + A**2 / SIGMA**2
    return LinearGaussian(num_data=64, a=A, sigma=SIGMA, c=(A / SIGMA**2) / precision, s=precision**-0.5)


def test_exact_guide_gives_log_marginal_likelihood_with_no_variance():
    pyro.set_rng_seed(0)
    loss, _ = ImportanceWeightedELBO(num_samples=3)(exact_guide_model().model, exact_guide_model().guide, BATCH)
    assert float(loss) == pytest.approx(-float(log_marginal(X)), rel=1e-5)


def test_many_samples_close_the_gap_that_the_elbo_leaves():
    model = LinearGaussian(num_data=64, a=A, sigma=SIGMA, c=0.3, s=0.4)  # a poor guide
    pyro.set_rng_seed(0)
    iwae_loss = float(ImportanceWeightedELBO(num_samples=2000)(model.model, model.guide, BATCH)[0])
    elbo_loss = -float(closed_form_elbo(X.squeeze(-1), A, SIGMA, 0.3, 0.4).sum())
    exact = -float(log_marginal(X))
    gap = elbo_loss - exact  # Σ_n KL(q(z | x_n) ‖ p(z | x_n)) of the poor guide, in closed form
    assert gap > 20.0
    assert abs(iwae_loss - exact) < 0.1 * gap


def test_equals_the_evaluation_bound_on_the_same_draws():
    model = LinearGaussian(num_data=256, a=A, sigma=SIGMA, c=0.3, s=0.4)
    pyro.set_rng_seed(3)
    loss, terms = build_objective("iwae", 5)(model.model, model.guide, BATCH)
    pyro.set_rng_seed(3)
    log_w = model.log_importance_weights(BATCH, num_samples=5)
    expected = -(256 / 64) * log_mean_exp(log_w, 0).sum()
    assert torch.allclose(loss, expected, rtol=1e-6)
    assert torch.allclose(terms["local_bound"], expected, rtol=1e-6) and float(terms["kl"]) == 0.0


def test_one_sample_is_refused():
    with pytest.raises(ValueError, match="num_samples must be ≥ 2"):
        ImportanceWeightedELBO(num_samples=1)


def test_trainer_trains_on_the_importance_weighted_bound_towards_the_log_marginal():
    from pyrodisent.data import ArrayDataset
    from pyrodisent.training.trainer import Trainer

    class LearnedGuide(LinearGaussian):
        def __init__(self):
            super().__init__(num_data=64, a=A, sigma=SIGMA, c=0.0, s=1.0)
            self.c_param, self.log_s = torch.nn.Parameter(torch.tensor(0.0)), torch.nn.Parameter(torch.tensor(0.0))

        def posterior(self, batch):
            scale = self.log_s.exp() * torch.ones_like(batch.x)
            return pyro.distributions.Normal(self.c_param * batch.x, scale).to_event(1)

    torch.manual_seed(0)
    model = LearnedGuide()
    trainer = Trainer(model, ArrayDataset(X), objective="iwae", num_particles=4, epochs=150, batch_size=64, lr=0.05,
                      seed=0, progress=False)
    assert isinstance(trainer.objective, ImportanceWeightedELBO)
    result = trainer.fit()
    first, last = result.history[0]["loss"], sum(row["loss"] for row in result.history[-10:]) / 10
    exact = -float(log_marginal(X)) / 64
    assert first - exact > 0.5 and last - exact < 0.05  # per point: the bound closes on log p(x)
