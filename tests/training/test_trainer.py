import copy
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.distributions import constraints
from pyro.infer.autoguide import AutoNormal

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent import LatentVariableModel, set_seed
from pyrodisent.data import ArrayDataset, Batch, NonstationarySources
from pyrodisent.registry import MODELS
from pyrodisent.training.run_directory import RunDirectory
from pyrodisent.training.trainer import CheckpointError, NonFiniteLossError, Trainer, fit_subset


def small_problem(points_per_segment=20, segments=5):
    data = NonstationarySources(num_segments=segments, points_per_segment=points_per_segment, latent_dim=2).training_set()
    model = MODELS.build("ivae", observation_shape=(2,), latent_dim=2, num_data=len(data), aux_dim=segments,
                         encoder_args=dict(hidden=(16,)), decoder_args=dict(hidden=(16,)), prior_hidden=(8,))
    return data, model


def trainer_for(model, data, run_dir=None, epochs=4, lr=0.01, **kwargs):
    return Trainer(model, data, epochs=epochs, batch_size=16, lr=lr, lr_schedule="plateau", seed=3, run_dir=run_dir,
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


def test_a_one_group_checkpoint_loads_into_a_model_that_trains_global_parameters_apart(tmp_path):
    """A checkpoint written while every parameter sat in one optimizer group (before a model named its global
    parameters) loads into the grouped optimizer: each parameter keeps its Adam moments, each group gets the saved
    rate times its factor; under a learning-rate schedule it is refused by name."""
    data, model = small_problem()
    run = RunDirectory(tmp_path / "run").create({"x": 1})
    old = Trainer(model, data, epochs=2, batch_size=16, lr=0.01, seed=3, run_dir=run, device="cpu", progress=False)
    old.fit()
    saved = {name: old.optimizer.state[p]["exp_avg"] for name, p in model.named_parameters()}

    def grouped():
        _, fresh = small_problem()
        fresh.global_parameters = lambda: list(fresh.decoder.parameters())
        fresh.global_lr_factor = 4.0
        return fresh

    fresh = grouped()
    new = Trainer(fresh, data, epochs=2, batch_size=16, lr=0.01, seed=3, device="cpu", progress=False)
    assert len(new.optimizer.param_groups) == 2
    new.load_checkpoint(run.checkpoint_path)
    assert [group["lr"] for group in new.optimizer.param_groups] == pytest.approx([0.01, 0.04])
    for name, p in fresh.named_parameters():
        assert torch.equal(new.optimizer.state[p]["exp_avg"], saved[name]), name
    assert set(map(id, new.optimizer.param_groups[1]["params"])) == set(map(id, fresh.decoder.parameters()))
    scheduled = Trainer(grouped(), data, epochs=2, batch_size=16, lr=0.01, lr_schedule="plateau", seed=3,
                        device="cpu", progress=False)
    refused = "in one optimizer group; this model trains 2 groups, and this trainer's learning-rate schedule"
    with pytest.raises(CheckpointError, match=refused):
        scheduled.load_checkpoint(run.checkpoint_path)


def test_csv_log_and_metrics_per_point(tmp_path):
    data, model = small_problem()
    run = RunDirectory(tmp_path / "run").create({"x": 1})
    result = trainer_for(model, data, run, epochs=2).fit()
    header = run.log_path.read_text().splitlines()[0].split(",")
    assert header == ["epoch", "step", "loss", "reconstruction", "kl", "lr", "seconds"]
    assert result.history[-1]["loss"] == pytest.approx(result.history[-1]["reconstruction"] + result.history[-1]["kl"], rel=1e-4)
    assert result.train_seconds > 0


def test_kl_warmup_scales_the_latent_site():
    """The objective is reconstruction + kl_scale · KL: with the same draws its value is affine in the scale."""
    from pyrodisent.infer import MeanFieldELBO

    data, _ = small_problem()
    model = MODELS.build("vae", observation_shape=(2,), latent_dim=2, num_data=len(data), beta=2.0, kl_warmup_steps=10)
    batch = data.batch(torch.arange(16))
    losses = {}
    for step, expected_scale in ((4, 1.0), (6, 1.4), (100, 2.0)):
        model.set_training_step(step)
        assert model.kl_scale == pytest.approx(expected_scale)
        pyro.set_rng_seed(0)
        loss, terms = MeanFieldELBO()(model.model, model.guide, batch)
        losses[expected_scale] = loss.item()
    assert losses[2.0] > losses[1.0]  # the KL of an untrained encoder is positive
    assert (losses[2.0] - losses[1.0]) / (losses[1.4] - losses[1.0]) == pytest.approx(1.0 / 0.4, rel=1e-4)


# ---------------------------------------------------------------------- Pyro parameters, as SVI collects them
class StudentTPrior(LatentVariableModel):
    """p(z) = Π_j StudentT(z_j; ν, 0, 1) with the degrees of freedom ν a ``pyro.param`` (created on first call)."""

    def prior(self, batch):
        df = pyro.param("student_t_df", torch.tensor(3.0), constraint=constraints.positive)
        return dist.StudentT(df, batch.x.new_zeros(batch.size, self.latent_dim), 1.0).to_event(1)


def student_t_problem(seed=0):
    data = NonstationarySources(num_segments=5, points_per_segment=20, latent_dim=2).training_set()
    model = MODELS.build("student_t_vae", seed=seed, observation_shape=(2,), latent_dim=2, num_data=len(data),
                         encoder_args=dict(hidden=(16,)), decoder_args=dict(hidden=(16,)))
    return data, model


@pytest.fixture
def student_t_registered():
    MODELS.register("student_t_vae")(StudentTPrior)
    yield
    MODELS._entries.pop("student_t_vae", None)


def test_pyro_param_of_a_prior_is_trained_checkpointed_and_resumed(tmp_path, student_t_registered):
    pyro.clear_param_store()
    data, model_a = student_t_problem()
    trainer = trainer_for(model_a, data, RunDirectory(tmp_path / "a").create({"x": 1}), lr=0.05)
    df = pyro.param("student_t_df")
    assert any(p is df.unconstrained() for group in trainer.optimizer.param_groups for p in group["params"])
    trainer.fit()
    trained_df = float(pyro.param("student_t_df").detach())
    assert abs(trained_df - 3.0) > 0.2  # 28 Adam steps at lr 0.05 on log ν
    saved = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["pyro_parameters"]
    assert set(saved) == {"student_t_df"}
    final_a = {k: v.clone() for k, v in model_a.state_dict().items()}

    pyro.clear_param_store()  # a fresh process starts from an empty param store
    data, model_b = student_t_problem()
    run_b = RunDirectory(tmp_path / "b").create({"x": 1})

    def stop_after_two(trainer, epoch, row):
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        trainer_for(model_b, data, run_b, lr=0.05, callbacks=[stop_after_two]).fit()
    pyro.clear_param_store()
    data, model_c = student_t_problem()
    trainer_for(model_c, data, run_b, lr=0.05).fit(resume=True)
    assert float(pyro.param("student_t_df").detach()) == trained_df
    for key, value in final_a.items():
        assert torch.equal(value, model_c.state_dict()[key]), key


class AutoNormalOffset(LatentVariableModel):
    """z_n ~ N(μ, I) with a global μ ~ N(0, I) whose variational family is Pyro's AutoNormal."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.global_guide = AutoNormal(self.model_globals, init_scale=0.5)

    def model_globals(self, batch):
        return {"offset": pyro.sample("offset", dist.Normal(batch.x.new_zeros(self.latent_dim), 1.0).to_event(1))}

    def guide_globals(self, batch):
        return self.global_guide(batch)

    def prior(self, batch, offset):
        return dist.Normal(offset.expand(batch.size, -1), 1.0).to_event(1)


def test_autoguide_over_global_sites_is_trained_and_resumed(tmp_path):
    data = NonstationarySources(num_segments=5, points_per_segment=20, latent_dim=2).training_set()

    def build():
        pyro.clear_param_store()  # each run as in a fresh process
        set_seed(0)
        return AutoNormalOffset((2,), 2, num_data=len(data), encoder_args=dict(hidden=(16,)),
                                decoder_args=dict(hidden=(16,)))

    model_a = build()
    trainer = trainer_for(model_a, data, RunDirectory(tmp_path / "a").create({"x": 1}), lr=0.05)
    optimised = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    autoguide_params = list(model_a.global_guide.parameters())
    assert len(autoguide_params) == 2 and all(id(p) in optimised for p in autoguide_params)
    trainer.fit()
    assert not torch.allclose(model_a.global_guide.scales.offset, torch.full((2,), 0.5))
    final_a = {k: v.clone() for k, v in model_a.state_dict().items()}
    assert {"global_guide.locs.offset_unconstrained", "global_guide.scales.offset_unconstrained"} <= set(final_a)

    model_b = build()
    run_b = RunDirectory(tmp_path / "b").create({"x": 1})

    def stop_after_two(trainer, epoch, row):
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        trainer_for(model_b, data, run_b, lr=0.05, callbacks=[stop_after_two]).fit()
    model_c = build()
    trainer_for(model_c, data, run_b, lr=0.05).fit(resume=True)
    for key, value in final_a.items():
        assert torch.equal(value, model_c.state_dict()[key]), key


# ---------------------------------------------------------------------- seeding where the model is built
def test_same_seed_gives_the_same_model_and_fit_and_another_seed_does_not():
    def build_and_fit(seed):
        data = NonstationarySources(num_segments=5, points_per_segment=20, latent_dim=2).training_set()
        model = MODELS.build("ivae", seed=seed, observation_shape=(2,), latent_dim=2, num_data=len(data),
                             aux_dim=5, encoder_args=dict(hidden=(16,)), decoder_args=dict(hidden=(16,)),
                             prior_hidden=(8,))
        result = trainer_for(model, data, epochs=2).fit()
        return model.state_dict(), result.final_loss

    torch.manual_seed(123)  # whatever ran before: the build's seed decides
    state_a, loss_a = build_and_fit(7)
    torch.manual_seed(456)
    state_b, loss_b = build_and_fit(7)
    state_c, loss_c = build_and_fit(8)
    assert loss_a == loss_b and all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    weights = [k for k in state_a if k.endswith(".weight")]
    assert loss_a != loss_c and not any(torch.equal(state_a[k], state_c[k]) for k in weights)


# ---------------------------------------------------------------------- auxiliary optimizers (FactorVAE, Alg. 2)
def factor_vae_problem():
    data = NonstationarySources(num_segments=5, points_per_segment=20, latent_dim=2).training_set()
    model = MODELS.build("factor_vae", seed=0, observation_shape=(2,), latent_dim=2, num_data=len(data),
                         encoder_args=dict(hidden=(16,)), decoder_args=dict(hidden=(16,)),
                         discriminator_hidden=(16, 16), discriminator_lr=1e-2)
    return data, model


def test_discriminator_is_trained_by_its_own_optimizer_on_a_second_minibatch():
    data, model = factor_vae_problem()
    seen = []
    loss = model.discriminator_loss

    def recording_loss(batch, second_batch):
        seen.append((batch.index.clone(), second_batch.index.clone()))
        return loss(batch, second_batch)

    model.discriminator_loss = recording_loss
    before = [p.detach().clone() for p in model.discriminator.parameters()]
    trainer = trainer_for(model, data, epochs=1)
    optimised = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert not any(id(p) in optimised for p in model.discriminator.parameters())
    everything = trainer_for(model, data, epochs=1, parameters=model.parameters())  # the trainer leaves D out too
    assert not {id(p) for p in model.discriminator.parameters()} & {
        id(p) for group in everything.optimizer.param_groups for p in group["params"]}
    (objective, optimizer), = trainer.auxiliary
    assert optimizer.param_groups[0]["betas"] == (0.5, 0.9) and optimizer.param_groups[0]["lr"] == 1e-2
    trainer.fit()
    assert len(seen) == trainer.step == math.ceil(len(data) / 16)  # 7 steps
    for first, second in seen:  # B' is a minibatch of its own: 16 distinct points, not B's
        assert len(set(second.tolist())) == 16 and set(first.tolist()) != set(second.tolist())
    one_pass = torch.cat([second for _, second in seen[: len(data) // 16]])  # the first 6 B' split one shuffle
    assert len(set(one_pass.tolist())) == len(one_pass) == 96
    assert all(not torch.equal(a, b.detach()) for a, b in zip(before, model.discriminator.parameters()))


def test_discriminator_tells_codes_of_the_minibatch_from_permuted_codes_of_the_second_one():
    """Alg. 2, line 10: D's class-0 inputs are the codes of B, its class-1 inputs the codes of B' with each
    dimension permuted across B' — not a permutation of B's own codes."""
    _, model = factor_vae_problem()
    model.posterior = lambda batch: dist.Delta(10.0 * batch.index.float().unsqueeze(-1) + torch.tensor([0.0, 1.0]),
                                               event_dim=1)  # code of point i: (10 i, 10 i + 1)
    inputs = []
    model.discriminator.register_forward_hook(lambda module, args, output: inputs.append(args[0].detach()))
    batch = Batch(x=torch.zeros(8, 2), index=torch.arange(8))
    second = Batch(x=torch.zeros(8, 2), index=torch.arange(20, 28))
    torch.manual_seed(0)
    model.discriminator_loss(batch, second)
    (codes,) = inputs
    real, fake = codes[:8], codes[8:]
    assert torch.equal(real, model.posterior(batch).sample())
    second_codes = model.posterior(second).sample()
    for j in range(2):  # each column a permutation of the second minibatch's column ...
        assert torch.equal(fake[:, j].sort().values, second_codes[:, j])
    rows = {tuple(row.tolist()) for row in second_codes}  # ... permuted independently: rows get mixed
    assert sum(tuple(row.tolist()) not in rows for row in fake) >= 4


def test_discriminator_and_its_optimizer_resume_exactly(tmp_path):
    data, model_a = factor_vae_problem()
    trainer_a = trainer_for(model_a, data, RunDirectory(tmp_path / "a").create({"x": 1}))
    trainer_a.fit()
    _, model_b = factor_vae_problem()
    run_b = RunDirectory(tmp_path / "b").create({"x": 1})

    def stop_after_two(trainer, epoch, row):
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        trainer_for(model_b, data, run_b, callbacks=[stop_after_two]).fit()
    _, model_c = factor_vae_problem()
    trainer_c = trainer_for(model_c, data, run_b)
    trainer_c.fit(resume=True)
    for key, value in model_a.state_dict().items():
        assert torch.equal(value, model_c.state_dict()[key]), key
    state_a = trainer_a.auxiliary[0][1].state_dict()["state"]
    state_c = trainer_c.auxiliary[0][1].state_dict()["state"]
    assert state_a.keys() == state_c.keys()
    assert all(torch.equal(state_a[i]["exp_avg_sq"], state_c[i]["exp_avg_sq"]) for i in state_a)


# ---------------------------------------------------------------------------------------------- fit_subset
def held_out_problem():
    """A small sVAE+ and cells of its actions 2 and 3 (the 'held-out' ones), negative binomial counts."""
    gen = torch.Generator().manual_seed(0)
    model = MODELS.build("svae_plus", observation_shape=(6,), latent_dim=3, num_data=40, num_actions=4,
                         likelihood="negative_binomial", input_transform="log1p", encoder_args=dict(hidden=(8,)),
                         decoder_args=dict(hidden=(8,)), seed=0)
    x = torch.poisson(torch.full((24, 6), 20.0), generator=gen)
    action = torch.tensor([2, 3]).repeat(12)
    return model, ArrayDataset(x, extras={"action": action, "library_size": x.sum(-1)})


def reference_fit_subset(model, data, parameters, rows, **trainer_args):
    """fit_subset as it was before it froze the other parameters: gradients flow into every parameter."""
    hooks = []
    for parameter in parameters:
        keep = torch.zeros(parameter.shape[0], *([1] * (parameter.dim() - 1)))
        keep[rows] = 1.0
        hooks.append(parameter.register_hook(lambda grad, keep=keep: grad * keep))
    saved, model.num_data = model.num_data, len(data)
    try:
        return Trainer(model, data, parameters=parameters, **trainer_args).fit()
    finally:
        model.num_data = saved
        for hook in hooks:
            hook.remove()


def test_fit_subset_freezes_the_rest_and_fits_what_it_fitted_before():
    model, data = held_out_problem()
    reference = copy.deepcopy(model)
    before = {name: value.detach().clone() for name, value in model.named_parameters()}
    rows = torch.tensor([2, 3])
    settings = dict(epochs=3, batch_size=8, lr=0.05, seed=1, device="cpu", progress=False)
    result = fit_subset(model, data, model.global_parameters(), rows=rows, **settings)
    expected = reference_fit_subset(reference, data, reference.global_parameters(), rows, **settings)

    drop_seconds = lambda history: [{k: v for k, v in row.items() if k != "seconds"} for row in history]  # noqa: E731
    assert drop_seconds(result.history) == drop_seconds(expected.history)
    fitted = {id(p) for p in model.global_parameters()}
    for (name, value), (_, twin) in zip(model.named_parameters(), reference.named_parameters()):
        assert torch.equal(value, twin), name  # the same fit, to the bit
        assert value.requires_grad, name  # restored
        if id(value) in fitted:
            assert torch.equal(value[:2], before[name][:2]) and not torch.equal(value[2:], before[name][2:]), name
        else:
            assert torch.equal(value, before[name]), name
            assert value.grad is None, name  # backward never reached the frozen networks
    assert model.num_data == 40


def test_fit_subset_restores_the_parameters_when_the_fit_fails():
    model, data = held_out_problem()
    with pytest.raises(ValueError, match="epochs must be"):
        fit_subset(model, data, model.global_parameters(), rows=torch.tensor([2]), epochs=0, device="cpu",
                   progress=False)
    assert all(p.requires_grad for p in model.parameters())
    assert model.num_data == 40
