"""A run spec: ``--set`` keys find their kind, every value is checked against its declaration, and a spec
read back from its config.json or from YAML resolves to the same run."""
import json

import pytest

from pyrodisent.protocols.settings import SettingError
from pyrodisent.runs.runner import prepare
from pyrodisent.runs.spec import RunSpec, compatible_model_names, recorded, trainer_settings
from pyrodisent.registry import PROTOCOLS

TINY = {"num_segments": 3, "points_per_segment": 10, "latent_dim": 2, "hidden": [8], "diagnosis_points": 5}


def test_assignments_find_their_kind_and_nest_model_arguments():
    spec = RunSpec("beta_vae", "nonstationary").with_assignments(
        ["num_segments=7", "epochs=3", "lr=1e-3", "model.beta=2", "model.encoder_args.hidden=[4, 4]",
         "protocol.latent_dim=3", "trainer.grad_clip=5"])
    assert spec.protocol_settings == {"num_segments": 7, "latent_dim": 3}
    assert spec.trainer_settings == {"epochs": 3, "lr": 0.001, "grad_clip": 5}
    assert spec.model_settings == {"beta": 2, "encoder_args": {"hidden": [4, 4]}}
    nested = spec.with_assignments(["model.encoder_args.activation_name=relu"])
    assert nested.model_settings["encoder_args"] == {"hidden": [4, 4], "activation_name": "relu"}
    assert spec.model_settings["encoder_args"] == {"hidden": [4, 4]}  # a copy: the original is unchanged


@pytest.mark.parametrize("assignment, message", [
    ("latent_dim=3", r"--set latent_dim: ambiguous, model.latent_dim and protocol.latent_dim both exist"),
    ("epoch=3", r"--set epoch: unknown key; valid keys: model\.\{.*\}, protocol\.\{variant, num_segments.*\}, "
                r"trainer\.\{epochs, batch_size, lr"),
    ("protocol.epochs=3", r"protocol 'nonstationary' has no setting 'epochs'; valid keys: protocol\.\{variant"),
    ("epochs", r"--set epochs: expected KEY=VALUE"),
    ("trainer.lr.x=1", r"trainer settings are not nested"),
])
def test_bad_assignments_are_named(assignment, message):
    with pytest.raises(SettingError, match=message):
        RunSpec("ivae", "nonstationary").with_assignments([assignment])


def test_resolve_checks_every_value_and_fills_the_defaults():
    resolved = RunSpec("ivae", "nonstationary", protocol_settings={"num_segments": "12"},
                       trainer_settings={"epochs": 3.0}).resolve()
    assert resolved.protocol.num_segments == 12 and resolved.training["epochs"] == 3
    assert resolved.training["lr"] == PROTOCOLS.get("nonstationary").training["lr"]  # the protocol's default
    assert resolved.training["grad_clip"] is None
    # a number-valued argument annotated float | Sequence[float] takes a list as well (CCVAE: one α per label)
    weights = RunSpec("ccvae", "concepts", model_settings={"label_weight": [500, 50]}).resolve().model_settings
    assert weights["label_weight"] == [500.0, 50.0]
    delays = RunSpec("clap", "concepts", model_settings={"label_delays": [0, 750.0]}).resolve().model_settings
    assert delays["label_delays"] == [0, 750] and all(type(d) is int for d in delays["label_delays"])
    for spec, message in [
        (RunSpec("ivae", "nonstationary", trainer_settings={"lr": 0}), r"trainer\.lr: expected a finite number > 0"),
        (RunSpec("ivae", "nonstationary", protocol_settings={"variant": "2020"}),
         r"protocol\.variant: expected one of official, 2019, got '2020'"),
        (RunSpec("ivae", "nonstationary", model_settings={"beta": "big"}), r"model\.beta: expected a number"),
        (RunSpec("ccvae", "concepts", model_settings={"label_weight": [5, "x"]}),
         r"model\.label_weight: expected a number or a list of them, got \[5, 'x'\]"),
        (RunSpec("clap", "concepts", model_settings={"label_delays": [0, 7.5]}),
         r"model\.label_delays: expected an integer or a list of them, got \[0, 7\.5\]"),
        (RunSpec("clap", "concepts", model_settings={"label_delays": 7.5}), r"model\.label_delays: expected an integer"),
        (RunSpec("ivae", "nonstationary", model_settings={"betta": 1}), r"unknown model setting 'betta' of 'ivae'"),
        (RunSpec("ivae", "nonstationary", seed=-1), r"seed: expected an integer ≥ 0"),
        (RunSpec("svae_plus", "nonstationary"), r"model 'svae_plus' needs action in each batch"),
    ]:
        with pytest.raises(SettingError, match=message):
            spec.resolve()


def test_a_config_read_back_resolves_to_the_same_run(tmp_path):
    spec = RunSpec("beta_vae", "nonstationary", seed=3, model_settings={"beta": 2.0}, protocol_settings=TINY,
                   trainer_settings={"epochs": 1})
    config = prepare(spec).config()
    assert config["derived"]["model_arguments"]["beta"] == 2.0  # the user's setting over the protocol's
    assert config["protocol_settings"]["num_segments"] == 3 and config["protocol_settings"]["variant"] == "official"
    assert config["trainer_settings"]["batch_size"] == 256 and config["derived"]["data"]["num_segments"] == 3
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert prepare(RunSpec.from_file(tmp_path / "config.json")).config() == config
    (tmp_path / "spec.yaml").write_text("model: beta_vae\nprotocol: nonstationary\nseed: 3\nmodel_settings: {beta: 2.0}\n"
                                        f"protocol_settings: {json.dumps(TINY)}\ntrainer_settings: {{epochs: 1}}\n")
    assert prepare(RunSpec.from_file(tmp_path / "spec.yaml")).config() == config
    (tmp_path / "typo.yaml").write_text("model: vae\nprotocol: nonstationary\nsettings: {}\n")
    with pytest.raises(SettingError, match=r"unknown key 'settings'; valid keys: model, protocol, seed"):
        RunSpec.from_file(tmp_path / "typo.yaml")


def test_objects_are_recorded_by_what_they_are():
    spec = RunSpec("ivae", "nonstationary", protocol_settings={**TINY, "objective": "official",
                                                                "posterior_covariance": "diagonal"})
    arguments = prepare(spec).config()["derived"]["trainer_arguments"]
    assert isinstance(arguments["objective"], str) and "DecomposedELBO" in arguments["objective"]
    assert recorded({"shape": (1, 2), "path": None}) == {"shape": [1, 2], "path": None}
    json.dumps(arguments)


def test_models_that_run_on_a_protocol_are_those_whose_needs_it_provides():
    nonstationary = compatible_model_names(PROTOCOLS.get("nonstationary"))
    assert {"ivae", "vae", "beta_vae"} <= set(nonstationary) and "svae_plus" not in nonstationary
    assert "ivae" not in compatible_model_names(PROTOCOLS.get("sparse_shift"))
    assert trainer_settings(PROTOCOLS.get("sparse_shift")).defaults()["num_threads"] == 1
