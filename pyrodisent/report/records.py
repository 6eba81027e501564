"""Run directories read for a comparison: each run's config, metrics and training log, and the table of
every metric per protocol and model (mean ± sd over seeds).

A run is labelled by its model, and by the values of the ``group_by`` config keys when given
(``model_settings.beta`` splits β-VAE runs by β): runs with one label and protocol are seeds of one
hypothesis.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from pyrodisent.training.run_directory import CONFIG, METRICS, TRAINING_LOG

#: metrics that measure the machine rather than the hypothesis: shown last
MACHINE_METRICS = ("train_seconds", "eval_seconds", "run_seconds", "data_seconds", "resistance_seconds",
                   "peak_rss_gb", "epochs", "steps")


@dataclass
class RunRecord:
    """One run directory as read: ``label`` names its hypothesis (model and grouped settings)."""

    path: Path
    config: Dict[str, Any]
    metrics: Dict[str, Any]
    log: Optional[pd.DataFrame]
    label: str

    @property
    def model(self) -> str:
        return self.config["model"]

    @property
    def protocol(self) -> str:
        return self.config["protocol"]

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))


def read_runs(paths: Sequence[Path], group_by: Sequence[str] = ()) -> List[RunRecord]:
    """Every run directory read and checked; a folder that is not a finished run, or a ``group_by`` key
    no run has, is named (ValueError) before anything is written."""
    if not paths:
        raise ValueError("compare needs at least one run directory")
    records = []
    for path in map(Path, paths):
        config, metrics = _read_json(path, CONFIG), _read_json(path, METRICS)
        if not isinstance(config.get("model"), str) or not isinstance(config.get("protocol"), str):
            raise ValueError(f"{path / CONFIG} names no model and protocol: not written by pyrodisent train or an "
                             "example")
        log_path = path / TRAINING_LOG
        log = pd.read_csv(log_path) if log_path.exists() and log_path.stat().st_size else None
        records.append(RunRecord(path, config, metrics, log, label=config["model"]))
    for key in group_by:
        values = [lookup(record.config, key) for record in records]
        if all(value is _MISSING for value in values):
            known = sorted(flat_keys(records[0].config))
            raise ValueError(f"--group-by {key}: no run's config.json has this key; keys of {records[0].path}: "
                             f"{', '.join(known)}")
        for record, value in zip(records, values):
            shown = "none" if value is _MISSING else json.dumps(value) if not isinstance(value, str) else value
            record.label += f" {key.split('.')[-1]}={shown}"
    seen: Dict[tuple, Path] = {}
    for record in records:
        key = (record.protocol, record.label, record.seed)
        if key in seen:
            raise ValueError(f"{record.path} and {seen[key]} are both {record.label} on {record.protocol} with seed "
                             f"{record.seed}: the comparison counts each seed once; pass one of them, or "
                             "--group-by the setting that tells them apart")
        seen[key] = record.path
    return records


def runs_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run: run, protocol, label, model, seed and every numeric metric (runs.csv)."""
    rows = []
    for record in records:
        row = {"run": str(record.path), "protocol": record.protocol, "label": record.label, "model": record.model,
               "seed": record.seed}
        row.update({key: value for key, value in record.metrics.items() if _is_number(value)})
        rows.append(row)
    return pd.DataFrame(rows)


#: the prefix of the posterior diagnosis's metrics: shown after the hypothesis's, before the machine's
DIAGNOSIS_PREFIX = "khat"


def metric_columns(frame: pd.DataFrame) -> List[str]:
    """The metric columns of a protocol's runs that hold a value: the hypothesis's first, then the posterior
    diagnosis's (k̂), the machine's last."""
    columns = [c for c in frame.columns if c not in ("run", "protocol", "label", "model", "seed")
               and frame[c].notna().any()]
    return sorted(columns, key=lambda c: (2 if c in MACHINE_METRICS else 1 if c.startswith(DIAGNOSIS_PREFIX) else 0,
                                          columns.index(c)))


def varying_columns(frame: pd.DataFrame, columns: Sequence[str]) -> List[str]:
    """The columns whose value differs between runs (a constant, e.g. the epochs of a shared budget, has
    nothing to plot)."""
    return [c for c in columns if frame[c].dropna().nunique() > 1]


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per metric (and a first row: the number of seeds), one column per label in first-seen order:
    ``mean ± sd`` over seeds."""
    labels = list(dict.fromkeys(frame["label"]))
    rows = {"seeds": [str(int((frame["label"] == label).sum())) for label in labels]}
    for column in metric_columns(frame):
        rows[column] = [format_mean_sd(frame.loc[frame["label"] == label, column].dropna().to_numpy(dtype=float))
                        for label in labels]
    return pd.DataFrame.from_dict(rows, orient="index", columns=labels).rename_axis("metric")


def format_mean_sd(values: np.ndarray) -> str:
    """``0.952 ± 0.001`` (sample sd over seeds), ``0.952`` for one value, ``–`` for none; 3 significant
    decimals for values below 10, fewer above."""
    if len(values) == 0:
        return "–"
    mean = float(np.mean(values))
    digits = 3 if abs(mean) < 10 else 1 if abs(mean) < 1000 else 0
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {float(np.std(values, ddof=1)):.{digits}f}"


# ------------------------------------------------------------------ helpers
_MISSING = object()


def lookup(config: Dict[str, Any], dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def flat_keys(config: Dict[str, Any], prefix: str = "") -> List[str]:
    keys = []
    for key, value in config.items():
        if isinstance(value, dict) and value:
            keys += flat_keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def _read_json(path: Path, name: str) -> Dict[str, Any]:
    file = path / name
    if not file.is_file():
        raise ValueError(f"{path} is not a finished run: it has no {name} (expected a run directory written by "
                         "pyrodisent train or an example)")
    try:
        value = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{file} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{file} holds a JSON {type(value).__name__}, not an object")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (
        isinstance(value, int) or math.isfinite(value))
