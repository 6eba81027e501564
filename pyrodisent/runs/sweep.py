"""Carry a study out: its pending runs on an existing engine, a progress bar, the table of every run.

The engines are ``concurrent.futures.ProcessPoolExecutor`` (``--workers N`` local processes, started with
``spawn``) and Ray (``--ray``: a local instance with N CPUs; ``--ray ADDRESS``: a running cluster); each
run is one task calling :func:`execute_run`, which calls :func:`pyrodisent.runs.runner.run` — the code
path of ``pyrodisent train`` — into the run's directory, resuming it when it holds one. A failed run does
not stop the study: its traceback goes to ``error.txt`` in its run directory and its one-line error to
the summary and the manifest. The driver alone writes the manifest (after every run) and, at the end,
the table ``study.csv`` / ``study.parquet`` (:func:`write_table`): one row per run of the manifest — its
name, status, model, protocol, seed, swept settings, every metric, seconds and error.

On a cluster the run directories are written by the nodes: the study directory must be on a file system
they share, and pyrodisent installed on every node.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from pyrodisent.runs.study import ERROR_FILE, MANIFEST, StudyManifest, StudyPlan

#: the aggregated table of a study directory
TABLE_CSV = "study.csv"
TABLE_PARQUET = "study.parquet"


# ------------------------------------------------------------------ one run, in a worker
def execute_run(task: Dict[str, Any]) -> Dict[str, Any]:
    """Run one study run in this process: ``task`` holds ``name``, ``spec`` (a RunSpec mapping), ``directory``
    (its run directory), ``threads`` (torch CPU threads) and ``device``. Never raises: returns ``status``
    (finished or failed), ``seconds``, ``resumed`` and, on failure, ``error`` — its traceback is in the
    run directory's error.txt."""
    started = time.perf_counter()
    directory = Path(task["directory"])
    resumed = (directory / "config.json").is_file()
    try:
        import torch

        from pyrodisent.runs.command_line import silence_expected_warnings
        from pyrodisent.runs.runner import run
        from pyrodisent.runs.spec import RunSpec

        torch.set_num_threads(task.get("threads", 1))
        silence_expected_warnings()
        spec = RunSpec.from_mapping(task["spec"], source=f"run {task['name']}")
        with open(os.devnull, "w") as sink:
            run(spec, directory, resume=resumed, device=task.get("device", "cpu"), progress=False, file=sink)
        (directory / ERROR_FILE).unlink(missing_ok=True)
        return {"name": task["name"], "status": "finished", "seconds": time.perf_counter() - started,
                "resumed": resumed}
    except Exception as error:
        from pyrodisent.training.run_directory import atomic_write_bytes

        try:
            directory.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(directory / ERROR_FILE, traceback.format_exc().encode())
        except OSError:
            pass  # the summary still names the error
        return {"name": task["name"], "status": "failed", "seconds": time.perf_counter() - started,
                "resumed": resumed, "error": f"{type(error).__name__}: {error}".splitlines()[0]}


def _worker_started(threads: int) -> None:
    """A local worker: its threads, and on Linux its end with the driver (a killed driver leaves no run going)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


# ------------------------------------------------------------------ the study
@dataclass
class StudySummary:
    """What :func:`run_study` did: runs of the study, those skipped (finished before), run now, failed."""

    directory: Path
    total: int
    skipped: int
    executed: List[str] = field(default_factory=list)
    resumed: List[str] = field(default_factory=list)
    failures: Dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    table: Dict[str, Path] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return len(self.failures)

    def describe(self) -> str:
        lines = [f"study {self.directory}: {self.total} runs — {self.skipped} finished before, "
                 f"{len(self.executed)} run now ({len(self.resumed)} resumed), {self.failed} failed, "
                 f"in {self.seconds:.1f} s"]
        for name, error in self.failures.items():
            lines.append(f"  failed {name}: {error} (traceback: {self.directory / name / ERROR_FILE})")
        lines += [f"table: {path}" for path in self.table.values()]
        if self.table and TABLE_PARQUET not in {p.name for p in self.table.values()}:
            lines.append("no study.parquet: Parquet needs pyarrow (pip install 'pyrodisent[parquet]')")
        lines.append(f"report: pyrodisent compare {self.directory}")
        return "\n".join(lines)


def run_study(plan: StudyPlan, workers: int = 1, ray_address: Optional[str] = None, threads: int = 1,
              device: str = "cpu", progress: bool = True) -> StudySummary:
    """Run the plan's pending runs — ``workers`` local processes, or Ray (``ray_address`` ``"local"`` for a
    local instance with ``workers`` CPUs, else the address of a running cluster) — then write the table.
    The manifest is written before the first run and after each."""
    from pyrodisent.training.run_directory import RunDirectoryLock

    started = time.perf_counter()
    lock = RunDirectoryLock.of(plan.directory)
    plan.directory.mkdir(parents=True, exist_ok=True)
    lock.acquire()  # one driver per study directory
    summary = StudySummary(plan.directory, total=len(plan.runs), skipped=len(plan.finished))
    try:
        plan.manifest.write()
        tasks = [{"name": run.name, "spec": plan.manifest.runs[run.name]["spec"],
                  "directory": str(plan.directory / run.name), "threads": threads, "device": device}
                 for run in plan.pending]
        bar = _progress_bar(len(plan.runs), len(plan.finished), progress)
        running = {"count": 0}

        def started_one(count: int) -> None:
            running["count"] = count
            _show(bar, summary, running["count"])

        def finished_one(result: Dict[str, Any]) -> None:
            name = result["name"]
            summary.executed.append(name)
            if result.get("resumed"):
                summary.resumed.append(name)
            if result["status"] == "failed":
                summary.failures[name] = result["error"]
            plan.manifest.record(name, status=result["status"], seconds=result["seconds"],
                                 error=result.get("error"), finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
            plan.manifest.write()
            bar.update(1)
            _show(bar, summary, running["count"])

        try:
            if tasks:
                engine = run_on_ray if ray_address is not None else run_on_processes
                engine(tasks, finished_one, started_one, workers=workers, threads=threads, address=ray_address)
        finally:
            bar.close()
            summary.table = write_table(plan.directory, plan.manifest)
    finally:
        lock.release()
    summary.seconds = time.perf_counter() - started
    return summary


def _progress_bar(total: int, done: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, disable=not enabled, unit="run", desc="study", dynamic_ncols=True)


def _show(bar, summary: StudySummary, running: int) -> None:
    bar.set_postfix(done=bar.n, running=running, failed=summary.failed, refresh=True)


def run_on_processes(tasks: List[Dict[str, Any]], finished: Callable, started: Callable, workers: int = 1,
                     threads: int = 1, address: Optional[str] = None) -> None:
    """The tasks on a ``ProcessPoolExecutor`` of ``workers`` spawned processes."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_started,
                             initargs=(threads,)) as pool:
        pending = {pool.submit(execute_run, task): task for task in tasks}
        while pending:
            started(min(workers, sum(future.running() for future in pending)))
            done, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                try:
                    result = future.result()
                except Exception as error:  # the worker process died (killed, out of memory)
                    result = {"name": task["name"], "status": "failed", "seconds": float("nan"),
                              "error": f"{type(error).__name__}: {error}".splitlines()[0]}
                finished(result)


def run_on_ray(tasks: List[Dict[str, Any]], finished: Callable, started: Callable, workers: int = 1,
               threads: int = 1, address: Optional[str] = "local") -> None:
    """The tasks as Ray tasks (``num_cpus=threads`` each): a local instance with ``workers × threads`` CPUs
    when ``address`` is ``"local"``, else the cluster at ``address`` (``auto``, ``ray://host:10001``)."""
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs Ray: pip install 'pyrodisent[ray]'") from None
    if address == "local":
        ray.init(num_cpus=workers * threads, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    try:
        capacity = max(1, int(ray.cluster_resources().get("CPU", workers)) // threads)
        remote = ray.remote(num_cpus=threads, max_retries=0)(execute_run)
        pending = {remote.remote(task): task for task in tasks}
        while pending:
            started(min(capacity, len(pending)))
            done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for reference in done:
                task = pending.pop(reference)
                try:
                    result = ray.get(reference)
                except Exception as error:  # the task's worker died
                    result = {"name": task["name"], "status": "failed", "seconds": float("nan"),
                              "error": f"{type(error).__name__}: {error}".splitlines()[0]}
                finished(result)
    finally:
        ray.shutdown()


# ------------------------------------------------------------------ the table
def study_table(directory, manifest: Optional[StudyManifest] = None):
    """One row per run of the study's manifest: run, status, model, protocol, seed, the swept settings,
    every metric of its metrics.json, seconds and error (a pandas DataFrame)."""
    import json

    import pandas as pd

    directory = Path(directory)
    manifest = manifest or StudyManifest.read(directory)
    if manifest is None:
        raise ValueError(f"{directory} holds no {MANIFEST}: not a study directory written by pyrodisent sweep")
    rows = []
    for name, entry in manifest.runs.items():
        spec = entry.get("spec", {})
        metrics_path = directory / name / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        status = "finished" if metrics else entry.get("status", "pending")
        if status == "finished" and entry.get("status") != "finished":
            status = "finished"
        row = {"run": name, "status": status, "model": spec.get("model"), "protocol": spec.get("protocol"),
               "seed": spec.get("seed")}
        for key, value in entry.get("settings", {}).items():
            row[key] = value if isinstance(value, (int, float, str, bool)) or value is None else json.dumps(value)
        row.update({key: value for key, value in metrics.items() if isinstance(value, (int, float, str, bool))})
        row["seconds"] = metrics.get("run_seconds", entry.get("seconds"))
        row["error"] = None if metrics else entry.get("error")
        rows.append(row)
    return pd.DataFrame(rows)


def write_table(directory, manifest: Optional[StudyManifest] = None) -> Dict[str, Path]:
    """study.csv and (with pyarrow) study.parquet in the study directory; the paths by format."""
    from pyrodisent.training.run_directory import atomic_write, atomic_write_bytes

    directory = Path(directory)
    frame = study_table(directory, manifest)
    paths = {"csv": atomic_write_bytes(directory / TABLE_CSV, frame.to_csv(index=False).encode())}
    try:
        import importlib.util

        if importlib.util.find_spec("pyarrow") is not None:
            paths["parquet"] = atomic_write(directory / TABLE_PARQUET, lambda path: frame.to_parquet(path, index=False))
    except (ImportError, ValueError, TypeError) as error:  # a column Parquet cannot hold: the CSV stands
        print(f"study.parquet not written: {type(error).__name__}: {error}", file=sys.stderr)
    return paths
