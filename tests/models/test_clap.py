"""CLAP: the group lasso is zero exactly when its columns are, its value is the sum of column norms, the schedules
follow the official phases, the concept prior and interventions have the right shapes, and training runs."""
import math

import pyro.distributions as dist
import pytest
import torch

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.data.batch import Batch
from pyrodisent.training.schedules import WarmupCyclicalSchedule, cyclical_linear
from pyrodisent.training.trainer import Trainer
from pyrodisent.zoo.clap import CLAP, first_linear_layer, group_lasso

CLASSES = (2, 3)


def tiny(**kwargs):
    torch.manual_seed(0)
    kwargs.setdefault("core_dim", 2)
    return CLAP(observation_shape=(4,), latent_dim=4, num_data=10, label_classes=CLASSES,
                encoder_args=dict(hidden=(8,)), decoder_args=dict(hidden=(8,)), **kwargs)


def test_group_lasso_is_the_sum_of_column_norms():
    w = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    d = torch.tensor([[4.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    assert group_lasso(w, d).item() == pytest.approx(5.0 + math.sqrt(5.0))


def test_group_lasso_is_zero_exactly_when_its_columns_are():
    model = tiny()
    decoder = first_linear_layer(model.decoder)
    assert model.group_lasso() > 0
    with torch.no_grad():
        model.classifier.weight[:, 0] = 0
        decoder.weight[:, 0] = 0
    assert model.group_lasso() > 0  # column 1 still carries weight
    with torch.no_grad():
        model.classifier.weight[:, 1] = 0
    assert model.group_lasso() > 0  # the decoder's column 1 alone keeps the group
    with torch.no_grad():
        decoder.weight[:, 1] = 0
        decoder.weight[:, 2:] = 1.0  # style columns are outside the penalty
    assert model.group_lasso().item() == 0.0
    with torch.no_grad():
        model.classifier.weight[0, 1] = -1e-3
    assert model.group_lasso().item() == pytest.approx(1e-3)


def test_schedules_follow_the_official_phases():
    assert [cyclical_linear(s, 10, 1, 0.5) for s in (0, 1, 4, 5, 9, 10)] == [0.0, 0.2, 0.8, 1.0, 1.0, 1.0]
    assert [cyclical_linear(s, 10, 2, 1.0) for s in (0, 4, 5, 9)] == [0.0, 0.8, 0.0, 0.8]
    schedule = WarmupCyclicalSchedule(100)  # 25 steps at β = 0, two ramps over 50, then 1
    assert schedule.kl_weight(0) == schedule.kl_weight(24) == 0.0
    assert schedule.kl_weight(25) == 0.0 and 0 < schedule.kl_weight(40) < 1 and schedule.kl_weight(50) == 0.0
    assert schedule.kl_weight(75) == schedule.kl_weight(99) == 1.0
    assert schedule.label_weight(0) == 0.0 and schedule.label_weight(30) == pytest.approx(0.5)
    assert schedule.label_weight(75) == 1.0
    assert WarmupCyclicalSchedule(0).kl_weight(3) == WarmupCyclicalSchedule(0).label_weight(3) == 1.0


def test_each_dimensions_kl_is_weighed_by_its_blocks_share_as_in_the_official_code():
    q = dist.Normal(torch.tensor([[1.0, 0.0, 2.0, 0.0]]), torch.tensor([[1.0, 0.5, 1.0, 1.0]])).to_event(1)
    p = dist.Normal(torch.zeros(4), torch.ones(4)).to_event(1)
    per_dimension = [0.5, 0.5 * (0.25 - math.log(0.25) - 1), 2.0, 0.0]  # ½(μ² + σ² − log σ² − 1)
    core_share = 1 / 4  # one core dimension of four
    expected = core_share * per_dimension[0] + (1 - core_share) * sum(per_dimension[1:])
    assert tiny(core_dim=1).weighted_kl(q, p).item() == pytest.approx(expected)
    assert tiny(core_dim=1, block_kl_shares=False).weighted_kl(q, p).item() == pytest.approx(sum(per_dimension))


def test_the_core_is_every_core_dimension_not_only_the_labels_blocks():
    model = tiny(core_dim=3)  # two labels: their blocks name at most two of the three core dimensions
    assert model.core_dims() == [0, 1, 2]


def test_concept_prior_posterior_and_intervention():
    model = tiny()
    y = torch.tensor([[1, 2], [0, 0], [1, 1]])
    assert model.one_hot(y).tolist()[0] == [0, 1, 0, 0, 1]
    batch = Batch(x=torch.rand(3, 4), index=torch.arange(3))
    assert model.concept_prior(y).event_shape == (4,) and model.concept_posterior(batch, y).batch_shape == (3,)
    z = torch.randn(3, 4)
    changed = model.intervene(z, 1, 2)
    torch.testing.assert_close(changed[:, 2:], z[:, 2:])  # the style is kept
    assert len(model.core_blocks()) == 2 and all(0 <= b[0] < 2 for b in model.core_blocks())
    assert model.label_log_probs(z)[0, 0, 2] < -1e8  # label 0 has two classes


def test_a_label_aligned_core_gives_each_core_dimension_one_label():
    """label_aligned_core: core dimension i's prior mean and variance change with label i and with no other label,
    label i's classifier reads core dimension i and no other, and the label's block is its own dimension."""
    model = tiny(label_aligned_core=True)
    with torch.no_grad():
        for layer in (model.prior_mean, model.prior_log_var):
            layer.weight.normal_()
    y = torch.tensor([[0, 0], [1, 0], [0, 2]])
    prior = model.concept_prior(y).base_dist
    for moments in (prior.loc, prior.scale):
        assert moments[0, 0] != moments[1, 0] and moments[0, 1] == moments[1, 1]  # label 0 moves dimension 0 only
        assert moments[0, 1] != moments[2, 1] and moments[0, 0] == moments[2, 0]  # label 1 moves dimension 1 only
    free = tiny()
    free.load_state_dict(model.state_dict())
    assert free.concept_prior(y).base_dist.loc[0, 1] != free.concept_prior(y[1:2]).base_dist.loc[0, 1]
    assert model.core_blocks() == [[0], [1]]
    z = torch.randn(3, 4)
    moved = z.clone()
    moved[:, 1] += 1.0  # label 1's dimension
    before, after = model.label_log_probs(z), model.label_log_probs(moved)
    assert torch.equal(before[:, 0], after[:, 0]) and not torch.allclose(before[:, 1], after[:, 1])
    assert not torch.equal(free.label_log_probs(z)[:, 0], free.label_log_probs(moved)[:, 0])
    weight = model.classifier.weight.detach()
    assert model.group_lasso().item() < group_lasso(weight, first_linear_layer(model.decoder).weight[:, :2]).item()
    mean = model.prior_parameters(model.one_hot(torch.tensor([[1, 0]]).expand(3, 2)))[0]
    torch.testing.assert_close(model.intervene(z, 0, 1)[:, 0], mean[:, 0])
    with pytest.raises(ValueError, match=r"core_dim must be the number of labels \(2\), got 3"):
        tiny(core_dim=3, label_aligned_core=True)


def test_a_label_waiting_for_its_delay_is_not_read():
    """label_delays: until its step, label 1's value changes neither the concept prior, the concept encoder nor the
    loss, and its cross-entropy is left out; from its step on, the loss is that of the model without delays."""
    waiting, plain = tiny(label_delays=[0, 5]), tiny()
    plain.load_state_dict(waiting.state_dict())
    batch = Batch(x=torch.rand(2, 4), index=torch.arange(2),
                  extras={"labels": torch.tensor([[1, 2], [0, 0]]), "labelled": torch.tensor([True, True])})
    other = Batch(x=batch.x, index=batch.index,
                  extras={"labels": torch.tensor([[1, 0], [0, 1]]), "labelled": batch["labelled"]})  # label 1 changed

    def loss(model, data, seed=0):
        torch.manual_seed(seed)
        return model.point_losses(data)

    waiting.set_training_step(4)
    assert torch.equal(waiting.one_hot(batch["labels"]), torch.tensor([[0.0, 1, 0, 0, 0], [1, 0, 0, 0, 0]]))
    total, terms = loss(waiting, batch)
    assert torch.equal(total, loss(waiting, other)[0])
    assert not torch.allclose(total, loss(plain, batch)[0])
    torch.manual_seed(0)
    z_p = waiting.posterior(batch).rsample()
    expected = -waiting.label_log_probs(z_p).gather(-1, batch["labels"][..., None])[:, 0, 0] / 2  # mean over 2 labels
    torch.testing.assert_close(terms["cross_entropy"], expected)
    waiting.set_training_step(5)
    assert waiting.joined_labels() is None
    torch.testing.assert_close(loss(waiting, batch)[0], loss(plain, batch)[0])


def test_without_delay_concept_prior_a_waiting_label_is_read_by_the_concept_vae_but_not_classified():
    """delay_concept_prior=False: before its step, label 1's value enters the concept prior and encoder (its one-hot
    is there, the loss's concept ELBO changes with it), while its cross-entropy is still left out."""
    model = tiny(label_delays=[0, 5], delay_concept_prior=False)
    batch = Batch(x=torch.rand(2, 4), index=torch.arange(2),
                  extras={"labels": torch.tensor([[1, 2], [0, 0]]), "labelled": torch.tensor([True, True])})
    other = Batch(x=batch.x, index=batch.index,
                  extras={"labels": torch.tensor([[1, 0], [0, 1]]), "labelled": batch["labelled"]})  # label 1 changed
    model.set_training_step(4)
    assert torch.equal(model.one_hot(batch["labels"]), torch.tensor([[0.0, 1, 0, 0, 1], [1, 0, 1, 0, 0]]))
    torch.manual_seed(0)
    _, terms = model.point_losses(batch)
    torch.manual_seed(0)
    _, terms_other = model.point_losses(other)
    assert not torch.allclose(terms["elbo_concepts"], terms_other["elbo_concepts"])
    torch.testing.assert_close(terms["cross_entropy"], terms_other["cross_entropy"])  # label 1's is left out


@pytest.mark.parametrize("aligned", [False, True])
def test_trained_with_half_the_points_labelled_it_predicts_every_label(half_labelled_toy, core_label_accuracy,
                                                                        aligned):
    """Learning check: the labels are read off x, so the core must predict them for the unlabelled half too
    (chance: 0.5 and 0.33), also when each label's classifier reads its own core dimension only."""
    data, labels = half_labelled_toy
    model = CLAP(observation_shape=(4,), latent_dim=4, num_data=len(data), label_classes=CLASSES,
                 encoder_args=dict(hidden=(16,)), decoder_args=dict(hidden=(16,)), group_lasso_weight=0.01,
                 schedule_steps=160, label_aligned_core=aligned)
    result = Trainer(model, data, epochs=40, batch_size=50, lr=1e-2, seed=0, progress=False).fit()
    assert "group_lasso" in result.history[-1]
    assert (core_label_accuracy(model, data, labels) >= 0.9).all()


def test_the_classifier_gain_multiplies_the_core_before_the_classifier_and_leaves_the_lasso():
    """classifier_gain g: logits g W z_c + b, the logits of gain 1 at the core scaled by g; W (what the group lasso
    sees) is unchanged."""
    plain, gained = tiny(), tiny(classifier_gain=10.0)
    gained.load_state_dict(plain.state_dict())
    z = torch.randn(5, 4)
    scaled = z.clone()
    scaled[:, :2] *= 10.0
    torch.testing.assert_close(gained.label_log_probs(z), plain.label_log_probs(scaled))
    assert not torch.allclose(gained.label_log_probs(z), plain.label_log_probs(z))
    assert gained.group_lasso().item() == plain.group_lasso().item()
    with pytest.raises(ValueError, match="classifier_gain must be > 0, got 0"):
        tiny(classifier_gain=0.0)


def test_the_concept_prior_and_classifier_train_at_the_global_learning_rate():
    """A_m, b_m, A_v, b_v, W and b are shared by every point: lr × global_lr_factor; the networks (encoders, concept
    head, decoder) stay at lr."""
    model = tiny(global_lr_factor=20.0)
    lr_of = {id(p): group["lr"] for group in model.parameter_groups(0.001) for p in group["params"]}
    shared = [*model.prior_mean.parameters(), *model.prior_log_var.parameters(), *model.classifier.parameters()]
    assert [lr_of[id(p)] for p in shared] == pytest.approx([0.02] * len(shared))
    networks = [p for p in model.parameters() if id(p) not in {id(q) for q in shared}]
    assert networks and {lr_of[id(p)] for p in networks} == {0.001}
    assert len(lr_of) == len(list(model.parameters()))


def test_clap_refuses_a_core_without_style():
    with pytest.raises(ValueError, match="core_dim < latent_dim"):
        tiny(core_dim=4)
