"""The trainer's guard keeps a checkpoint that is good, flags divergence, and resumes with new optimiser settings."""
import math

import pytest
import torch

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.data import NonstationarySources
from pyrodisent.evaluation.scoring import evidence_lower_bound
from pyrodisent.registry import MODELS
from pyrodisent.training.run_directory import RunDirectory
from pyrodisent.training.trainer import NonFiniteLossError, Trainer


def small_problem(seed=0):
    data = NonstationarySources(num_segments=4, points_per_segment=16, latent_dim=2).training_set()
    model = MODELS.build("ivae", observation_shape=(2,), latent_dim=2, num_data=len(data), aux_dim=4,
                         encoder_args=dict(hidden=(8,)), decoder_args=dict(hidden=(8,)), prior_hidden=(8,), seed=seed)
    return data, model


class Interrupt(Exception):
    pass


def test_an_update_that_blows_the_weights_up_never_reaches_the_checkpoint(tmp_path):
    """One step per epoch: the exploding update is the last of its epoch, and the epoch's checkpoint
    used to hold its weights (reloaded: ELBO nan)."""
    data, model = small_problem()
    run = RunDirectory(tmp_path / "run").create({"x": 1})

    def explode_next_update(trainer, epoch, row):
        if epoch == 2:
            for group in trainer.optimizer.param_groups:
                group["lr"] = 1e30

    trainer = Trainer(model, data, epochs=6, batch_size=len(data), lr=0.01, seed=1, run_dir=run, device="cpu",
                      progress=False, callbacks=[explode_next_update])
    with pytest.raises(NonFiniteLossError, match=r"after epoch 3 \(step 3\) .*last good checkpoint \(epoch 2, "):
        trainer.fit()
    state = torch.load(run.checkpoint_path, weights_only=False)
    assert state["epoch"] == 2
    _, fresh = small_problem()
    fresh.load_state_dict(state["model"])
    assert math.isfinite(evidence_lower_bound(fresh, data, seed=0))
    assert run.log_path.read_text().splitlines()[-1].startswith("2,")


def test_finite_divergence_is_flagged(tmp_path):
    data, model = small_problem()
    trainer = Trainer(model, data, epochs=3, batch_size=16, lr=0.01, seed=1, device="cpu", progress=False)
    objective = trainer.objective

    def diverging(model_fn, guide_fn, batch):
        loss, terms = objective(model_fn, guide_fn, batch)
        return (loss * 1e30 if trainer.step == 6 else loss), terms  # finite in float32: 1e30 · O(100)

    trainer.objective = diverging
    with pytest.raises(NonFiniteLossError, match=r"loss became .*e\+3\d at step 6 \(epoch 2, batch 3\), .* per point "
                                                 r"against the first step's .*training diverged"):
        trainer.fit()


def test_resume_with_a_new_learning_rate_rescales_the_schedule(tmp_path):
    data, model = small_problem()
    run = RunDirectory(tmp_path / "run").create({"x": 1})

    def stop_after_two(trainer, epoch, row):
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        Trainer(model, data, epochs=5, batch_size=16, lr=0.01, lr_schedule="cosine", seed=1, run_dir=run,
                device="cpu", progress=False, callbacks=[stop_after_two]).fit()
    _, model = small_problem()
    result = Trainer(model, data, epochs=5, batch_size=16, lr=0.001, lr_schedule="cosine", seed=1, run_dir=run,
                     device="cpu", progress=False, grad_clip=1.0).fit(resume=True)
    cosine = [(1 + math.cos(math.pi * epoch / 5)) / 2 for epoch in range(5)]  # the lr during each epoch
    logged = [row["lr"] for row in result.history]
    assert logged[:2] == pytest.approx([0.01 * c for c in cosine[:2]])
    assert logged[2:] == pytest.approx([0.001 * c for c in cosine[2:]])
    state = torch.load(run.checkpoint_path, weights_only=False)
    assert state["settings"] == {"lr": 0.001, "grad_clip": 1.0}


def test_resume_before_the_first_checkpoint_starts_over_exactly(tmp_path):
    data, model_a = small_problem()
    Trainer(model_a, data, epochs=2, batch_size=16, lr=0.01, seed=1, device="cpu", progress=False).fit()
    _, model_b = small_problem()
    run = RunDirectory(tmp_path / "run").create({"x": 1})  # killed before the first epoch ended: no checkpoint
    Trainer(model_b, data, epochs=2, batch_size=16, lr=0.01, seed=1, run_dir=run, device="cpu",
            progress=False).fit(resume=True)
    for key, value in model_a.state_dict().items():
        assert torch.equal(value, model_b.state_dict()[key]), key
