import math

import pytest
import torch

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.data import ArrayDataset, NonstationarySources
from pyrodisent.registry import MODELS
from pyrodisent.run_directory import RunDirectory
from pyrodisent.train import CheckpointError, NonFiniteLossError, Trainer


def small_problem(points_per_segment=20, segments=5):
    data = NonstationarySources(num_segments=segments, points_per_segment=points_per_segment, latent_dim=2).training_set()
    model = MODELS.build("ivae", observation_shape=(2,), latent_dim=2, num_data=len(data), aux_dim=segments,
                         encoder_args=dict(hidden=(16,)), decoder_args=dict(hidden=(16,)), prior_hidden=(8,))
    return data, model


def trainer_for(model, data, run_dir=None, epochs=4, **kwargs):
    return Trainer(model, data, epochs=epochs, batch_size=16, lr=0.01, lr_schedule="plateau", seed=3, run_dir=run_dir,
                   device="cpu", progress=False, **kwargs)


class Interrupt(Exception):
    pass


def test_resume_equals_uninterrupted_training(tmp_path):
    torch.manual_seed(0)
    data, model_a = small_problem()
    state0 = {k: v.clone() for k, v in model_a.state_dict().items()}
    trainer_for(model_a, data, RunDirectory(tmp_path / "a").create({"x": 1})).fit()

    _, model_b = small_problem()
    model_b.load_state_dict(state0)
    run_b = RunDirectory(tmp_path / "b").create({"x": 1})

    def stop_after_two(trainer, epoch, row):
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        trainer_for(model_b, data, run_b, callbacks=[stop_after_two]).fit()
    _, model_c = small_problem()  # a fresh process would build a fresh model
    result = trainer_for(model_c, data, run_b).fit(resume=True)

    assert result.steps == 4 * math.ceil(len(data) / 16)
    for key, value in model_a.state_dict().items():
        assert torch.equal(value, model_c.state_dict()[key]), key
    rows = run_b.log_path.read_text().strip().splitlines()
    assert len(rows) == 1 + 4 and rows[-1].startswith("4,")


def test_nan_loss_names_the_step_and_keeps_last_good_checkpoint(tmp_path):
    data, model = small_problem()
    run = RunDirectory(tmp_path / "run").create({"x": 1})

    def poison(trainer, epoch, row):
        if epoch == 1:
            with torch.no_grad():
                next(trainer.model.decoder.parameters()).fill_(float("nan"))

    trainer = trainer_for(model, data, run, callbacks=[poison])
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at step 7 \(epoch 2, batch 1\).*epoch 1"):
        trainer.fit()
    state = torch.load(run.checkpoint_path, weights_only=False)
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_nan_in_data_is_refused_before_training():
    x = torch.randn(10, 2)
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"x contains NaN or inf values \(first bad rows: \[3\]\)"):
        ArrayDataset(x)


def test_data_and_model_must_agree():
    data, model = small_problem()
    with pytest.raises(ValueError, match="model.num_data is"):
        Trainer(model, data.subset(range(10)), epochs=1, progress=False, device="cpu")
    other = ArrayDataset(torch.randn(len(data), 3), u=data.u)
    with pytest.raises(ValueError, match=r"model expects observations of shape \(2,\), the data has \(3,\)"):
        Trainer(model, other, epochs=1, progress=False, device="cpu")


def test_unreadable_and_incompatible_checkpoints(tmp_path):
    data, model = small_problem()
    run = RunDirectory(tmp_path / "run").create({"x": 1})
    run.checkpoint_path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="could not be read"):
        trainer_for(model, data, run).fit(resume=True)

    other_data = NonstationarySources(num_segments=5, points_per_segment=20, latent_dim=2).training_set()
    wide = MODELS.build("ivae", observation_shape=(2,), latent_dim=2, num_data=len(other_data), aux_dim=5,
                        encoder_args=dict(hidden=(32,)), decoder_args=dict(hidden=(16,)), prior_hidden=(8,))
    trainer_for(wide, other_data, run, epochs=1).fit()
    with pytest.raises(CheckpointError, match=r"does not fit this model: .*saved \(32, 7\) vs model \(16, 7\)"):
        trainer_for(model, data, run).fit(resume=True)
    vae = MODELS.build("vae", observation_shape=(2,), latent_dim=2, num_data=len(data))
    with pytest.raises(CheckpointError, match="holds a IVAE, but the model being trained is a VAE"):
        trainer_for(vae, data, run).fit(resume=True)


def test_csv_log_and_metrics_per_point(tmp_path):
    data, model = small_problem()
    run = RunDirectory(tmp_path / "run").create({"x": 1})
    result = trainer_for(model, data, run, epochs=2).fit()
    header = run.log_path.read_text().splitlines()[0].split(",")
    assert header == ["epoch", "step", "loss", "reconstruction", "kl", "lr", "seconds"]
    assert result.history[-1]["loss"] == pytest.approx(result.history[-1]["reconstruction"] + result.history[-1]["kl"], rel=1e-4)
    assert result.train_seconds > 0


def test_kl_warmup_scales_the_latent_site():
    data, _ = small_problem()
    model = MODELS.build("vae", observation_shape=(2,), latent_dim=2, num_data=len(data), beta=2.0, kl_warmup_steps=10)
    model.set_training_step(4)
    assert model.kl_scale == pytest.approx(1.0)
    model.set_training_step(100)
    assert model.kl_scale == pytest.approx(2.0)
