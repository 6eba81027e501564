"""The run directory a person can read: config, CSV log, checkpoints, metrics, pictures.

Files are written atomically (temporary file + rename, with the permissions the user's umask gives),
so an interrupted or failed run never leaves a half-written ``config.json``/``metrics.json``/
checkpoint behind; the temporary file of a write cut short by a kill is removed on the next start.
One process writes a run directory at a time: :meth:`RunDirectory.create` takes a lock (an
``flock`` on ``.lock``, released on exit and by the system when the process dies, so a lock left by
a killed run is taken over) and refuses a second writer.
"""
from __future__ import annotations

import atexit
import csv
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np

try:
    import fcntl
except ImportError:  # not POSIX: no locking
    fcntl = None

CONFIG = "config.json"
METRICS = "metrics.json"
TRAINING_LOG = "training_log.csv"
CHECKPOINT = "checkpoint.pt"
LOCK = ".lock"
#: the key of config.json listing the settings changed by each ``--resume``
RESUME_CHANGES = "resume_changes"
#: files that only a run writes: a folder holding them without config.json is not a run to reuse
RUN_OUTPUTS = (CHECKPOINT, METRICS, TRAINING_LOG)
_TEMPORARY_SUFFIX = ".tmp"


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


def _flatten(config: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """A nested config as one level of dotted keys (``trainer_settings.lr``)."""
    flat: Dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` atomically: ``write(temporary_path)`` fills a temporary file in the same folder,
    which then replaces ``path`` (a rename), so a failed or interrupted write leaves no partial file.

    The file gets the permissions of a plainly created one (``0o666`` less the umask), not the
    temporary file's ``0o600``. An OSError (a full disk, a read-only folder) names ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TEMPORARY_SUFFIX)
        os.close(fd)
    except OSError as error:
        raise OSError(error.errno, f"cannot write {path}: {error.strerror}") from error
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as error:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(error, OSError):
            raise OSError(error.errno, f"cannot write {path}: {error.strerror}") from error
        raise
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    atomic_write_bytes(Path(path), (json.dumps(_jsonable(payload), indent=2, sort_keys=True) + "\n").encode())


class RunDirectoryLock:
    """The lock of one run directory: an exclusive ``flock`` on ``<dir>/.lock`` holding the writer's pid.

    The system drops an ``flock`` when its process ends, however it ends, so a lock file left by a
    killed run is stale and simply taken over. Within a process one lock per directory: acquiring it
    again is a no-op, and :meth:`release` (or the end of the process) gives it up and removes the file.
    """

    _held: Dict[Path, "RunDirectoryLock"] = {}

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.path = self.directory / LOCK
        self._fd: Optional[int] = None

    @classmethod
    def of(cls, directory: Path) -> "RunDirectoryLock":
        key = Path(os.path.abspath(directory))
        if key not in cls._held:
            cls._held[key] = cls(key)
        return cls._held[key]

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None or fcntl is None:
            return
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise RunDirectoryError(
                    f"{self.directory} is in use by another run (process {holder} holds {self.path}); wait for it "
                    "to finish, or choose another --out") from None
            try:  # a releasing holder may have removed the file between our open and our lock
                same_file = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same_file = False
            if same_file:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                self.path.unlink(missing_ok=True)  # while still locked: nobody can lock the file being removed
            finally:
                os.close(self._fd)
                self._fd = None

    @classmethod
    def release_all(cls) -> None:
        for lock in list(cls._held.values()):
            lock.release()


atexit.register(RunDirectoryLock.release_all)


class RunDirectory:
    """A folder holding one run.

    :param path: the folder (created on :meth:`create`).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = RunDirectoryLock.of(self.path)

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

    def read_config(self) -> Dict[str, Any]:
        """``config.json`` as a dict; a RunDirectoryError naming the file when it is not valid JSON."""
        try:
            config = json.loads(self.config_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RunDirectoryError(f"{self.config_path} is not valid JSON ({error}): the run's settings are "
                                    "lost; pass --overwrite to start it again, or choose another --out") from None
        if not isinstance(config, dict):
            raise RunDirectoryError(f"{self.config_path} holds a JSON {type(config).__name__}, not the run's "
                                    "settings (an object)")
        return config

    def create(self, config: Mapping[str, Any], resume: bool = False, overwrite: bool = False,
               may_change: Sequence[str] = ()) -> "RunDirectory":
        """Prepare the folder for a run with ``config`` and lock it for this process.

        A folder that already holds a run is refused unless ``resume`` (then its config must match,
        except for the settings named in ``may_change``, whose changes are recorded in config.json
        under ``resume_changes``) or ``overwrite`` (then everything in it is removed). A folder holding
        a checkpoint, metrics or a training log but no config.json is refused either way. Temporary
        files of writes cut short by a kill are removed.
        """
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"--out {self.path} exists and is not a directory")
        blocking = next((parent for parent in self.path.parents if parent.exists() and not parent.is_dir()), None)
        if blocking is not None:
            raise RunDirectoryError(f"cannot create the run directory {self.path}: {blocking} is a file, not a folder")
        if resume and not self.path.exists():
            raise RunDirectoryError(f"cannot resume: {self.path} holds no run (it does not exist)")
        created, held = not self.path.exists(), self._lock.held
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except OSError as error:
            raise RunDirectoryError(f"cannot write the run directory {self.path}: {error.strerror}") from error
        try:
            self._prepare(config, resume, overwrite, may_change)
        except BaseException:
            if not held:
                self.release()
            if created and not any(self.path.iterdir()):
                self.path.rmdir()
            raise
        return self

    def _prepare(self, config: Mapping[str, Any], resume: bool, overwrite: bool, may_change: Sequence[str]) -> None:
        new = _jsonable(dict(config))
        if not self.exists():
            leftovers = [name for name in RUN_OUTPUTS if (self.path / name).exists()]
            if leftovers:
                raise RunDirectoryError(
                    f"{self.path} holds {', '.join(leftovers)} but no {CONFIG}: not a run that can be resumed or "
                    "replaced; move those files away or choose another --out")
            if resume:
                raise RunDirectoryError(f"cannot resume: {self.path} holds no run (no {CONFIG})")
        elif overwrite:
            self._remove_contents()
        elif resume:
            old = self.read_config()
            changes = list(old.pop(RESUME_CHANGES, []))
            old_flat, new_flat = _flatten(old), _flatten(new)
            differs = sorted(k for k in set(old_flat) | set(new_flat) if old_flat.get(k) != new_flat.get(k))
            fixed = [k for k in differs if k not in may_change]
            if fixed:
                raise RunDirectoryError(
                    f"cannot resume {self.path}: its config differs in {fixed} "
                    f"(saved {[old_flat.get(k) for k in fixed]}, now {[new_flat.get(k) for k in fixed]})"
                    + (f"; only {sorted(may_change)} may change on --resume" if may_change else ""))
            if not differs:
                self._remove_temporary_files()
                return
            changes.append({k: {"from": old_flat.get(k), "to": new_flat.get(k)} for k in differs})
            new = {**new, RESUME_CHANGES: changes}
        else:
            self.read_config()  # a corrupt config.json is named, not reported as a run
            raise RunDirectoryError(
                f"{self.path} already holds a run ({CONFIG}); pass --resume to continue it, "
                "--overwrite to replace it, or choose another --out")
        self._remove_temporary_files()
        write_json(self.config_path, new)

    def _remove_contents(self) -> None:
        for entry in self.path.iterdir():
            if entry.name == LOCK:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def _remove_temporary_files(self) -> None:
        for entry in self.path.glob(f".*{_TEMPORARY_SUFFIX}"):
            if entry.is_file():
                entry.unlink()

    def release(self) -> None:
        """Give up the lock (at exit, this happens by itself)."""
        self._lock.release()

    def __enter__(self) -> "RunDirectory":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def write_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Write a flat ``metrics.json`` (nested values are refused: the format is flat by convention)."""
        for key, value in metrics.items():
            if isinstance(value, (Mapping, list, tuple)):
                raise ValueError(f"metrics.json is flat: value of {key!r} is a {type(value).__name__}")
        write_json(self.metrics_path, metrics)

    def read_metrics(self) -> Dict[str, Any]:
        return json.loads(self.metrics_path.read_text())


class CsvLog:
    """One row per epoch in a CSV file; the header comes from the first row's keys.

    :param rows: the rows the file must hold now (e.g. the history of the checkpoint being resumed):
        the file is rewritten with them at once, so a row lost by a kill between a checkpoint and
        its log row is restored and rows past the checkpoint are dropped. None keeps the file as it is.
    """

    def __init__(self, path: Path, rows: Optional[Iterable[Mapping[str, Any]]] = None):
        self.path = Path(path)
        self._fields: Optional[List[str]] = None
        if rows is not None:
            self.rewrite(rows)
        elif self.path.exists():
            with self.path.open(newline="") as handle:
                self._fields = next(csv.reader(handle), None)

    def rewrite(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace the file's rows with ``rows`` in one atomic write (no rows: no file)."""
        rows = [{k: _jsonable(v) for k, v in row.items()} for row in rows]
        if not rows:
            self.path.unlink(missing_ok=True)
            self._fields = None
            return
        self._fields = list(rows[0].keys())
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=self._fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(self.path, buffer.getvalue().encode())

    def append(self, row: Mapping[str, Any]) -> None:
        row = {k: _jsonable(v) for k, v in row.items()}
        new_file = not self.path.exists()
        if self._fields is None or new_file:
            self._fields = list(row.keys())
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=self._fields, extrasaction="ignore")
        if new_file:
            writer.writeheader()
        writer.writerow(row)
        with self.path.open("a", newline="") as handle:
            handle.write(buffer.getvalue())  # one write call for the whole row
