"""Named, typed settings: what a protocol, a model or the trainer may be told, checked as it is read.

A :class:`Setting` is one value with its default, its validator (from :mod:`pyrodisent.runs.flags`),
its allowed choices and a help line. The same declaration checks a value given as a command-line flag
(``--num-segments 5``), as ``--set protocol.num_segments=5``, or read from a config file, so that every
route reports ``num_segments: expected an integer ≥ 1, got 'x'`` before anything is written.
"""
from __future__ import annotations

import argparse
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple

import yaml


class SettingError(ValueError):
    """A setting that does not exist or has a value it cannot take; the message says what was expected."""


@dataclass(frozen=True)
class Setting:
    """One setting.

    :param check: turns a value (or its text) into the value, or raises ``argparse.ArgumentTypeError``
        saying what is allowed; ``None`` accepts the value as it is.
    :param choices: the allowed values (checked after ``check``).
    :param many: a list of values (``nargs="+"`` on the command line, comma-separated in ``--set``).
    :param optional: ``None`` is allowed (written ``none`` in ``--set``).
    """

    name: str
    default: Any
    help: str = ""
    check: Optional[Callable[[Any], Any]] = None
    choices: Optional[Tuple[Any, ...]] = None
    many: bool = False
    optional: bool = False

    @property
    def is_switch(self) -> bool:
        return isinstance(self.default, bool)

    def coerce(self, value: Any) -> Any:
        """The value checked and converted; :class:`SettingError` when it is not allowed."""
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null") and self.optional):
            if self.optional or self.default is None:
                return None
            raise SettingError(f"{self.name}: expected a value, got none")
        if self.is_switch:
            return _switch(self.name, value)
        if self.many:
            items = _split(value)
            if not items:
                raise SettingError(f"{self.name}: expected at least one value")
            return [self._one(item) for item in items]
        return self._one(value)

    def _one(self, value: Any) -> Any:
        textual = self.choices is not None and all(isinstance(choice, str) for choice in self.choices)
        if (textual or (self.check is None and isinstance(self.default, str))) and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            value = str(value)  # YAML reads --set variant=2019 as a number
        if self.check is not None:
            try:
                value = self.check(value)
            except (argparse.ArgumentTypeError, TypeError, ValueError) as error:
                raise SettingError(f"{self.name}: {error}") from None
        if self.choices is not None and value not in self.choices:
            raise SettingError(f"{self.name}: expected one of {', '.join(map(str, self.choices))}, got {value!r}")
        return value

    def add_flag(self, parser: argparse.ArgumentParser) -> None:
        """Add this setting as ``--name-with-dashes`` to an example's parser."""
        flag = "--" + self.name.replace("_", "-")
        if self.is_switch:
            parser.add_argument(flag, dest=self.name, action=argparse.BooleanOptionalAction, default=self.default,
                                help=self.help)
            return
        kwargs: Dict[str, Any] = dict(dest=self.name, default=self.default, help=self.help or None)
        if self.check is not None:
            kwargs["type"] = self.check
        if self.choices is not None:
            kwargs["choices"] = list(self.choices)
        if self.many:
            kwargs["nargs"] = "+"
        parser.add_argument(flag, **kwargs)


def _switch(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise SettingError(f"{name}: expected true or false, got {value!r}")


def _split(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        return [item.strip() for item in value.strip("[]()").split(",") if item.strip()]
    return [value]


class Settings:
    """An ordered set of :class:`Setting` with one kind's name (``protocol``, ``trainer``) for messages."""

    def __init__(self, kind: str, settings: Iterable[Setting]):
        self.kind = kind
        self.by_name: Dict[str, Setting] = {}
        for setting in settings:
            if setting.name in self.by_name:
                raise ValueError(f"{kind} setting {setting.name!r} is declared twice")
            self.by_name[setting.name] = setting

    def __iter__(self):
        return iter(self.by_name.values())

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    def names(self) -> list:
        return list(self.by_name)

    def defaults(self) -> Dict[str, Any]:
        return {name: setting.default for name, setting in self.by_name.items()}

    def resolve(self, given: Mapping[str, Any]) -> Dict[str, Any]:
        """Every setting: the defaults with ``given`` checked on top; unknown names are refused."""
        unknown = [name for name in given if name not in self.by_name]
        if unknown:
            raise SettingError(f"unknown {self.kind} setting{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(map(repr, unknown))}; valid keys: {', '.join(self.names())}")
        values = self.defaults()
        for name, value in given.items():
            try:
                values[name] = self.by_name[name].coerce(value)
            except SettingError as error:
                raise SettingError(f"{self.kind}.{error}") from None
        return values


def parse_value(text: str) -> Any:
    """The value of ``key=value`` text: YAML's reading of it (``4`` → 4, ``1e-3`` → 0.001, ``true``,
    ``[64, 64]``), else the text itself."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and _looks_like_number(value):  # YAML 1.1 reads '1e-3' as a string
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _looks_like_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------ a constructor's keyword arguments
def keyword_arguments(factory: Callable) -> Dict[str, inspect.Parameter]:
    """Every keyword argument ``factory`` (a class or function) accepts, following ``**kwargs`` up the
    class's bases (a model passes its extra arguments on to :class:`~pyrodisent.model.LatentVariableModel`)."""
    found: Dict[str, inspect.Parameter] = {}
    classes = inspect.getmro(factory) if inspect.isclass(factory) else ()
    functions = [cls.__init__ for cls in classes if "__init__" in vars(cls)] if classes else [factory]
    for function in functions:
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):
            break
        forwards = False
        for name, parameter in parameters.items():
            if name == "self":
                continue
            if parameter.kind == parameter.VAR_KEYWORD:
                forwards = True
            elif parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
                found.setdefault(name, parameter)
        if not forwards:
            break
    return found


def check_argument(owner: str, parameter: inspect.Parameter, value: Any) -> Any:
    """``value`` checked against the kind of ``parameter``'s default (bool, int, float, str, sequence,
    mapping); a parameter without a default or with ``None`` takes any value."""
    default = parameter.default
    name = f"{owner}.{parameter.name}"
    if default is inspect.Parameter.empty or default is None or value is None:
        return value
    if isinstance(default, bool):
        return _switch(name, value)
    if isinstance(default, (int, float)):
        kind, noun = (int, "an integer") if isinstance(default, int) else (float, "a number")
        if isinstance(value, (list, tuple)) and "Sequence" in str(parameter.annotation):  # int | Sequence[int], …
            if not value or not all(_is_number(v, kind) for v in value):
                raise SettingError(f"{name}: expected {noun} or a list of them, got {value!r}")
            return [kind(v) for v in value]
        if not _is_number(value, kind):
            raise SettingError(f"{name}: expected {noun}, got {value!r}")
        return kind(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise SettingError(f"{name}: expected a string, got {value!r}")
        return value
    if isinstance(default, (tuple, list)):
        if not isinstance(value, (list, tuple)):
            raise SettingError(f"{name}: expected a list, got {value!r}")
        return list(value)
    if isinstance(default, Mapping):
        if not isinstance(value, Mapping):
            raise SettingError(f"{name}: expected a mapping (e.g. {{hidden: [64, 64]}}), got {value!r}")
        return dict(value)
    return value


def _is_number(value: Any, kind: type) -> bool:
    """Whether ``value`` is a number of ``kind`` (int: an integer, a float with an integer value too); never a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return kind is float or isinstance(value, int) or value.is_integer()


def nested_update(base: Mapping[str, Any], changes: Mapping[str, Any]) -> Dict[str, Any]:
    """``base`` with ``changes`` merged in, mappings merged key by key (``encoder_args.hidden`` keeps the
    other encoder arguments)."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = nested_update(merged[key], value)
        else:
            merged[key] = value
    return merged
