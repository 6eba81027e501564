"""An example's command line: only the trainer flags a user gives override what the protocol gives the model."""
import pytest

from pyrodisent.registry import PROTOCOLS
from pyrodisent.runs.command_line import example_parser, example_spec, given_flags
from pyrodisent.runs.spec import compatible_model_names, trainer_settings


@pytest.fixture
def concepts_parser():
    protocol = PROTOCOLS.get("concepts")
    return protocol, example_parser("concepts", "test", protocol, compatible_model_names(protocol),
                                    protocol.default_model)


def resolved_lr(parser, protocol, argv):
    args = parser.parse_args(argv)
    names = [s.name for s in trainer_settings(protocol)]
    return example_spec(args, protocol, given_flags(parser, argv, names)).resolve().training["lr"]


def test_a_model_gets_the_protocols_learning_rate_for_it_unless_the_user_gives_one(concepts_parser):
    protocol, parser = concepts_parser
    general, for_clap = protocol.training["lr"], protocol.model_training["clap"]["lr"]
    assert general != for_clap
    assert resolved_lr(parser, protocol, ["--model", "clap"]) == for_clap
    assert resolved_lr(parser, protocol, ["--model", "beta_vae"]) == general
    assert resolved_lr(parser, protocol, ["--model", "clap", "--lr", str(general)]) == general  # given, though default
    assert resolved_lr(parser, protocol, ["--model", "beta_vae", "--lr=0.002"]) == 0.002


def test_given_flags_names_what_the_command_line_sets_and_keeps_the_parsers_defaults(concepts_parser):
    protocol, parser = concepts_parser
    assert given_flags(parser, ["--lr", "0.0005", "--seed", "3"], ["lr", "batch_size"]) == {"lr"}
    assert given_flags(parser, [], ["lr", "batch_size"]) == set()
    assert parser.get_default("lr") == protocol.training["lr"]
