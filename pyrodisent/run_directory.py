"""The run directory a person can read: config, CSV log, checkpoints, metrics, pictures.

Files are written atomically (temporary file + rename), so an interrupted or failed run never
leaves a half-written ``config.json``/``metrics.json``/checkpoint behind.
"""
from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional

import numpy as np

CONFIG = "config.json"
METRICS = "metrics.json"
TRAINING_LOG = "training_log.csv"
CHECKPOINT = "checkpoint.pt"


class RunDirectoryError(RuntimeError):
    pass


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return _jsonable(value.item())
    if isinstance(value, Path):
        return str(value)
    return value


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    atomic_write_bytes(Path(path), (json.dumps(_jsonable(payload), indent=2, sort_keys=True) + "\n").encode())


class RunDirectory:
    """A folder holding one run.

    :param path: the folder (created on :meth:`create`).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # paths
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def log_path(self) -> Path:
        return self.path / TRAINING_LOG

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    def file(self, name: str) -> Path:
        return self.path / name

    def exists(self) -> bool:
        return self.config_path.exists()

    def create(self, config: Mapping[str, Any], resume: bool = False, overwrite: bool = False) -> "RunDirectory":
        """Prepare the folder for a run with ``config``.

        A folder that already holds a run is refused unless ``resume`` (then its config must match) or
        ``overwrite`` (then its old log, metrics and checkpoint are removed).
        """
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"--out {self.path} exists and is not a directory")
        if self.exists():
            if resume:
                old = json.loads(self.config_path.read_text())
                new = _jsonable(dict(config))
                changed = sorted(k for k in set(old) | set(new) if k not in ("resume", "overwrite") and old.get(k) != new.get(k))
                if changed:
                    raise RunDirectoryError(
                        f"cannot resume {self.path}: its config differs in {changed} "
                        f"(saved {[old.get(k) for k in changed]}, now {[new.get(k) for k in changed]})"
                    )
                return self
            if not overwrite:
                raise RunDirectoryError(
                    f"{self.path} already holds a run (config.json); pass --resume to continue it, "
                    "--overwrite to replace it, or choose another --out"
                )
            for name in (METRICS, TRAINING_LOG, CHECKPOINT):
                (self.path / name).unlink(missing_ok=True)
        elif resume:
            raise RunDirectoryError(f"cannot resume: {self.path} holds no run (no config.json)")
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.config_path, config)
        return self

    def write_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Write a flat ``metrics.json`` (nested values are refused: the format is flat by convention)."""
        for key, value in metrics.items():
            if isinstance(value, (Mapping, list, tuple)):
                raise ValueError(f"metrics.json is flat: value of {key!r} is a {type(value).__name__}")
        write_json(self.metrics_path, metrics)

    def read_metrics(self) -> Dict[str, Any]:
        return json.loads(self.metrics_path.read_text())


class CsvLog:
    """Appends one row per epoch to a CSV file; the header comes from the first row's keys."""

    def __init__(self, path: Path, truncate_after_epoch: Optional[int] = None):
        self.path = Path(path)
        self._fields: Optional[list] = None
        if self.path.exists():
            rows = list(csv.DictReader(self.path.open()))
            if truncate_after_epoch is not None:
                # Resuming: keep the rows up to the checkpointed epoch only.
                rows = [r for r in rows if int(r["epoch"]) <= truncate_after_epoch]
                self._rewrite(rows)
            if rows:
                self._fields = list(rows[0].keys())

    def _rewrite(self, rows: Iterable[Mapping[str, Any]]) -> None:
        rows = list(rows)
        if not rows:
            self.path.unlink(missing_ok=True)
            return
        import io

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(self.path, buffer.getvalue().encode())

    def append(self, row: Mapping[str, Any]) -> None:
        row = {k: _jsonable(v) for k, v in row.items()}
        new_file = not self.path.exists()
        if self._fields is None:
            self._fields = list(row.keys())
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self._fields, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow(row)
