"""The concept models' shared curriculum (pyrodisent/concept_model.py): the terms the adaptive curriculum reads, the
step it lets waiting labels join at, its state in checkpoints, and — trained — that a waiting label joins once the
labels already read are learned."""
import pytest
import torch

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.concept_model import JOIN_WINDOW
from pyrodisent.registry import MODELS
from pyrodisent.training.trainer import Trainer

CLASSES = (2, 3)


def tiny(name="clap", num_data=10, **kwargs):
    torch.manual_seed(0)
    return MODELS.build(name, observation_shape=(4,), latent_dim=4, num_data=num_data, label_classes=CLASSES,
                        encoder_args=dict(hidden=(8,)), decoder_args=dict(hidden=(8,)), **kwargs)


def test_join_terms_average_the_joined_labels_over_labelled_points():
    model = tiny(label_delays=[0, 5])
    cross_entropy = torch.tensor([[0.2, 9.0], [0.4, 7.0], [5.0, 5.0]])
    labelled = torch.tensor([True, True, False])
    model.set_training_step(4)  # label 1 waits: its cross-entropy is not counted
    terms = model.join_terms(cross_entropy, labelled)
    torch.testing.assert_close(terms["joined_cross_entropy"], torch.tensor([0.2, 0.4, 0.0]))
    torch.testing.assert_close(terms["labelled_points"], torch.tensor([1.0, 1.0, 0.0]))
    model.set_training_step(5)
    torch.testing.assert_close(model.join_terms(cross_entropy, labelled)["joined_cross_entropy"],
                               torch.tensor([4.6, 3.7, 0.0]))


def run_steps(model, cross_entropy, steps, start=0, labelled=8.0):
    for step in range(start, start + steps):
        model.set_training_step(step)
        model.after_step(None, {"joined_cross_entropy": torch.tensor(cross_entropy * labelled),
                                "labelled_points": torch.tensor(labelled)})


def test_waiting_labels_join_once_the_running_cross_entropy_falls_below_the_threshold():
    model = tiny(label_delays=[0, 1000], join_below_cross_entropy=0.3)
    run_steps(model, 0.6, 200)  # on the plateau: nothing changes
    assert model.join_steps() == [0, 1000] and int(model.adaptive_join_step) == -1
    run_steps(model, 0.1, 100, start=200)  # learned: the running mean crosses 0.3 within a window
    joined_at = int(model.adaptive_join_step)
    assert 200 < joined_at < 200 + JOIN_WINDOW and model.join_steps() == [0, joined_at]
    model.set_training_step(joined_at)
    assert model.joined_labels() is None
    fresh = tiny(label_delays=[0, 1000], join_below_cross_entropy=0.3)
    fresh.load_state_dict(model.state_dict())  # a resumed run keeps the step it joined at
    assert fresh.join_steps() == [0, joined_at]


def test_without_a_threshold_or_before_the_first_label_joins_the_delays_stand():
    off = tiny(label_delays=[0, 1000])
    run_steps(off, 0.0, 100)
    assert off.join_steps() == [0, 1000]
    none_yet = tiny(label_delays=[50, 1000], join_below_cross_entropy=0.3)
    run_steps(none_yet, 0.0, 50)  # no label read yet: there is no cross-entropy to follow
    assert none_yet.join_steps() == [50, 1000]


def test_a_checkpoint_from_before_the_adaptive_curriculum_loads(half_labelled_toy, tmp_path):
    data, _ = half_labelled_toy
    model = tiny(num_data=len(data), label_delays=[0, 1000], join_below_cross_entropy=0.3)
    trainer = Trainer(model, data, epochs=1, batch_size=50, seed=0, progress=False)
    state = trainer.state_dict()
    for name in ("adaptive_join_step", "running_cross_entropy"):  # what the checkpoint of an older run lacks
        del state["model"][name]
    torch.save(state, tmp_path / "checkpoint.pt")
    model.adaptive_join_step.fill_(7)
    trainer.load_checkpoint(tmp_path / "checkpoint.pt")
    assert model.join_steps() == [0, 1000] and int(model.adaptive_join_step) == -1


def test_a_negative_threshold_is_refused():
    with pytest.raises(ValueError, match="join_below_cross_entropy must be ≥ 0 nats"):
        tiny(join_below_cross_entropy=-1.0)


@pytest.mark.parametrize("name", ["ccvae", "clap"])
def test_trained_a_label_waiting_past_the_run_joins_once_the_first_is_learned(name, half_labelled_toy,
                                                                             core_label_accuracy):
    """Learning check: label 1's delay is past the end of training; with the adaptive curriculum it joins once
    label 0 (read off x) is learned, and is learned too; without it, it is never read."""
    data, labels = half_labelled_toy
    accuracy = {}
    for threshold in (0.0, 0.3):
        torch.manual_seed(0)
        model = MODELS.build(name, observation_shape=(4,), latent_dim=4, num_data=len(data), label_classes=CLASSES,
                             encoder_args=dict(hidden=(16,)), decoder_args=dict(hidden=(16,)), seed=0,
                             label_delays=[0, 10_000], join_below_cross_entropy=threshold,
                             **({"label_weight": 50.0} if name == "ccvae" else {}))
        Trainer(model, data, epochs=60, batch_size=50, lr=1e-2, seed=0, progress=False).fit()
        accuracy[threshold] = core_label_accuracy(model, data, labels)
    assert accuracy[0.3][1] >= 0.9 and accuracy[0.0][1] <= 0.6
