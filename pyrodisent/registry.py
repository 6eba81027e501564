"""Name registries: models, networks, likelihoods and datasets are found by name.

Examples and configs refer to components by string, so a run's ``config.json`` round-trips:
``MODELS.build(config["model"], **config["model_args"])`` rebuilds what was trained.
"""
from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
from typing import Any, Callable, Dict, Iterator, Optional, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised when a name is not registered; the message lists the registered names."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the plain sentence instead
        return str(self.args[0])


#: set while a user's model file runs (:func:`replacing_registrations`): its names replace earlier ones
_REPLACING = False


@contextlib.contextmanager
def replacing_registrations() -> Iterator[None]:
    """Within this block a registration replaces an entry of the same name (a user's model file, loaded
    with ``--model-file``, is authoritative for the names it registers)."""
    global _REPLACING
    previous, _REPLACING = _REPLACING, True
    try:
        yield
    finally:
        _REPLACING = previous


class Registry:
    """A mapping from names to factories (classes or functions) of one kind of component.

    :param kind: what is registered, used in error messages ("model", "network", ...).
    :param hint: extra advice appended to the unknown-name error.
    :param populate: a module imported on the first look-up, whose import registers the built-in
        entries (the zoo for models), so ``MODELS.build("ivae", ...)`` works without importing it first.
    :param seeded: :meth:`build` takes ``seed=``: every generator is seeded just before the factory runs,
        so what it draws at construction (a model's initial weights) is reproducible.
    """

    def __init__(self, kind: str, hint: str = "", populate: Optional[str] = None, seeded: bool = False):
        self.kind = kind
        self.hint = hint
        self.seeded = seeded
        self.populate = populate
        self._populated = populate is None
        self._raw_entries: Dict[str, Callable[..., Any]] = {}

    @property
    def _entries(self) -> Dict[str, Callable[..., Any]]:
        if not self._populated:
            self._populated = True  # before the import: the module registers through this registry
            importlib.import_module(self.populate)
        return self._raw_entries

    def register(self, name: str, replace: bool = False) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a name can be registered only once (unless
        ``replace``: then the new entry takes the name)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def decorator(obj: T) -> T:
            existing = self._raw_entries.get(name)
            if existing is not None and existing is not obj and not (replace or _REPLACING):
                # Re-registration of the same qualified name (e.g. a module re-imported) is allowed.
                same = getattr(existing, "__qualname__", None) == getattr(obj, "__qualname__", 0) and (
                    getattr(existing, "__module__", None) == getattr(obj, "__module__", 0)
                )
                if not same:
                    raise ValueError(f"{self.kind} name {name!r} is already registered to {existing!r}")
            self._raw_entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            close = difflib.get_close_matches(str(name), list(self._entries), n=3, cutoff=0.6)
            suggestion = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            hint = f" {self.hint}" if self.hint else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}{suggestion}; registered {self.kind}s: {known}."
                                   f"{hint}") from None

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Look ``name`` up and call its factory with the given arguments.

        In a ``seeded`` registry, ``seed=<int>`` seeds every generator (:func:`pyrodisent.training.devices.set_seed`)
        right before the factory is called: ``MODELS.build("ivae", seed=0, ...)`` gives the same initial
        weights every time.
        """
        factory = self.get(name)
        if self.seeded and "seed" in kwargs:
            from pyrodisent.training.devices import set_seed

            seed = kwargs.pop("seed")
            if seed is not None:
                set_seed(seed)
        return factory(*args, **kwargs)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def describe(self, name: str) -> str:
        """One line on what ``name`` is: the first line of its factory's docstring ('' when it has none)."""
        doc = inspect.getdoc(self.get(name)) or ""
        return doc.strip().splitlines()[0].strip() if doc.strip() else ""

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


MODELS = Registry("model", hint="The zoo (`pyrodisent.zoo`, the repository's `models/` folder) is registered on first "
                  "use; register your own with `@MODELS.register(name)`.", populate="pyrodisent.zoo",
                  seeded=True)
NETWORKS = Registry("network")
LIKELIHOODS = Registry("likelihood")
DATASETS = Registry("dataset")
PROTOCOLS = Registry("protocol", hint="Wrap your own data with `pyrodisent.protocols.UserData`.",
                     populate="pyrodisent.protocols")
