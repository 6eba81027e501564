"""What a run is: a model, a protocol, a seed and the settings of each — one value that the command line,
a config file and Python all produce, checked in full before anything is written.

``RunSpec("ivae", "nonstationary", seed=0)`` names a run; :meth:`RunSpec.with_assignments` applies
``--set KEY=VALUE`` (``model.beta=2``, ``protocol.num_segments=10``, ``trainer.epochs=50``; the prefix may
be left out where only one of the three has the key); :meth:`RunSpec.from_file` reads a run's
``config.json`` or a YAML/JSON file with the same keys. :meth:`RunSpec.resolve` checks every value against
its declaration (the protocol's and the trainer's :class:`~pyrodisent.protocols.settings.Setting`, the
model's constructor) and that the protocol's batches carry what the model needs.

``config.json`` is the resolved spec — every protocol and trainer setting with its value, the model
settings given — plus ``derived``: the data's description and the model's and trainer's arguments the
protocol derived from them, so a reader sees exactly what was built.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from pyrodisent.protocols.base import Protocol, batch_needs, describe_mismatch
from pyrodisent.protocols.settings import (Setting, SettingError, Settings, check_argument, keyword_arguments,
                                           nested_update, parse_value)
from pyrodisent.registry import replacing_registrations
from pyrodisent.runs.flags import nonnegative_float, positive_float, positive_int, seed as seed_value

#: the trainer's settings (``trainer.KEY``); a protocol's ``training`` dict changes their defaults
TRAINER_SETTINGS: Tuple[Setting, ...] = (
    Setting("epochs", 20, "passes over the training data", positive_int, optional=True),
    Setting("batch_size", 64, "minibatch size", positive_int),
    Setting("lr", 1e-3, "Adam's learning rate (may change on --resume)", positive_float),
    Setting("lr_schedule", "none", "learning-rate schedule: none, plateau (×0.1 when the epoch loss stops "
            "improving) or cosine (to 0 over training)", choices=("none", "plateau", "cosine")),
    Setting("grad_clip", None, "clip the global gradient norm to this value (default: no clipping; may change on "
            "--resume)", positive_float, optional=True),
    Setting("weight_decay", 0.0, "Adam's weight decay", nonnegative_float),
    Setting("num_threads", None, "CPU threads for torch while training (default: torch's own)", positive_int,
            optional=True),
)
#: what ``--resume`` may change (dotted config keys): the optimiser's settings, not the model's, the
#: data's or the schedule's length; the change is recorded in config.json under ``resume_changes``
RESUMABLE_SETTINGS = ("trainer_settings.lr", "trainer_settings.grad_clip", "derived.trainer_arguments.lr",
                      "derived.trainer_arguments.grad_clip")
#: the keys of a spec file (config.json adds ``derived`` and ``resume_changes``, which are read back, not set)
SPEC_KEYS = ("model", "protocol", "seed", "model_settings", "protocol_settings", "trainer_settings", "model_file")
RECORDED_KEYS = ("derived", "resume_changes")
KINDS = ("model", "protocol", "trainer")


def trainer_settings(protocol_class) -> Settings:
    """The trainer's settings with the protocol's training defaults."""
    defaults = dict(getattr(protocol_class, "training", {}))
    return Settings("trainer", tuple(dataclasses.replace(s, default=defaults[s.name]) if s.name in defaults else s
                                     for s in TRAINER_SETTINGS))


def compatible_model_names(protocol) -> List[str]:
    """The registered models whose batch needs the protocol (a class or an instance) provides."""
    from pyrodisent.registry import MODELS

    provided = frozenset(protocol.provides)
    return [name for name in MODELS.names() if batch_needs(MODELS.get(name)) <= provided]


# ------------------------------------------------------------------ a user's model file
_LOADED_MODEL_FILES: Dict[Path, Any] = {}


def load_model_file(path) -> Path:
    """Run a Python file that registers models (or protocols) — once per file and process. Returns its
    resolved path. Its registrations replace entries of the same name. A missing file is a ValueError
    naming it."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise ValueError(f"--model-file {path}: no such file (expected a Python file registering a model with "
                         "@MODELS.register(name))")
    if resolved not in _LOADED_MODEL_FILES:
        name = f"pyrodisent_model_file_{resolved.stem}_{len(_LOADED_MODEL_FILES)}"
        spec = importlib.util.spec_from_file_location(name, resolved)
        module = importlib.util.module_from_spec(spec)
        with replacing_registrations():
            spec.loader.exec_module(module)
        _LOADED_MODEL_FILES[resolved] = module
    return resolved


# ------------------------------------------------------------------ the spec
@dataclass
class RunSpec:
    """A run by name: model, protocol, seed, and the settings given (the rest take their defaults)."""

    model: str
    protocol: str
    seed: int = 0
    model_settings: Dict[str, Any] = field(default_factory=dict)
    protocol_settings: Dict[str, Any] = field(default_factory=dict)
    trainer_settings: Dict[str, Any] = field(default_factory=dict)
    model_file: Optional[str] = None

    # ------------------------------------------------------------------ building one
    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], source: str = "the spec") -> "RunSpec":
        """From a mapping with the keys of :data:`SPEC_KEYS` (a config.json's ``derived`` and
        ``resume_changes`` are ignored); unknown keys are named."""
        if not isinstance(mapping, Mapping):
            raise SettingError(f"{source}: expected a mapping with keys {', '.join(SPEC_KEYS)}, got "
                               f"{type(mapping).__name__}")
        unknown = [key for key in mapping if key not in SPEC_KEYS + RECORDED_KEYS]
        if unknown:
            raise SettingError(f"{source}: unknown key{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(map(repr, unknown))}; valid keys: {', '.join(SPEC_KEYS)}")
        for key in ("model", "protocol"):
            if not isinstance(mapping.get(key), str):
                raise SettingError(f"{source}: needs {key} (a registered {key}'s name)")
        sections = {}
        for key in ("model_settings", "protocol_settings", "trainer_settings"):
            value = mapping.get(key) or {}
            if not isinstance(value, Mapping):
                raise SettingError(f"{source}: {key} must be a mapping, got {value!r}")
            sections[key] = dict(value)
        return cls(model=mapping["model"], protocol=mapping["protocol"], seed=mapping.get("seed", 0),
                   model_file=mapping.get("model_file"), **sections)

    @classmethod
    def from_file(cls, path) -> "RunSpec":
        """From a run's config.json, or a YAML or JSON file with the same keys."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"--config {path}: no such file")
        text = path.read_text()
        try:
            mapping = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as error:
            raise SettingError(f"--config {path} cannot be read ({type(error).__name__}: {error})") from None
        return cls.from_mapping(mapping, source=f"--config {path}")

    def with_assignments(self, assignments: Sequence[str]) -> "RunSpec":
        """A copy with ``KEY=VALUE`` assignments applied (values read as YAML); unknown keys are named
        with the valid ones."""
        values = []
        for text in assignments:
            key, sep, raw = text.partition("=")
            key = key.strip()
            if not sep or not key:
                raise SettingError(f"--set {text}: expected KEY=VALUE, e.g. --set model.beta=4")
            values.append((key, parse_value(raw)))
        return self.with_values(values)

    def with_values(self, values: Sequence[Tuple[str, Any]]) -> "RunSpec":
        """A copy with ``(KEY, value)`` pairs applied, the keys those of ``--set`` (a study's grids and
        settings); unknown keys are named with the valid ones."""
        spec = dataclasses.replace(self, model_settings=dict(self.model_settings),
                                   protocol_settings=dict(self.protocol_settings),
                                   trainer_settings=dict(self.trainer_settings))
        for key, value in values:
            kind, name = spec.locate(key)
            if kind == "model":
                path = name.split(".")
                nested: Any = value
                for part in reversed(path[1:]):
                    nested = {part: nested}
                spec.model_settings = nested_update(spec.model_settings, {path[0]: nested})
            else:
                getattr(spec, f"{kind}_settings")[name] = value
        return spec

    def keys(self) -> Dict[str, List[str]]:
        """The settable keys of each kind, for this spec's model and protocol."""
        from pyrodisent.registry import MODELS, PROTOCOLS

        protocol = PROTOCOLS.get(self.protocol)
        return {"model": list(keyword_arguments(MODELS.get(self.model))),
                "protocol": protocol.declared().names(),
                "trainer": trainer_settings(protocol).names()}

    def locate(self, key: str) -> Tuple[str, str]:
        """(kind, name) of a ``--set`` key: ``model.beta`` → (model, beta); ``beta`` → the one kind that has it."""
        keys = self.keys()
        prefix, dot, rest = key.partition(".")
        if dot and prefix in KINDS:
            top = rest.split(".")[0]
            if top not in keys[prefix]:
                raise SettingError(f"--set {key}: {self.describe_kind(prefix)} has no setting {top!r}; valid keys: "
                                   f"{prefix}.{{{', '.join(keys[prefix])}}}")
            if prefix != "model" and "." in rest:
                raise SettingError(f"--set {key}: {prefix} settings are not nested")
            return prefix, rest
        top = key.split(".")[0]
        owners = [kind for kind in KINDS if top in keys[kind]]
        if not owners:
            valid = ", ".join(f"{kind}.{{{', '.join(keys[kind])}}}" for kind in KINDS if keys[kind])
            raise SettingError(f"--set {key}: unknown key; valid keys: {valid}")
        if len(owners) > 1:
            raise SettingError(f"--set {key}: ambiguous, {' and '.join(f'{kind}.{top}' for kind in owners)} both "
                               f"exist; write one of them")
        if owners[0] != "model" and "." in key:
            raise SettingError(f"--set {key}: {owners[0]} settings are not nested")
        return owners[0], key

    def describe_kind(self, kind: str) -> str:
        return {"model": f"model {self.model!r}", "protocol": f"protocol {self.protocol!r}",
                "trainer": "the trainer"}[kind]

    # ------------------------------------------------------------------ checking it
    def resolve(self) -> "ResolvedSpec":
        """Every value checked and completed with its default; the model's batch needs checked against the
        protocol. Raises :class:`SettingError` (a ValueError) or an unknown-name KeyError; writes nothing."""
        from pyrodisent.registry import MODELS, PROTOCOLS

        model_file = str(load_model_file(self.model_file)) if self.model_file else None
        factory = MODELS.get(self.model)
        protocol_class = PROTOCOLS.get(self.protocol)
        try:
            seed = seed_value(self.seed)
        except Exception as error:
            raise SettingError(f"seed: {error}") from None
        protocol: Protocol = protocol_class(**self.protocol_settings)
        missing = protocol.missing_needs(factory)
        if missing:
            raise SettingError(describe_mismatch(protocol, self.model, missing, compatible_model_names(protocol)))
        training = trainer_settings(protocol_class).resolve(self.trainer_settings)
        model_settings = check_model_settings(self.model, factory, self.model_settings)
        return ResolvedSpec(model=self.model, protocol_name=self.protocol, seed=seed, protocol=protocol,
                            model_settings=model_settings, training=training, model_file=model_file)


def check_model_settings(name: str, factory, settings: Mapping[str, Any]) -> Dict[str, Any]:
    """A model's settings checked against its constructor's keyword arguments."""
    parameters = keyword_arguments(factory)
    checked = {}
    for key, value in settings.items():
        if key not in parameters:
            raise SettingError(f"unknown model setting {key!r} of {name!r}; valid keys: "
                               f"{', '.join(parameters) or 'none'}")
        checked[key] = check_argument("model", parameters[key], value)
    return checked


@dataclass
class ResolvedSpec:
    """A checked spec: the protocol built with its settings, every trainer setting, the model settings."""

    model: str
    protocol_name: str
    seed: int
    protocol: Protocol
    model_settings: Dict[str, Any]
    training: Dict[str, Any]
    model_file: Optional[str] = None

    def for_model(self, model: str) -> "ResolvedSpec":
        """The same protocol, seed and trainer for another model (a baseline), with its defaults."""
        from pyrodisent.registry import MODELS

        missing = self.protocol.missing_needs(MODELS.get(model))
        if missing:
            raise SettingError(describe_mismatch(self.protocol, model, missing, compatible_model_names(self.protocol)))
        return dataclasses.replace(self, model=model, model_settings={})

    def config(self, data: Mapping[str, Any], model_arguments: Mapping[str, Any],
               trainer_arguments: Mapping[str, Any]) -> Dict[str, Any]:
        """config.json: the spec with every setting resolved, and what the protocol derived from it."""
        return {
            "model": self.model,
            "protocol": self.protocol_name,
            "seed": self.seed,
            "model_file": self.model_file,
            "model_settings": dict(self.model_settings),
            "protocol_settings": dict(self.protocol.values),
            "trainer_settings": dict(self.training),
            "derived": {"data": dict(data), "model_arguments": recorded(model_arguments),
                        "trainer_arguments": recorded(trainer_arguments)},
        }


def recorded(arguments: Mapping[str, Any]) -> Dict[str, Any]:
    """Arguments as config.json can hold them: objects that are not data (an objective) by their repr."""
    def value(item):
        if item is None or isinstance(item, (bool, int, float, str)):
            return item
        if isinstance(item, Mapping):
            return {str(k): value(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [value(v) for v in item]
        if hasattr(item, "item") and getattr(item, "ndim", 1) == 0:
            return item.item()
        if isinstance(item, Path):
            return str(item)
        return repr(item) if dataclasses.is_dataclass(item) else type(item).__name__
    return {str(key): value(item) for key, item in arguments.items()}
