import pytest

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.registry import MODELS, NETWORKS, Registry, UnknownNameError


def test_unknown_name_lists_registered_names():
    with pytest.raises(UnknownNameError, match=r"unknown model 'nope'; registered models: .*ivae"):
        MODELS.get("nope")
    with pytest.raises(UnknownNameError, match="conv_encoder"):
        NETWORKS.build("resnet9000", (3,), (2,))


def test_register_refuses_a_second_object_under_a_name():
    registry = Registry("thing")
    registry.register("a")(int)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a")(float)
    assert registry.build("a", "3") == 3 and registry.names() == ["a"]


def test_zoo_is_registered():
    assert {"vae", "beta_vae", "ivae"} <= set(MODELS.names())


def test_a_model_file_replaces_names_only_while_it_loads():
    from pyrodisent.registry import Registry, replacing_registrations

    registry = Registry("thing")
    registry.register("a")(type("First", (), {}))
    with replacing_registrations():
        second = registry.register("a")(type("Second", (), {}))
    assert registry.get("a") is second
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a")(type("Third", (), {}))
