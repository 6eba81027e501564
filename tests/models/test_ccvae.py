"""CCVAE: the enumerated unlabelled bound is the exact sum over every label configuration (and Pyro's
TraceEnum_ELBO), the evaluation prior is the exact marginal, the supervised bound equals a hand computation,
and a few training steps run through the trainer."""
import itertools
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceEnum_ELBO, config_enumerate

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.data.batch import Batch
from pyrodisent.registry import MODELS
from pyrodisent.training.trainer import Trainer
from pyrodisent.zoo.ccvae import CCVAE

CLASSES = (2, 3)


def tiny(**kwargs):
    torch.manual_seed(0)
    model = CCVAE(observation_shape=(4,), latent_dim=3, num_data=10, label_classes=CLASSES,
                  encoder_args=dict(hidden=(8,)), decoder_args=dict(hidden=(8,)), **kwargs)
    with torch.no_grad():  # parameters away from their symmetric start
        for p in (model.prior_loc, model.prior_log_scale, model.classifier_weight, model.classifier_bias):
            p.add_(0.5 * torch.randn_like(p))
    return model


def label_probabilities(model, z, i):
    """q(y_i = c | z_c,i) for the real classes, from the raw parameters."""
    c = CLASSES[i]
    return torch.softmax(z[:, i, None] * model.classifier_weight[i, :c] + model.classifier_bias[i, :c], -1)


def test_enumerated_labels_equal_the_sum_over_every_joint_configuration():
    model = tiny()
    z = torch.randn(5, 3)
    brute = torch.zeros(5)
    for y in itertools.product(*(range(c) for c in CLASSES)):
        log_q = sum(label_probabilities(model, z, i)[:, c].log() for i, c in enumerate(y))
        log_p = sum(-math.log(CLASSES[i]) + dist.Normal(model.prior_loc[i, c], model.prior_log_scale[i, c].exp())
                    .log_prob(z[:, i]) for i, c in enumerate(y))
        brute = brute + log_q.exp() * (log_p - log_q)
    assert torch.allclose(model.enumerated_label_terms(z), brute, atol=1e-5)


def test_enumerated_labels_equal_pyro_trace_enum_elbo():
    model = tiny()
    z = torch.randn(5, 3)

    def pyro_model():
        with pyro.plate("data", 5):
            for i, c in enumerate(CLASSES):
                y = pyro.sample(f"y{i}", dist.Categorical(torch.full((c,), 1.0 / c)))
                pyro.sample(f"z{i}", dist.Normal(model.prior_loc[i, :c][y], model.prior_log_scale[i, :c].exp()[y]),
                            obs=z[:, i])

    @config_enumerate
    def pyro_guide():
        with pyro.plate("data", 5):
            for i in range(len(CLASSES)):
                pyro.sample(f"y{i}", dist.Categorical(label_probabilities(model, z, i)))

    loss = TraceEnum_ELBO(max_plate_nesting=1).differentiable_loss(pyro_model, pyro_guide)
    assert torch.allclose(-loss, model.enumerated_label_terms(z).sum(), atol=1e-4)


def test_prior_is_the_exact_marginal_over_labels():
    model = tiny()
    z = torch.randn(5, 3)
    batch = Batch(x=torch.zeros(5, 4), index=torch.arange(5))
    joint = []
    for y in itertools.product(*(range(c) for c in CLASSES)):
        joint.append(model.conditional_prior(torch.tensor([y] * 5)).log_prob(z) - sum(math.log(c) for c in CLASSES))
    assert torch.allclose(model.prior(batch).log_prob(z), torch.logsumexp(torch.stack(joint), 0), atol=1e-5)


@pytest.mark.parametrize("label_weight", [1.0, 30.0, [30.0, 2.0]])
def test_supervised_bound_equals_a_hand_computation(label_weight):
    """α = 1: Eq. 4 of the paper; α > 1 weighs the classifier term log q(y|x) by α (and nothing else); one α_i per
    label weighs log q(y|x) by the smallest and each label's own log q(y_i|x) by the rest, α_i − α_min."""
    model = tiny(label_weight=label_weight)
    x = torch.rand(2, 4)
    batch = Batch(x=x, index=torch.arange(2))
    y = torch.tensor([[1, 2], [0, 0]])
    posterior = model.posterior(batch)
    z = torch.tensor([[0.3, -0.5, 1.0], [-1.2, 0.4, -0.3]])
    draws = torch.tensor([[[0.1, 0.2, 0.0], [1.0, -1.0, 0.0]], [[-0.4, 0.9, 0.0], [0.2, 0.3, 0.0]],
                          [[2.0, -2.0, 0.0], [0.0, 0.0, 0.0]]])  # S = 3 draws
    loc, scale = posterior.base_dist.loc, posterior.base_dist.scale
    expected = []
    for b in range(2):
        def log_q_y(code):
            return sum(label_probabilities(model, code[None], i)[0, y[b, i]].log() for i in range(2))
        log_q_y_x = torch.log(sum(log_q_y(draws[s, b]).exp() for s in range(3)) / 3)
        log_q_each_y_x = [torch.log(sum(label_probabilities(model, draws[s, b][None], i)[0, y[b, i]]
                                        for s in range(3)) / 3) for i in range(2)]
        weights = [label_weight] * 2 if isinstance(label_weight, float) else label_weight
        classifier_terms = min(weights) * log_q_y_x + sum((w - min(weights)) * log_q_each_y_x[i]
                                                          for i, w in enumerate(weights))
        log_q_y_zc = log_q_y(z[b])
        prior_loc = torch.stack([model.prior_loc[i, y[b, i]] for i in range(2)] + [torch.tensor(0.0)])
        prior_scale = torch.stack([model.prior_log_scale[i, y[b, i]].exp() for i in range(2)] + [torch.tensor(1.0)])
        kl = (torch.log(prior_scale / scale[b]) + (scale[b] ** 2 + (loc[b] - prior_loc) ** 2) / (2 * prior_scale ** 2)
              - 0.5).sum()
        log_p_x = model.observation_distribution(z[b:b + 1], Batch(x=x[b:b + 1], index=torch.arange(1))).log_prob(
            x[b:b + 1])[0]
        log_p_y = -math.log(2) - math.log(3)
        weight = (log_q_y_zc - log_q_y_x).exp()
        expected.append(weight * (log_p_x - kl - log_q_y_zc) + log_p_y + classifier_terms)
    got = model.supervised_bound(batch, y, posterior, z, draws)
    assert torch.allclose(got, torch.stack(expected), atol=1e-5)


def test_a_label_waiting_for_its_delay_is_a_style_latent():
    """label_delays: until its step, label 1 is not read (the bounds do not depend on its value or its classifier)
    and its latent has the style's N(0, 1); from its step on, the bounds are those of the model without delays."""
    waiting, plain = tiny(label_delays=[0, 5]), tiny()
    plain.load_state_dict(waiting.state_dict())
    x = torch.rand(2, 4)
    batch = Batch(x=x, index=torch.arange(2))
    z = torch.tensor([[0.3, -0.5, 1.0], [-1.2, 0.4, -0.3]])
    draws = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(1))
    y, other = torch.tensor([[1, 2], [0, 0]]), torch.tensor([[1, 0], [0, 1]])  # label 1 changed

    def bounds(model, labels):
        posterior = model.posterior(batch)
        return model.supervised_bound(batch, labels, posterior, z, draws), model.unsupervised_bound(batch, posterior, z)

    waiting.set_training_step(4)
    supervised, unsupervised = bounds(waiting, y)
    assert torch.equal(supervised, bounds(waiting, other)[0])
    assert not torch.allclose(supervised, bounds(plain, y)[0])
    prior = waiting.conditional_prior(y, waiting.joined_labels()).base_dist
    assert torch.equal(prior.loc[:, 1:], torch.zeros(2, 2)) and torch.equal(prior.scale[:, 1:], torch.ones(2, 2))
    assert prior.loc[0, 0] == waiting.prior_loc[0, 1]  # label 0 has joined: its class mean
    kept = waiting.classifier_weight.detach().clone()
    with torch.no_grad():
        waiting.classifier_weight[1].mul_(3.0)
    assert torch.equal(unsupervised, bounds(waiting, y)[1])  # label 1's classifier is not read
    with torch.no_grad():
        waiting.classifier_weight.copy_(kept)
    waiting.set_training_step(5)
    assert waiting.joined_labels() is None
    for got, expected in zip(bounds(waiting, y), bounds(plain, y)):
        assert torch.equal(got, expected)
    for bad in ([1, 2, 3], [-1, 0]):
        with pytest.raises(ValueError, match=r"label_delays: one step ≥ 0 or one per label \(2 labels\)"):
            tiny(label_delays=bad)


def test_trained_with_half_the_points_labelled_it_predicts_every_label(half_labelled_toy, core_label_accuracy):
    """Learning check: the labels are read off x, so the core must predict them for the unlabelled half too
    (chance: 0.5 and 0.33)."""
    data, labels = half_labelled_toy
    model = MODELS.build("ccvae", observation_shape=(4,), latent_dim=3, num_data=len(data), label_classes=CLASSES,
                         encoder_args=dict(hidden=(16,)), decoder_args=dict(hidden=(16,)), seed=0)
    result = Trainer(model, data, epochs=40, batch_size=50, lr=1e-2, seed=0, progress=False).fit()
    assert math.isfinite(result.final_loss)
    assert (core_label_accuracy(model, data, labels) >= 0.9).all()


def test_ccvae_refuses_too_few_latents_and_batches_without_labels():
    with pytest.raises(ValueError, match="latent_dim > the number of labels"):
        CCVAE(observation_shape=(4,), latent_dim=2, num_data=10, label_classes=CLASSES)
    with pytest.raises(ValueError, match="label_weight α must be ≥ 1"):
        CCVAE(observation_shape=(4,), latent_dim=3, num_data=10, label_classes=CLASSES, label_weight=0.5)
    with pytest.raises(ValueError, match=r"label_weight: one α or one per label \(2 labels\), got 3 weights"):
        CCVAE(observation_shape=(4,), latent_dim=3, num_data=10, label_classes=CLASSES, label_weight=[5.0, 5.0, 5.0])
    with pytest.raises(ValueError, match="label_weight α must be ≥ 1"):
        CCVAE(observation_shape=(4,), latent_dim=3, num_data=10, label_classes=CLASSES, label_weight=[5.0, 0.5])
    model = tiny()
    with pytest.raises(KeyError, match="needs batch\\['labels'\\]"):
        model.training_objective()(None, None, Batch(x=torch.zeros(2, 4), index=torch.arange(2)))
