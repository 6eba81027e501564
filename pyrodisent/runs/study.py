"""A study: many runs from one file — models × protocols × grids of settings × seeds — and its directory.

A study file (YAML or JSON)::

    name: beta-on-nonstationary          # optional (default: the file's name)
    model_file: my_prior.py              # optional, relative to the study file
    models: [vae, beta_vae, beta_tcvae]  # or a mapping: name → {settings: {...}, grid: {...}}
    protocols:                           # a list of names, or name → {settings: {...}, grid: {...}}
      nonstationary:
        settings: {num_segments: 3, points_per_segment: 10}
    grid:                                # any --set key → its values; the runs are the product
      model.beta: [1, 2]
    settings:                            # fixed --set keys of every run
      trainer.epochs: 2
    seeds: [0, 1, 2]                     # or a count n: seeds 0 … n−1

The keys are ``pyrodisent train --set`` keys (``model.KEY``, ``protocol.KEY``, ``trainer.KEY``; the prefix
may be left out where it is unambiguous); a protocol's or a model's own ``settings``/``grid`` apply to its
runs only and win over the study-wide ones. :meth:`Study.plan` expands the file into
:class:`~pyrodisent.runs.spec.RunSpec` s and resolves every one of them before anything is written — a bad
key or value is named with its run. Each run's directory under the study directory is named from its
settings: ``<model>/<protocol>/<key=value>/…/seed=<seed>``, where the keys are the settings the study
sweeps (more than one value) — stable, so rerunning a study finds its runs again.

The study directory holds ``study.json`` (:class:`StudyManifest`): the study as given, the settings it
sweeps, and every run it ever planned with its spec and last status — a changed study file adds its new
runs and keeps the old ones. Whether a run is finished is read from its run directory, not the manifest:
``metrics.json`` present and ``config.json`` the planned run's settings.
"""
from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from pyrodisent.protocols.settings import SettingError
from pyrodisent.runs.spec import RunSpec
from pyrodisent.training.run_directory import CONFIG, METRICS, _jsonable, write_json

#: the manifest of a study directory
MANIFEST = "study.json"
#: the file in a run directory holding the traceback of its last failure
ERROR_FILE = "error.txt"
#: the keys of a study file
STUDY_KEYS = ("name", "model_file", "models", "protocols", "grid", "settings", "seeds")
#: the keys of a model's or a protocol's entry
ENTRY_KEYS = ("settings", "grid")
#: the config.json section of each kind of ``--set`` key
SECTIONS = {"model": "model_settings", "protocol": "protocol_settings", "trainer": "trainer_settings"}


@dataclass
class Entry:
    """A model or a protocol of a study, with the settings and grid of its runs only."""

    name: str
    settings: Dict[str, Any] = field(default_factory=dict)
    grid: Dict[str, List[Any]] = field(default_factory=dict)


@dataclass
class PlannedRun:
    """One run of a study: its directory (relative to the study's), its spec, the swept settings' values,
    and the resolved settings its config.json must hold."""

    name: str
    spec: RunSpec
    swept: Dict[str, Any]
    identity: Dict[str, Any]
    state: str = "new"  # new, resume (config.json but no metrics.json) or finished


@dataclass
class StudyPlan:
    """The runs of a study in its directory: what is finished and what is left (new or to resume)."""

    study: "Study"
    directory: Path
    runs: List[PlannedRun]
    manifest: "StudyManifest"

    @property
    def pending(self) -> List[PlannedRun]:
        return [run for run in self.runs if run.state != "finished"]

    @property
    def finished(self) -> List[PlannedRun]:
        return [run for run in self.runs if run.state == "finished"]


@dataclass
class Study:
    """A study file, read and checked for its shape (its settings are checked by :meth:`plan`)."""

    name: str
    models: List[Entry]
    protocols: List[Entry]
    grid: Dict[str, List[Any]]
    settings: Dict[str, Any]
    seeds: List[int]
    model_file: Optional[str] = None
    source: Dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_file(cls, path) -> "Study":
        import yaml

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"study file {path}: no such file (expected a YAML file with keys "
                                    f"{', '.join(STUDY_KEYS)})")
        try:
            mapping = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise SettingError(f"study file {path} cannot be read ({type(error).__name__}: {error})") from None
        study = cls.from_mapping(mapping, source=f"study file {path}", name=path.stem)
        if study.model_file is not None and not Path(study.model_file).is_absolute():
            study.model_file = str((path.parent / study.model_file).resolve())
        return study

    @classmethod
    def from_mapping(cls, mapping: Any, source: str = "the study", name: str = "study") -> "Study":
        if not isinstance(mapping, Mapping):
            raise SettingError(f"{source}: expected a mapping with keys {', '.join(STUDY_KEYS)}, got "
                               f"{type(mapping).__name__}")
        unknown = [key for key in mapping if key not in STUDY_KEYS]
        if unknown:
            raise SettingError(f"{source}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
                               f"; valid keys: {', '.join(STUDY_KEYS)}")
        for key in ("models", "protocols"):
            if not mapping.get(key):
                raise SettingError(f"{source}: needs {key} (a list of registered names, or a mapping name → "
                                   "{settings: …, grid: …})")
        seeds = mapping.get("seeds", [0])
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 1:
                raise SettingError(f"{source}: seeds: expected a count ≥ 1 or a list of seeds, got {seeds}")
            seeds = list(range(seeds))
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                               for s in seeds):
            raise SettingError(f"{source}: seeds: expected a count or a non-empty list of integers, got {seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise SettingError(f"{source}: seeds: {seeds} lists a seed twice")
        model_file = mapping.get("model_file")
        if model_file is not None and not isinstance(model_file, str):
            raise SettingError(f"{source}: model_file: expected a path, got {model_file!r}")
        study_name = mapping.get("name", name)
        if not isinstance(study_name, str) or not study_name:
            raise SettingError(f"{source}: name: expected a text, got {study_name!r}")
        return cls(name=study_name, models=_entries(mapping["models"], "models", source),
                   protocols=_entries(mapping["protocols"], "protocols", source),
                   grid=_grid(mapping.get("grid"), f"{source}: grid"),
                   settings=_settings(mapping.get("settings"), f"{source}: settings"),
                   seeds=seeds, model_file=model_file, source=_jsonable(dict(mapping)))

    # ------------------------------------------------------------------ expanding
    def expand(self) -> List[Tuple[RunSpec, Dict[str, Any]]]:
        """Every run of the study: (spec, the grid values it was given), protocols outermost, seeds innermost."""
        runs = []
        for protocol in self.protocols:
            for model in self.models:
                grid = {**self.grid, **protocol.grid, **model.grid}
                keys = list(grid)
                for values in itertools.product(*(grid[key] for key in keys)):
                    chosen = dict(zip(keys, values))
                    settings = {**self.settings, **protocol.settings, **model.settings}
                    settings = {key: value for key, value in settings.items() if key not in chosen}
                    for seed in self.seeds:
                        spec = RunSpec(model=model.name, protocol=protocol.name, seed=seed,
                                       model_file=self.model_file)
                        runs.append((spec.with_values([*settings.items(), *chosen.items()]), chosen))
        return runs

    def swept_keys(self) -> List[str]:
        """The keys of the grids that take more than one value, in the order of the file."""
        keys: Dict[str, set] = {}
        for grid in [self.grid] + [entry.grid for entry in self.protocols + self.models]:
            for key, values in grid.items():
                keys.setdefault(key, set()).update(json.dumps(_jsonable(v), sort_keys=True) for v in values)
        return [key for key, values in keys.items() if len(values) > 1]

    def plan(self, directory) -> StudyPlan:
        """The study's runs in ``directory``, every spec resolved (a SettingError or KeyError naming the
        run and what is wrong), each run's state read from its run directory. Writes nothing."""
        from pyrodisent.registry import MODELS, PROTOCOLS
        from pyrodisent.runs.spec import load_model_file

        directory = Path(directory)
        if self.model_file:
            load_model_file(self.model_file)
        for entry in self.models:
            MODELS.get(entry.name)  # unknown names first, with suggestions
        for entry in self.protocols:
            PROTOCOLS.get(entry.name)
        swept = self.swept_keys()
        labels = short_labels(swept)
        runs: List[PlannedRun] = []
        seen: Dict[str, PlannedRun] = {}
        errors = []
        try:
            expanded = self.expand()
        except (SettingError, KeyError) as error:
            raise SettingError(f"study {self.name}: {_message(error)}") from None
        for spec, chosen in expanded:
            values = {key: chosen[key] for key in swept if key in chosen}
            name = run_name(spec, {labels[key]: value for key, value in values.items()})
            try:
                identity = spec_identity(spec)
            except (SettingError, KeyError, ValueError) as error:
                errors.append(f"run {name}: {_message(error)}")
                continue
            if name in seen:
                raise SettingError(f"study {self.name}: two runs would share the run directory {name} "
                                   f"({seen[name].identity} and {identity}); give them values that differ in "
                                   "their names")
            run = PlannedRun(name=name, spec=spec, swept=values, identity=identity)
            seen[name] = run
            runs.append(run)
        if errors:
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            raise SettingError(f"study {self.name}: {len(errors)} of {len(expanded)} runs are invalid: "
                               + "; ".join(errors[:5]) + more)
        if directory.exists() and not directory.is_dir():
            raise SettingError(f"--out {directory} exists and is not a directory")
        if directory.is_dir() and any(directory.iterdir()) and not (directory / MANIFEST).is_file():
            raise SettingError(f"--out {directory} holds files but no {MANIFEST}: not a study directory; choose "
                               "an empty or new folder")
        conflicts = []
        for run in runs:
            run.state = run_state(directory / run.name, run.identity)
            if run.state == "conflict":
                conflicts.append(run.name)
        if conflicts:
            raise SettingError(
                f"study {self.name}: {len(conflicts)} run directories in {directory} hold runs with other settings "
                f"than the study now gives them ({', '.join(conflicts[:3])}{' …' if len(conflicts) > 3 else ''}): "
                "a setting that is not swept changed; sweep it (a grid with both values) or use another --out")
        manifest = StudyManifest.read(directory) or StudyManifest(directory, {})
        manifest.update(self, runs, [grouping_key(key, runs) for key in swept])
        return StudyPlan(self, directory, runs, manifest)


# ------------------------------------------------------------------ names and identities
def short_labels(keys: Sequence[str]) -> Dict[str, str]:
    """Each swept key's name in run directories: its last part (``model.beta`` → ``beta``), or the whole key
    where two keys share a last part."""
    last = [key.split(".")[-1] for key in keys]
    return {key: (short if last.count(short) == 1 else key) for key, short in zip(keys, last)}


def slug(value: Any) -> str:
    """A value as a piece of a folder name: ``2``, ``0.001``, ``8-8`` for [8, 8], ``true``."""
    text = value if isinstance(value, str) else json.dumps(_jsonable(value), separators=("-", "-"))
    text = re.sub(r"[^A-Za-z0-9._+-]+", "_", text.replace("[", "").replace("]", "")).strip("_")
    return text or "_"


def run_name(spec: RunSpec, values: Mapping[str, Any]) -> str:
    """``<model>/<protocol>/<key=value>/…/seed=<seed>``."""
    parts = [slug(spec.model), slug(spec.protocol)]
    parts += [f"{slug(key)}={slug(value)}" for key, value in values.items()]
    return "/".join(parts + [f"seed={spec.seed}"])


def spec_identity(spec: RunSpec) -> Dict[str, Any]:
    """The resolved settings of a run as its config.json holds them (without what was derived from the
    data): what must match for a run directory to hold this run."""
    config = spec.resolve().config({}, {}, {})
    config.pop("derived")
    return json.loads(json.dumps(_jsonable(config)))


def run_state(path: Path, identity: Mapping[str, Any]) -> str:
    """``new`` (no config.json), ``finished`` (metrics.json, and config.json holds ``identity``), ``resume``
    (config.json of this run, no metrics.json) or ``conflict`` (config.json of another run)."""
    config_path = path / CONFIG
    if not config_path.is_file():
        return "new"
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "conflict"
    if not isinstance(config, dict) or any(config.get(key) != value for key, value in identity.items()
                                           if key not in ("trainer_settings",)):
        return "conflict"
    trainer = dict(config.get("trainer_settings", {}))
    planned = dict(identity.get("trainer_settings", {}))
    for key in ("lr", "grad_clip"):  # what --resume may change, recorded under resume_changes
        trainer.pop(key, None), planned.pop(key, None)
    if trainer != planned:
        return "conflict"
    return "finished" if (path / METRICS).is_file() else "resume"


def grouping_key(key: str, runs: Sequence[PlannedRun]) -> str:
    """The config.json key (``model_settings.beta``) of a study's ``--set`` key (``model.beta``, ``beta``)."""
    for run in runs:
        try:
            kind, name = run.spec.locate(key)
        except SettingError:
            continue
        return f"{SECTIONS[kind]}.{name}"
    return key


# ------------------------------------------------------------------ the manifest
class StudyManifest:
    """``study.json`` of a study directory: the study as given, the config keys it sweeps, and every run
    ever planned in it (name → spec, swept values, last status, seconds, error)."""

    def __init__(self, directory: Path, content: Dict[str, Any]):
        self.directory = Path(directory)
        self.content = {"name": content.get("name", self.directory.name), "study": content.get("study", {}),
                        "swept": list(content.get("swept", [])), "group_by": list(content.get("group_by", [])),
                        "runs": dict(content.get("runs", {}))}

    @classmethod
    def read(cls, directory) -> Optional["StudyManifest"]:
        """The manifest of ``directory``, or None when it holds none."""
        path = Path(directory) / MANIFEST
        if not path.is_file():
            return None
        try:
            content = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not valid JSON ({error}): not a study manifest") from None
        if not isinstance(content, dict) or not isinstance(content.get("runs"), dict):
            raise ValueError(f"{path} is not a study manifest (expected an object with runs)")
        return cls(directory, content)

    @property
    def name(self) -> str:
        return self.content["name"]

    @property
    def runs(self) -> Dict[str, Dict[str, Any]]:
        return self.content["runs"]

    def update(self, study: Study, runs: Sequence[PlannedRun], group_by: Sequence[str]) -> None:
        """Add the study's runs (those of an earlier study file stay) and its swept keys."""
        self.content["name"] = study.name
        self.content["study"] = study.source
        self.content["swept"] = list(dict.fromkeys([*self.content["swept"], *study.swept_keys()]))
        self.content["group_by"] = list(dict.fromkeys([*self.content["group_by"], *group_by]))
        for run in runs:
            entry = self.runs.setdefault(run.name, {"status": "pending"})
            entry.update(spec=_jsonable(vars(run.spec)), settings=_jsonable(run.swept))
            if run.state == "finished":
                entry["status"] = "finished"
            elif entry.get("status") == "finished":  # its metrics.json is gone: it runs again
                entry["status"] = "pending"

    def record(self, name: str, **values: Any) -> None:
        self.runs[name].update(_jsonable(values))

    def write(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_json(self.directory / MANIFEST, self.content)

    def group_by(self) -> List[str]:
        """The config keys the comparison splits a model's runs by: the swept settings."""
        return list(self.content["group_by"])

    def finished_runs(self) -> List[Path]:
        """The run directories of the study's runs that hold metrics.json."""
        return [self.directory / name for name in self.runs if (self.directory / name / METRICS).is_file()]


# ------------------------------------------------------------------ reading the file's parts
def _entries(value: Any, key: str, source: str) -> List[Entry]:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        if not all(isinstance(name, str) for name in value):
            raise SettingError(f"{source}: {key}: expected registered names, got {value!r}")
        return [Entry(name) for name in dict.fromkeys(value)]
    if not isinstance(value, Mapping):
        raise SettingError(f"{source}: {key}: expected a list of names or a mapping name → {{settings, grid}}, "
                           f"got {value!r}")
    entries = []
    for name, body in value.items():
        body = body or {}
        where = f"{source}: {key}.{name}"
        if not isinstance(body, Mapping):
            raise SettingError(f"{where}: expected a mapping with keys {', '.join(ENTRY_KEYS)}, got {body!r}")
        unknown = [k for k in body if k not in ENTRY_KEYS]
        if unknown:
            raise SettingError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
                               f"; valid keys: {', '.join(ENTRY_KEYS)}")
        entries.append(Entry(str(name), _settings(body.get("settings"), f"{where}.settings"),
                             _grid(body.get("grid"), f"{where}.grid")))
    return entries


def _settings(value: Any, where: str) -> Dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise SettingError(f"{where}: expected a mapping of --set keys to values, got {value!r}")
    return dict(value)


def _grid(value: Any, where: str) -> Dict[str, List[Any]]:
    grid = _settings(value, where)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SettingError(f"{where}: {key}: expected a non-empty list of values, got {values!r}")
    return grid


def _message(error: BaseException) -> str:
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    return str(error)
